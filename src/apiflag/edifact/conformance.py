"""``apiflag conformance FILE...``: a carrier onboarding report.

Before a passenger-information unit accepts a new airline's feed it reads sample files and
asks, per carrier: which deviations from the PAXLST and PNRGOV guides does the feed make, how
often, what does the tolerant reader do about each, and what share of the travellers is read
clean? This module answers from what the reader itself reports (:func:`~apiflag.edifact.
parse_bytes`: its warnings, its quarantined records, the degraded fields of each traveller,
or the error that refused the file); it never re-reads a segment to second-guess the reader.

Which carrier each message, warning and quarantined record belongs to, the segment tag of a
deviation, what the reader did about it (:data:`TREATMENTS`) and the travellers read clean,
degraded and quarantined are decided once, in :mod:`apiflag.edifact.carriers`; ingest stores
the same per-carrier figures for every night (:mod:`apiflag.carrier_quality`), so the two
cannot disagree. **Shares**: of the travellers found (read or quarantined), ``clean``,
``degraded`` and ``quarantined`` add up to 1 (null when a carrier has no traveller). What the
file declares (CNT, the TIFs of each PNR) is shown beside them; a gap is the reader's
``W_CNT_MISMATCH``.

JSON (``--format json``; keys are stable, new keys may be added, none renamed)::

    {"report": "apiflag conformance", "version": 1,
     "files": [{
        "file": str, "status": "read" | "refused" | "unreadable",
        "error": str | null,            # the one-line error "FILE: segment N: CODE: message"
        "kind": "PAXLST" | "PNRGOV" | null, "messages": int, "declared": int | null,
        "travellers": {"clean": int, "degraded": int, "quarantined": int, "total": int},
        "shares": {"clean": float | null, "degraded": float | null, "quarantined": float | null},
        "refusal": DEVIATION | null,     # the error as a deviation (action "refused the file")
        "carriers": [CARRIER, ...]}],    # sorted by carrier
     "summary": {"files": int, "read": int, "refused": int, "carriers": [CARRIER, ...]}}

    CARRIER = {"carrier": str, "named_by": [str], "senders": [str], "files": int,
               "messages": int, "declared": int | null,   # null: a manifest without CNT
               "travellers": {...}, "shares": {...},
               "deviations": [DEVIATION, ...]}   # in order of first occurrence
    DEVIATION = {"tag": str | null, "code": str, "field": str | null, "count": int,
                 "travellers": int | null,       # travellers in quarantined records
                 "action": str, "first_segments": [int],   # at most 10
                 "example": str}                 # the reader's text of the first occurrence

``named_by`` says where the carrier code came from (``TDT``, ``TVL``, ``RCI`` or
``UNB sender``); ``summary.carriers`` adds up each carrier over every file read. Shares are
rounded to 4 decimals. Text (``--format text``, the default) and HTML (``--format html``,
one self-contained page: inline CSS, no script, every value escaped by Jinja2's autoescape)
are rendered from this same document, so the three carry the same figures.

Exit status: 0 when every file was read (deviations or not), 1 when any file was refused whole
or could not be opened; each such file also gets its one-line error on stderr, as with
``apiflag parse``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import click
import jinja2

from apiflag import atomic
from apiflag.edifact import ParsedFile, parse_bytes
from apiflag.edifact.carriers import (
    GENERIC_ACTION,
    TREATMENTS,
    CarrierAccount,
    Deviation,
    SegmentTags,
    Treatment,
    account_file,
    segment_tags,
    treatment,
)
from apiflag.edifact.tokenizer import Interchange, decode
from apiflag.errors import ApiflagError, ParseError

__all__ = [
    "GENERIC_ACTION",
    "TREATMENTS",
    "Treatment",
    "conformance",
    "conformance_report",
    "file_report",
    "parsed_report",
    "render_html",
    "render_text",
    "treatment",
]


def parsed_report(
    name: str, parsed: ParsedFile, interchanges: Sequence[Interchange], tags: Mapping[int, str]
) -> dict[str, Any]:
    """The report of one file the reader read (see the JSON form in the module docstring).

    Args:
        name: the file's name as given.
        parsed: what :func:`~apiflag.edifact.parse_bytes` returned for it.
        interchanges: the file's interchanges from :func:`~apiflag.edifact.tokenizer.tokenize`
            (empty when unavailable: everything then belongs to one carrier per record).
        tags: segment number -> tag, for warnings that do not name their segment's tag.
    """
    carriers = account_file(parsed, interchanges, tags)
    rows = [_carrier_dict(c, 1) for c in carriers]
    totals = _totals(sum(c.clean for c in carriers),
                     sum(c.degraded for c in carriers),
                     sum(c.quarantined for c in carriers))  # fmt: skip
    return {
        "file": name,
        "status": "read",
        "error": None,
        "kind": parsed.kind,
        "messages": parsed.messages,
        "declared": parsed.declared,
        **totals,
        "refusal": None,
        "carriers": rows,
    }


def _totals(clean: int, degraded: int, quarantined: int) -> dict[str, Any]:
    total = clean + degraded + quarantined

    def share(n: int) -> float | None:
        return round(n / total, 4) if total else None

    return {
        "travellers": {
            "clean": clean,
            "degraded": degraded,
            "quarantined": quarantined,
            "total": total,
        },
        "shares": {
            "clean": share(clean),
            "degraded": share(degraded),
            "quarantined": share(quarantined),
        },
    }


def _carrier_dict(c: CarrierAccount, files: int) -> dict[str, Any]:
    return {
        "carrier": c.carrier,
        "named_by": sorted(c.named_by),
        "senders": sorted(c.senders),
        "files": files,
        "messages": c.messages,
        "declared": c.declared,
        **_totals(c.clean, c.degraded, c.quarantined),
        "deviations": [d.as_dict() for d in c.sorted_deviations()],
    }


def _refused(name: str, status: Literal["refused", "unreadable"], exc: ParseError,
             tags: Mapping[int, str]) -> dict[str, Any]:  # fmt: skip
    error = str(exc.with_file(name))
    dev = Deviation(tags.get(exc.segment), exc.code, None, treatment(status).action, exc.message)
    dev.add(exc.segment)
    return {
        "file": name,
        "status": status,
        "error": error,
        "kind": None,
        "messages": 0,
        "declared": None,
        **_totals(0, 0, 0),
        "refusal": dev.as_dict(),
        "carriers": [],
    }


def file_report(name: str, data: bytes) -> dict[str, Any]:
    """Parse one file and report it: read (with its deviations per carrier) or refused."""
    try:
        parsed = parse_bytes(data, name)
    except ParseError as exc:
        return _refused(name, "refused", exc, segment_tags(decode(data))[1])
    return parsed_report(name, parsed, parsed.interchanges, SegmentTags(parsed.interchanges))


def read_report(name: str) -> dict[str, Any]:
    """Report one path: unreadable (``E_READ``), refused, or read (see :func:`file_report`)."""
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _refused(name, "unreadable", ParseError("E_READ", exc.strerror or str(exc)), {})
    return file_report(name, data)


def _merge(files: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each carrier added up over the files read (deviations keyed by tag, code, field)."""
    merged: dict[str, CarrierAccount] = {}
    seen: dict[str, int] = {}
    for f in files:
        for c in f["carriers"]:
            row = merged.setdefault(c["carrier"], CarrierAccount(c["carrier"]))
            seen[c["carrier"]] = seen.get(c["carrier"], 0) + 1
            row.named_by.update(c["named_by"])
            row.senders.update(c["senders"])
            row.messages += c["messages"]
            declared = c["declared"]
            row.declared = (
                None if declared is None or row.declared is None else row.declared + declared
            )
            row.clean += c["travellers"]["clean"]
            row.degraded += c["travellers"]["degraded"]
            row.quarantined += c["travellers"]["quarantined"]
            for d in c["deviations"]:
                dev = row.deviation(d["tag"], d["code"], d["field"], d["action"], d["example"])
                dev.count += d["count"]
                if d["travellers"] is not None:
                    dev.travellers = (dev.travellers or 0) + d["travellers"]
    out = []
    for name, row in sorted(merged.items()):
        doc = _carrier_dict(row, seen[name])
        out.append(doc)
    return out


