"""Explanations: why a traveller was flagged, as columns that add up, and as a case file.

Decides what an explanation holds and how it reads. The JSON form is the contract
(``apiflag explain ID --format json``): ``contributions`` (source, column, source_id, weight,
sentence, observed), ``totals`` per column, ``total`` (the policy score), ``probability`` (the
fitted outcome probability, null without a champion model), ``match_probability`` (identity),
``ranked_by``, ``versions`` {rules_digest, model_uri, model_version, matcher, parser} and
``inputs`` (the message SHA-256s). Three columns are never summed together: ``policy`` (the
policy board's rule weights, which rank the queue), ``outcome`` (the fitted model's rows, whose
sigmoid is the probability) and ``identity`` (the case matcher's field weights). The text and
HTML forms read like a case file: the starting point, what fired and why it matters, with each
rule's policy weight and fitted contribution side by side, what speaks against it (negative
rows and the exonerating conditions each fired rule checked and found not to apply), then the
arithmetic of each column, the versions and the history of decisions.

Guarantees: the non-total rows of each column sum exactly (:func:`math.fsum`) to that column's
total, and the explanation says so; every explanation of personal data is an audit event
(``flag.explain``); :func:`redact` strips observed values and the traveller's identity.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jinja2
from sqlalchemy import Engine

from apiflag.queue import store

__all__ = [
    "DEGRADED_MEANING",
    "SMALL",
    "degraded_notes",
    "explanation",
    "redact",
    "render_html",
    "render_text",
]

SMALL = 0.05
"""Model rows under this size (log-odds) are folded into one line in text and HTML (JSON keeps all)."""
COLUMNS = ("policy", "outcome", "identity")
LEGACY = "legacy"
"""The column of rows stored before the evidence contract (one combined score)."""


def explanation(
    engine: Engine, flag_id: str, *, actor: str, role: str | None = None
) -> dict[str, Any]:
    """Return the explanation of one flag and record the view in the audit log.

    Args:
        engine: the queue database (:func:`apiflag.queue.store.open_engine`).
        flag_id: the flag.
        actor: who asks (audited: an explanation shows personal data).
        role: the role the actor acts in, recorded with the view.

    Returns:
        A JSON-ready dict (see the module docstring for its keys).

    Raises:
        ApiflagError: no such flag.
    """
    view = store.get_flag(engine, flag_id, actor=actor, action="flag.explain", role=role)
    flag = view["flag"]
    rows = [
        {
            "order": r["ord"],
            "source": r["source"],
            "column": r.get("column") or LEGACY,
            "source_id": r["source_id"],
            "weight": r["weight"],
            "sentence": r["sentence"],
            "observed": r["observed"],
            "rationale": r["rationale"],
            "against": json.loads(r["against"] or "[]"),
        }
        for r in view["contributions"]
    ]
    columns: dict[str, dict[str, Any]] = {}
    for name in [*COLUMNS, LEGACY]:
        col = [r for r in rows if r["column"] == name]
        if not col:
            continue
        summed = math.fsum(r["weight"] for r in col if r["source"] != "total")
        total = next((r["weight"] for r in col if r["source"] == "total"), None)
        columns[name] = {
            "rows": sum(1 for r in col if r["source"] != "total"),
            "sum": summed,
            "total": total,
            "exact": summed == total,
        }
    policy = columns.get("policy", columns.get(LEGACY, {"sum": 0.0, "total": 0.0}))
    exact = all(c["exact"] for c in columns.values()) and policy["total"] == flag["total"]
    _pair_fitted(rows)
    return {
        "flag_id": flag["flag_id"],
        "night": flag["night"],
        "track": flag["track"],
        "priority": flag["priority"],
        "status": flag["status"],
        "traveller": view["traveller"],
        "contributions": rows,
        "total": flag["total"],
        "totals": {k: v["total"] for k, v in columns.items()},
        "probability": flag["probability"],
        "outcome_log_odds": flag.get("outcome_log_odds"),
        "match_probability": flag.get("match_probability"),
        "ranked_by": _ranked_by(flag),
        "sum_check": {"sum_of_contributions": policy["sum"], "exact": exact, "columns": columns},
        "versions": {
            "rules_digest": flag["rules_digest"],
            "model_uri": flag["model_uri"],
            "model_version": flag["model_version"],
            "matcher": flag["matcher_version"],
            "parser": flag["parser_version"],
        },
        "inputs": flag["input_messages"],
        "history": view["history"],
    }


def _ranked_by(flag: dict[str, Any]) -> str:
    if flag["model_uri"] is None:
        return "policy weights alone (no champion model: no outcome probability is shown)"
    return (
        f"policy weights; outcome probability from {flag['model_uri']} "
        f"(version {flag['model_version']}) breaks ties"
    )


def _pair_fitted(rows: list[dict[str, Any]]) -> None:
    """Give each rule row the model's fitted contribution for that rule hit (side by side)."""
    fitted = {
        str(r["source_id"]).removeprefix("feature:rule."): r
        for r in rows
        if r["column"] == "outcome" and str(r["source_id"]).startswith("feature:rule.")
    }
    for r in rows:
        r["fitted"] = None
        r["paired"] = False
        if r["source"] == "rule":
            hit = fitted.get(str(r["source_id"]).rsplit("@", 1)[0])
            if hit is not None:
                r["fitted"] = hit["weight"]
                hit["paired"] = True


