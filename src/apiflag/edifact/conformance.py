"""``apiflag conformance FILE...``: a carrier onboarding report.

Before a passenger-information unit accepts a new airline's feed it reads sample files and
asks, per carrier: which deviations from the PAXLST and PNRGOV guides does the feed make, how
often, what does the tolerant reader do about each, and what share of the travellers is read
clean? This module answers from what the reader itself reports (:func:`~apiflag.edifact.
parse_bytes`: its warnings, its quarantined records, the degraded fields of each traveller,
or the error that refused the file); it never re-reads a segment to second-guess the reader.

What it decides:

* **The carrier** (the airline whose feed it is) of each UNH...UNT message: PAXLST the carrier
  of the manifest's first TDT; PNRGOV the carrier of the push's level-0 TVL, else the first
  RCI's; else the UNB sender. A warning or a quarantined record belongs to the carrier of the
  message holding its segment; an envelope warning (UNB, UNZ, text after UNZ) to the carrier
  of its interchange's first message.
* **The segment tag** of a deviation: the tag the warning names (``ATT``, ``DTM+329``); else,
  for the older aggregated ``W_UNKNOWN_SEGMENT`` line (``XYZ x2 ignored``), the unknown tag and
  its count; else the guide segment the code is about (:data:`TREATMENTS`: ``CNT`` for
  ``W_CNT_MISMATCH``); else the tag of the warning's segment in the file (the file is
  tokenized once more for that, which is cheap).
* **What the reader did**: one table, :data:`TREATMENTS`, keyed by warning code, by
  ``loss:<kind>`` for a quarantined record, and by ``refused`` / ``unreadable`` for a file;
  a code not in the table gets :data:`GENERIC_ACTION`, never an error.
* **Shares**: of the travellers found (read or quarantined), ``clean`` (read with every value),
  ``degraded`` (read, some values null) and ``quarantined`` (in a record that could not be
  read); the three add up to 1 (null when a carrier has no traveller). What the file declares
  (CNT, the TIFs of each PNR) is shown beside them; a gap is the reader's ``W_CNT_MISMATCH``.

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
               "messages": int, "travellers": {...}, "shares": {...},
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

import bisect
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import click
import jinja2

from apiflag.edifact import ParsedFile, parse_bytes
from apiflag.edifact.loss import Warning as ReaderWarning
from apiflag.edifact.loss import read_warning
from apiflag.edifact.paxlst import parse_flight_id
from apiflag.edifact.tokenizer import Interchange, Message, Segment, decode, tokenize
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
]

FIRST_SEGMENTS = 10
UNKNOWN_CARRIER = "?"


@dataclass(frozen=True)
class Treatment:
    """What the reader does about one kind of deviation, and the guide segment it is about."""

    action: str
    tag: str | None = None


#: code -> what the tolerant reader did about it (the one place this is decided)
TREATMENTS: dict[str, Treatment] = {
    "W_BAD_VALUE": Treatment("read as null"),
    "W_UNKNOWN_SEGMENT": Treatment("ignored the segment"),
    "W_UNKNOWN_PARTY": Treatment("ignored the party"),
    "W_UNKNOWN_TRAVELLER": Treatment("ignored: names no traveller of the booking"),
    "W_CNT_MISMATCH": Treatment("counted, travellers kept", "CNT"),
    "W_EQN_MISMATCH": Treatment("counted, bookings kept", "EQN"),
    "W_SEGMENT_COUNT": Treatment("counted, message kept", "UNT"),
    "W_MESSAGE_COUNT": Treatment("counted, messages kept", "UNZ"),
    "W_REFERENCE": Treatment("noted, message kept"),
    "W_INCOMPLETE_PARTS": Treatment("read the parts present, marked incomplete", "UNH"),
    "W_TRAILING_TEXT": Treatment("ignored the text after UNZ", "UNZ"),
    "W_UNA_MISMATCH": Treatment("used the separators the file really uses", "UNA"),
    "W_BAD_SEGMENT": Treatment("ignored the segment"),
    "W_UNEXPECTED_SEGMENT": Treatment("ignored the segment"),
    "W_MISSING_SEGMENT": Treatment("read without it (null, or inferred)"),
    "W_ENVELOPE": Treatment("did not read the segments outside a message"),
    "W_NO_MESSAGE": Treatment("skipped the interchange", "UNB"),
    "W_NO_UNT": Treatment("ended the message at the next envelope segment", "UNT"),
    "W_TRUNCATED": Treatment("read what arrived, up to the end of the file"),
    "W_OTHER": Treatment("kept reading (a warning of another form)"),
    "loss:traveller": Treatment("quarantined the traveller"),
    "loss:booking": Treatment("quarantined the booking"),
    "loss:message": Treatment("quarantined the message"),
    "refused": Treatment("refused the file"),
    "unreadable": Treatment("could not open the file"),
}
GENERIC_ACTION = "kept reading (see the reader's warning)"


def treatment(key: str) -> Treatment:
    """The :data:`TREATMENTS` entry for ``key``; a generic one for a code not in the table."""
    found = TREATMENTS.get(key)
    if found is not None:
        return found
    if key.startswith("loss:"):
        return Treatment("quarantined the record")
    return Treatment(GENERIC_ACTION)


# ------------------------------------------------------------------------------ accounting


@dataclass
class _Deviation:
    tag: str | None
    code: str
    fld: str | None
    action: str
    example: str
    count: int = 0
    travellers: int | None = None
    segments: list[int] = field(default_factory=list)

    def add(self, segment: int, times: int = 1, travellers: int | None = None) -> None:
        self.count += times
        if travellers is not None:
            self.travellers = (self.travellers or 0) + travellers
        if len(self.segments) < FIRST_SEGMENTS:
            self.segments.append(segment)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "code": self.code,
            "field": self.fld,
            "count": self.count,
            "travellers": self.travellers,
            "action": self.action,
            "first_segments": list(self.segments),
            "example": self.example,
        }


@dataclass
class _Carrier:
    carrier: str
    named_by: set[str] = field(default_factory=set)
    senders: set[str] = field(default_factory=set)
    messages: int = 0
    clean: int = 0
    degraded: int = 0
    quarantined: int = 0
    deviations: dict[tuple[str | None, str, str | None], _Deviation] = field(default_factory=dict)

    def deviation(
        self, tag: str | None, code: str, fld: str | None, action: str, example: str
    ) -> _Deviation:
        key = (tag, code, fld)
        if key not in self.deviations:
            self.deviations[key] = _Deviation(tag, code, fld, action, example)
        return self.deviations[key]


@dataclass(frozen=True)
class _Span:
    """One UNH...UNT message (or UNB...UNZ interchange) and the carrier it belongs to."""

    first: int
    last: int
    carrier: str
    named_by: str
    sender: str | None


def _raw_carrier(msg: Message, kind: str) -> tuple[str, str] | None:
    """The carrier named in a message the reader could not turn into a record."""
    for seg in msg.body:
        if kind == "PAXLST" and seg.tag == "TDT":
            flight = parse_flight_id(seg.get(2), seg.get(5) or None)
            if flight is not None:
                return flight[0], "TDT"
        if kind == "PNRGOV" and seg.tag == "TVL" and seg.get(4, 0):
            return seg.get(4, 0).upper(), "TVL"
        if kind == "PNRGOV" and seg.tag == "RCI" and seg.get(1, 0):
            return seg.get(1, 0).upper(), "RCI"
    return None


def _record_carriers(parsed: ParsedFile) -> tuple[dict[int, tuple[str, str]], dict[str, str]]:
    """(record segment -> (carrier, source), message or common-access ref -> carrier)."""
    by_segment: dict[int, tuple[str, str]] = {}
    by_ref: dict[str, str] = {}
    for m in parsed.manifests:
        carrier = m.legs[0].carrier
        for t in m.travellers:
            if t.segment is not None:
                by_segment.setdefault(t.segment, (carrier, "TDT"))
        for ref in (m.message_ref, m.common_access_ref):
            if ref:
                by_ref.setdefault(ref, carrier)
    for p in parsed.pnr_messages:
        carrier = p.flight.carrier
        for b in p.bookings:
            for seg in (b.segment, *(t.segment for t in b.travellers)):
                if seg is not None:
                    by_segment.setdefault(seg, (carrier, "TVL"))
        for ref in (p.message_ref, p.common_access_ref):
            if ref:
                by_ref.setdefault(ref, carrier)
    return by_segment, by_ref


def _message_spans(parsed: ParsedFile, interchanges: Sequence[Interchange]) -> list[_Span]:
    """The carrier of every message of the file (see the module docstring)."""
    by_segment, by_ref = _record_carriers(parsed)
    record_segments = sorted(by_segment)
    source = "TDT" if parsed.kind == "PAXLST" else "TVL"
    spans: list[_Span] = []
    for ic in interchanges:
        sender = ic.unb.get(2, 0) or None
        for msg in ic.messages:
            first, last = msg.unh.number, _segments(msg)[-1].number
            i = bisect.bisect_left(record_segments, first)
            found: tuple[str, str] | None = None
            if i < len(record_segments) and record_segments[i] <= last:
                found = by_segment[record_segments[i]]
            for ref in (msg.unh.get(1), msg.unh.get(3)):
                if found is None and ref and ref in by_ref:
                    found = (by_ref[ref], source)
            if found is None:
                found = _raw_carrier(msg, parsed.kind)
            if found is None:
                found = (sender.upper(), "UNB sender") if sender else (UNKNOWN_CARRIER, "none")
            spans.append(_Span(first, last, found[0], found[1], sender))
    return spans


class _Locator:
    """Segment number -> the carrier of the message (or interchange) that holds it."""

    def __init__(self, spans: list[_Span], interchanges: Sequence[Interchange]) -> None:
        self.spans = sorted(spans, key=lambda s: s.first)
        self.starts = [s.first for s in self.spans]
        self.envelopes: list[_Span] = []
        for ic in interchanges:
            end = max(seg.number for seg in _interchange_segments(ic))
            inside = [s for s in self.spans if ic.unb.number <= s.first <= end]
            if inside:
                head = inside[0]
                self.envelopes.append(
                    _Span(ic.unb.number, end, head.carrier, head.named_by, head.sender)
                )

    def span(self, segment: int) -> _Span | None:
        i = bisect.bisect_right(self.starts, segment) - 1
        if i >= 0 and self.spans[i].first <= segment <= self.spans[i].last:
            return self.spans[i]
        for env in self.envelopes:
            if env.first <= segment <= env.last:
                return env
        if self.envelopes:
            return self.envelopes[0] if segment < self.envelopes[0].first else self.envelopes[-1]
        return self.spans[0] if self.spans else None


def _segments(msg: Message) -> list[Segment]:
    """A message's segments from UNH to UNT (or to its last segment when UNT is missing)."""
    return [msg.unh, *msg.body, *([msg.unt] if msg.unt is not None else [])]


