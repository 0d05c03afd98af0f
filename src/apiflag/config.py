"""Where apiflag keeps its state, and the settings that can move it.

All state lives under ``$APIFLAG_HOME`` (default ``./.apiflag``): the message archive, the
warehouse, the queue database (unless ``APIFLAG_DB_URL`` is set), the MLflow store (unless
``MLFLOW_TRACKING_URI`` is set), reports and the pseudonymisation key. Two runs with
different homes never touch each other. The home and everything apiflag creates in it are
private to the service account (folders 0700, files 0600: :mod:`apiflag.filemodes`).
What a run is configured with (capacity, thresholds, time zone ...) is
:mod:`apiflag.settings`; which code produced an output, :mod:`apiflag.provenance`.
"""

from __future__ import annotations

import os
from pathlib import Path

from apiflag import filemodes


def home_path() -> Path:
    """Return where ``$APIFLAG_HOME`` (default ``./.apiflag``) is, without creating it."""
    return Path(os.environ.get("APIFLAG_HOME", ".apiflag")).resolve()


def home() -> Path:
    """Return ``$APIFLAG_HOME``, created private (0700) if missing.

    Also adds ``077`` to the process umask, so every file and folder created in the home from
    now on, by apiflag or by the libraries it calls, is private whatever the shell's umask.
    """
    return filemodes.private_dir(home_path())


def archive_dir() -> Path:
    """Return the raw message archive (files named by SHA-256)."""
    return home() / "archive"


def warehouse_dir(night: str | None = None) -> Path:
    """Return the Parquet warehouse, or one night's partition of it."""
    base = home() / "warehouse"
    return base / f"night={night}" if night else base


def reports_dir() -> Path:
    """Return the folder of nightly HTML reports."""
    return home() / "reports"


def world_dir() -> Path:
    """Return the synthetic world ``apiflag demo`` generates and ``apiflag run`` reads by default."""
    return home() / "world"


def db_url() -> str:
    """Return the queue and audit database URL: ``APIFLAG_DB_URL`` or SQLite under the home."""
    return os.environ.get("APIFLAG_DB_URL") or f"sqlite:///{home() / 'apiflag.db'}"


def mlflow_tracking_uri() -> str:
    """Return the MLflow tracking URI: ``MLFLOW_TRACKING_URI`` or SQLite under the home."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


def mlflow_artifact_root() -> Path:
    """Return where MLflow experiments keep their artifacts (never the working directory)."""
    return home() / "mlartifacts"
