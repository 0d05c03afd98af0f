"""Combine a night's evidence table into a policy rank, a track and a capped queue.

Reads one table, the night's evidence (:mod:`apiflag.evidence`: rows of the matcher, the rule
catalogue and the fitted outcome model, each with its target), and decides, per arrival:

* **the policy score**: the sum of the policy board's rule weights that fired. It decides who
  is flagged (with strong case matches) and in which order; it is policy, never a probability.
* **the outcome probability**: the sigmoid of the fitted model's rows (intercept, each input
  including each rule hit and the match logit, calibration step), a model fitted on reviewed
  outcomes of *flagged* travellers. Without a champion there are no such rows and the
  probability is None: the queue is ranked by policy weights alone.
* **the match probability**: the best case match's probability (identity: is this traveller
  that case person?). Its field rows sum to the match log-odds; they are never added to the
  outcome log-odds or the policy score.
* **the track**: ``case_match`` for a match at or above the threshold; ``protection`` when a
  match at or above it is to a victim's record (or the matcher says protection only), even if
  the traveller also matches an offender (non-punishment principle); otherwise the rule track
  with the largest summed weight (ties: protection, document_integrity, examination). A minor
  (under 18 on the night), or a traveller who may be one because no birth date could be read
  in the API or the linked PNR, is only ever on the protection track, whatever fired
  (:mod:`apiflag.minors` decides).
* **who is queued**: every case match at or above the threshold, plus the highest policy scores
  among the rest up to the nightly capacity (ties: the higher outcome probability, then the flag
  id). The rest of the flagged travellers are the overflow, counted, never hidden.

Guarantees: each queued traveller's explanation has three columns (``policy``, ``outcome``,
``identity``) whose rows sum *exactly* (:func:`math.fsum`) to that column's total row; no row is
counted in two columns. ``flag_id`` is deterministic (night, traveller key, track).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EvidenceBatch,
    best_matches,
    check_batch,
    concat,
    match_evidence,
    model_evidence,
    rule_evidence,
)
from apiflag.matching.model import load_model
from apiflag.minors import minor_status, protection_only
from apiflag.normalise import key_value
from apiflag.provenance import combined_digest, display_version, stage_code_digests
from apiflag.records import RULE_TRACKS, TRACKS, Flag
from apiflag.settings import DEFAULT_AGE_BANDS, DEFAULT_CAPACITY, Settings, age_bands_of

__all__ = [
    "TRACKS",
    "CombineResult",
    "CombineSettings",
    "RuleInfo",
    "combine",
    "combine_evidence",
    "gather_evidence",
    "flag_id_for",
    "sigmoid",
]

RULE_TRACK_ORDER = RULE_TRACKS
LN2 = math.log(2.0)
BASELINE_IDS = frozenset({"model:intercept", "prior:model_baseline"})

REQUIRED: dict[str, tuple[str, ...]] = {
    "travellers": ("traveller_id", "flight_id", "surname", "given_names", "date_of_birth"),
    "flights": ("flight_id", "carrier", "number"),
    "matches": ("traveller_id", "person_id", "case_id", "role", "probability", "protection_only"),
    "match_fields": ("traveller_id", "person_id", "field", "weight", "sentence", "observed"),
    "rule_hits": ("traveller_id", "rule_id", "rule_version", "track", "weight", "observed"),
    "scores": ("traveller_id", "log_odds", "model_uri", "model_version"),
    "model_contributions": ("traveller_id", "feature", "observed", "weight"),
}


@dataclass(frozen=True)
class CombineSettings:
    """Knobs of the combine stage.

    Attributes:
        capacity: how many items (besides case matches) analysts can review per night.
        case_match_threshold: match probability at or above which a case match is queued
            regardless of capacity (default: the matcher's reporting threshold,
            ``models/matcher.json``; the night uses the settings' ``match_threshold``).
        match_weight_base: the base of the matcher's field weights (2 for log2 Bayes factors,
            ``math.e`` when they are already natural log-odds).
        minor_age: under this age on the night a traveller is a minor (protection only).
        age_bands: lower bounds of the monitoring age bands (settings ``age_bands``).
    """

    capacity: int = DEFAULT_CAPACITY
    case_match_threshold: float = field(default_factory=lambda: load_model().default_threshold)
    match_weight_base: float = 2.0
    minor_age: int = 18
    age_bands: tuple[int, ...] = DEFAULT_AGE_BANDS

    @classmethod
    def from_settings(cls, settings: Settings, match_threshold: float) -> CombineSettings:
        """Return the combine knobs of the run's settings and the threshold the matcher used."""
        return cls(
            capacity=settings.capacity,
            case_match_threshold=match_threshold,
            age_bands=settings.age_bands,
        )

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ApiflagError(f"combine: capacity must be >= 0, got {self.capacity}")
        if not 0.0 <= self.case_match_threshold <= 1.0:
            raise ApiflagError(
                f"combine: case_match_threshold must be in [0, 1], got {self.case_match_threshold}"
            )
        if self.match_weight_base <= 1.0:
            raise ApiflagError(
                f"combine: match_weight_base must be > 1, got {self.match_weight_base}"
            )


