"""What combine reads, checked: the stage outputs' columns and ids, the evidence table, hashes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EvidenceBatch,
    check_batch,
    concat,
    match_evidence,
    model_evidence,
    rule_evidence,
)
from apiflag.queue.combine.result import CombineSettings, RuleInfo

__all__ = [
    "PNR_DOB",
    "REQUIRED",
    "check_frame",
    "check_ids",
    "gather_evidence",
    "hashes_of",
    "input_hashes",
    "model_identity",
    "to_date",
    "with_pnr_birth_dates",
]


REQUIRED: dict[str, tuple[str, ...]] = {
    "travellers": ("traveller_id", "flight_id", "surname", "given_names", "date_of_birth"),
    "flights": ("flight_id", "carrier", "number"),
    "matches": ("traveller_id", "person_id", "case_id", "role", "probability", "protection_only"),
    "match_fields": ("traveller_id", "person_id", "field", "weight", "sentence", "observed"),
    "rule_hits": ("traveller_id", "rule_id", "rule_version", "track", "weight", "observed"),
    "scores": ("traveller_id", "log_odds", "model_uri", "model_version"),
    "model_contributions": ("traveller_id", "feature", "observed", "weight"),
}


def check_frame(name: str, frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """Return ``frame`` when it has the columns combine reads from it (None stays None)."""
    if frame is None:
        return None
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise ApiflagError(f"combine: {name} lacks column(s) {', '.join(missing)}")
    return frame


def to_date(night: dt.date | str) -> dt.date:
    """Return the night as a date (``YYYY-MM-DD`` text accepted)."""
    if isinstance(night, dt.datetime):
        return night.date()
    if isinstance(night, dt.date):
        return night
    try:
        return dt.date.fromisoformat(str(night))
    except ValueError as exc:
        raise ApiflagError(f"combine: night {night!r} is not YYYY-MM-DD") from exc


def gather_evidence(
    *,
    matches: pd.DataFrame | None = None,
    match_fields: pd.DataFrame | None = None,
    rule_hits: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    model_contributions: pd.DataFrame | None = None,
    rule_info: Mapping[str, RuleInfo] | None = None,
    settings: CombineSettings | None = None,
) -> EvidenceBatch:
    """Turn each source's output into the one evidence table (and check the contract).

    Returns:
        The matcher's identity rows, the rules' policy rows and the model's fitted rows.

    Raises:
        ApiflagError: a source's rows break the evidence contract.
    """
    settings = settings or CombineSettings()
    batch = concat(
        match_evidence(matches, match_fields, weight_base=settings.match_weight_base),
        rule_evidence(rule_hits, rule_info),
        model_evidence(scores, model_contributions),
    )
    check_batch(batch)
    return batch


def model_identity(scores: pd.DataFrame | None) -> tuple[str | None, str | None]:
    """Return the URI and version of the one model the scores come from (None, None)."""
    if scores is None or not len(scores):
        return None, None
    uris = scores["model_uri"].dropna().astype(str).unique()
    versions = scores["model_version"].dropna().astype(str).unique()
    if len(uris) > 1 or len(versions) > 1:
        raise ApiflagError(
            f"combine: scores come from more than one model ({', '.join(map(str, uris))})"
        )
    return (str(uris[0]) if len(uris) else None, str(versions[0]) if len(versions) else None)


def check_ids(night: dt.date, known: set[str], frames: Mapping[str, pd.DataFrame | None]) -> None:
    """Refuse a stage output that names a traveller who is not an arrival of the night."""
    for name, frame in frames.items():
        if frame is not None and len(frame):
            stray = set(frame["traveller_id"].astype(str).to_numpy(dtype=object).tolist()) - known
            if stray:
                raise ApiflagError(
                    f"combine: {name}: traveller_id {sorted(stray)[0]!r} is not an arrival of "
                    f"night {night} ({len(stray)} unknown)"
                )


PNR_DOB = "_pnr_date_of_birth"  # the linked PNR traveller's birth date, set by combine()


def with_pnr_birth_dates(tv: pd.DataFrame, pnr_travellers: pd.DataFrame | None) -> pd.DataFrame:
    """``tv`` with the linked PNR traveller's birth date (for :mod:`apiflag.minors`)."""
    if pnr_travellers is None or not len(pnr_travellers) or "pnr_traveller_id" not in tv.columns:
        return tv
    by_id = pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    return tv.assign(**{PNR_DOB: tv["pnr_traveller_id"].map(by_id["date_of_birth"])})


def input_hashes(
    tv: pd.DataFrame, bookings: pd.DataFrame | None
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, str]]:
    """Return the travellers' message hashes, booking ids and current bookings' hashes."""
    booking_msgs: dict[str, str] = {}
    if bookings is not None and len(bookings) and "message_sha256" in bookings.columns:
        cur = bookings
        if "superseded" in cur.columns:
            cur = cur.loc[~cur["superseded"].astype(bool)]
        booking_msgs = dict(zip(cur["booking_id"].astype(str), cur["message_sha256"], strict=False))
    msg = tv["message_sha256"].to_numpy(dtype=object) if "message_sha256" in tv.columns else None
    bk = tv["booking_id"].to_numpy(dtype=object) if "booking_id" in tv.columns else None
    return msg, bk, booking_msgs


def hashes_of(
    i: int, msg: np.ndarray | None, bk: np.ndarray | None, booking_msgs: Mapping[str, str]
) -> tuple[str, ...]:
    """Return the sorted message hashes one traveller's flag was computed from."""
    hashes: list[str] = []
    if msg is not None and pd.notna(msg[i]):
        hashes.append(str(msg[i]))
    if bk is not None and pd.notna(bk[i]):
        h = booking_msgs.get(str(bk[i]))
        if h and h not in hashes:
            hashes.append(h)
    return tuple(sorted(hashes))
