"""Shared fixtures: every test gets its own APIFLAG_HOME; Hypothesis has a fast ci profile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Prefect: a project-local home, no analytics, quiet logs, patience with a busy machine
os.environ.setdefault("PREFECT_HOME", str(Path(__file__).resolve().parents[1] / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

# ci: the same examples every run, so the gate is reproducible; thorough explores freely
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data"


@pytest.fixture(autouse=True, scope="module")
def _module_environment() -> Iterator[None]:
    """Give every test module back the environment it found.

    Module-scoped fixtures build their worlds under homes of their own and set
    ``APIFLAG_HOME``, ``APIFLAG_DB_URL`` or MLflow's tracking URI while they do; one that
    forgets to restore a variable (or a library that sets one) must not point the next
    module's fixtures at a store that is not theirs. Autouse fixtures of a scope run before
    the other fixtures of that scope, so this snapshot is taken before any of them.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def apiflag_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give each test a fresh $APIFLAG_HOME and keep MLflow out of the working directory."""
    home = tmp_path / "apiflag-home"
    home.mkdir(mode=0o700)  # as apiflag creates it (see apiflag.filemodes)
    monkeypatch.setenv("APIFLAG_HOME", str(home))
    monkeypatch.delenv("APIFLAG_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield home