@dataclass(frozen=True)
class RuleInfo:
    """What an explanation says about a rule: its title, rationale and exonerating conditions."""

    title: str
    rationale: str = ""
    exonerating: tuple[str, ...] = ()
    track: str = ""


@dataclass(frozen=True)
class CombineResult:
    """A combined night.

    Attributes:
        night: the arrival night.
        travellers: one row per arriving traveller (``combined.parquet``): traveller_id,
            flag_id (None when not flagged), track, total (the policy score),
            outcome_log_odds and probability (NaN without a champion), flagged, queued,
            priority (None when not flagged), minor (a minor or may be one: protection
            only), minor_status (``minor``, ``adult``, ``unknown``), case_match_probability,
            strong_case_match (a match at or above ``case_match_threshold``: always queued).
        flags: the queued flags, priority order.
        contributions: explanation rows of every flagged traveller (queued and overflow): the
            :class:`~apiflag.records.Contribution` columns plus ``rationale`` and ``against``
            (JSON list of exonerating conditions that did not apply).
        people: personal data of every flagged traveller, keyed by flag_id (surname,
            given_names, date_of_birth, document_number) plus flight and monitoring columns.
        overflow: flagged travellers that capacity kept out of the queue.
        capacity: the capacity used.
        flagged_by_track: flagged travellers per track (queued or not).
        code_digests: ``{stage: code digest}`` the night ran with (every flag records their
            :func:`~apiflag.provenance.combined_digest`).
    """

    night: dt.date
    travellers: pd.DataFrame
    flags: tuple[Flag, ...]
    contributions: pd.DataFrame
    people: pd.DataFrame
    overflow: int
    capacity: int
    rules_digest: str
    model_uri: str | None
    model_version: str | None
    flagged_by_track: dict[str, int] = field(default_factory=dict)
    code_digests: dict[str, str] = field(default_factory=dict)
    evidence: pd.DataFrame | None = None

    @property
    def ranked_by(self) -> str:
        """How the queue is ranked, in words for the queue, the report and the explanation."""
        if self.model_uri is None:
            return "policy weights alone (no champion model: no outcome probability is shown)"
        return (
            f"policy weights; outcome probability from {self.model_uri} "
            f"(version {self.model_version}) breaks ties"
        )


def sigmoid(x: float) -> float:
    """Return the logistic sigmoid of ``x`` without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _degraded_fields(tv: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """JSON lists of the fields each traveller's feed could not be read in (names, no values)."""
    if "degraded" not in tv.columns:
        return ["[]"] * len(rows)
    column = tv["degraded"].to_numpy(dtype=object)
    return [json.dumps([str(f) for f in column[j]] if column[j] is not None else []) for j in rows]


def flag_id_for(night: dt.date, key: Sequence[Any], track: str) -> str:
    """Return the deterministic flag id of a traveller key on a night and track.

    Args:
        night: the arrival night.
        key: the traveller key after the night: carrier, number, surname, given_names,
            date_of_birth, document_number (as written in the PAXLST; case and spacing ignored).
        track: the flag's track.

    Returns:
        ``F<YYYYMMDD>-<16 hex>``: 64 bits of SHA-256 over the normalised key and track.
    """
    material = "\x1f".join([night.isoformat(), *(key_value(v) for v in key), track])
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]
    return f"F{night:%Y%m%d}-{digest}"