def _interchange_segments(ic: Interchange) -> list[Segment]:
    """Every segment of an interchange: UNB, its messages, stray runs, UNZ when present."""
    out = [ic.unb]
    for msg in ic.messages:
        out += _segments(msg)
    for run in ic.stray:
        out += run
    if ic.unz is not None:
        out.append(ic.unz)
    return out


def _segment_tags(text: str) -> tuple[list[Interchange], dict[int, str]]:
    """The file's interchanges and segment number -> tag; empty when it cannot be tokenized."""
    try:
        interchanges = tokenize(text)
    except ParseError:
        return [], {}
    tags = {
        seg.number: seg.tag for ic in interchanges for seg in _interchange_segments(ic) if seg.tag
    }
    return interchanges, tags


def _warning_tag(w: ReaderWarning, tags: Mapping[int, str]) -> tuple[str | None, int]:
    """(segment tag, how many occurrences the line stands for); see the module docstring."""
    if w.tag:
        return w.tag, 1
    if w.code == "W_UNKNOWN_SEGMENT":
        head, _, rest = w.text.partition(" ")
        times = rest.partition(" ")[0]
        if len(head) == 3 and head.isalnum() and times[:1] == "x" and times[1:].isdigit():
            return head, int(times[1:])
    fixed = treatment(w.code).tag
    return (fixed, 1) if fixed else (tags.get(w.segment), 1)


