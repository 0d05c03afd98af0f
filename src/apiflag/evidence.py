"""The evidence contract: the one table every evidence source emits and combine reads.

Each evidence source (the case matcher, the rule catalogue, the fitted outcome model) turns its
own output into rows of one table, :data:`EVIDENCE_COLUMNS` (the record
:class:`apiflag.records.Evidence`, JSON Schema ``schemas/evidence.schema.json``):

================  =====================================================================
``traveller_id``  the arriving traveller the row speaks about
``source``        ``match``, ``rule`` or ``model``
``source_id``     which part of the source: ``case:C-1/surname``, ``R-012@2``, ``feature:x``
``target``        what the weight is evidence *for*: ``identity`` (is this traveller that
                  case person?) or ``outcome`` (would a review find indicators?)
``weight``        natural log-odds of the target (finite)
``sentence``      the row in words, for the explanation
``observed``      the values the source read (personal data), or null
================  =====================================================================

Guarantees (checked by :func:`check_batch`, and by the shared contract test over every source):

* every row is valid: known source and target, finite weight, a sentence;
* one source speaks to one target (match: identity; rule and model: outcome), so rows of
  different targets are never summed together;
* the rows of one source for one traveller sum exactly (:func:`math.fsum`) to that source's
  own total for the traveller (:attr:`EvidenceBatch.totals`): the match log-odds, the policy
  score, the fitted outcome log-odds.

The policy board's rule weights are *policy*: they decide who is flagged and in which order and
are never called a probability. The model's rows are fitted on reviewed outcomes of flagged
travellers; their total is the only log-odds shown as a probability. The match rows are
identity evidence, shown as a match probability.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError

__all__ = [
    "observed_pair",
    "pair_values",
    "EVIDENCE_COLUMNS",
    "SOURCES",
    "SOURCE_TARGET",
    "TARGETS",
    "TOTAL_COLUMNS",
    "EvidenceBatch",
    "best_matches",
    "check_batch",
    "concat",
    "match_evidence",
    "model_evidence",
    "rule_evidence",
    "validate_evidence",
]

EVIDENCE_COLUMNS: tuple[str, ...] = (
    "traveller_id",
    "source",
    "source_id",
    "target",
    "weight",
    "sentence",
    "observed",
)
TOTAL_COLUMNS: tuple[str, ...] = ("traveller_id", "source", "target", "total")
TARGETS: tuple[str, ...] = ("identity", "outcome")
SOURCES: tuple[str, ...] = ("match", "rule", "model")
#: the one target each source speaks to
SOURCE_TARGET: dict[str, str] = {"match": "identity", "rule": "outcome", "model": "outcome"}
MODEL_ROW_IDS = frozenset({"model:intercept", "model:calibration"})

_NONE = "(none)"
_PAIR = re.compile(r"traveller: (?P<traveller>.*) \| case: (?P<case>.*)", re.DOTALL)


def observed_pair(traveller: str, case: str) -> str:
    """Return an identity row's ``observed``: both sides' values (``(none)`` for a missing one).

    The matcher writes it (:func:`apiflag.matching.scoring.explain_pair`); retention reads it
    back with :func:`pair_values` to mask the same values in the row's sentence.
    """
    return f"traveller: {traveller or _NONE} | case: {case or _NONE}"


def pair_values(observed: object) -> list[str]:
    """Return the values an :func:`observed_pair` cell quotes, without ``(none)``; else []."""
    found = _PAIR.fullmatch(observed) if isinstance(observed, str) else None
    if found is None:
        return []
    return [v for v in (found["traveller"], found["case"]) if v and v != _NONE]


@dataclass(frozen=True)
class EvidenceBatch:
    """The evidence rows of one or more sources and each source's own total per traveller.

    Attributes:
        rows: the :data:`EVIDENCE_COLUMNS` table.
        totals: ``traveller_id, source, target, total``: one row per traveller and source.
    """

    rows: pd.DataFrame
    totals: pd.DataFrame

    def total_of(self, source: str) -> pd.Series:
        """Return the source's total per traveller id (travellers without rows are absent)."""
        t = self.totals.loc[self.totals["source"] == source]
        return pd.Series(t["total"].to_numpy(dtype=float), index=t["traveller_id"].astype(str))


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


def _batch(rows: list[dict[str, Any]] | pd.DataFrame, source: str) -> EvidenceBatch:
    frame = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    frame = frame.astype({"weight": float}).assign(observed=lambda f: _nulls(f["observed"]))
    if not len(frame):
        totals = pd.DataFrame({c: pd.Series([], dtype=object) for c in TOTAL_COLUMNS})
        return EvidenceBatch(frame, totals.astype({"total": float}))
    sums = _sums_by_traveller(frame)
    totals = pd.DataFrame(
        {
            "traveller_id": list(sums),
            "source": source,
            "target": SOURCE_TARGET[source],
            "total": list(sums.values()),
        }
    )
    return EvidenceBatch(frame, totals)


