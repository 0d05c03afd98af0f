"""Combine a night's evidence into one score, one track and a ranked, capped queue.

Decides, per arriving traveller:

* **the score**: one total on the natural log-odds scale, ``prior + case match + rules + model``.
  With a champion model its intercept is the prior (and its calibration step a model row);
  without one the configured base rate is. The best case match contributes its field rows
  (the matcher's own prior row included), so together they are the log-odds that the traveller
  is that case person; they arrive in log2 (Splink style) and are converted to natural log-odds
  (times ln 2). The probability is the logistic sigmoid of the total.
* **the track**: ``case_match`` for a match at or above the threshold; ``protection`` when a
  match at or above it is to a victim's record (or the matcher says protection only), even if
  the traveller also matches an offender (non-punishment principle); otherwise the rule track
  with the largest summed weight (ties: protection, document_integrity, examination). A minor
  (under 18 on the night) is only ever on the protection track, whatever fired.
* **who is flagged**: only travellers with at least one rule hit or a case match at or above
  the threshold. The model refines the order; it never flags anyone alone.
* **who is queued**: every case match at or above the threshold (protection tracks included),
  plus the highest totals among the rest up to the nightly capacity. The rest of the flagged
  travellers are the overflow; their number is recorded, never hidden.

Guarantees: for every queued traveller the contribution rows (prior, each case-match field,
each rule, each model feature) sum *exactly* to the total row, because the total is defined as
their :func:`math.fsum`. ``flag_id`` is deterministic (night, traveller key, track), so a rerun
of the same night yields the same ids.
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
from apiflag.matching.model import load_model
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
    "flag_id_for",
    "sigmoid",
]

RULE_TRACK_ORDER = RULE_TRACKS
LN2 = math.log(2.0)
MODEL_ROW_IDS = frozenset({"model:intercept", "model:calibration"})

REQUIRED: dict[str, tuple[str, ...]] = {
    "travellers": ("traveller_id", "flight_id", "surname", "given_names", "date_of_birth"),
    "flights": ("flight_id", "carrier", "number"),
    "matches": ("traveller_id", "person_id", "case_id", "role", "probability", "protection_only"),
    "match_fields": ("traveller_id", "person_id", "field", "weight", "sentence", "observed"),
    "rule_hits": ("traveller_id", "rule_id", "rule_version", "track", "weight", "observed"),
    "scores": ("traveller_id", "log_odds", "model_uri", "model_version"),
    "model_contributions": ("traveller_id", "feature", "observed", "weight"),
}


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class CombineSettings:
    """Knobs of the combine stage.

    Attributes:
        capacity: how many items (besides case matches) analysts can review per night.
        case_match_threshold: match probability at or above which a case match is queued
            regardless of capacity (default: the matcher's reporting threshold,
            ``models/matcher.json``; the night uses the settings' ``match_threshold``).
        base_rate: prior probability of a flag-worthy arrival, used when no model scored the
            traveller (its log-odds is the ``prior`` row).
        match_weight_base: the base of the matcher's field weights (2 for log2 Bayes factors,
            ``math.e`` when they are already natural log-odds).
        minor_age: under this age on the night a traveller is a minor (protection only).
        age_bands: lower bounds of the monitoring age bands (settings ``age_bands``).
    """

    capacity: int = DEFAULT_CAPACITY
    case_match_threshold: float = field(default_factory=lambda: load_model().default_threshold)
    base_rate: float = 0.002
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
        if not 0.0 < self.base_rate < 1.0:
            raise ApiflagError(f"combine: base_rate must be in (0, 1), got {self.base_rate}")
        if not 0.0 <= self.case_match_threshold <= 1.0:
            raise ApiflagError(
                f"combine: case_match_threshold must be in [0, 1], got {self.case_match_threshold}"
            )
        if self.match_weight_base <= 1.0:
            raise ApiflagError(
                f"combine: match_weight_base must be > 1, got {self.match_weight_base}"
            )

    @property
    def prior_log_odds(self) -> float:
        """The base rate on the log-odds scale."""
        return _logit(self.base_rate)


@dataclass(frozen=True)
class RuleInfo:
    """What an explanation says about a rule: its title, rationale and exonerating conditions."""

    title: str
    rationale: str = ""
    exonerating: tuple[str, ...] = ()


@dataclass(frozen=True)
class CombineResult:
    """A combined night.

    Attributes:
        night: the arrival night.
        travellers: one row per arriving traveller (``combined.parquet``): traveller_id,
            flag_id (None when not flagged), track, total, probability, flagged, queued,
            priority (None when not flagged), minor, case_match_probability,
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


