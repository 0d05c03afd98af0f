"""The nightly report: what came in, what was flagged and queued, and whether it looks fair.

Decides what a night's report says and guarantees that it holds no personal data (counts,
rule ids, versions and hashes only), so it can be kept and shared longer than the queue. Two
forms of the same figures: a self-contained HTML file under ``$APIFLAG_HOME/reports/<night>.html``
(inline CSS, the score distribution as an inline PNG, written to a temporary file then renamed)
and a markdown string for the Prefect artifact.

The fairness monitor shows flag rates by nationality, sex and age band and names every group
flagged at more than twice the overall rate; groups of fewer than ``MIN_GROUP`` arrivals are
marked as too small to read. Protected attributes are used here for monitoring only.

The Data quality section names every carrier whose share of traveller records degraded or
quarantined tonight rose above :data:`CARRIER_DROP` against its own median over its earlier
nights (:mod:`apiflag.carrier_quality`), with tonight's share, the median and the nights the
median is over; carriers with too little history are listed as new.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from apiflag import atomic, config
from apiflag.audit import ChainCheck
from apiflag.carrier_quality import CarrierQuality, DropRule
from apiflag.queue.combine import TRACKS, CombineResult

__all__ = ["CARRIER_DROP", "MIN_GROUP", "FairnessRow", "build_report", "fairness_table"]

# --------------------------------------------------------------------------- the report's settings

MIN_GROUP = 30
"""Fairness monitor: groups with fewer arrivals are marked as too small to read."""

ATTRIBUTES: tuple[str, ...] = ("nationality", "sex", "age_band")
"""Fairness monitor: the protected attributes whose flag rates are shown."""

CARRIER_DROP = DropRule(
    min_travellers=30,
    rise_points=10.0,
    window=30,
    min_history=7,
    lookback_days=180,
)
"""Data quality: when a carrier is named (see :class:`~apiflag.carrier_quality.DropRule`).

