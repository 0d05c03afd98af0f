"""From a world's history to a labelled training table, and the retrain entry point.

Decides how history nights become training rows and guarantees:

* every history night runs through the same stages as a live night (ingest, case matching,
  features, rules: :mod:`apiflag.pipeline`), into the current ``$APIFLAG_HOME``;
* labels come only from ``history/outcomes.csv`` joined on the traveller key
  (``night, carrier, number, surname, given_names, date_of_birth, document_number``); nothing
  under ``truth/`` is read;
* an outcome whose traveller is not found is never dropped silently: the count is returned in
  ``frame.attrs["unmatched_outcomes"]`` and reported by training;
* a traveller without an outcome row was not reviewed: ``reviewed`` is False and training
  leaves the row out (:func:`apiflag.model.data.fit_population`: unknown, not "no concern");
* history nights are processed one at a time and only the rows training uses are kept (the
  flagged, and a seeded sample of the unflagged with recorded weights), so memory does not
  grow with the number of history nights beyond those rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    WEIGHT,
)
from apiflag.model.inputs import flagged_mask, input_frame, model_inputs
from apiflag.model.registry import log_and_register
from apiflag.model.train import TrainSettings, train_scorecard
from apiflag.normalise import TRAVELLER_KEY, traveller_key_frame
from apiflag.rules import load_catalogue
from apiflag.settings import load_settings

__all__ = [
    "KEY",
    "Sampling",
    "build_training_frame",
    "label_travellers",
    "read_outcomes",
    "train_world",
]

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


@dataclass(frozen=True)
class Sampling:
    """Which unflagged travellers a training table keeps: a seeded sample with recorded weights.

    Attributes:
        unflagged_per_night: at most this many unflagged travellers a night are kept, drawn
            without replacement; each kept one weighs ``unflagged / kept`` of its night, so
            weighted sums estimate the whole night. ``None`` keeps every one (weight 1).
        seed: the sample's seed (each night draws from ``(seed, night ordinal)``).
    """

    unflagged_per_night: int | None = 200
    seed: int = 0


def _night_labels(night: str, outcomes: pd.DataFrame) -> tuple[pd.Series, int]:
    """Label one night's travellers from that night's outcome rows (key columns only)."""
    columns = ["traveller_id", "flight_id", "surname", "given_names", "date_of_birth"]
    travellers = warehouse.read_table(night, "travellers")
    travellers = travellers[[c for c in (*columns, "document_number") if c in travellers]]
    flights = warehouse.read_table(night, "flights")[["flight_id", "carrier", "number"]]
    return label_travellers(_key_frame(travellers, flights, night), outcomes)


def _outcomes_by_night(outcomes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    nights = traveller_key_frame(outcomes)["night"]
    return {str(n): part for n, part in outcomes.groupby(nights.to_numpy(), sort=False)}


def _keep_rows(
    flagged: np.ndarray, night: str, sampling: Sampling | None, flagged_only: bool
) -> tuple[np.ndarray, float]:
    """Return the rows of a night to keep and the weight of each kept unflagged row."""
    keep = flagged.copy()
    unflagged = np.flatnonzero(~flagged)
    if flagged_only or not len(unflagged):
        return keep, 0.0
    if sampling is None or sampling.unflagged_per_night is None:
        keep[unflagged] = True
        return keep, 1.0
    n = min(sampling.unflagged_per_night, len(unflagged))
    rng = np.random.default_rng([sampling.seed, dt.date.fromisoformat(night).toordinal()])
    keep[np.sort(rng.choice(unflagged, size=n, replace=False))] = True
    return keep, (len(unflagged) / n) if n else 0.0


def _night_rows(
    night: str,
    world: Path,
    casedb_url: str,
    context: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run one history night's stages and return its kept, labelled rows (one night in memory)."""
    rule_ids = context["rule_ids"]
    pipeline.stage_ingest(dt.date.fromisoformat(night), world)
    matched, _ = pipeline.stage_matching(night, casedb_url)
    features, _ = pipeline.stage_features(night)
    rules, _ = pipeline.stage_rules(night, features)
    hits = rules.hits
    m = matched.get("matches")
    feats = input_frame(features, hits, m, rule_ids)
    del features, matched
    flagged = flagged_mask(feats, rule_ids, context["threshold"])
    keep, weight = _keep_rows(flagged, night, context["sampling"], context["flagged_only"])
    feats = feats.loc[keep].reset_index(drop=True)
    feats["flagged"] = flagged[keep]
    feats[WEIGHT] = np.where(feats["flagged"].to_numpy(), 1.0, weight)
    ids = feats[TRAVELLER_ID].astype(str)
    rule_score = (
        hits.groupby(hits["traveller_id"].astype(str))["weight"].sum()
        if len(hits)
        else pd.Series(dtype=float)
    )
    feats[RULE_SCORE] = ids.map(rule_score).fillna(0.0).astype(float).to_numpy()
    if m is not None and len(m):
        best = m.groupby(m["traveller_id"].astype(str))["probability"].max()
        feats[MATCH_SCORE] = ids.map(best).fillna(0.0).astype(float).to_numpy()
    else:
        feats[MATCH_SCORE] = 0.0
    feats[NIGHT] = dt.date.fromisoformat(night)
    mine = context["outcomes"].get(night, context["outcomes"]["_empty"])
    labels, unmatched = _night_labels(night, mine)
    recorded = len(mine)
    feats[LABEL] = ids.map(labels).fillna(0).astype(np.int8).to_numpy()
    feats["reviewed"] = ids.isin(labels.index).to_numpy()
    info = {
        "night": night,
        "travellers": len(flagged),
        "flagged": int(flagged.sum()),
        "unflagged_kept": int((~feats["flagged"]).sum()),
        "unflagged_weight": weight,
        "outcomes": recorded,
        "unmatched_outcomes": unmatched,
        "hits": len(hits),
    }
    return feats, info


