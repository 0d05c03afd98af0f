"""The combined night's outputs: ``combined.parquet``'s rows, the queued flags, their people."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from apiflag.evidence import (
    EvidenceBatch,
)
from apiflag.normalise import key_value
from apiflag.provenance import combined_digest, display_version
from apiflag.queue.combine.decide import Keys, Scores
from apiflag.queue.combine.result import CombineResult, CombineSettings, sigmoid
from apiflag.records import TRACKS, Flag
from apiflag.settings import age_bands_of

__all__ = ["assemble", "degraded_fields", "probabilities"]


def degraded_fields(tv: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """JSON lists of the fields each traveller's feed could not be read in (names, no values)."""
    if "degraded" not in tv.columns:
        return ["[]"] * len(rows)
    column = tv["degraded"].to_numpy(dtype=object)
    return [json.dumps([str(f) for f in column[j]] if column[j] is not None else []) for j in rows]


def probabilities(log_odds: np.ndarray) -> np.ndarray:
    """The logistic sigmoid of each log-odds, without overflow (NaN stays NaN)."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(log_odds))
        return np.where(log_odds >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def assemble(
    night: dt.date,
    tv: pd.DataFrame,
    keys: Keys,
    sc: Scores,
    track: np.ndarray,
    flagged: np.ndarray,
    flag_ids: np.ndarray,
    queued_idx: list[int],
    overflow_idx: list[int],
    outcome: np.ndarray,
    rows: list[dict[str, Any]],
    inputs: Mapping[str, tuple[str, ...]],
    evidence: EvidenceBatch,
    rules_digest: str,
    model: tuple[str | None, str | None],
    settings: CombineSettings,
    code: Mapping[str, str],
) -> CombineResult:
    """Build the :class:`CombineResult`: the combined table, the queued flags, their people."""
    run_digest = combined_digest(code)
    probability = probabilities(outcome)
    for j in queued_idx:
        if not math.isnan(outcome[j]):
            probability[j] = sigmoid(float(outcome[j]))
    priority = np.full(len(tv), None, dtype=object)
    for rank, j in enumerate(queued_idx + overflow_idx, start=1):
        priority[j] = rank
    queued = np.zeros(len(tv), dtype=bool)
    queued[queued_idx] = True
    id_arr = keys.ids.to_numpy(dtype=object)
    nationality = tv["nationality"].to_numpy(dtype=object) if "nationality" in tv.columns else None
    sex = tv["sex"].to_numpy(dtype=object) if "sex" in tv.columns else None
    combined = pd.DataFrame(
        {
            "traveller_id": id_arr,
            "flag_id": flag_ids,
            "track": track,
            "total": sc.policy,
            "outcome_log_odds": outcome,
            "probability": probability,
            "flagged": flagged,
            "queued": queued,
            "priority": pd.array(priority, dtype="Int64"),
            "minor": keys.minor,
            "minor_status": keys.minor_status,
            "case_match_probability": sc.match_p,
            "strong_case_match": sc.strong,
            "rule_hits": sc.rule_count.astype(int),
            "nationality": nationality,
            "sex": sex,
            "age_band": age_bands_of(settings.age_bands, keys.age),
        }
    )
    model_uri, model_version = model
    matcher_version, parser_version = (display_version(code[s]) for s in ("matching", "ingest"))

    def _opt(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    flags = tuple(
        Flag(
            flag_id=str(flag_ids[j]),
            night=night,
            traveller_id=id_arr[j],
            track=track[j],
            total=float(sc.policy[j]),
            outcome_log_odds=_opt(outcome[j]),
            probability=_opt(probability[j]),
            match_probability=_opt(sc.match_p[j]),
            priority=int(priority[j]),
            rules_digest=rules_digest,
            model_uri=model_uri,
            model_version=model_version,
            matcher_version=matcher_version,
            parser_version=parser_version,
            code_digest=run_digest,
            input_messages=inputs[str(flag_ids[j])],
        )
        for j in queued_idx
    )
    contribution_cols = [
        "flag_id", "order", "source", "column", "source_id", "weight", "sentence", "observed",
        "rationale", "against",
    ]  # fmt: skip
    births = tv["date_of_birth"].to_numpy(dtype=object)
    fl_idx = np.array(queued_idx, dtype=int)
    people = pd.DataFrame(
        {
            "flag_id": flag_ids[fl_idx],
            "traveller_id": id_arr[fl_idx],
            "surname": tv["surname"].to_numpy(dtype=object)[fl_idx],
            "given_names": tv["given_names"].to_numpy(dtype=object)[fl_idx],
            "date_of_birth": [key_value(births[j]) or None for j in fl_idx],
            "document_number": keys.doc_number[fl_idx],
            "flight": [f"{keys.carrier[j]}{keys.number[j]}" for j in fl_idx],
            "nationality": combined["nationality"].to_numpy(dtype=object)[fl_idx],
            "sex": combined["sex"].to_numpy(dtype=object)[fl_idx],
            "age_band": combined["age_band"].to_numpy(dtype=object)[fl_idx],
            "degraded": degraded_fields(tv, fl_idx),
            "input_messages": [json.dumps(list(inputs[str(flag_ids[j])])) for j in fl_idx],
        }
    )
    by_track = {t: int(((combined["track"] == t) & combined["flagged"]).sum()) for t in TRACKS}
    return CombineResult(
        night=night,
        travellers=combined,
        flags=flags,
        contributions=pd.DataFrame(rows, columns=contribution_cols),
        people=people,
        overflow=len(overflow_idx),
        capacity=settings.capacity,
        rules_digest=rules_digest,
        model_uri=model_uri,
        model_version=model_version,
        flagged_by_track=by_track,
        evidence=evidence.rows,
        code_digests=dict(code),
    )
