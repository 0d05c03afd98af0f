"""The decisions per arrival: traveller key and minor status, scores, flagged, track, rank."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EvidenceBatch,
)
from apiflag.minors import minor_status, protection_only
from apiflag.queue.combine.inputs import PNR_DOB
from apiflag.queue.combine.result import RULE_TRACK_ORDER, CombineSettings, RuleInfo

__all__ = ["Keys", "Scores", "assign_tracks", "rank_key", "read_scores", "traveller_keys"]


@dataclass(frozen=True)
class Keys:
    """The traveller key columns and ages of a night's arrivals."""

    ids: pd.Series
    carrier: np.ndarray
    number: np.ndarray
    doc_number: np.ndarray
    age: np.ndarray
    minor: np.ndarray  # a minor or may be one: protection only
    minor_status: np.ndarray  # minor, adult, unknown (apiflag.minors)


def traveller_keys(
    night: dt.date,
    tv: pd.DataFrame,
    flights: pd.DataFrame,
    documents: pd.DataFrame | None,
    settings: CombineSettings,
) -> Keys:
    """Read each arrival's traveller key columns, age and minor status."""
    ids = tv["traveller_id"].astype(str)
    fl = flights.drop_duplicates("flight_id").set_index("flight_id")
    carrier = tv["flight_id"].map(fl["carrier"]).fillna("")
    number = tv["flight_id"].map(fl["number"]).fillna("").astype(str)
    doc_number = pd.Series([""] * len(tv), dtype=object)
    if "document_number" in tv.columns:
        doc_number = tv["document_number"].astype(object).where(tv["document_number"].notna(), "")
    elif documents is not None and len(documents):
        api_docs = documents
        if "owner_kind" in documents.columns:
            api_docs = documents.loc[documents["owner_kind"] == "api"]
        if "seq" in api_docs.columns:
            api_docs = api_docs.sort_values("seq", kind="stable")
        first = api_docs.drop_duplicates("owner_id").set_index("owner_id")["number"]
        doc_number = ids.map(first).fillna("")
    pnr_dob = tv[PNR_DOB] if PNR_DOB in tv.columns else None
    status, age = minor_status(tv["date_of_birth"], night, pnr_dob, settings.minor_age)
    return Keys(
        ids,
        carrier.to_numpy(dtype=object),
        number.to_numpy(dtype=object),
        doc_number.to_numpy(dtype=object),
        age.to_numpy(dtype=float),
        protection_only(status),
        status.to_numpy(dtype=object),
    )


@dataclass(frozen=True)
class Scores:
    """Per-arrival figures read from the evidence table (aligned with the travellers)."""

    policy: np.ndarray
    rule_count: np.ndarray
    outcome: np.ndarray
    match_p: np.ndarray
    strong: np.ndarray
    strong_victim: np.ndarray
    track_sums: dict[str, dict[str, float]]


def read_scores(
    ids: pd.Series,
    evidence: EvidenceBatch,
    best: pd.DataFrame,
    matches: pd.DataFrame | None,
    rule_info: Mapping[str, RuleInfo],
    settings: CombineSettings,
) -> Scores:
    """Read each arrival's figures from the evidence table (weights from nowhere else)."""
    rows = evidence.rows
    policy = ids.map(evidence.total_of("rule")).fillna(0.0).to_numpy(dtype=float)
    outcome = ids.map(evidence.total_of("model")).to_numpy(dtype=float)
    rules = rows.loc[rows["source"] == "rule"]
    rule_count = ids.map(rules.groupby("traveller_id").size()).fillna(0).to_numpy(dtype=int)
    rule_ids = rules["source_id"].str.rsplit("@", n=1).str[0]
    rule_track = rule_ids.map(lambda r: rule_info[r].track if r in rule_info else "")
    unknown = sorted(set(rule_track) - set(RULE_TRACK_ORDER))
    if unknown:
        raise ApiflagError(
            f"combine: rule_hits: track {unknown[0]!r} is not one of {', '.join(RULE_TRACK_ORDER)}"
        )
    track_sums: dict[str, dict[str, float]] = {}
    for (tid, track), w in rules.groupby([rules["traveller_id"], rule_track])["weight"]:
        track_sums.setdefault(str(tid), {})[str(track)] = math.fsum(w.tolist())
    match_p = (
        ids.map(best["probability"].astype(float))
        if len(best)
        else pd.Series(np.nan, index=ids.index)
    )
    strong = (match_p >= settings.case_match_threshold).fillna(False).to_numpy(dtype=bool)
    victims: set[str] = set()
    if matches is not None and len(matches):
        mt = matches
        victim_rows = mt.loc[
            (mt["probability"].astype(float) >= settings.case_match_threshold)
            & ((mt["role"].astype(str) == "victim") | mt["protection_only"].astype(bool))
        ]
        victims = set(victim_rows["traveller_id"].astype(str))
    return Scores(
        policy=policy,
        rule_count=rule_count,
        outcome=outcome,
        match_p=match_p.to_numpy(dtype=float),
        strong=strong,
        strong_victim=ids.isin(victims).to_numpy(dtype=bool),
        track_sums=track_sums,
    )


def assign_tracks(
    ids: np.ndarray, flagged: np.ndarray, sc: Scores, minor: np.ndarray
) -> np.ndarray:
    """Return each flagged arrival's track (a minor, or maybe one: protection only)."""
    track = np.full(len(ids), None, dtype=object)
    for i in np.flatnonzero(flagged):
        if sc.strong[i]:
            track[i] = "protection" if sc.strong_victim[i] else "case_match"
        else:
            sums = sc.track_sums.get(str(ids[i]), {})
            track[i] = max(
                RULE_TRACK_ORDER,
                key=lambda t: (sums.get(t, -math.inf), -RULE_TRACK_ORDER.index(t)),
            )
        if minor[i]:
            track[i] = "protection"
    return track


def rank_key(j: int, sc: Scores, flag_ids: np.ndarray) -> tuple[float, float, str]:
    """Sort key of a flagged arrival: policy score, then outcome probability, then flag id."""
    p = sc.outcome[j]
    return (-sc.policy[j], -p if not math.isnan(p) else math.inf, str(flag_ids[j]))