def _count_travellers(parsed: ParsedFile, carriers: dict[str, _Carrier], loc: _Locator) -> None:
    records: list[tuple[str, Iterable[Any]]] = [
        (m.legs[0].carrier, m.travellers) for m in parsed.manifests
    ]
    records += [
        (p.flight.carrier, (t for b in p.bookings for t in b.travellers))
        for p in parsed.pnr_messages
    ]
    for carrier, travellers in records:
        row = carriers.setdefault(carrier, _Carrier(carrier))
        for t in travellers:
            if t.degraded:
                row.degraded += 1
            else:
                row.clean += 1
    for loss in parsed.lost:
        span = loc.span(loss.first_segment)
        row = _row(carriers, span)
        row.quarantined += loss.travellers


def _row(carriers: dict[str, _Carrier], span: _Span | None) -> _Carrier:
    name = span.carrier if span else UNKNOWN_CARRIER
    row = carriers.setdefault(name, _Carrier(name))
    if span is not None:
        row.named_by.add(span.named_by)
        if span.sender:
            row.senders.add(span.sender)
    return row


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
    spans = _message_spans(parsed, interchanges)
    loc = _Locator(spans, interchanges)
    carriers: dict[str, _Carrier] = {}
    for span in spans:
        _row(carriers, span).messages += 1
    _count_travellers(parsed, carriers, loc)
    for line in parsed.warnings:
        w = read_warning(line)
        tag, times = _warning_tag(w, tags)
        row = _row(carriers, loc.span(w.segment))
        dev = row.deviation(tag, w.code, w.field, treatment(w.code).action, w.text)
        dev.add(w.segment, times)
    for loss in parsed.lost:
        row = _row(carriers, loc.span(loss.first_segment))
        act = treatment(f"loss:{loss.kind}").action
        dev = row.deviation(tags.get(loss.first_segment), loss.code, None, act, loss.message)
        dev.add(loss.first_segment, 1, loss.travellers)
    rows = [_carrier_dict(c, 1) for _, c in sorted(carriers.items())]
    totals = _totals(sum(c.clean for c in carriers.values()),
                     sum(c.degraded for c in carriers.values()),
                     sum(c.quarantined for c in carriers.values()))  # fmt: skip
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