def _group_weights(keys: list[Any], weights: list[float]) -> dict[Any, list[float]]:
    """Return each key's weights, keys in order of first appearance."""
    groups: dict[Any, list[float]] = {}
    for key, weight in zip(keys, weights, strict=True):
        groups.setdefault(key, []).append(weight)
    return groups


def _sums_by_traveller(frame: pd.DataFrame) -> dict[Any, float]:
    """Return :func:`math.fsum` of the weights per traveller id, ids sorted.

    The same as ``frame.groupby("traveller_id", sort=True)["weight"]`` summed with ``fsum``
    (which is exact, so the order within a traveller does not matter), without pandas'
    per-group cost; ids that are not all text take that groupby itself.
    """
    ids = frame["traveller_id"].tolist()
    if not all(isinstance(t, str) for t in ids):
        return {
            tid: math.fsum(g.tolist())
            for tid, g in frame.groupby("traveller_id", sort=True)["weight"]
        }
    groups = _group_weights(ids, frame["weight"].tolist())
    return {tid: math.fsum(groups[tid]) for tid in sorted(groups)}


def empty_batch() -> EvidenceBatch:
    """Return a batch without rows."""
    return _batch([], "rule")


def concat(*batches: EvidenceBatch) -> EvidenceBatch:
    """Return the batches as one (rows and totals stacked in order)."""
    parts = [b for b in batches if len(b.rows)]
    if not parts:
        return empty_batch()
    rows = pd.concat([b.rows for b in parts], ignore_index=True)
    return EvidenceBatch(
        rows.assign(observed=_nulls(rows["observed"])),
        pd.concat([b.totals for b in parts], ignore_index=True),
    )


def _nulls(values: pd.Series) -> pd.Series:
    """Return an object column whose missing values are None (not NaN)."""
    out = values.astype(object)
    return out.where(out.notna(), None)


def best_matches(matches: pd.DataFrame | None) -> pd.DataFrame:
    """Return the best match per traveller (highest probability, then person id), by id."""
    cols = ["traveller_id", "person_id", "case_id", "role", "probability", "protection_only"]
    if matches is None or not len(matches):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}).set_index(
            "traveller_id"
        )
    mt = matches.assign(
        traveller_id=matches["traveller_id"].astype(str),
        person_id=matches["person_id"].astype(str),
        probability=matches["probability"].astype(float),
    )
    best = mt.sort_values(
        ["traveller_id", "probability", "person_id"], ascending=[True, False, True]
    ).drop_duplicates("traveller_id")
    return best.set_index("traveller_id")


def match_evidence(
    matches: pd.DataFrame | None,
    match_fields: pd.DataFrame | None,
    *,
    weight_base: float = 2.0,
) -> EvidenceBatch:
    """Emit the matcher's evidence: the field rows of each traveller's best case match.

    Args:
        matches: the matcher's ``matches`` table (``traveller_id, person_id, case_id, role,
            probability``).
        match_fields: its ``match_fields`` table (``traveller_id, person_id, field, weight,
            sentence, observed``), weights in log base ``weight_base`` (2 for Splink-style
            Bayes factors); the matcher's prior is a row of its own.
        weight_base: the base of the field weights.

    Returns:
        Identity rows (natural log-odds that the traveller is the case person, ``case:<case
        id>/<field>``); each traveller's rows sum to its match log-odds.
    """
    best = best_matches(matches)
    if match_fields is None or not len(match_fields) or not len(best):
        return _batch([], "match")
    convert = math.log(weight_base)
    mf = match_fields.assign(
        traveller_id=match_fields["traveller_id"].astype(str),
        person_id=match_fields["person_id"].astype(str),
    )
    key = pd.MultiIndex.from_arrays([best.index, best["person_id"]])
    mf = mf.loc[pd.MultiIndex.from_arrays([mf["traveller_id"], mf["person_id"]]).isin(key)]
    mf = mf.assign(weight=mf["weight"].astype(float) * convert)
    mf = mf.sort_values(["traveller_id", "weight", "field"], ascending=[True, False, True])
    rows = []
    for r in mf.to_dict("records"):
        m = best.loc[r["traveller_id"]]
        rows.append(
            {
                "traveller_id": r["traveller_id"],
                "source": "match",
                "source_id": f"case:{m['case_id']}/{r['field']}",
                "target": "identity",
                "weight": float(r["weight"]),
                "sentence": f"Case {m['case_id']} ({m['role']} record {m['person_id']}, match "
                f"probability {float(m['probability']):.2f}): {r['sentence']}",
                "observed": _fmt_observed(r["observed"]),
            }
        )
    return _batch(rows, "match")