Its share of traveller records degraded or quarantined tonight must exceed the median of that
share over its last 30 earlier nights with records by more than 10 percentage points, with at
least 30 records tonight and 7 earlier nights (fewer: *new*), looked for up to 180 days back.
For a median of 2 %, more than 12 % of 30 records is 4 or more lost where 0.6 are usual, which
chance alone (binomial) gives on about 3 in 1,000 carrier-nights; of 100 records, 1 in 10 million.
"""


@dataclass(frozen=True)
class FairnessRow:
    """One group of one protected attribute."""

    attribute: str
    group: str
    arrivals: int
    flagged: int
    queued: int
    rate: float
    ratio: float
    small: bool

    @property
    def over_twice(self) -> bool:
        """True when the group is flagged at more than twice the overall rate."""
        return self.ratio > 2.0


def fairness_table(
    combined: pd.DataFrame, monitoring: pd.DataFrame | None = None
) -> list[FairnessRow]:
    """Return flag rates per group of nationality, sex and age band.

    Args:
        combined: ``CombineResult.travellers`` (traveller_id, flagged, queued and, unless
            ``monitoring`` replaces them, nationality, sex, age_band).
        monitoring: the protected monitoring columns of the feature table, keyed by
            traveller_id; a column whose name ends with ``nationality``, ``sex`` or
            ``age_band`` replaces the one from the travellers table.

    Returns:
        Rows sorted by attribute, then by descending rate.
    """
    frame = combined[["traveller_id", "flagged", "queued"]].copy()
    for attr in ATTRIBUTES:
        source = None
        if monitoring is not None:
            cols = [c for c in monitoring.columns if str(c).split(".")[-1] == attr]
            if cols:
                source = monitoring.set_index("traveller_id")[cols[0]]
        if source is not None:
            frame[attr] = frame["traveller_id"].map(source)
        elif attr in combined.columns:
            frame[attr] = combined[attr]
        else:
            frame[attr] = None
    total = len(frame)
    overall = float(frame["flagged"].sum()) / total if total else 0.0
    rows: list[FairnessRow] = []
    for attr in ATTRIBUTES:
        groups = frame.assign(_g=frame[attr].astype(object).where(frame[attr].notna(), "unknown"))
        stats = groups.groupby("_g").agg(
            arrivals=("flagged", "size"), flagged=("flagged", "sum"), queued=("queued", "sum")
        )
        for group, s in stats.iterrows():
            rate = float(s["flagged"]) / float(s["arrivals"])
            rows.append(
                FairnessRow(
                    attribute=attr,
                    group=str(group),
                    arrivals=int(s["arrivals"]),
                    flagged=int(s["flagged"]),
                    queued=int(s["queued"]),
                    rate=rate,
                    ratio=rate / overall if overall else 0.0,
                    small=int(s["arrivals"]) < MIN_GROUP,
                )
            )
    rows.sort(key=lambda r: (ATTRIBUTES.index(r.attribute), -r.rate, r.group))
    return rows


def _plot(combined: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=90)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.18, top=0.95)
    totals = combined["total"].astype(float).to_numpy()
    edges = np.histogram_bin_edges(totals, bins=40)
    layers = [
        (np.ones(len(totals), dtype=bool), "#9bb7d4", "all arrivals"),
        (combined["flagged"].to_numpy(dtype=bool), "#e3a857", "flagged"),
        (combined["queued"].to_numpy(dtype=bool), "#c94c4c", "queued"),
    ]
    for mask, colour, label in layers:
        if mask.any():
            ax.hist(
                totals[mask], bins=list(edges), color=colour, label=label, histtype="stepfilled"
            )
    ax.set_yscale("log")
    ax.set_xlabel("policy score (sum of the rule weights that fired)")
    ax.set_ylabel("travellers (log scale)")
    ax.legend(loc="upper right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _count(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame)


def build_report(
    night: dt.date | str,
    combined: CombineResult,
    travellers: pd.DataFrame,
    *,
    rule_hits: pd.DataFrame | None = None,
    monitoring: pd.DataFrame | None = None,
    quarantine: pd.DataFrame | None = None,
    data_quality: Sequence[str] = (),
    carriers: CarrierQuality | None = None,
    saved: Mapping[str, int] | None = None,
    audit_head: ChainCheck | None = None,
    out_dir: Path | None = None,
    plot: bool = True,
) -> tuple[Path, str]:
    """Write the night's HTML report and return it with the markdown for the Prefect artifact.

    Args:
        night: the arrival night.
        combined: the night's :class:`~apiflag.queue.combine.CombineResult`.
        travellers: the warehouse travellers table (arrivals; ``pnr_traveller_id`` tells linked).
        rule_hits: the night's rule hits, for the top rules.
        monitoring: the protected monitoring columns of the feature table (traveller_id plus
            nationality, sex, age band); default: those of the travellers table.
        quarantine: the warehouse quarantine table (one row per quarantined message or record).
        data_quality: further notes from earlier stages (reconciliation, link warnings).
        carriers: each carrier of the night against its history
            (:func:`apiflag.carrier_quality.carrier_trends` with :data:`CARRIER_DROP`); None
            leaves the comparison out.
        saved: what saving to the queue did (``dataclasses.asdict(SaveReport)``): inserted,
            updated, unchanged, kept.
        audit_head: the audit chain check after the night (its head anchors the chain).
        out_dir: where to write (default ``$APIFLAG_HOME/reports``).
        plot: draw the score distribution (False leaves it out, for a fast text-only report).

    Returns:
        ``(html_path, markdown)``.
    """
    night_s = night.isoformat() if isinstance(night, dt.date) else str(night)
    tv = combined.travellers
    arrivals = len(travellers)
    linked = (
        int(travellers["pnr_traveller_id"].notna().sum())
        if "pnr_traveller_id" in travellers.columns
        else 0
    )
    roles = travellers["role"].value_counts().to_dict() if "role" in travellers.columns else {}
    queued_by_track = {t: int((tv["queued"] & (tv["track"] == t)).sum()) for t in TRACKS}
    flagged = int(tv["flagged"].sum())

    top_rules = _top_rules(rule_hits, tv)

    fair = fairness_table(tv, monitoring)
    over = [r for r in fair if r.over_twice]

    notes = _notes(combined, travellers, quarantine)
    notes.extend(data_quality)
    carrier_drops = carriers.named_notes() if carriers is not None else []
    if carriers is not None:
        notes.extend(carriers.other_notes())

    model = (
        f"{combined.model_uri} version {combined.model_version}"
        if combined.model_uri
        else "no model applied"
    )
    ctx: dict[str, Any] = {
        "night": night_s,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "arrivals": arrivals,
        "roles": roles,
        "linked": linked,
        "quarantined": _count(quarantine),
        "flagged": flagged,
        "flagged_by_track": combined.flagged_by_track,
        "queued_by_track": queued_by_track,
        "queued": len(combined.flags),
        "overflow": combined.overflow,
        "capacity": combined.capacity,
        "top_rules": top_rules,
        "model": model,
        "rules_digest": combined.rules_digest,
        "fair": fair,
        "over": over,
        "min_group": MIN_GROUP,
        "overall_rate": flagged / arrivals if arrivals else 0.0,
        "notes": notes,
        "carrier_drops": carrier_drops,
        "carrier_rule": carriers.rule.describe() if carriers is not None else "",
        "saved": dict(saved or {}),
        "audit_head": audit_head,
        "plot": _plot(tv) if plot and len(tv) else None,
    }
    html = _HTML.render(**ctx)
    markdown = _markdown(ctx)
    folder = out_dir or config.reports_dir()
    path = atomic.write_text(folder / f"{night_s}.html", html)
    return path, markdown


def _top_rules(rule_hits: pd.DataFrame | None, tv: pd.DataFrame) -> list[dict[str, Any]]:
    """The 15 rules that fired most, with how many of their travellers were queued."""
    if rule_hits is None or not len(rule_hits):
        return []
    queued_ids = set(tv.loc[tv["queued"], "traveller_id"])
    rh = rule_hits.assign(_q=rule_hits["traveller_id"].astype(str).isin(queued_ids))
    agg = (
        rh.groupby(["rule_id", "rule_version", "track"])
        .agg(hits=("traveller_id", "size"), queued=("_q", "sum"))
        .reset_index()
        .sort_values(["hits", "rule_id"], ascending=[False, True])
    )
    return [
        {
            "rule": f"{r.rule_id}@{r.rule_version}",
            "track": r.track,
            "hits": int(r.hits),
            "queued": int(r.queued),
        }
        for r in agg.head(15).itertuples()
    ]


def _notes(
    combined: CombineResult, travellers: pd.DataFrame, quarantine: pd.DataFrame | None
) -> list[str]:
    """The data-quality and ranking notes of the night (without the earlier stages' notes)."""
    arrivals = len(travellers)
    notes: list[str] = []
    if quarantine is not None and len(quarantine):
        codes = quarantine.groupby("code").size().sort_values(ascending=False)
        notes.append(
            f"{len(quarantine)} quarantined: "
            + ", ".join(f"{code} x{n}" for code, n in codes.items())
        )
    if arrivals:
        if "date_of_birth" in travellers.columns:
            n = int(travellers["date_of_birth"].isna().sum())
            if n:
                notes.append(f"{n} arrivals without a date of birth (minor status unknown)")
        if "document_number" in travellers.columns:
            n = int(travellers["document_number"].isna().sum())
            if n:
                notes.append(f"{n} arrivals without a travel document number")
        if "pnr_traveller_id" in travellers.columns:
            pax = travellers
            who = "arrivals"
            if "role" in travellers.columns:
                pax = travellers.loc[travellers["role"].astype(str).str.endswith("passenger")]
                who = "passengers"  # crew have no PNR
            unlinked = int(pax["pnr_traveller_id"].isna().sum())
            if unlinked:
                notes.append(
                    f"{unlinked} of {len(pax)} {who} ({unlinked / max(len(pax), 1):.1%}) have no "
                    "linked PNR: PNR-based rules could not fire for them"
                )
    if combined.model_uri is None:
        notes.append(
            "no champion model: the queue is ranked by policy weights alone and no outcome "
            "probability is shown"
        )
    else:
        notes.append(f"queue ranked by {combined.ranked_by}")
    return notes


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>apiflag night {{ night }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:62rem;margin:2rem auto;color:#1b1b1b}
h1{font-size:1.35rem}h2{font-size:1.05rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr+tr td{border-top:1px solid #eee}
.warn{background:#fff1f0;border-left:4px solid #c94c4c;padding:.5rem .8rem}
.muted{color:#666}.small{color:#999}code{font-size:.85em;word-break:break-all}
</style></head><body>
<h1>Nightly report, arrival night {{ night }}</h1>
<p class="muted">Generated {{ generated }}. Counts only: this report holds no personal data.
The system ranks and explains; analysts decide.</p>
<h2>Summary</h2>
<table>
<tr><th>arrivals</th><td class="n">{{ arrivals }}</td><td class="muted">{% for r, n in roles.items() %}{{ r }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
<tr><th>linked to a PNR</th><td class="n">{{ linked }}</td><td></td></tr>
<tr><th>quarantined</th><td class="n">{{ quarantined }}</td><td></td></tr>
<tr><th>flagged</th><td class="n">{{ flagged }}</td><td class="muted">{{ "%.2f"|format(overall_rate * 100) }} % of arrivals</td></tr>
<tr><th>queued</th><td class="n">{{ queued }}</td><td class="muted">capacity {{ capacity }} plus every strong case match</td></tr>
<tr><th>overflow</th><td class="n">{{ overflow }}</td><td class="muted">flagged but left out by capacity</td></tr>
</table>
<h2>Per track</h2>
<table><tr><th>track</th><th class="n">flagged</th><th class="n">queued</th></tr>
{% for t, n in flagged_by_track.items() %}<tr><td>{{ t }}</td><td class="n">{{ n }}</td><td class="n">{{ queued_by_track[t] }}</td></tr>
{% endfor %}</table>
<h2>Score distribution</h2>
{% if plot %}<img alt="histogram of total scores: all arrivals, flagged, queued" src="data:image/png;base64,{{ plot }}">{% else %}<p>Not drawn.</p>{% endif %}
<h2>Top rules</h2>
{% if top_rules %}<table><tr><th>rule</th><th>track</th><th class="n">hits</th><th class="n">of them queued</th></tr>
{% for r in top_rules %}<tr><td><code>{{ r.rule }}</code></td><td>{{ r.track }}</td><td class="n">{{ r.hits }}</td><td class="n">{{ r.queued }}</td></tr>
{% endfor %}</table>{% else %}<p>No rule fired.</p>{% endif %}
<h2>Versions</h2>
<table><tr><th>model</th><td>{{ model }}</td></tr><tr><th>rules digest</th><td><code>{{ rules_digest }}</code></td></tr>
{% if audit_head %}<tr><th>audit chain</th><td>{% if audit_head.broken_seq is none %}intact, head event {{ audit_head.head_seq }} <code>{{ audit_head.head_hash }}</code>{% else %}<b>BROKEN at event {{ audit_head.broken_seq }}</b>: {{ audit_head.reason }}{% endif %}</td></tr>{% endif %}
{% if saved %}<tr><th>queue store</th><td>{% for k, v in saved.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>{% endif %}
</table>
<h2>Fairness monitor</h2>
<p>Flag rate per group; overall {{ "%.2f"|format(overall_rate * 100) }} %. Groups under {{ min_group }} arrivals are too small to read.</p>
{% if over %}<div class="warn"><b>Flagged at more than twice the overall rate:</b>
{% for r in over %}{{ r.attribute }} {{ r.group }} ({{ "%.2f"|format(r.rate * 100) }} %, {{ "%.1f"|format(r.ratio) }}x{% if r.small %}, small group{% endif %}){% if not loop.last %}; {% endif %}{% endfor %}.
Review the rules behind these flags for proxies of protected attributes.</div>
{% else %}<p>No group is flagged at more than twice the overall rate.</p>{% endif %}
<table><tr><th>attribute</th><th>group</th><th class="n">arrivals</th><th class="n">flagged</th><th class="n">queued</th><th class="n">rate</th><th class="n">x overall</th></tr>
{% for r in fair %}<tr{% if r.small %} class="small"{% endif %}><td>{{ r.attribute }}</td><td>{{ r.group }}</td><td class="n">{{ r.arrivals }}</td><td class="n">{{ r.flagged }}</td><td class="n">{{ r.queued }}</td><td class="n">{{ "%.2f"|format(r.rate * 100) }} %</td><td class="n">{{ "%.1f"|format(r.ratio) }}</td></tr>
{% endfor %}</table>
<h2>Data quality</h2>
{% if carrier_drops %}<div class="warn"><b>Carriers whose data quality dropped</b> (rule: {{ carrier_rule }}):
<ul>{% for n in carrier_drops %}<li>{{ n }}</li>{% endfor %}</ul></div>
{% endif %}
{% if notes %}<ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% elif not carrier_drops %}<p>Nothing to note.</p>{% endif %}
</body></html>
"""
)


def _markdown(c: dict[str, Any]) -> str:
    """The Prefect artifact: the same figures as the HTML, in a few lines."""
    tracks = ", ".join(
        f"{t} {n}/{c['queued_by_track'][t]}" for t, n in c["flagged_by_track"].items()
    )
    rules = ", ".join(f"`{r['rule']}` {r['hits']}" for r in c["top_rules"][:5]) or "none fired"
    if c["over"]:
        fairness = "flagged at more than twice the overall rate: " + "; ".join(
            f"{r.attribute} {r.group} ({r.ratio:.1f}x{', small' if r.small else ''})"
            for r in c["over"]
        )
    else:
        fairness = "no group above twice the overall rate"
    lines = [
        f"# apiflag night {c['night']}",
        "",
        "| arrivals | linked | quarantined | flagged | queued | overflow |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c['arrivals']} | {c['linked']} | {c['quarantined']} | {c['flagged']} | "
        f"{c['queued']} | {c['overflow']} |",
        "",
        f"**Per track (flagged/queued):** {tracks}",
        "",
        f"**Model:** {c['model']}. **Rules digest:** `{c['rules_digest']}`",
        "",
    ]
    head = c["audit_head"]
    if head is not None:
        state = (
            f"intact, head {head.head_seq} `{head.head_hash[:16]}`"
            if head.broken_seq is None
            else f"BROKEN at event {head.broken_seq}: {head.reason}"
        )
        lines += [f"**Audit chain:** {state}", ""]
    lines += [f"**Top rules:** {rules}", "", f"**Fairness:** {fairness}", ""]
    if c["carrier_drops"]:
        lines += [
            f"**Carriers whose data quality dropped** (rule: {c['carrier_rule']}):",
            *(f"- {n}" for n in c["carrier_drops"]),
            "",
        ]
    if c["notes"]:
        lines += ["**Data quality:**", *(f"- {n}" for n in c["notes"]), ""]
    return "\n".join(lines)
