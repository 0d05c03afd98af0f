"""The combine stage: check the inputs, gather the evidence table, decide, explain, assemble."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EvidenceBatch,
    best_matches,
)
from apiflag.provenance import stage_code_digests
from apiflag.queue.combine.assemble import assemble
from apiflag.queue.combine.decide import assign_tracks, rank_key, read_scores, traveller_keys
from apiflag.queue.combine.explain import evidence_by_traveller, explanation
from apiflag.queue.combine.inputs import (
    REQUIRED,
    check_frame,
    check_ids,
    gather_evidence,
    hashes_of,
    input_hashes,
    model_identity,
    to_date,
    with_pnr_birth_dates,
)
from apiflag.queue.combine.result import CombineResult, CombineSettings, RuleInfo, flag_id_for

__all__ = ["combine", "combine_evidence"]


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
    night_d = to_date(night)
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
        check_frame(name, frame)
    if travellers["traveller_id"].duplicated().any():
        dup = travellers.loc[travellers["traveller_id"].duplicated(), "traveller_id"].iloc[0]
        raise ApiflagError(f"combine: travellers: traveller_id {dup!r} appears twice")
    known = set(travellers["traveller_id"].astype(str).to_numpy(dtype=object).tolist())
    check_ids(
        night_d,
        known,
        {
            k: frames[k]
            for k in REQUIRED
            if k not in ("travellers", "flights", "model_contributions")
        },
    )
    model_uri, model_version = model_identity(scores)
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
        with_pnr_birth_dates(travellers, pnr_travellers),
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
    keys = traveller_keys(night, tv, flights, documents, settings)
    id_arr = keys.ids.to_numpy(dtype=object)
    best = best_matches(matches)
    sc = read_scores(keys.ids, evidence, best, matches, rule_info, settings)
    flagged = (sc.rule_count > 0) | sc.strong
    track = assign_tracks(id_arr, flagged, sc, keys.minor)
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
        (int(j) for j in np.flatnonzero(flagged)), key=lambda j: rank_key(j, sc, flag_ids)
    )
    others = [j for j in order_idx if not sc.strong[j]]
    chosen = {j for j in order_idx if sc.strong[j]} | set(others[: settings.capacity])
    queued_idx = [j for j in order_idx if j in chosen]
    overflow_idx = [j for j in order_idx if j not in chosen]

    ev_by = evidence_by_traveller(evidence.rows, set(id_arr[queued_idx]))
    best_rec = {str(k): v for k, v in best.to_dict("index").items()}
    msg, bk, booking_msgs = input_hashes(tv, bookings)
    rows: list[dict[str, Any]] = []
    inputs: dict[str, tuple[str, ...]] = {}
    outcome = sc.outcome.copy()
    for j in queued_idx:
        tid, fid = str(id_arr[j]), str(flag_ids[j])
        parts, exact = explanation(
            tid, ev_by.get(tid, {}), float(sc.policy[j]), best_rec.get(tid), rule_info, model[0]
        )
        if exact is not None:
            outcome[j] = exact
        for order, p in enumerate(parts):
            p["flag_id"], p["order"] = fid, order
        rows.extend(parts)
        inputs[fid] = hashes_of(j, msg, bk, booking_msgs)
    return assemble(
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