def _carrier_dict(c: _Carrier, files: int) -> dict[str, Any]:
    devs = sorted(
        c.deviations.values(),
        key=lambda d: (d.segments[0] if d.segments else 0, d.tag or "", d.code, d.fld or ""),
    )
    return {
        "carrier": c.carrier,
        "named_by": sorted(c.named_by),
        "senders": sorted(c.senders),
        "files": files,
        "messages": c.messages,
        **_totals(c.clean, c.degraded, c.quarantined),
        "deviations": [d.as_dict() for d in devs],
    }


def _refused(name: str, status: Literal["refused", "unreadable"], exc: ParseError,
             tags: Mapping[int, str]) -> dict[str, Any]:  # fmt: skip
    error = str(exc.with_file(name))
    dev = _Deviation(tags.get(exc.segment), exc.code, None, treatment(status).action, exc.message)
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
    text = decode(data)
    interchanges, tags = _segment_tags(text)
    try:
        parsed = parse_bytes(data, name)
    except ParseError as exc:
        return _refused(name, "refused", exc, tags)
    return parsed_report(name, parsed, interchanges, tags)


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
    merged: dict[str, _Carrier] = {}
    seen: dict[str, int] = {}
    for f in files:
        for c in f["carriers"]:
            row = merged.setdefault(c["carrier"], _Carrier(c["carrier"]))
            seen[c["carrier"]] = seen.get(c["carrier"], 0) + 1
            row.named_by.update(c["named_by"])
            row.senders.update(c["senders"])
            row.messages += c["messages"]
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
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
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
