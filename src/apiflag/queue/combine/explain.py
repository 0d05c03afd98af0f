"""Each queued traveller's explanation: the policy, outcome and identity columns.

Each column's rows sum exactly (:func:`math.fsum`) to its own total row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from apiflag.queue.combine.result import BASELINE_IDS, RuleInfo, sigmoid

__all__ = ["evidence_by_traveller", "explanation", "explanation_row"]


def explanation(
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
            explanation_row(
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
        explanation_row(
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
                explanation_row(
                    source, "outcome", r["source_id"], r["weight"], r["sentence"], r["observed"]
                )
            )
        outcome = math.fsum(r["weight"] for r in model_rows)
        parts.append(
            explanation_row(
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
                explanation_row(
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
            explanation_row(
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


def evidence_by_traveller(
    rows: pd.DataFrame, ids: set[str]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Group the evidence rows of ``ids`` by traveller and source."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    sel = rows.loc[rows["traveller_id"].isin(ids)]
    for rec in sel.to_dict("records"):
        out.setdefault(str(rec["traveller_id"]), {}).setdefault(str(rec["source"]), []).append(rec)
    return out


def explanation_row(
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
    """Return one explanation row (its sentence ends with its weight, unless a total)."""
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
