"""Scoring with the approved champion only, with an exact explanation for every traveller.

Decides which model scores a night and guarantees:

* only ``models:/apiflag-scorecard@champion`` is ever loaded; the resolved version and the URI
  ``models:/apiflag-scorecard/<version>`` travel with every score row;
* with no champion, :func:`load_champion` and :func:`score` return None, and callers say plainly
  that no model was applied (the nightly flow then runs on case matches and rules);
* per traveller, ``log_odds == intercept + c_1 + ... + c_k + calibration_step`` exactly (Python
  ``sum`` in contribution ``order``), and ``raw_log_odds`` is the same sum without the step.
  The ``scores`` frame carries ``intercept`` and ``calibration_step``; the contributions frame
  holds one row per model feature (optionally the intercept and calibration rows too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from apiflag import atomic, config
from apiflag.errors import ApiflagError
from apiflag.model.registry import (
    CHAMPION_ALIAS,
    REGISTERED_MODEL,
    mlflow_client,
    store_exists,
)
from apiflag.model.scorecard import Scorecard

__all__ = [
    "NO_MODEL_MESSAGE",
    "Champion",
    "load_champion",
    "score",
    "write_night_scores",
]

NO_MODEL_MESSAGE = (
    "no model applied: no version of apiflag-scorecard holds the 'champion' alias "
    "(ranking uses case matches and rules only)"
)
SCORE_COLUMNS = (
    "traveller_id",
    "raw_log_odds",
    "log_odds",
    "probability",
    "model_uri",
    "model_version",
    "intercept",
    "calibration_step",
)
CONTRIBUTION_COLUMNS = (
    "traveller_id",
    "order",
    "source_id",
    "feature",
    "observed",
    "bin",
    "weight",
)


@dataclass(frozen=True)
class Champion:
    """The approved model: the scorecard, its registry URI and version."""

    model: Scorecard
    model_uri: str
    version: str
    alias_uri: str = f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}"


def load_champion() -> Champion | None:
    """Load ``models:/apiflag-scorecard@champion``; None when no version holds the alias.

    Returns:
        The champion with its resolved version, or None.

    Raises:
        ApiflagError: the alias exists but its model cannot be loaded as a scorecard.
    """
    if not store_exists():  # before importing MLflow: a home without a registry pays nothing
        return None
    import mlflow.sklearn

    client = mlflow_client()
    try:
        mv = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
    except Exception:
        return None
    alias_uri = f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}"
    model = mlflow.sklearn.load_model(alias_uri)
    if not isinstance(model, Scorecard):
        raise ApiflagError(f"{alias_uri} is not an apiflag scorecard ({type(model).__name__})")
    version = str(mv.version)
    return Champion(model, f"models:/{REGISTERED_MODEL}/{version}", version, alias_uri)


def score(
    features: pd.DataFrame, champion: Champion | None, *, with_model_rows: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Score a feature table with the champion and explain every score.

    Args:
        features: one row per traveller with ``traveller_id`` and the model's feature columns.
        champion: from :func:`load_champion`; None means no model is applied.
        with_model_rows: also include the ``model:intercept`` and ``model:calibration`` rows
            in the contributions (then one traveller's rows sum exactly to its ``log_odds``).

    Returns:
        None without a champion, else ``(scores, contributions)``: ``scores`` has
        ``traveller_id, raw_log_odds, log_odds, probability, model_uri, model_version,
        intercept, calibration_step``; ``contributions`` has ``traveller_id, order, source_id,
        feature, observed, bin, weight`` (categorical string columns; ``observed`` an Arrow
        string), laid out by ``order`` then traveller (see :meth:`Scorecard.explain`).

    Raises:
        ApiflagError: the table lacks ``traveller_id`` or a model feature.
    """
    if champion is None:
        return None
    if "traveller_id" not in features.columns:
        raise ApiflagError("feature table lacks column 'traveller_id'")
    ids = features["traveller_id"].astype(str)
    parts, contributions = champion.model.explain(
        features, ids.to_numpy(), with_model_rows=with_model_rows
    )
    n = len(features)
    scores = pd.DataFrame(
        {
            "traveller_id": ids.to_numpy(),
            "raw_log_odds": parts["raw"],
            "log_odds": parts["log_odds"],
            "probability": parts["probability"],
            "model_uri": pd.Categorical([champion.model_uri] * n),
            "model_version": pd.Categorical([champion.version] * n),
            "intercept": np.full(n, champion.model.intercept_),
            "calibration_step": parts["step"],
        }
    )
    return scores, contributions


def write_night_scores(night: str, scores: pd.DataFrame, contributions: pd.DataFrame) -> Path:
    """Write ``scores.parquet`` and ``model_contributions.parquet`` for one night, atomically.

    Each file is written to a temporary name in the night's warehouse partition and renamed.

    Returns:
        The night's partition directory.
    """
    out = config.warehouse_dir(night)
    for name, frame in (("scores", scores), ("model_contributions", contributions)):
        atomic.write_parquet(out / f"{name}.parquet", frame)
    return out