def conformance_report(files: Sequence[str]) -> dict[str, Any]:
    """The whole report over ``files`` (the JSON document of the module docstring)."""
    reports = [read_report(name) for name in files]
    read = [r for r in reports if r["status"] == "read"]
    return {
        "report": "apiflag conformance",
        "version": 1,
        "files": reports,
        "summary": {
            "files": len(reports),
            "read": len(read),
            "refused": len(reports) - len(read),
            "carriers": _merge(read),
        },
    }


# ------------------------------------------------------------------------------ rendering


def _pct(share: float | None) -> str:
    """A share as the text and HTML forms show it (``'62.5 %'``; ``'n/a'`` without travellers)."""
    return "n/a" if share is None else f"{share * 100:.1f} %"


def _travellers_line(doc: Mapping[str, Any]) -> str:
    t, s = doc["travellers"], doc["shares"]
    return (
        f"travellers {t['total']}: clean {t['clean']} ({_pct(s['clean'])}), "
        f"degraded {t['degraded']} ({_pct(s['degraded'])}), "
        f"quarantined {t['quarantined']} ({_pct(s['quarantined'])})"
    )


def _carrier_head(c: Mapping[str, Any]) -> str:
    senders = f"; UNB sender {', '.join(c['senders'])}" if c["senders"] else ""
    messages = f"{c['messages']} message{'' if c['messages'] == 1 else 's'}"
    return f"carrier {c['carrier']} (named by {', '.join(c['named_by'])}{senders}), {messages}"