def redact(exp: dict[str, Any]) -> dict[str, Any]:
    """Return a copy without personal data: no observed values, identity or notes."""
    out = dict(exp)
    out["traveller"] = {k: None for k in exp["traveller"]}
    if "degraded" in exp["traveller"]:  # field names, not values: the caveat stays
        out["traveller"]["degraded"] = exp["traveller"]["degraded"]
    out["contributions"] = [{**r, "observed": None} for r in exp["contributions"]]
    out["history"] = [{**h, "note": None} for h in exp["history"]]
    out["redacted"] = True
    return out


DEGRADED_MEANING: dict[str, str] = {
    "date_of_birth": "birth date could not be read: age unknown (may be a minor), "
    "check the document in person",
    "sex": "sex could not be read: check the document in person",
    "nationality": "nationality could not be read: check the document in person",
    "documents": "a travel document could not be read: check the document in person",
}
"""What a field the feed could not be read in means for the officer (``traveller.degraded``)."""


def degraded_notes(exp: dict[str, Any]) -> list[str]:
    """One sentence per field of the traveller's feed that could not be read (no values)."""
    fields = exp["traveller"].get("degraded") or []
    return [
        DEGRADED_MEANING.get(
            f, f"{f.replace('_', ' ')} could not be read: check the document in person"
        )
        for f in fields
    ]


def _baseline(row: dict[str, Any]) -> bool:
    """Base rates and calibration: part of the arithmetic, not evidence for or against."""
    sid = str(row["source_id"])
    return (
        row["source"] == "prior"
        or (row["source"] == "case_match" and sid.endswith("/prior"))
        or sid == "model:calibration"
    )


def _sections(exp: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in exp["contributions"] if not r.get("paired")]
    prior = [r for r in rows if _baseline(r)]
    body = [r for r in rows if r["source"] != "total" and not _baseline(r)]
    small = [r for r in body if r["source"] == "model" and abs(r["weight"]) < SMALL]
    body = [r for r in body if not (r["source"] == "model" and abs(r["weight"]) < SMALL)]
    fired = [r for r in body if r["weight"] > 0]
    against = [r for r in body if r["weight"] < 0]
    unmet = [(r["source_id"], cond) for r in rows if r["source"] == "rule" for cond in r["against"]]
    folded = {
        "count": len(small),
        "sum": math.fsum(r["weight"] for r in small),
        "ids": [r["source_id"] for r in small],
    }
    return {"prior": prior, "fired": fired, "against": against, "unmet": unmet, "small": folded}


def _who(exp: dict[str, Any]) -> str:
    t = exp["traveller"]
    if not any(v for k, v in t.items() if k != "degraded"):
        return "(redacted)"
    name = f"{t.get('surname') or '?'}, {t.get('given_names') or ''}".strip(", ")
    born = f", born {t['date_of_birth']}" if t.get("date_of_birth") else ""
    doc = f", document {t['document_number']}" if t.get("document_number") else ""
    return f"{name}{born}{doc}, flight {t.get('flight') or '?'}"


TRACK_MEANING = {
    "protection": "possible victim: protective interview, interpreter, referral to support",
    "examination": "possible trafficker, escort or broker: examination at a hearing",
    "case_match": "possible match with a person in the trafficking case database",
    "document_integrity": "doubt about the travel document",
}


def assessment(exp: dict[str, Any]) -> list[str]:
    """Return the figures of an explanation in words, each under its own meaning."""
    out = [
        f"Policy score {exp['total']:+.2f}: the policy board's rule weights that fired. It ranks "
        "the queue; it is not a probability."
    ]
    if exp["probability"] is None:
        out.append(
            "Outcome probability: none shown. No champion model is approved, so the queue is "
            "ranked by policy weights alone."
        )
    else:
        out.append(
            f"Outcome probability {exp['probability']:.3f} that a review finds indicators "
            f"(model {exp['versions']['model_uri']} v{exp['versions']['model_version']}, fitted "
            "on reviewed outcomes of flagged travellers)."
        )
    if exp.get("match_probability") is not None:
        out.append(
            f"Match probability {exp['match_probability']:.3f} that the traveller is the case "
            "person (identity, not guilt)."
        )
    return out