@dataclass(frozen=True)
class RuleText:
    """What evidence rows say about a rule: its title and track."""

    title: str
    track: str = ""


def rule_evidence(
    rule_hits: pd.DataFrame | None, titles: Mapping[str, Any] | None = None
) -> EvidenceBatch:
    """Emit the rule catalogue's evidence: one outcome row per rule hit, weighted by policy.

    Args:
        rule_hits: ``traveller_id, rule_id, rule_version, track, weight, observed`` (and
            optionally ``ref``).
        titles: per rule id, an object with a ``title`` (for the sentence).

    Returns:
        Outcome rows ``<rule id>@<version>`` whose weights are the policy board's; each
        traveller's rows sum to its policy score.
    """
    if rule_hits is None or not len(rule_hits):
        return _batch([], "rule")
    titles = titles or {}
    rh = rule_hits.assign(
        traveller_id=rule_hits["traveller_id"].astype(str),
        weight=rule_hits["weight"].astype(float),
    ).sort_values(["traveller_id", "weight", "rule_id"], ascending=[True, False, True])
    rows = []
    for r in rh.to_dict("records"):
        ref_id = f"{r['rule_id']}@{r['rule_version']}"
        info = titles.get(str(r["rule_id"]))
        title = getattr(info, "title", None) or f"rule {r['rule_id']}"
        ref = _fmt_observed(r.get("ref"))
        rows.append(
            {
                "traveller_id": r["traveller_id"],
                "source": "rule",
                "source_id": ref_id,
                "target": "outcome",
                "weight": float(r["weight"]),
                "sentence": f"{r['rule_id']} v{r['rule_version']} ({r['track']}): {title}"
                + (f" [ref {ref}]" if ref and ref != ref_id else ""),
                "observed": _fmt_observed(r["observed"]),
            }
        )
    return _batch(rows, "rule")


def model_evidence(
    scores: pd.DataFrame | None, contributions: pd.DataFrame | None
) -> EvidenceBatch:
    """Emit the fitted outcome model's evidence: intercept, each input, calibration step.

    Args:
        scores: the model's ``scores`` (``traveller_id, log_odds, model_uri, model_version``,
            and ``intercept``, ``calibration_step`` from a scorecard).
        contributions: its per-input rows (``traveller_id, feature, observed, weight``, and
            optionally ``source_id``, ``bin``); intercept and calibration rows in it are
            ignored (they come from ``scores``).

    Returns:
        Outcome rows ``model:intercept``, ``feature:<input>``, ``model:calibration``; each
        traveller's rows sum to its fitted outcome log-odds. Without ``intercept`` in
        ``scores`` the first row is ``model:baseline``, the log-odds minus the inputs.
    """
    if scores is None or not len(scores):
        return _batch([], "model")
    sc = scores.drop_duplicates("traveller_id")
    n = len(sc)
    sc_ids = sc["traveller_id"].astype(str).tolist()
    uris = sc["model_uri"].tolist()
    log_odds = sc["log_odds"].tolist()
    has_intercept = "intercept" in sc.columns
    intercepts = sc["intercept"].tolist() if has_intercept else [None] * n
    steps = sc["calibration_step"].tolist() if "calibration_step" in sc.columns else [None] * n
    # each traveller's input rows, largest effect first (weight, source id, sentence, observed)
    by: dict[str, list[tuple[float, str, str, str | None]]] = {}
    if contributions is not None and len(contributions):
        mc = contributions.assign(
            traveller_id=contributions["traveller_id"].astype(str),
            weight=contributions["weight"].astype(float),
        )
        if "source_id" in mc.columns:
            mc = mc.loc[~mc["source_id"].astype(str).isin(MODEL_ROW_IDS)]
        mc = mc.assign(_abs=mc["weight"].abs()).sort_values(
            ["traveller_id", "_abs", "feature"], ascending=[True, False, True]
        )
        m = len(mc)
        source_ids = mc["source_id"].tolist() if "source_id" in mc.columns else [None] * m
        bins = mc["bin"].tolist() if "bin" in mc.columns else [None] * m
        for tid, weight, feature, observed, source_id, bin_value in zip(
            mc["traveller_id"].tolist(),
            mc["weight"].tolist(),
            mc["feature"].tolist(),
            mc["observed"].tolist(),
            source_ids,
            bins,
            strict=True,
        ):
            sid = _fmt_observed(source_id) or f"feature:{feature}"
            if not sid.startswith("feature:"):
                sid = f"feature:{sid}"
            obs = _fmt_observed(observed)
            bin_ = _fmt_observed(bin_value)
            sentence = f"{feature} = {obs if obs is not None else 'missing'}" + (
                f" (bin {bin_})" if bin_ is not None else ""
            )
            by.setdefault(tid, []).append((float(weight), sid, sentence, obs))
    cols: dict[str, list[Any]] = {c: [] for c in ("traveller_id", "source_id", "weight")}
    cols.update(sentence=[], observed=[])

    def add(tid: str, source_id: str, weight: float, sentence: str, obs: str | None) -> None:
        cols["traveller_id"].append(tid)
        cols["source_id"].append(source_id)
        cols["weight"].append(weight)
        cols["sentence"].append(sentence)
        cols["observed"].append(obs)

    for tid, uri, lo, intercept, step in zip(
        sc_ids, uris, log_odds, intercepts, steps, strict=True
    ):
        feats = by.get(tid, [])
        if has_intercept and pd.notna(intercept):
            sentence = f"Model {uri} intercept: the outcome rate it learned on flagged travellers"
            add(tid, "model:intercept", float(intercept), sentence, None)
        else:
            rest = float(lo) - math.fsum(f[0] for f in feats)
            sentence = f"Model {uri} baseline (log-odds {float(lo):+.2f} before its inputs)"
            add(tid, "prior:model_baseline", rest, sentence, None)
        for weight, sid, sentence, obs in feats:
            add(tid, sid, weight, sentence, obs)
        if step is not None and pd.notna(step) and float(step) != 0.0:
            sentence = "Calibration step (maps the scorecard to observed rates)"
            add(tid, "model:calibration", float(step), sentence, None)
    rows = pd.DataFrame(
        {
            "traveller_id": cols["traveller_id"],
            "source": "model",
            "source_id": cols["source_id"],
            "target": SOURCE_TARGET["model"],
            "weight": pd.Series(cols["weight"], dtype=float),
            "sentence": cols["sentence"],
            "observed": pd.Series(cols["observed"], dtype=object),
        },
        columns=list(EVIDENCE_COLUMNS),
    )
    return _batch(rows, "model")