def sigmoid(x: float) -> float:
    """Return the logistic sigmoid of ``x`` without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


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


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in REQUIRED[name]})


def _fmt_observed(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def _to_date(night: dt.date | str) -> dt.date:
    if isinstance(night, dt.datetime):
        return night.date()
    if isinstance(night, dt.date):
        return night
    try:
        return dt.date.fromisoformat(str(night))
    except ValueError as exc:
        raise ApiflagError(f"combine: night {night!r} is not YYYY-MM-DD") from exc


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
) -> CombineResult:
    """Score, track, rank and cap one night.

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
        rule_hits: rule hits (weights in log-odds points).
        scores: champion model scores, or None when there is no champion.
        model_contributions: per-feature model weights, or None when there is no champion.
        rules_digest: the digest of the rule catalogue that produced ``rule_hits``.
        rule_info: titles, rationales and exonerating conditions per rule id, for explanations.
        settings: capacity, thresholds and prior.
        code_digests: ``{stage: code digest}`` of the run (default: this installation's code,
            without settings; see :func:`apiflag.provenance.stage_code_digests`).

    Returns:
        The :class:`CombineResult`.

    Raises:
        ApiflagError: a frame lacks a required column, or a setting is out of range.
    """
    settings = settings or CombineSettings()
    code = dict(code_digests) if code_digests is not None else stage_code_digests()
    run_digest = combined_digest(code)
    night_d = _to_date(night)
    travellers = _check("travellers", travellers)
    flights = _check("flights", flights)
    matches = _check("matches", matches)
    match_fields = _check("match_fields", match_fields)
    rule_hits = _check("rule_hits", rule_hits)
    scores = _check("scores", scores)
    model_contributions = _check("model_contributions", model_contributions)
    if travellers["traveller_id"].duplicated().any():
        dup = travellers.loc[travellers["traveller_id"].duplicated(), "traveller_id"].iloc[0]
        raise ApiflagError(f"combine: travellers: traveller_id {dup!r} appears twice")
    rule_info = rule_info or {}

    tv = travellers.reset_index(drop=True)
    ids = tv["traveller_id"].astype(str)
    known = set(ids.to_numpy(dtype=object).tolist())
    for name, frame in (
        ("matches", matches),
        ("match_fields", match_fields),
        ("rule_hits", rule_hits),
        ("scores", scores),
    ):
        if frame is not None and len(frame):
            stray = set(frame["traveller_id"].astype(str).to_numpy(dtype=object).tolist()) - known
            if stray:
                raise ApiflagError(
                    f"combine: {name}: traveller_id {sorted(stray)[0]!r} is not an arrival of "
                    f"night {night_d} ({len(stray)} unknown)"
                )

    # ---- the traveller key: flight and first API document
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
    dob = pd.to_datetime(tv["date_of_birth"], errors="coerce")
    night_ts = pd.Timestamp(night_d)
    age = (night_ts.year - dob.dt.year) - (
        (night_ts.month < dob.dt.month)
        | ((night_ts.month == dob.dt.month) & (night_ts.day < dob.dt.day))
    ).astype(float)
    minor = (age < settings.minor_age).fillna(False).astype(bool)

    # ---- per-traveller sums (vectorised, all arrivals)
    prior = settings.prior_log_odds
    model_uri: str | None = None
    model_version: str | None = None
    log_odds = pd.Series(np.nan, index=ids.values)
    if scores is not None and len(scores):
        sc = scores.drop_duplicates("traveller_id").set_index(scores["traveller_id"].astype(str))
        log_odds = ids.map(sc["log_odds"].astype(float))
        log_odds.index = ids.values
        uris = sc["model_uri"].dropna().unique()
        versions = sc["model_version"].dropna().astype(str).unique()
        if len(uris) > 1 or len(versions) > 1:
            raise ApiflagError(
                f"combine: scores come from more than one model ({', '.join(map(str, uris))})"
            )
        model_uri = str(uris[0]) if len(uris) else None
        model_version = str(versions[0]) if len(versions) else None
    base = log_odds.fillna(prior).to_numpy(dtype=float)

    rh = rule_hits if rule_hits is not None else _empty("rule_hits")
    rh = rh.assign(traveller_id=rh["traveller_id"].astype(str), weight=rh["weight"].astype(float))
    rule_sum = ids.map(rh.groupby("traveller_id")["weight"].sum()).fillna(0.0).to_numpy()
    rule_count = ids.map(rh.groupby("traveller_id").size()).fillna(0).to_numpy()
    track_sums = (
        rh.pivot_table(index="traveller_id", columns="track", values="weight", aggfunc="sum")
        if len(rh)
        else pd.DataFrame()
    )
    unknown_tracks = set(track_sums.columns) - set(RULE_TRACK_ORDER)
    if unknown_tracks:
        raise ApiflagError(
            f"combine: rule_hits: track {sorted(unknown_tracks)[0]!r} is not one of "
            f"{', '.join(RULE_TRACK_ORDER)}"
        )

    mt = matches if matches is not None else _empty("matches")
    mf = match_fields if match_fields is not None else _empty("match_fields")
    mt = mt.assign(
        traveller_id=mt["traveller_id"].astype(str),
        person_id=mt["person_id"].astype(str),
        probability=mt["probability"].astype(float),
    )
    best = mt.sort_values(
        ["traveller_id", "probability", "person_id"], ascending=[True, False, True]
    ).drop_duplicates("traveller_id")
    best = best.set_index("traveller_id")
    convert = math.log(settings.match_weight_base)
    mf = mf.assign(
        traveller_id=mf["traveller_id"].astype(str),
        person_id=mf["person_id"].astype(str),
        weight=mf["weight"].astype(float) * convert,
    )
    if not len(best):
        mf = mf.iloc[0:0]
    else:
        key = pd.MultiIndex.from_arrays([best.index, best["person_id"]])
        mf = mf.loc[pd.MultiIndex.from_arrays([mf["traveller_id"], mf["person_id"]]).isin(key)]
    match_sum = ids.map(mf.groupby("traveller_id")["weight"].sum()).fillna(0.0).to_numpy()
    match_p = ids.map(best["probability"]) if len(best) else pd.Series(np.nan, index=ids.index)
    strong = (match_p >= settings.case_match_threshold).fillna(False).to_numpy(dtype=bool)
    victim_rows = mt.loc[
        (mt["probability"] >= settings.case_match_threshold)
        & ((mt["role"].astype(str) == "victim") | mt["protection_only"].astype(bool))
    ]
    strong_victim = ids.isin(set(victim_rows["traveller_id"])).to_numpy(dtype=bool)

    total = base + rule_sum + match_sum
    flagged = (rule_count > 0) | strong

    # ---- tracks
    id_arr = ids.to_numpy(dtype=object)
    minor_arr = minor.to_numpy(dtype=bool)
    best_rec = {str(k): v for k, v in best.to_dict("index").items()}
    sums_by = {
        str(k): {t: float(w) for t, w in v.items() if pd.notna(w)}
        for k, v in track_sums.to_dict("index").items()
    }
    track = np.full(len(tv), None, dtype=object)
    for i in np.flatnonzero(flagged):
        tid = id_arr[i]
        if strong[i]:
            track[i] = "protection" if strong_victim[i] else "case_match"
        else:
            sums = sums_by[tid]
            track[i] = max(
                RULE_TRACK_ORDER,
                key=lambda t: (sums.get(t, -math.inf), -RULE_TRACK_ORDER.index(t)),
            )
        if minor_arr[i]:
            track[i] = "protection"

    # ---- flag ids, then the queue: every strong case match, plus the best of the rest
    carrier_arr = carrier.to_numpy(dtype=object)
    number_arr = number.to_numpy(dtype=object)
    doc_arr = doc_number.to_numpy(dtype=object)
    surnames = tv["surname"].to_numpy(dtype=object)
    givens = tv["given_names"].to_numpy(dtype=object)
    births = tv["date_of_birth"].to_numpy(dtype=object)
    flag_ids = np.full(len(tv), None, dtype=object)
    for i in np.flatnonzero(flagged):
        flag_ids[i] = flag_id_for(
            night_d,
            (carrier_arr[i], number_arr[i], surnames[i], givens[i], births[i], doc_arr[i]),
            str(track[i]),
        )
    order_idx = sorted(np.flatnonzero(flagged), key=lambda j: (-total[j], str(flag_ids[j])))
    others = [j for j in order_idx if not strong[j]]
    chosen = {j for j in order_idx if strong[j]} | set(others[: settings.capacity])

    # ---- explanation rows for the queued travellers (exact totals)
    flagged_ids = set(id_arr[sorted(chosen)])
    mf_by = _records_by(
        mf.loc[mf["traveller_id"].isin(flagged_ids)], ["weight", "field"], [False, True]
    )
    rh_by = _records_by(
        rh.loc[rh["traveller_id"].isin(flagged_ids)], ["weight", "rule_id"], [False, True]
    )
    mc_by: dict[str, list[dict[str, Any]]] = {}
    if model_contributions is not None and len(model_contributions):
        mc = model_contributions.loc[
            model_contributions["traveller_id"].astype(str).isin(flagged_ids)
        ]
        mc = mc.assign(
            traveller_id=mc["traveller_id"].astype(str), weight=mc["weight"].astype(float)
        )
        mc_by = _records_by(mc.assign(_abs=mc["weight"].abs()), ["_abs", "feature"], [False, True])

    msg = tv["message_sha256"] if "message_sha256" in tv.columns else None
    booking_msgs: dict[str, str] = {}
    if bookings is not None and len(bookings) and "message_sha256" in bookings.columns:
        cur = bookings
        if "superseded" in cur.columns:
            cur = cur.loc[~cur["superseded"].astype(bool)]
        booking_msgs = dict(zip(cur["booking_id"].astype(str), cur["message_sha256"], strict=False))

    exact_total = total.copy()
    rows: list[dict[str, Any]] = []
    inputs: dict[str, tuple[str, ...]] = {}
    lo_arr = log_odds.to_numpy(dtype=float)
    intercept_arr = np.full(len(tv), np.nan)
    calibration_arr = np.full(len(tv), np.nan)
    if scores is not None and len(scores) and "intercept" in scores.columns:
        sc2 = scores.drop_duplicates("traveller_id").set_index(scores["traveller_id"].astype(str))
        intercept_arr = ids.map(sc2["intercept"].astype(float)).to_numpy(dtype=float)
        if "calibration_step" in scores.columns:
            calibration_arr = ids.map(sc2["calibration_step"].astype(float)).to_numpy(dtype=float)
    msg_arr = msg.to_numpy(dtype=object) if msg is not None else None
    bk_arr = tv["booking_id"].to_numpy(dtype=object) if "booking_id" in tv.columns else None
    for i in sorted(chosen):
        tid = id_arr[i]
        fid = str(flag_ids[i])
        parts: list[dict[str, Any]] = []
        lo = lo_arr[i]
        features = mc_by.get(tid)
        calibration: float | None = None
        if pd.notna(lo) and pd.notna(intercept_arr[i]):
            parts.append(
                _row(
                    "prior",
                    "model:intercept",
                    float(intercept_arr[i]),
                    f"Model {model_uri} intercept: the base rate it learned",
                    None,
                )
            )
            calibration = float(calibration_arr[i]) if pd.notna(calibration_arr[i]) else None
        elif pd.notna(lo):
            fsum = math.fsum(
                r["weight"] for r in features or [] if str(r.get("source_id")) not in MODEL_ROW_IDS
            )
            parts.append(
                _row(
                    "prior",
                    "prior:model_baseline",
                    float(lo) - fsum,
                    f"Model {model_uri} baseline (log-odds {float(lo):+.2f} before its "
                    f"feature contributions)",
                    None,
                )
            )
        else:
            parts.append(
                _row(
                    "prior",
                    "prior:base_rate",
                    prior,
                    f"Base rate {settings.base_rate:.2%} of arrivals (no model score)",
                    None,
                )
            )
        if tid in best_rec and tid in mf_by:
            m = best_rec[tid]
            for r in mf_by[tid]:
                parts.append(
                    _row(
                        "case_match",
                        f"case:{m['case_id']}/{r['field']}",
                        float(r["weight"]),
                        f"Case {m['case_id']} ({m['role']} record {m['person_id']}, match "
                        f"probability {float(m['probability']):.2f}): {r['sentence']}",
                        _fmt_observed(r["observed"]),
                    )
                )
        for r in rh_by.get(tid, []):
            info = rule_info.get(str(r["rule_id"]))
            title = info.title if info else f"rule {r['rule_id']}"
            ref = _fmt_observed(r.get("ref"))
            parts.append(
                _row(
                    "rule",
                    f"{r['rule_id']}@{r['rule_version']}",
                    float(r["weight"]),
                    f"{r['rule_id']} v{r['rule_version']} ({r['track']}): {title}"
                    + (
                        f" [ref {ref}]"
                        if ref and ref != f"{r['rule_id']}@{r['rule_version']}"
                        else ""
                    ),
                    _fmt_observed(r["observed"]),
                    rationale=info.rationale if info else None,
                    against=list(info.exonerating) if info else [],
                )
            )
        if features:
            for r in features:
                sid = _fmt_observed(r.get("source_id")) or f"feature:{r['feature']}"
                if sid in MODEL_ROW_IDS:
                    continue  # intercept and calibration: see the prior and calibration rows
                if not sid.startswith("feature:"):
                    sid = f"feature:{sid}"
                bin_ = _fmt_observed(r.get("bin"))
                obs = _fmt_observed(r["observed"])
                parts.append(
                    _row(
                        "model",
                        sid,
                        float(r["weight"]),
                        f"{r['feature']} = {obs if obs is not None else 'missing'}"
                        + (f" (bin {bin_})" if bin_ is not None else ""),
                        obs,
                    )
                )
        if calibration:
            parts.append(
                _row(
                    "model",
                    "model:calibration",
                    calibration,
                    "Model calibration step (maps the scorecard to observed outcome rates)",
                    None,
                )
            )
        t = math.fsum(p["weight"] for p in parts)
        exact_total[i] = t
        parts.append(
            _row(
                "total",
                "total",
                t,
                f"Total {t:+.2f} log-odds, probability {sigmoid(t):.3f}",
                None,
            )
        )
        for order, p in enumerate(parts):
            p["flag_id"] = fid
            p["order"] = order
        rows.extend(parts)
        hashes: list[str] = []
        if msg_arr is not None and pd.notna(msg_arr[i]):
            hashes.append(str(msg_arr[i]))
        if bk_arr is not None and pd.notna(bk_arr[i]):
            h = booking_msgs.get(str(bk_arr[i]))
            if h and h not in hashes:
                hashes.append(h)
        inputs[fid] = tuple(sorted(hashes))

    # ---- ranks: queued items by their exact total, then the overflow
    queued_idx = sorted(chosen, key=lambda j: (-exact_total[j], str(flag_ids[j])))
    overflow_idx = [j for j in order_idx if j not in chosen]
    with np.errstate(over="ignore"):
        probability = np.where(
            exact_total >= 0,
            1.0 / (1.0 + np.exp(-np.abs(exact_total))),
            np.exp(-np.abs(exact_total)) / (1.0 + np.exp(-np.abs(exact_total))),
        )
    for j in queued_idx:
        probability[j] = sigmoid(float(exact_total[j]))

    priority = np.full(len(tv), None, dtype=object)
    for rank, j in enumerate(queued_idx + overflow_idx, start=1):
        priority[j] = rank
    queued = np.zeros(len(tv), dtype=bool)
    queued[queued_idx] = True

    ages = age.to_numpy()
    combined = pd.DataFrame(
        {
            "traveller_id": ids.to_numpy(dtype=object),
            "flag_id": flag_ids,
            "track": track,
            "total": exact_total,
            "probability": probability,
            "flagged": flagged,
            "queued": queued,
            "priority": pd.array(priority, dtype="Int64"),
            "minor": minor.to_numpy(),
            "case_match_probability": match_p.to_numpy(dtype=float),
            "strong_case_match": strong,
            "rule_hits": rule_count.astype(int),
            "nationality": tv["nationality"].to_numpy(dtype=object)
            if "nationality" in tv.columns
            else None,
            "sex": tv["sex"].to_numpy(dtype=object) if "sex" in tv.columns else None,
            "age_band": age_bands_of(settings.age_bands, ages),
        }
    )

    flags = tuple(
        Flag(
            flag_id=str(flag_ids[j]),
            night=night_d,
            traveller_id=id_arr[j],
            track=track[j],
            total=float(exact_total[j]),
            probability=float(probability[j]),
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
        "flag_id",
        "order",
        "source",
        "source_id",
        "weight",
        "sentence",
        "observed",
        "rationale",
        "against",
    ]
    contributions = pd.DataFrame(rows, columns=contribution_cols)
    fl_idx = np.array(queued_idx, dtype=int)
    people = pd.DataFrame(
        {
            "flag_id": flag_ids[fl_idx],
            "traveller_id": ids.to_numpy(dtype=object)[fl_idx],
            "surname": tv["surname"].to_numpy(dtype=object)[fl_idx],
            "given_names": tv["given_names"].to_numpy(dtype=object)[fl_idx],
            "date_of_birth": [key_value(births[j]) or None for j in fl_idx],
            "document_number": doc_number.to_numpy(dtype=object)[fl_idx],
            "flight": [f"{carrier_arr[j]}{number_arr[j]}" for j in fl_idx],
            "nationality": combined["nationality"].to_numpy(dtype=object)[fl_idx],
            "sex": combined["sex"].to_numpy(dtype=object)[fl_idx],
            "age_band": combined["age_band"].to_numpy(dtype=object)[fl_idx],
            "input_messages": [json.dumps(list(inputs[str(flag_ids[j])])) for j in fl_idx],
        }
    )
    by_track = {t: int(((combined["track"] == t) & combined["flagged"]).sum()) for t in TRACKS}
    return CombineResult(
        night=night_d,
        travellers=combined,
        flags=flags,
        contributions=contributions,
        people=people,
        overflow=len(overflow_idx),
        capacity=settings.capacity,
        rules_digest=rules_digest,
        model_uri=model_uri,
        model_version=model_version,
        flagged_by_track=by_track,
        code_digests=code,
    )


def _records_by(
    frame: pd.DataFrame, by: list[str], ascending: list[bool]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if not len(frame):
        return out
    ordered = frame.sort_values(["traveller_id", *by], ascending=[True, *ascending])
    for rec in ordered.to_dict("records"):
        out.setdefault(str(rec["traveller_id"]), []).append(rec)
    return out


def _row(
    source: str,
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
        "source_id": source_id,
        "weight": float(weight),
        "sentence": (
            sentence
            if source == "total"
            else f"{sentence} (= {weight:+.2f} log-odds)"
            if source == "case_match"
            else f"{sentence}: {weight:+.2f}"
        ),
        "observed": observed,
        "rationale": rationale,
        "against": json.dumps(against or [], ensure_ascii=False),
    }