def _cells(r: dict[str, Any]) -> str:
    """The row's weight in its column: policy, fitted (outcome) and identity, side by side."""
    cells = ["", "", ""]
    col = r.get("column", "policy")
    where = {"policy": 0, LEGACY: 0, "outcome": 1, "identity": 2}.get(col, 0)
    cells[where] = f"{r['weight']:+.2f}"
    if r.get("fitted") is not None:
        cells[1] = f"{r['fitted']:+.2f}"
    return "".join(f"{c:>8}" for c in cells)


HEADER = f"{'policy':>8}{'fitted':>8}{'identity':>9}"


COLUMN_WORDS = {
    "policy": ("Policy score", "rule weights"),
    "outcome": ("Outcome log-odds", "fitted rows"),
    "identity": ("Match log-odds", "field weights"),
    LEGACY: ("Total (stored before the evidence contract)", "contributions"),
}


def arithmetic(exp: dict[str, Any]) -> list[str]:
    """Return one line per column: its total, the number of rows summed, and whether exact."""
    out = []
    for name, c in exp["sum_check"]["columns"].items():
        label, rows = COLUMN_WORDS[name]
        verdict = "exact" if c["exact"] else f"MISMATCH: {c['sum']!r}"
        total = c["total"] if c["total"] is not None else float("nan")
        out.append(f"{label} {total:+.6f} = sum of all {c['rows']} {rows} ({verdict})")
    return out


