"""From a world's history to a labelled training table, and the retrain entry point.

Decides how history nights become training rows and guarantees:

* every history night runs through the same stages as a live night (ingest, case matching,
  features, rules: :mod:`apiflag.pipeline`), into the current ``$APIFLAG_HOME``;
* labels come only from ``history/outcomes.csv`` joined on the traveller key
  (``night, carrier, number, surname, given_names, date_of_birth, document_number``); nothing
  under ``truth/`` is read;
* an outcome whose traveller is not found is never dropped silently: the count is returned in
  ``frame.attrs["unmatched_outcomes"]`` and reported by training;
* a traveller without an outcome row was not reviewed and gets label 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apiflag import pipeline, warehouse
from apiflag.errors import ApiflagError
from apiflag.matching.model import load_model
from apiflag.model.data import (
    LABEL,
    MATCH_SCORE,
    NIGHT,
    RULE_SCORE,
    TRAVELLER_ID,
)
from apiflag.model.inputs import flagged_mask, input_frame, model_inputs
from apiflag.model.registry import log_and_register
from apiflag.model.train import train_scorecard
from apiflag.normalise import TRAVELLER_KEY, traveller_key_frame
from apiflag.rules import load_catalogue
from apiflag.settings import load_settings

__all__ = ["KEY", "build_training_frame", "label_travellers", "read_outcomes", "train_world"]

KEY = TRAVELLER_KEY
OUTCOME_COLUMNS = (*KEY, "record_locator", "outcome", "label")


def read_outcomes(path: Path) -> pd.DataFrame:
    """Read ``history/outcomes.csv`` as strings, checking its columns and labels.

    Raises:
        ApiflagError: the file is missing, lacks a column, or has a label other than 0/1.
    """
    if not path.is_file():
        raise ApiflagError(f"{path}: no outcomes file (history/outcomes.csv holds the labels)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ApiflagError(f"{path}: cannot read outcomes ({exc})") from exc
    missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
    if missing:
        raise ApiflagError(f"{path}: missing column(s) {', '.join(missing)}")
    bad = frame.index[~frame["label"].isin(["0", "1"])]
    if len(bad):
        row = int(bad[0]) + 2
        raise ApiflagError(
            f"{path}: row {row}: field 'label': value {frame.at[bad[0], 'label']!r}: expected 0 or 1"
        )
    frame["label"] = frame["label"].astype(int)
    return frame


def _key_frame(travellers: pd.DataFrame, flights: pd.DataFrame, night: str) -> pd.DataFrame:
    fl = flights[["flight_id", "carrier", "number"]].drop_duplicates("flight_id")
    tv = travellers.merge(fl, on="flight_id", how="left")
    keyed = traveller_key_frame(tv.assign(night=night))
    return pd.concat([tv[["traveller_id"]].astype(str), keyed], axis=1)


def label_travellers(keys: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.Series, int]:
    """Join recorded outcomes to travellers on the traveller key.

    Args:
        keys: ``traveller_id`` plus the :data:`KEY` columns as strings (one row per traveller).
        outcomes: :func:`read_outcomes` rows; for a key recorded twice the last row wins.

    Returns:
        ``(labels, unmatched)``: label by traveller id for the travellers with an outcome, and
        how many distinct outcome keys matched no traveller (reported, never hidden).
    """
    keyed = traveller_key_frame(outcomes).assign(label=outcomes["label"].to_numpy())
    labelled = keyed.drop_duplicates(list(KEY), keep="last")[[*KEY, "label"]]
    keys = pd.concat([keys[[TRAVELLER_ID]], traveller_key_frame(keys)], axis=1)
    joined = keys.merge(labelled, on=list(KEY), how="inner", validate="many_to_one")
    labels = joined.drop_duplicates(TRAVELLER_ID).set_index(TRAVELLER_ID)["label"].astype(int)
    matched_keys = len(joined.drop_duplicates(list(KEY)))
    return labels, int(len(labelled) - matched_keys)


def history_nights(world: Path) -> list[str]:
    """Return the world's history nights (``history/nights/<D>``), oldest first, as YYYY-MM-DD."""
    base = world / "history" / "nights"
    if not base.is_dir():
        raise ApiflagError(f"{world}: no history/nights folder (earlier nights to learn from)")
    days = []
    for part in sorted(base.iterdir()):
        try:
            days.append(dt.date.fromisoformat(part.name).isoformat())
        except ValueError:
            continue
    if not days:
        raise ApiflagError(f"{base}: no night folders")
    return days