def _check(name: str, frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    missing = [c for c in REQUIRED[name] if c not in frame.columns]
    if missing:
        raise ApiflagError(f"combine: {name} lacks column(s) {', '.join(missing)}")
    return frame


def _to_date(night: dt.date | str) -> dt.date:
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


def _model_identity(scores: pd.DataFrame | None) -> tuple[str | None, str | None]:
    if scores is None or not len(scores):
        return None, None
    uris = scores["model_uri"].dropna().astype(str).unique()
    versions = scores["model_version"].dropna().astype(str).unique()
    if len(uris) > 1 or len(versions) > 1:
        raise ApiflagError(
            f"combine: scores come from more than one model ({', '.join(map(str, uris))})"
        )
    return (str(uris[0]) if len(uris) else None, str(versions[0]) if len(versions) else None)


def _check_ids(night: dt.date, known: set[str], frames: Mapping[str, pd.DataFrame | None]) -> None:
    for name, frame in frames.items():
        if frame is not None and len(frame):
            stray = set(frame["traveller_id"].astype(str).to_numpy(dtype=object).tolist()) - known
            if stray:
                raise ApiflagError(
                    f"combine: {name}: traveller_id {sorted(stray)[0]!r} is not an arrival of "
                    f"night {night} ({len(stray)} unknown)"
                )


def combine(
    night: dt.date | str,
    travellers: pd.DataFrame,
    flights: pd.DataFrame,
    *,
    documents: pd.DataFrame | None = None,
    bookings: pd.DataFrame | None = None,
    matches: pd.DataFrame | None = None,
    match_fields: pd.DataFrame | None = None,
    rule_hits: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    model_contributions: pd.DataFrame | None = None,
    rules_digest: str,
    rule_info: Mapping[str, RuleInfo] | None = None,
    settings: CombineSettings | None = None,
    code_digests: Mapping[str, str] | None = None,
    pnr_travellers: pd.DataFrame | None = None,
) -> CombineResult:
    """Gather the sources' evidence into one table, then rank, track and cap one night.

    Args:
        night: the arrival night.
        travellers: the warehouse ``travellers`` table (``message_sha256`` and ``booking_id``
            are used for the input hashes when present; ``sex``, ``nationality`` for monitoring).
        flights: the warehouse ``flights`` table (carrier and number complete the key).
        documents: the warehouse ``documents`` table; its first API document (``seq`` 0) is
            the key's document number when ``travellers`` has no ``document_number`` column.
        bookings: the warehouse ``bookings`` table (current pushes), for the PNR message hashes.
        matches: case matches (best match per traveller is used); None when none.
        match_fields: per-field case-match weights (log base ``settings.match_weight_base``).
        rule_hits: rule hits (policy weights).
        scores: the champion's outcome scores, or None when there is no champion.
        model_contributions: its per-input rows, or None when there is no champion.
        rules_digest: the digest of the rule catalogue that produced ``rule_hits``.
        rule_info: titles, rationales and exonerating conditions per rule id, for explanations.
        settings: capacity and thresholds.
        code_digests: ``{stage: code digest}`` of the run (default: this installation's code,
            without settings; see :func:`apiflag.provenance.stage_code_digests`).
        pnr_travellers: the warehouse ``pnr_travellers`` table: the linked PNR traveller's
            birth date decides the age when the API's is missing or unreadable
            (:mod:`apiflag.minors`).

    Returns:
        The :class:`CombineResult` (its ``evidence`` is the table the decision read).

    Raises:
        ApiflagError: a frame lacks a required column, or a setting is out of range.
    """
    settings = settings or CombineSettings()
    code = dict(code_digests) if code_digests is not None else stage_code_digests()
    night_d = _to_date(night)
    frames = {
        "travellers": travellers,
        "flights": flights,
        "matches": matches,
        "match_fields": match_fields,
        "rule_hits": rule_hits,
        "scores": scores,
        "model_contributions": model_contributions,
    }
    for name, frame in frames.items():
        _check(name, frame)
    if travellers["traveller_id"].duplicated().any():
        dup = travellers.loc[travellers["traveller_id"].duplicated(), "traveller_id"].iloc[0]
        raise ApiflagError(f"combine: travellers: traveller_id {dup!r} appears twice")
    known = set(travellers["traveller_id"].astype(str).to_numpy(dtype=object).tolist())
    _check_ids(
        night_d,
        known,
        {
            k: frames[k]
            for k in REQUIRED
            if k not in ("travellers", "flights", "model_contributions")
        },
    )
    model_uri, model_version = _model_identity(scores)
    tracks: dict[str, str] = {}
    if rule_hits is not None and len(rule_hits):
        tracks = dict(
            zip(rule_hits["rule_id"].astype(str), rule_hits["track"].astype(str), strict=True)
        )
    info = {
        rid: RuleInfo(i.title, i.rationale, i.exonerating, i.track or tracks.get(rid, ""))
        for rid, i in (rule_info or {}).items()
    }
    for rid, track in tracks.items():
        info.setdefault(rid, RuleInfo(title=f"rule {rid}", track=track))
    evidence = gather_evidence(
        matches=matches,
        match_fields=match_fields,
        rule_hits=rule_hits,
        scores=scores,
        model_contributions=model_contributions,
        rule_info=info,
        settings=settings,
    )
    return combine_evidence(
        night_d,
        _with_pnr_birth_dates(travellers, pnr_travellers),
        flights,
        evidence,
        matches=matches,
        documents=documents,
        bookings=bookings,
        rules_digest=rules_digest,
        rule_info=info,
        model=(model_uri, model_version),
        settings=settings,
        code_digests=code,
    )


@dataclass(frozen=True)
class _Keys:
    """The traveller key columns and ages of a night's arrivals."""

    ids: pd.Series
    carrier: np.ndarray
    number: np.ndarray
    doc_number: np.ndarray
    age: np.ndarray
    minor: np.ndarray  # a minor or may be one: protection only
    minor_status: np.ndarray  # minor, adult, unknown (apiflag.minors)


def _keys(
    night: dt.date,
    tv: pd.DataFrame,
    flights: pd.DataFrame,
    documents: pd.DataFrame | None,
    settings: CombineSettings,
) -> _Keys:
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
    pnr_dob = tv[_PNR_DOB] if _PNR_DOB in tv.columns else None
    status, age = minor_status(tv["date_of_birth"], night, pnr_dob, settings.minor_age)
    return _Keys(
        ids,
        carrier.to_numpy(dtype=object),
        number.to_numpy(dtype=object),
        doc_number.to_numpy(dtype=object),
        age.to_numpy(dtype=float),
        protection_only(status),
        status.to_numpy(dtype=object),
    )


_PNR_DOB = "_pnr_date_of_birth"  # the linked PNR traveller's birth date, set by combine()


def _with_pnr_birth_dates(tv: pd.DataFrame, pnr_travellers: pd.DataFrame | None) -> pd.DataFrame:
    """``tv`` with the linked PNR traveller's birth date (for :mod:`apiflag.minors`)."""
    if pnr_travellers is None or not len(pnr_travellers) or "pnr_traveller_id" not in tv.columns:
        return tv
    by_id = pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    return tv.assign(**{_PNR_DOB: tv["pnr_traveller_id"].map(by_id["date_of_birth"])})


@dataclass(frozen=True)
class _Scores:
    """Per-arrival figures read from the evidence table (aligned with the travellers)."""

    policy: np.ndarray
    rule_count: np.ndarray
    outcome: np.ndarray
    match_p: np.ndarray
    strong: np.ndarray
    strong_victim: np.ndarray
    track_sums: dict[str, dict[str, float]]


def _scores(
    ids: pd.Series,
    evidence: EvidenceBatch,
    best: pd.DataFrame,
    matches: pd.DataFrame | None,
    rule_info: Mapping[str, RuleInfo],
    settings: CombineSettings,
) -> _Scores:
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
    return _Scores(
        policy=policy,
        rule_count=rule_count,
        outcome=outcome,
        match_p=match_p.to_numpy(dtype=float),
        strong=strong,
        strong_victim=ids.isin(victims).to_numpy(dtype=bool),
        track_sums=track_sums,
    )


def _tracks(ids: np.ndarray, flagged: np.ndarray, sc: _Scores, minor: np.ndarray) -> np.ndarray:
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


def _rank_key(j: int, sc: _Scores, flag_ids: np.ndarray) -> tuple[float, float, str]:
    p = sc.outcome[j]
    return (-sc.policy[j], -p if not math.isnan(p) else math.inf, str(flag_ids[j]))


def _explanation(
    tid: str,
    ev: Mapping[str, list[dict[str, Any]]],
    policy: float,
    match: Mapping[str, Any] | None,
    rule_info: Mapping[str, RuleInfo],
    model_uri: str | None,
) -> tuple[list[dict[str, Any]], float | None]:
    """Return one traveller's explanation rows, by column, and its exact outcome log-odds."""
    parts: list[dict[str, Any]] = []
    rule_rows = ev.get("rule", [])
    for r in rule_rows:
        info = rule_info.get(str(r["source_id"]).rsplit("@", 1)[0])
        parts.append(
            _row(
                "rule",
                "policy",
                r["source_id"],
                r["weight"],
                r["sentence"],
                r["observed"],
                rationale=info.rationale if info else None,
                against=list(info.exonerating) if info else [],
            )
        )
    total_policy = math.fsum(r["weight"] for r in rule_rows)
    assert total_policy == policy  # the rule source's own total, from the same rows
    parts.append(
        _row(
            "total",
            "policy",
            "total:policy",
            total_policy,
            f"Policy score {total_policy:+.2f}: the policy board's rule weights that "
            "fired (it ranks the queue; it is not a probability)",
            None,
        )
    )
    outcome: float | None = None
    model_rows = ev.get("model", [])
    if model_rows:
        for r in model_rows:
            source = "prior" if r["source_id"] in BASELINE_IDS else "model"
            parts.append(
                _row(source, "outcome", r["source_id"], r["weight"], r["sentence"], r["observed"])
            )
        outcome = math.fsum(r["weight"] for r in model_rows)
        parts.append(
            _row(
                "total",
                "outcome",
                "total:outcome",
                outcome,
                f"Outcome log-odds {outcome:+.2f}: probability {sigmoid(outcome):.3f} "
                f"that a review finds indicators ({model_uri}, fitted on reviewed "
                "outcomes of flagged travellers)",
                None,
            )
        )
    match_rows = ev.get("match", [])
    if match_rows and match is not None:
        for r in match_rows:
            parts.append(
                _row(
                    "case_match",
                    "identity",
                    r["source_id"],
                    r["weight"],
                    r["sentence"],
                    r["observed"],
                )
            )
        ident = math.fsum(r["weight"] for r in match_rows)
        parts.append(
            _row(
                "total",
                "identity",
                "total:identity",
                ident,
                f"Match log-odds {ident:+.2f}: match probability "
                f"{float(match['probability']):.3f} that the traveller is case person "
                f"{match['person_id']} (identity, not guilt)",
                None,
            )
        )
    return parts, outcome


def _input_hashes(
    tv: pd.DataFrame, bookings: pd.DataFrame | None
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, str]]:
    booking_msgs: dict[str, str] = {}
    if bookings is not None and len(bookings) and "message_sha256" in bookings.columns:
        cur = bookings
        if "superseded" in cur.columns:
            cur = cur.loc[~cur["superseded"].astype(bool)]
        booking_msgs = dict(zip(cur["booking_id"].astype(str), cur["message_sha256"], strict=False))
    msg = tv["message_sha256"].to_numpy(dtype=object) if "message_sha256" in tv.columns else None
    bk = tv["booking_id"].to_numpy(dtype=object) if "booking_id" in tv.columns else None
    return msg, bk, booking_msgs


