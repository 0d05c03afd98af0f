"""The glass-box model stage: a calibrated, exactly explainable scorecard with an MLflow lifecycle.

Train offline (:func:`train_scorecard`, ``apiflag model train``), register a version, promote it
by a named approver (``apiflag model promote``), and score nights with the champion only
(:func:`load_champion`, :func:`score`). Heavy imports (MLflow) happen inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Champion", "Scorecard", "load_champion", "score", "train_scorecard"]

if TYPE_CHECKING:
    from apiflag.model.scorecard import Scorecard
    from apiflag.model.scoring import Champion, load_champion, score
    from apiflag.model.train import train_scorecard

_LAZY = {
    "Scorecard": "apiflag.model.scorecard",
    "Champion": "apiflag.model.scoring",
    "load_champion": "apiflag.model.scoring",
    "score": "apiflag.model.scoring",
    "train_scorecard": "apiflag.model.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
