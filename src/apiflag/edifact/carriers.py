"""Per-carrier accounting of one file the tolerant reader read: the one place it is decided.

``apiflag conformance`` (the carrier onboarding report) and ingest (which stores the same
counts for every night, :mod:`apiflag.carrier_quality`) both call :func:`account_file`, so a
carrier's figures in the report and in the warehouse cannot disagree. The accounting reads
what the reader itself reported (:func:`~apiflag.edifact.parse_bytes`: its records, warnings,
quarantined records and the degraded fields of each traveller); it never re-reads a segment to
second-guess the reader.

What it decides:

* **The carrier** (the airline whose feed it is) of each UNH...UNT message: PAXLST the carrier
  of the manifest's first TDT; PNRGOV the carrier of the push's level-0 TVL, else the first
  RCI's; else the UNB sender. A warning or a quarantined record belongs to the carrier of the
  message holding its segment; an envelope warning (UNB, UNZ, text after UNZ) to the carrier
  of its interchange's first message.
* **The segment tag** of a deviation: the tag the warning names (``ATT``, ``DTM+329``); else,
  for the older aggregated ``W_UNKNOWN_SEGMENT`` line (``XYZ x2 ignored``), the unknown tag and
  its count; else the guide segment the code is about (:data:`TREATMENTS`: ``CNT`` for
  ``W_CNT_MISMATCH``); else the tag of the warning's segment in the file.
* **What the reader did**: one table, :data:`TREATMENTS`, keyed by warning code, by
  ``loss:<kind>`` for a quarantined record, and by ``refused`` / ``unreadable`` for a file;
  a code not in the table gets :data:`GENERIC_ACTION`, never an error.
* **The travellers** of a carrier: ``clean`` (read with every value), ``degraded`` (read,
  some values null) and ``quarantined`` (in a record that could not be read, a lost booking
  counting its TIFs); ``declared`` is what the carrier's messages declare (PAXLST: the CNT
  counts of its manifests, unknown when one has no CNT, plus the travellers listed in a
  message quarantined whole; PNRGOV: the TIFs of each PNR, i.e.
  travellers read plus quarantined). Over a file, the carriers add up to
  :attr:`~apiflag.edifact.ParsedFile.declared`, ``travellers``, ``degraded`` and
  ``quarantined``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apiflag.edifact import ParsedFile
from apiflag.edifact.loss import Warning as ReaderWarning
from apiflag.edifact.loss import read_warning
from apiflag.edifact.paxlst import parse_flight_id
from apiflag.edifact.tokenizer import Interchange, Message, Segment, tokenize
from apiflag.errors import ParseError

__all__ = [
    "FIRST_SEGMENTS",
    "GENERIC_ACTION",
    "TREATMENTS",
    "UNKNOWN_CARRIER",
    "CarrierAccount",
    "Deviation",
    "Treatment",
    "SegmentTags",
    "account_file",
    "account_parsed",
    "segment_tags",
    "treatment",
]

FIRST_SEGMENTS = 10
"""How many segment numbers a deviation keeps (the first ones, for an auditor's way back)."""

UNKNOWN_CARRIER = "?"
"""The carrier of a message that names none (no TDT, TVL, RCI nor UNB sender)."""


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


@dataclass
class Deviation:
    """One kind of deviation (segment tag, code, field) of one carrier, and how often.

    Attributes:
        tag: the segment tag it is about (None when unknown).
        code: the reader's warning or record-loss code.
        fld: the field the warning names, if any.
        action: what the reader did (:data:`TREATMENTS`).
        example: the reader's text of the first occurrence.
        count: occurrences.
        travellers: travellers in the quarantined records (None for a warning).
        segments: the first :data:`FIRST_SEGMENTS` segment numbers where it occurred.
    """

    tag: str | None
    code: str
    fld: str | None
    action: str
    example: str
    count: int = 0
    travellers: int | None = None
    segments: list[int] = field(default_factory=list)

    def add(self, segment: int, times: int = 1, travellers: int | None = None) -> None:
        """Count ``times`` more occurrences at ``segment`` (and their quarantined travellers)."""
        self.count += times
        if travellers is not None:
            self.travellers = (self.travellers or 0) + travellers
        if len(self.segments) < FIRST_SEGMENTS:
            self.segments.append(segment)

    def as_dict(self) -> dict[str, Any]:
        """The deviation as ``apiflag conformance --format json`` shows it."""
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
class CarrierAccount:
    """One carrier's figures (in one file, or added up over several).

    Attributes:
        carrier: the carrier code (:data:`UNKNOWN_CARRIER` when no message names one).
        named_by: where the code came from (``TDT``, ``TVL``, ``RCI``, ``UNB sender``).
        senders: the UNB senders of its interchanges.
        messages: its UNH messages (before multipart joining), read or quarantined.
        first_segment: the first segment of its first message in the file (None when added up).
        declared: travellers its messages declare, when every one declares (see the module
            docstring); None otherwise.
        clean, degraded, quarantined: its travellers read with every value, read with some
            values null, and in quarantined records.
        deviations: (tag, code, field) -> :class:`Deviation`.
    """

    carrier: str
    named_by: set[str] = field(default_factory=set)
    senders: set[str] = field(default_factory=set)
    messages: int = 0
    first_segment: int | None = None
    declared: int | None = 0
    clean: int = 0
    degraded: int = 0
    quarantined: int = 0
    deviations: dict[tuple[str | None, str, str | None], Deviation] = field(default_factory=dict)

    @property
    def travellers(self) -> int:
        """Travellers found: read (clean or degraded) or quarantined."""
        return self.clean + self.degraded + self.quarantined

    def deviation(
        self, tag: str | None, code: str, fld: str | None, action: str, example: str
    ) -> Deviation:
        """The carrier's :class:`Deviation` for (tag, code, field), created when new."""
        key = (tag, code, fld)
        if key not in self.deviations:
            self.deviations[key] = Deviation(tag, code, fld, action, example)
        return self.deviations[key]

    def sorted_deviations(self) -> list[Deviation]:
        """Deviations in order of first occurrence (then tag, code, field)."""
        return sorted(
            self.deviations.values(),
            key=lambda d: (d.segments[0] if d.segments else 0, d.tag or "", d.code, d.fld or ""),
        )


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


class SegmentTags(Mapping[int, str]):
    """Segment number -> tag of a file's interchanges, built on first use (often never)."""

    def __init__(self, interchanges: Sequence[Interchange]) -> None:
        self._interchanges = interchanges
        self._tags: dict[int, str] | None = None

    def _built(self) -> dict[int, str]:
        if self._tags is None:
            self._tags = {
                seg.number: seg.tag
                for ic in self._interchanges
                for seg in _interchange_segments(ic)
                if seg.tag
            }
        return self._tags

    def __getitem__(self, number: int) -> str:
        return self._built()[number]

    def __iter__(self) -> Iterator[int]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def segment_tags(text: str) -> tuple[list[Interchange], Mapping[int, str]]:
    """The file's interchanges and segment number -> tag; empty when it cannot be tokenized."""
    try:
        interchanges = tokenize(text)
    except ParseError:
        return [], {}
    return interchanges, SegmentTags(interchanges)


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


def _row(carriers: dict[str, CarrierAccount], span: _Span | None) -> CarrierAccount:
    name = span.carrier if span else UNKNOWN_CARRIER
    row = carriers.setdefault(name, CarrierAccount(name))
    if span is not None:
        row.named_by.add(span.named_by)
        if span.sender:
            row.senders.add(span.sender)
    return row


def _count_travellers(
    parsed: ParsedFile, carriers: dict[str, CarrierAccount], loc: _Locator
) -> None:
    records: list[tuple[str, Iterable[Any], int | None]] = [
        (
            m.legs[0].carrier,
            m.travellers,
            None
            if m.declared_passengers is None and m.declared_crew is None
            else (m.declared_passengers or 0) + (m.declared_crew or 0),
        )
        for m in parsed.manifests
    ]
    records += [
        (p.flight.carrier, (t for b in p.bookings for t in b.travellers), 0)
        for p in parsed.pnr_messages
    ]
    for carrier, travellers, declared in records:
        row = carriers.setdefault(carrier, CarrierAccount(carrier))
        for t in travellers:
            if t.degraded:
                row.degraded += 1
            else:
                row.clean += 1
        if parsed.kind == "PAXLST":
            row.declared = (
                None if declared is None or row.declared is None else row.declared + declared
            )
    for loss in parsed.lost:
        row = _row(carriers, loc.span(loss.first_segment))
        row.quarantined += loss.travellers
        if parsed.kind == "PAXLST" and loss.kind == "message" and row.declared is not None:
            row.declared += loss.travellers  # its CNT cannot be read: it declares its list
    if parsed.kind == "PNRGOV":  # a PNRGOV file declares the TIFs of each PNR: all it holds
        for row in carriers.values():
            row.declared = row.travellers


def account_file(
    parsed: ParsedFile, interchanges: Sequence[Interchange], tags: Mapping[int, str]
) -> list[CarrierAccount]:
    """Each carrier's figures in one file the reader read, sorted by carrier.

    Args:
        parsed: what :func:`~apiflag.edifact.parse_bytes` returned for the file.
        interchanges: the file's interchanges from :func:`~apiflag.edifact.tokenizer.tokenize`
            (empty when unavailable: everything then belongs to one carrier per record).
        tags: segment number -> tag, for warnings that do not name their segment's tag.

    Returns:
        One :class:`CarrierAccount` per carrier with a message, a traveller or a deviation.
    """
    spans = _message_spans(parsed, interchanges)
    loc = _Locator(spans, interchanges)
    carriers: dict[str, CarrierAccount] = {}
    for span in spans:
        row = _row(carriers, span)
        row.messages += 1
        if row.first_segment is None:
            row.first_segment = span.first
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
    return [c for _, c in sorted(carriers.items())]


def account_parsed(parsed: ParsedFile) -> list[CarrierAccount]:
    """:func:`account_file` with the interchanges the reader kept (``parsed.interchanges``)."""
    return account_file(parsed, parsed.interchanges, SegmentTags(parsed.interchanges))