def _hashes_of(
    i: int, msg: np.ndarray | None, bk: np.ndarray | None, booking_msgs: Mapping[str, str]
) -> tuple[str, ...]:
    hashes: list[str] = []
    if msg is not None and pd.notna(msg[i]):
        hashes.append(str(msg[i]))
    if bk is not None and pd.notna(bk[i]):
        h = booking_msgs.get(str(bk[i]))
        if h and h not in hashes:
            hashes.append(h)
    return tuple(sorted(hashes))


def _evidence_by(rows: pd.DataFrame, ids: set[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    sel = rows.loc[rows["traveller_id"].isin(ids)]
    for rec in sel.to_dict("records"):
        out.setdefault(str(rec["traveller_id"]), {}).setdefault(str(rec["source"]), []).append(rec)
    return out


def combine_evidence(
    night: dt.date,
    travellers: pd.DataFrame,
    flights: pd.DataFrame,
    evidence: EvidenceBatch,
    *,
    matches: pd.DataFrame | None,
    documents: pd.DataFrame | None,
    bookings: pd.DataFrame | None,
    rules_digest: str,
    rule_info: Mapping[str, RuleInfo],
    model: tuple[str | None, str | None],
    settings: CombineSettings,
    code_digests: Mapping[str, str],
) -> CombineResult:
    """Rank, track and cap a night from its evidence table (see the module docstring).

    ``matches`` is read for what a match *is* (case, record, role, protection only), never for
    a weight; every weight comes from ``evidence``. ``code_digests`` (``{stage: digest}``)
    name the code every flag records.
    """
    tv = travellers.reset_index(drop=True)
    keys = _keys(night, tv, flights, documents, settings)
    id_arr = keys.ids.to_numpy(dtype=object)
    best = best_matches(matches)
    sc = _scores(keys.ids, evidence, best, matches, rule_info, settings)
    flagged = (sc.rule_count > 0) | sc.strong
    track = _tracks(id_arr, flagged, sc, keys.minor)
    surnames = tv["surname"].to_numpy(dtype=object)
    givens = tv["given_names"].to_numpy(dtype=object)
    births = tv["date_of_birth"].to_numpy(dtype=object)
    flag_ids = np.full(len(tv), None, dtype=object)
    for i in np.flatnonzero(flagged):
        flag_ids[i] = flag_id_for(
            night,
            (
                keys.carrier[i],
                keys.number[i],
                surnames[i],
                givens[i],
                births[i],
                keys.doc_number[i],
            ),
            str(track[i]),
        )
    order_idx = sorted(
        (int(j) for j in np.flatnonzero(flagged)), key=lambda j: _rank_key(j, sc, flag_ids)
    )
    others = [j for j in order_idx if not sc.strong[j]]
    chosen = {j for j in order_idx if sc.strong[j]} | set(others[: settings.capacity])
    queued_idx = [j for j in order_idx if j in chosen]
    overflow_idx = [j for j in order_idx if j not in chosen]

    ev_by = _evidence_by(evidence.rows, set(id_arr[queued_idx]))
    best_rec = {str(k): v for k, v in best.to_dict("index").items()}
    msg, bk, booking_msgs = _input_hashes(tv, bookings)
    rows: list[dict[str, Any]] = []
    inputs: dict[str, tuple[str, ...]] = {}
    outcome = sc.outcome.copy()
    for j in queued_idx:
        tid, fid = str(id_arr[j]), str(flag_ids[j])
        parts, exact = _explanation(
            tid, ev_by.get(tid, {}), float(sc.policy[j]), best_rec.get(tid), rule_info, model[0]
        )
        if exact is not None:
            outcome[j] = exact
        for order, p in enumerate(parts):
            p["flag_id"], p["order"] = fid, order
        rows.extend(parts)
        inputs[fid] = _hashes_of(j, msg, bk, booking_msgs)
    return _assemble(
        night,
        tv,
        keys,
        sc,
        track,
        flagged,
        flag_ids,
        queued_idx,
        overflow_idx,
        outcome,
        rows,
        inputs,
        evidence,
        rules_digest,
        model,
        settings,
        code_digests,
    )


def _probabilities(log_odds: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(log_odds))
        return np.where(log_odds >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _assemble(
    night: dt.date,
    tv: pd.DataFrame,
    keys: _Keys,
    sc: _Scores,
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
    run_digest = combined_digest(code)
    probability = _probabilities(outcome)
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
            matcher_version=display_version(code["matching"]),
            parser_version=display_version(code["ingest"]),
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
            "degraded": _degraded_fields(tv, fl_idx),
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


def _row(
    source: str,
    column: str,
    source_id: str,
    weight: float,
    sentence: str,
    observed: str | None,
    *,
    rationale: str | None = None,
    against: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "source": source,
        "column": column,
        "source_id": str(source_id),
        "weight": float(weight),
        "sentence": sentence if source == "total" else f"{sentence}: {weight:+.2f}",
        "observed": observed,
        "rationale": rationale,
        "against": json.dumps(against or [], ensure_ascii=False),
    }
