"""The catalogue report: what each rule does on a (synthetic) world, in markdown.

Per rule: hits, hit rate, precision against ground truth (any trafficking role, and the role the
rule's track points to), the planted patterns it finds and the confounders it wrongly hits, and
which other rule overlaps it most. Then the overlap between rules and the operator table. The
report holds counts only, never personal data. Ground truth is read only here, for measurement,
never by scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from apiflag.normalise import TRAVELLER_KEY, traveller_key_frame
from apiflag.rules.catalogue import Catalogue
from apiflag.rules.operators import operators_markdown

__all__ = ["catalogue_report", "rule_statistics", "truth_labels"]

TRACK_TARGET = {"protection": "victim", "examination": "trafficker", "document_integrity": None}
KEY = list(TRAVELLER_KEY)


LABEL_COLUMNS: tuple[str, ...] = ("truth_label", "pattern", "confounder")


def truth_labels(
    truth: Path, nights: Sequence[str], columns: Sequence[str] = LABEL_COLUMNS
) -> pd.DataFrame:
    """Map a synthetic world's ``truth/travellers.csv`` onto warehouse traveller ids.

    Args:
        truth: the world folder, its ``truth`` folder, or ``travellers.csv`` itself.
        nights: nights whose warehouse partitions hold the travellers.
        columns: the truth columns to return (default ``truth_label, pattern, confounder``).

    Returns:
        ``traveller_id`` and ``columns`` for the travellers found.
    """
    from apiflag import warehouse

    path = truth
    if path.is_dir():
        path = (
            path / "travellers.csv"
            if (path / "travellers.csv").exists()
            else path / "truth" / "travellers.csv"
        )
    t = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for night in nights:
        tr = warehouse.read_table(night, "travellers", current=True)
        fl = warehouse.read_table(night, "flights", current=True)
        w = tr.merge(fl[["flight_id", "carrier", "number"]], on="flight_id", how="left")
        if "document_number" not in w.columns:
            docs = warehouse.read_table(night, "documents", current=True)
            api = docs.loc[docs["owner_kind"] == "api"].drop_duplicates("owner_id")
            w = w.merge(
                api[["owner_id", "number"]].rename(
                    columns={"owner_id": "traveller_id", "number": "document_number"}
                ),
                on="traveller_id",
                how="left",
            )
        w["night"] = night
        rows.append(pd.concat([w[["traveller_id"]], traveller_key_frame(w)], axis=1))
    wanted = ["traveller_id", *columns]
    if not rows:
        return pd.DataFrame(columns=wanted)
    wh = pd.concat(rows, ignore_index=True)
    tk = pd.concat([t[list(columns)], traveller_key_frame(t)], axis=1)
    joined = wh.merge(tk, on=KEY, how="inner").drop_duplicates("traveller_id")
    return joined[wanted].reset_index(drop=True)


def rule_statistics(
    catalogue: Catalogue, features: pd.DataFrame, labels: pd.DataFrame | None, night: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Per-rule statistics and the pairwise overlap of the rules' hits.

    Returns:
        (per-rule table, overlap table ``rule, other, shared, share_of_rule``, warnings).
    """
    result = catalogue.evaluate(features, night=night)
    hits = result.hits
    n = len(features)
    lab = None
    if labels is not None:
        lab = labels.drop_duplicates("traveller_id").set_index("traveller_id")
    sets = {ref: set(g["traveller_id"]) for ref, g in hits.groupby("ref")}
    rows = []
    for rule in catalogue.rules:
        hit_ids = sets.get(rule.ref, set())
        row: dict[str, object] = {
            "rule": rule.ref,
            "title": rule.title,
            "track": rule.track,
            "weight": rule.weight,
            "hits": len(hit_ids),
            "per_10k": 1e4 * len(hit_ids) / n if n else np.nan,
            "skipped": rule.ref in result.skipped,
        }
        if lab is not None:
            known = [t for t in hit_ids if t in lab.index]
            sub = lab.loc[known]
            target = TRACK_TARGET[rule.track]
            bad = sub["truth_label"].isin(["trafficker", "victim"])
            row["labelled"] = len(sub)
            row["precision_any"] = bad.mean() if len(sub) else np.nan
            row["precision_track"] = (
                (sub["truth_label"] == target).mean()
                if target and len(sub)
                else row["precision_any"]
            )
            pats = sub.loc[sub["pattern"] != "", "pattern"].value_counts()
            row["patterns"] = ", ".join(f"{k} {v}" for k, v in pats.head(3).items())
            conf = sub.loc[sub["confounder"] != "", "confounder"].value_counts()
            row["confounders"] = ", ".join(f"{k} {v}" for k, v in conf.head(3).items())
        rows.append(row)
    stats = pd.DataFrame(rows)
    pairs = []
    refs = [r for r in sets if sets[r]]
    for a in refs:
        for b in refs:
            if a != b and (shared := len(sets[a] & sets[b])):
                pairs.append(
                    {
                        "rule": a,
                        "other": b,
                        "shared": shared,
                        "share_of_rule": shared / len(sets[a]),
                    }
                )
    overlap = pd.DataFrame(pairs, columns=["rule", "other", "shared", "share_of_rule"])
    if len(overlap):
        top = overlap.sort_values(
            ["rule", "share_of_rule"], ascending=[True, False]
        ).drop_duplicates("rule")
        stats["top_overlap"] = (
            stats["rule"]
            .map(
                {
                    r: f"{o} ({s:.0%})"
                    for r, o, s in zip(top["rule"], top["other"], top["share_of_rule"], strict=True)
                }
            )
            .fillna("")
        )
    else:
        stats["top_overlap"] = ""
    return stats, overlap, result.warnings