def render_text(exp: dict[str, Any]) -> str:
    """Render an explanation as a plain-text case file."""
    s = _sections(exp)
    v = exp["versions"]
    out = [
        f"CASE FILE {exp['flag_id']}  night {exp['night']}  track {exp['track']}  "
        f"priority {exp['priority']}  status {exp['status']}",
        f"Traveller: {_who(exp)}",
        *[f"Could not be read in the feed: {note}" for note in degraded_notes(exp)],
        f"Track: {TRACK_MEANING.get(exp['track'], exp['track'])}",
        "Assessment: " + " ".join(assessment(exp)),
        "The system ranks and explains; an officer decides.",
        "",
        "Starting point (base rates and calibration: arithmetic, not evidence)",
        HEADER,
    ]
    out += [f"{_cells(r)}  [{r['source_id']}] {r['sentence']}" for r in s["prior"]]
    out += ["", "What fired (evidence for a closer look)", HEADER]
    if not s["fired"]:
        out.append("  nothing raised the score above the starting point")
    for r in s["fired"]:
        out.append(f"{_cells(r)}  [{r['source_id']}] {r['sentence']}")
        if r.get("rationale"):
            out.append(f"          why it matters: {r['rationale']}")
        if r.get("observed") is not None:
            out.append(f"          observed: {r['observed']}")
    out += ["", "What speaks against it", HEADER]
    for r in s["against"]:
        out.append(f"{_cells(r)}  [{r['source_id']}] {r['sentence']}")
        if r.get("observed") is not None:
            out.append(f"          observed: {r['observed']}")
    if s["unmet"]:
        out.append(
            "  Exonerating conditions checked and found not to apply (verify them in person):"
        )
        out += [f"    - {sid}: {cond}" for sid, cond in s["unmet"]]
    if not s["against"] and not s["unmet"]:
        out.append("  no evidence against was recorded: that is not evidence of guilt; ask.")
    if s["small"]["count"]:
        out += [
            "",
            f"  {s['small']['sum']:+6.2f}  {s['small']['count']} more model features, each under "
            f"{SMALL} in size: {', '.join(i.removeprefix('feature:') for i in s['small']['ids'])}",
        ]
    out += ["", *arithmetic(exp)]
    out += [
        f"Versions: rules {v['rules_digest']}; model "
        + (f"{v['model_uri']} v{v['model_version']}" if v["model_uri"] else "none applied")
        + f"; matcher {v['matcher']}; parser {v['parser']}",
        "Input messages (SHA-256): " + (", ".join(exp["inputs"]) or "none recorded"),
    ]
    if exp["history"]:
        out += ["", "History"]
        for h in exp["history"]:
            note = f" - {h['note']}" if h.get("note") else ""
            out.append(
                f"  {h['at']}  {h['from']} -> {h['to']}  {h['reason']}  by {h['analyst']}{note}"
            )
    return "\n".join(out) + "\n"


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case file {{ e.flag_id }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1b1b1b}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;vertical-align:top;text-align:left}
tr+tr td{border-top:1px solid #eee}.w{font-family:ui-monospace,monospace;white-space:nowrap;text-align:right}
.pos{color:#8a1c1c}.neg{color:#1c5e8a}.bar{height:.6rem;display:inline-block}
.pos .bar{background:#c94c4c}.neg .bar{background:#4c8ac9}.muted{color:#666;font-size:.9em}
.note{background:#fff7e0;padding:.5rem .8rem;border-left:4px solid #e0b000}
code{font-size:.85em;word-break:break-all}
</style></head><body>
<h1>Case file {{ e.flag_id }}</h1>
<p><b>Night</b> {{ e.night }} &middot; <b>track</b> {{ e.track }} ({{ meaning }}) &middot;
<b>priority</b> {{ e.priority }} &middot; <b>status</b> {{ e.status }}</p>
<p><b>Traveller</b>: {{ who }}</p>
{% for note in degraded %}<p class="note">Could not be read in the feed: {{ note }}</p>{% endfor %}
<p class="note">{% for line in assess %}{{ line }}<br>{% endfor %}
The system ranks and explains; an officer decides.</p>
{% macro rows(items) %}<table>
<tr><th class="w">policy</th><th class="w">fitted</th><th class="w">identity</th><th></th><th></th></tr>{% for r in items %}
<tr class="{{ 'pos' if r.weight > 0 else 'neg' }}">{% for c in cells(r) %}<td class="w">{{ c }}</td>{% endfor %}
<td><span class="bar" style="width:{{ [r.weight|abs * 12, 160]|min|round(0) }}px"></span></td>
<td><code>{{ r.source_id }}</code><br>{{ r.sentence }}
{% if r.rationale %}<br><span class="muted">Why it matters: {{ r.rationale }}</span>{% endif %}
{% if r.observed is not none %}<br><span class="muted">Observed: {{ r.observed }}</span>{% endif %}</td></tr>
{% endfor %}</table>{% endmacro %}
<h2>Starting point <span class="muted">(base rates and calibration: arithmetic, not evidence)</span></h2>{{ rows(s.prior) }}
<h2>What fired</h2>{% if s.fired %}{{ rows(s.fired) }}{% else %}<p>Nothing raised the score.</p>{% endif %}
<h2>What speaks against it</h2>{% if s.against %}{{ rows(s.against) }}{% endif %}
{% if s.unmet %}<p>Exonerating conditions checked and found not to apply (verify them in person):</p>
<ul>{% for sid, cond in s.unmet %}<li><code>{{ sid }}</code>: {{ cond }}</li>{% endfor %}</ul>{% endif %}
{% if not s.against and not s.unmet %}<p>No evidence against was recorded: that is not evidence of guilt; ask.</p>{% endif %}
<h2>Arithmetic and provenance</h2>
{% if s.small.count %}<p class="muted">{{ "%+.2f"|format(s.small.sum) }}: {{ s.small.count }} more model
features, each under {{ small }} in size: {{ s.small.ids|join(", ") }}.</p>{% endif %}
{% for line in arith %}<p>{{ line }}</p>{% endfor %}
<table>
<tr><th>rules digest</th><td><code>{{ v.rules_digest }}</code></td></tr>
<tr><th>model</th><td>{% if v.model_uri %}<code>{{ v.model_uri }}</code> version {{ v.model_version }}{% else %}no model applied{% endif %}</td></tr>
<tr><th>matcher</th><td>{{ v.matcher }}</td></tr><tr><th>parser</th><td>{{ v.parser }}</td></tr>
<tr><th>input messages</th><td>{% for h in e.inputs %}<code>{{ h }}</code><br>{% else %}none recorded{% endfor %}</td></tr>
</table>
{% if e.history %}<h2>History</h2><table>{% for h in e.history %}
<tr><td>{{ h.at }}</td><td>{{ h.from }} &rarr; {{ h.to }}</td><td>{{ h.reason }}</td><td>{{ h.analyst }}</td>
<td>{{ h.note or "" }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""
)


def render_html(exp: dict[str, Any]) -> str:
    """Render an explanation as a self-contained HTML case file (inline CSS, escaped values)."""
    return _HTML.render(
        e=exp,
        s=_sections(exp),
        v=exp["versions"],
        who=_who(exp),
        degraded=degraded_notes(exp),
        meaning=TRACK_MEANING.get(exp["track"], exp["track"]),
        small=SMALL,
        assess=assessment(exp),
        arith=arithmetic(exp),
        cells=lambda r: [c.strip() for c in (_cells(r)[i : i + 8] for i in (0, 8, 16))],
    )