def validate_evidence(rows: pd.DataFrame) -> None:
    """Check that a frame is a valid evidence table.

    Raises:
        ApiflagError: naming the first column, row and value that break the contract.
    """
    missing = [c for c in EVIDENCE_COLUMNS if c not in rows.columns]
    if missing:
        raise ApiflagError(f"evidence: missing column(s) {', '.join(missing)}")
    extra = [c for c in rows.columns if c not in EVIDENCE_COLUMNS]
    if extra:
        raise ApiflagError(f"evidence: unexpected column(s) {', '.join(extra)}")
    if not len(rows):
        return
    weights = pd.to_numeric(rows["weight"], errors="coerce").to_numpy(dtype=float)
    checks: list[tuple[str, np.ndarray]] = [
        ("traveller_id", ~rows["traveller_id"].map(lambda v: isinstance(v, str) and v != "")),
        ("source", ~rows["source"].isin(SOURCES)),
        ("target", ~rows["target"].isin(TARGETS)),
        ("target", rows["target"] != rows["source"].map(SOURCE_TARGET)),
        ("source_id", ~rows["source_id"].map(lambda v: isinstance(v, str) and v != "")),
        ("weight", ~np.isfinite(weights)),
        ("sentence", ~rows["sentence"].map(lambda v: isinstance(v, str) and v.strip() != "")),
        ("observed", ~rows["observed"].map(lambda v: v is None or isinstance(v, str))),
    ]
    for column, bad in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ApiflagError(
                f"evidence: row {i}: field {column!r}: value {rows[column].iloc[i]!r} breaks the "
                f"contract ({int(bad.sum())} row(s))"
            )


def check_batch(batch: EvidenceBatch) -> None:
    """Check a batch: valid rows, one total per traveller and source, each summing exactly.

    Raises:
        ApiflagError: naming the traveller and source whose rows do not add up.
    """
    validate_evidence(batch.rows)
    totals = batch.totals
    if totals.duplicated(["traveller_id", "source"]).any():
        raise ApiflagError("evidence: a traveller has two totals for one source")
    expect = {
        (str(t), str(s)): float(v)
        for t, s, v in totals[["traveller_id", "source", "total"]].itertuples(index=False)
    }
    seen = set()
    rows = batch.rows
    # valid rows (above): every traveller id is text and every source known, so no group key
    # is missing; groups in order of first appearance, as groupby(sort=False) gives them
    groups = _group_weights(
        list(zip(rows["traveller_id"].tolist(), rows["source"].tolist(), strict=True)),
        rows["weight"].astype(float).tolist(),
    )
    for (tid, source), weights in groups.items():
        seen.add((str(tid), str(source)))
        want = expect.get((str(tid), str(source)))
        got = math.fsum(weights)
        if want is None or got != want:
            raise ApiflagError(
                f"evidence: {source} rows of traveller {tid} sum to {got!r}, its total is {want!r}"
            )
    if set(expect) - seen:
        tid, source = sorted(set(expect) - seen)[0]
        raise ApiflagError(f"evidence: {source} total of traveller {tid} has no rows")