def _pct(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.0%}"  # type: ignore[arg-type]


def catalogue_report(
    catalogue: Catalogue,
    features: pd.DataFrame,
    *,
    labels: pd.DataFrame | None = None,
    night: str | None = None,
    source: str = "",
) -> str:
    """Render the catalogue report as markdown.

    Args:
        catalogue: the loaded catalogue.
        features: the feature table(s) to measure on.
        labels: ``traveller_id, truth_label, pattern, confounder`` (see :func:`truth_labels`);
            without it precision columns are left out.
        night: the night whose date decides which rules are overdue for review.
        source: one line saying what world the figures come from.

    Returns:
        The report text.
    """
    stats, overlap, warnings = rule_statistics(catalogue, features, labels, night)
    n = len(features)
    lines = [
        "# Rule catalogue report",
        "",
        "Generated by `make bench` (benchmarks/bench_rules.py); do not edit by hand.",
        "",
        f"- catalogue digest: `{catalogue.digest}` ({len(catalogue.rules)} rules)",
        f"- measured on: {source or 'a feature table'}; {n:,} travellers",
    ]
    if labels is not None:
        lab = labels.set_index("traveller_id")
        counts = lab["truth_label"].value_counts()
        lines.append(
            "- ground truth joined for "
            f"{len(lab):,} travellers: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )
        result = catalogue.evaluate(features, night=night)
        all_hit = set(result.hits["traveller_id"])
        hit_lab = lab.loc[[t for t in all_hit if t in lab.index]]
        for label in ("victim", "trafficker"):
            total = int((lab["truth_label"] == label).sum())
            found = int((hit_lab["truth_label"] == label).sum())
            if total:
                lines.append(
                    f"- {label}s hit by at least one rule: {found} of {total} ({found / total:.0%})"
                )
        if len(hit_lab):
            prec = hit_lab["truth_label"].isin(["victim", "trafficker"]).mean()
            lines.append(f"- travellers hit by any rule: {len(all_hit):,}; precision {prec:.1%}")
    for w in warnings:
        lines.append(f"- WARNING: {w}")
    lines += ["", "## Rules", ""]
    header = ["rule", "track", "weight", "hits", "per 10k"]
    if labels is not None:
        header += ["precision (any)", "precision (track)", "patterns found", "confounders hit"]
    header += ["most overlapped by", "title"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in stats.to_dict("records"):
        cells = [
            f"`{r['rule']}`" + (" (skipped)" if r["skipped"] else ""),
            str(r["track"]),
            f"{r['weight']:.1f}",
            f"{r['hits']:,}",
            f"{r['per_10k']:.1f}",
        ]
        if labels is not None:
            cells += [
                _pct(r["precision_any"]),
                _pct(r["precision_track"]),
                str(r["patterns"]),
                str(r["confounders"]),
            ]
        cells += [str(r["top_overlap"]), str(r["title"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Precision (any): share of the rule's hits who are a trafficker or a victim in ground truth. "
        "Precision (track): share who are what the track points to (protection: victim; "
        "examination: trafficker). Confounders hit are innocent look-alikes the synthetic world "
        "plants (families paying, tour guides, business trips, cash markets, corporate phones).",
        "",
        "## Overlap between rules",
        "",
    ]
    if len(overlap):
        top = overlap.sort_values("shared", ascending=False).head(15)
        lines.append("| rule | also hit by | shared travellers | share of the rule's hits |")
        lines.append("|---|---|---|---|")
        for r in top.to_dict("records"):
            lines.append(
                f"| `{r['rule']}` | `{r['other']}` | {r['shared']:,} | {r['share_of_rule']:.0%} |"
            )
    else:
        lines.append("No two rules hit the same traveller.")
    lines += ["", "## Criteria and rationale", ""]
    for rule in catalogue.rules:
        lines += [
            f"- **`{rule.ref}`** ({rule.track}, {rule.weight:+.1f}) {rule.title}: {rule.criteria()}. "
            f"*Why:* {rule.rationale} *Approved by* {rule.approved_by}, *review by* {rule.review_by}."
        ]
    lines += ["", "## Operators", "", operators_markdown(), ""]
    return "\n".join(lines)