def build_training_frame(
    world: Path,
    *,
    casedb_url: str | None = None,
    progress: Callable[[str], None] | None = None,
    flagged_only: bool = False,
    sampling: Sampling | None = None,
) -> pd.DataFrame:
    """Run every history night through ingest, matching, features and rules; join outcomes.

    Nights are processed one at a time and only the rows training can use are kept, so memory
    does not grow with the whole history: every flagged traveller, and of the unflagged either
    none (``flagged_only``), a seeded sample with recorded weights (``sampling``) or all.

    Args:
        world: a world directory (``history/nights/<D>/``, ``history/outcomes.csv``,
            ``casedb.sqlite``).
        casedb_url: the case database (default the world's ``casedb.sqlite``).
        progress: called with one line per night done.
        flagged_only: keep only the travellers the night would flag (a rule hit or a case
            match at or above the threshold): the population the outcome model is fitted on.
        sampling: how unflagged travellers are sampled (None: all kept, weight 1).

    Returns:
        One row per kept traveller: ``traveller_id``, ``night`` (date), the feature columns
        (protected monitoring columns included), the model inputs ``rule.<id>`` and
        ``match.logit`` (:mod:`apiflag.model.inputs`), ``flagged``, ``weight`` (1 for the
        flagged; unflagged / sampled of its night for a sampled unflagged traveller),
        ``rules.score``, ``match.score`` (best case-match probability, 0 when none),
        ``reviewed`` (an outcome row was joined) and ``label`` (the recorded outcome; 0
        when none). ``attrs["sampling"]`` holds the seed and each night's weight.

    Raises:
        ApiflagError: no history, no outcomes or no case database.
    """
    world = Path(world)
    context: dict[str, Any] = {
        "rule_ids": [r.id for r in load_catalogue().rules],
        "threshold": pipeline.match_threshold(load_settings(), load_model()),
        "outcomes": {},
        "sampling": sampling,
        "flagged_only": flagged_only,
    }
    outcomes = read_outcomes(world / "history" / "outcomes.csv")
    context["outcomes"] = {**_outcomes_by_night(outcomes), "_empty": outcomes.iloc[:0]}
    if casedb_url is None:
        db = world / "casedb.sqlite"
        if not db.is_file():
            raise ApiflagError(f"{world}: no casedb.sqlite here (the case database export)")
        casedb_url = f"sqlite:///{db.resolve()}"
    frames, infos = [], []
    for night in history_nights(world):
        rows, info = _night_rows(night, world, casedb_url, context)
        frames.append(rows)
        infos.append(info)
        if progress is not None:
            progress(f"{night}: {info['travellers']} travellers, {info['hits']} rule hits")
    frame = pd.concat(frames, ignore_index=True)
    del frames
    frame.attrs["unmatched_outcomes"] = sum(i["unmatched_outcomes"] for i in infos)
    frame.attrs["outcomes"] = len(outcomes)
    unknown = set(context["outcomes"]) - {"_empty", *(i["night"] for i in infos)}
    frame.attrs["unmatched_outcomes"] += sum(len(context["outcomes"][n]) for n in unknown)
    frame.attrs["sampling"] = {
        "flagged_only": flagged_only,
        "unflagged_per_night": None if sampling is None else sampling.unflagged_per_night,
        "seed": None if sampling is None else sampling.seed,
        "nights": infos,
    }
    return frame


def train_world(
    world: Path,
    *,
    features: Sequence[str] | None = None,
    settings: Any = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train on a world's reviewed flagged history travellers; register a version (never promotes).

    The table keeps a seeded, weighted sample of the unflagged travellers
    (:class:`Sampling`, seed ``settings.seed``) for the population figures only.

    This is the retrain flow's entry point.

    Args:
        world: the world directory.
        features: input names (default :func:`apiflag.model.inputs.default_inputs`: each rule
            hit, the match logit and every feature no rule reads).
        settings: :class:`apiflag.model.train.TrainSettings` (when None: the defaults with
            ``config.yaml``'s capacity and ``outcome_error_rate``).
        progress: called with one line per history night done.

    Returns:
        ``{"model", "version", "run_id", "model_uri", "metrics", "counts",
        "unmatched_outcomes"}``.
    """
    if settings is None:  # capacity and the review-error rate from config.yaml
        settings = TrainSettings.from_settings()
    seed = settings.seed if isinstance(settings, TrainSettings) else 0
    frame = build_training_frame(world, progress=progress, sampling=Sampling(seed=seed))
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