_COLUMNS = ("tag", "code", "field", "count", "what the reader did", "first segments")


def _deviation_cells(d: Mapping[str, Any]) -> list[str]:
    count = str(d["count"])
    if d["travellers"] is not None:
        count += f" ({d['travellers']} traveller{'' if d['travellers'] == 1 else 's'})"
    return [
        d["tag"] or "?",
        d["code"],
        d["field"] or "",
        count,
        d["action"],
        ", ".join(str(n) for n in d["first_segments"]),
    ]


def _table(rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def _text_carrier(c: Mapping[str, Any], indent: str) -> list[str]:
    lines = [indent + _carrier_head(c), indent + "  " + _travellers_line(c)]
    if c["deviations"]:
        rows = [list(_COLUMNS)] + [_deviation_cells(d) for d in c["deviations"]]
        if not any(d["first_segments"] for d in c["deviations"]):
            rows = [r[:-1] for r in rows]  # the summary: segments name places in one file
        lines += _table(rows, indent + "  ")
    else:
        lines.append(indent + "  no deviation reported")
    return lines


def render_text(doc: Mapping[str, Any]) -> str:
    """The report for a terminal: per file, per carrier, then a summary per carrier."""
    s = doc["summary"]
    lines = [f"apiflag conformance: {s['files']} files, {s['read']} read, {s['refused']} refused"]
    for f in doc["files"]:
        lines.append("")
        if f["status"] != "read":
            lines.append(f"{f['file']}: {f['status'].upper()} ({f['refusal']['action']})")
            lines.append(f"  {f['error']}")
            continue
        declared = "no count declared" if f["declared"] is None else f"{f['declared']} declared"
        messages = f"{f['messages']} message{'' if f['messages'] == 1 else 's'}"
        lines.append(f"{f['file']}: {f['kind']}, {messages}, {declared}")
        lines.append("  " + _travellers_line(f))
        for c in f["carriers"]:
            lines += _text_carrier(c, "  ")
    if s["carriers"]:
        lines += ["", "Summary per carrier (every file read)"]
        for c in s["carriers"]:
            lines += _text_carrier(c, "  ")
    return "\n".join(lines) + "\n"


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
_ENV.filters["pct"] = _pct
_ENV.globals["columns"] = _COLUMNS
_ENV.globals["cells"] = _deviation_cells
_ENV.globals["head"] = _carrier_head
_ENV.globals["travellers_line"] = _travellers_line
_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>apiflag conformance</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;color:#1b1b1b}
h1{font-size:1.35rem}h2{font-size:1.05rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
h3{font-size:.95rem;margin-bottom:.3rem}table{border-collapse:collapse}
td,th{padding:.25rem .6rem;text-align:left;vertical-align:top}tr+tr td{border-top:1px solid #eee}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff1f0;border-left:4px solid #c94c4c;padding:.5rem .8rem}
.muted{color:#666}code{font-size:.85em;word-break:break-all}
</style></head><body>
<h1>Carrier conformance report</h1>
<p class="muted">{{ summary.files }} files, {{ summary.read }} read, {{ summary.refused }} refused.
Deviations from the PAXLST and PNRGOV guides as the tolerant reader met them, and what it did.</p>
{% macro carrier(c) %}
<h3>{{ head(c) }}</h3>
<p>{{ travellers_line(c) }}</p>
{% if c.deviations %}<table><tr>{% for h in columns %}<th>{{ h }}</th>{% endfor %}<th>example</th></tr>
{% for d in c.deviations %}<tr>{% for cell in cells(d) %}<td>{{ cell }}</td>{% endfor %}<td class="muted">{{ d.example }}</td></tr>
{% endfor %}</table>{% else %}<p>No deviation reported.</p>{% endif %}
{% endmacro %}
{% for f in files %}
<h2><code>{{ f.file }}</code></h2>
{% if f.status != "read" %}<div class="warn"><b>{{ f.status | upper }}</b> ({{ f.refusal.action }}): <code>{{ f.error }}</code></div>
{% else %}<p>{{ f.kind }}, {{ f.messages }} message{{ "" if f.messages == 1 else "s" }}, {% if f.declared is none %}no count declared{% else %}{{ f.declared }} declared{% endif %}.
{{ travellers_line(f) }}</p>
{% for c in f.carriers %}{{ carrier(c) }}{% endfor %}
{% endif %}
{% endfor %}
{% if summary.carriers %}<h2>Summary per carrier (every file read)</h2>
{% for c in summary.carriers %}{{ carrier(c) }}{% endfor %}{% endif %}
</body></html>
"""
)


def render_html(doc: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS, no script; values escaped)."""
    return _HTML.render(files=doc["files"], summary=doc["summary"])


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        atomic.write_text(Path(out), text, parents=False)
    except OSError as exc:
        raise ApiflagError(f"{out}: cannot write the report: {exc.strerror or exc}") from None


@click.command("conformance")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="text for a terminal, json (stable keys, see the module docs), html (one page).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report here, not stdout.")
def conformance(files: tuple[str, ...], fmt: str, out: str | None) -> None:
    """Carrier onboarding report: every deviation from the PAXLST/PNRGOV guides in FILES.

    Per file and per carrier: segment tag, code, how often, what the tolerant reader did about
    it, and the share of travellers read clean, degraded and quarantined. Exit status 0 when
    every file was read (even with deviations), 1 when any file was refused whole or could not
    be opened (each also gets its one-line error on stderr).
    """
    doc = conformance_report(files)
    for f in doc["files"]:
        if f["error"] is not None:
            click.echo(f["error"], err=True)
    if fmt == "json":
        text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "html":
        text = render_html(doc)
    else:
        text = render_text(doc)
    _write(text, out)
    refused = doc["summary"]["refused"]
    if refused:
        raise _Refused(f"{refused} of {len(files)} file(s) refused whole")


class _Refused(ApiflagError):
    """Some files were refused; each was already reported on its own line."""