def build_training_frame(
    world: Path,
    *,
    casedb_url: str | None = None,
    progress: Callable[[str], None] | None = None,
    flagged_only: bool = False,
) -> pd.DataFrame:
    """Run every history night through ingest, matching, features and rules; join outcomes.

    Args:
        world: a world directory (``history/nights/<D>/``, ``history/outcomes.csv``,
            ``casedb.sqlite``).
        casedb_url: the case database (default the world's ``casedb.sqlite``).
        progress: called with one line per night done.
        flagged_only: keep only the travellers the night would flag (a rule hit or a case
            match at or above the threshold): the population the outcome model is fitted on.

    Returns:
        One row per arriving traveller of every history night: ``traveller_id``, ``night``
        (date), the feature columns (protected monitoring columns included), the model inputs
        ``rule.<id>`` and ``match.logit`` (:mod:`apiflag.model.inputs`), ``flagged``,
        ``rules.score`` (the policy score: sum of rule weights that fired), ``match.score``
        (best case-match probability, 0 when none), ``reviewed`` (an outcome row was joined)
        and ``label``.

    Raises:
        ApiflagError: no history, no outcomes or no case database.
    """
    rule_ids = [r.id for r in load_catalogue().rules]
    threshold = pipeline.match_threshold(load_settings(), load_model())
    world = Path(world)
    outcomes = read_outcomes(world / "history" / "outcomes.csv")
    if casedb_url is None:
        db = world / "casedb.sqlite"
        if not db.is_file():
            raise ApiflagError(f"{world}: no casedb.sqlite here (the case database export)")
        casedb_url = f"sqlite:///{db.resolve()}"
    frames = []
    keys = []
    for night in history_nights(world):
        pipeline.stage_ingest(dt.date.fromisoformat(night), world)
        matched, _ = pipeline.stage_matching(night, casedb_url)
        features, _ = pipeline.stage_features(night)
        rules, _ = pipeline.stage_rules(night, features)
        hits = rules.hits
        feats = input_frame(features, hits, matched.get("matches"), rule_ids)
        feats["flagged"] = flagged_mask(feats, rule_ids, threshold)
        rule_score = (
            hits.groupby(hits["traveller_id"].astype(str))["weight"].sum()
            if len(hits)
            else pd.Series(dtype=float)
        )
        ids = feats[TRAVELLER_ID].astype(str)
        feats[RULE_SCORE] = ids.map(rule_score).fillna(0.0).astype(float).to_numpy()
        m = matched.get("matches")
        if m is not None and len(m):
            best = m.groupby(m["traveller_id"].astype(str))["probability"].max()
            feats[MATCH_SCORE] = ids.map(best).fillna(0.0).astype(float).to_numpy()
        else:
            feats[MATCH_SCORE] = 0.0
        feats[NIGHT] = dt.date.fromisoformat(night)
        frames.append(feats)
        keys.append(
            _key_frame(
                warehouse.read_table(night, "travellers"),
                warehouse.read_table(night, "flights"),
                night,
            )
        )
        if progress is not None:
            progress(f"{night}: {len(feats)} travellers, {len(hits)} rule hits")
    frame = pd.concat(frames, ignore_index=True)
    labels, unmatched = label_travellers(pd.concat(keys, ignore_index=True), outcomes)
    frame[LABEL] = frame[TRAVELLER_ID].astype(str).map(labels).fillna(0).astype(np.int8).to_numpy()
    frame["reviewed"] = frame[TRAVELLER_ID].astype(str).isin(labels.index).to_numpy()
    frame.attrs["unmatched_outcomes"] = unmatched
    frame.attrs["outcomes"] = len(outcomes)
    if flagged_only:
        attrs = dict(frame.attrs)
        frame = frame.loc[frame["flagged"]].reset_index(drop=True)
        frame.attrs.update(attrs)
    return frame


def train_world(
    world: Path,
    *,
    features: Sequence[str] | None = None,
    settings: Any = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train on a world's flagged history travellers and register a new version (never promotes).

    This is the retrain flow's entry point.

    Args:
        world: the world directory.
        features: input names (default :func:`apiflag.model.inputs.default_inputs`: each rule
            hit, the match logit and every feature no rule reads).
        settings: :class:`apiflag.model.train.TrainSettings` (default settings when None).
        progress: called with one line per history night done.

    Returns:
        ``{"model", "version", "run_id", "model_uri", "metrics", "counts",
        "unmatched_outcomes"}``.
    """
    frame = build_training_frame(world, progress=progress, flagged_only=True)
    spec, features = model_inputs(frame.columns, features)
    result = train_scorecard(frame, spec, features, settings)
    reg = log_and_register(result, str(world))
    return {
        "model": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "metrics": dict(sorted(result.metrics.items())),
        "counts": result.counts,
        "unmatched_outcomes": frame.attrs.get("unmatched_outcomes", 0),
    }
