"""The EDIFACT writer: PAXLST manifests and PNRGOV pushes as airlines send them.

``render_paxlst`` and ``render_pnrgov`` are pure: the same record and style always give the same
text. They follow the parse contract in the README and the hand-written fixtures in
``tests/data/messages``; a :class:`RenderStyle` adds the mess real feeds carry (custom UNA
separators, a Type-B telex header, lines wrapped mid-segment at 64 or 69 columns, multipart
``UNH`` parts, an e-mail disclaimer after ``UNZ``, CRLF line ends, TIF titles glued to the given
name) and, in ``habits``, the habits of other senders (:mod:`apiflag.synth.habits`: blanks around
tags and terminators, a lying UNA, an aborted interchange, PAXLST legs as ``LOC+92``, PNRGOV
dates and RCI/ORG/ADD/DOCS written another way, infants' DOCS under the adult). The default
style gives tidy output: standard separators, one segment per line.

Conventions (the parser reads exactly these):

* Data characters equal to a separator or the release character are released (``O?'BRIEN``).
* PAXLST dates are ``YYMMDD`` (``DTM+329``, ``DTM+36`` expiry, ``DTM+182`` issue) and flight
  times ``YYMMDDHHMM:201``; PNRGOV dates are ``DDMMYY`` (``TVL``, ``RCI``, ``DAT``) and SSR DOCS
  dates ``DDMMMYY``.
* PAXLST traveller: ``NAD+FL+++SURNAME:GIVEN NAMES[+street+city+subdivision+postcode+country]``,
  ``ATT+2++sex``, ``DTM+329``, ``MEA+CT++:n``, ``MEA+WT++KGM:w``, ``GEI+4+173|174``,
  ``LOC+178/179/174/180``, ``NAT+2``, ``RFF+AVF/ABO/SEA/CR``, then per document
  ``DOC+type:110:111+number``, ``DTM+36``, ``DTM+182``, ``LOC+91``.
* A multipart PAXLST repeats the header (BGM, RFF TN, NAD MS, TDT, LOC/DTM) in every part and
  carries ``CNT`` only in the final part, with the total. A multipart PNRGOV repeats MSG, ORG and
  TVL in every part and its ``EQN`` counts the bookings of that part.
* PNRGOV booking: ``SRC``, ``RCI+carrier:locator::DDMMYY:HHMM`` (created), ``DAT+700`` (last
  transaction), ``ORG+airline:location+agency:location+++kind+country:currency``, booking contacts
  ``IFT+4:28::carrier+CTCM phone`` / ``CTCE email`` (``@`` as ``//``, ``_`` as ``..``) /
  ``ADD++700:address``; per traveller ``TIF+SURNAME+GIVEN TITLE:type:ref``, ``FTI``,
  ``SSR+DOCS`` (``/P/ISSUER/NUMBER/NATIONALITY/DDMMMYY/SEX/DDMMMYY/SURNAME/GIVEN/MIDDLE``),
  traveller contacts ``SSR+CTCM|CTCE:HK:1:carrier:::::/value``, ``TKT+number:T:1``; the
  booking's payments follow the first traveller's ticket as ``FOP+form::amount[:vendor:card:expiry]``
  with ``IFT+4:43+payer name+payer phone``; then one ``TVL`` per itinerary leg.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apiflag.errors import UsageError
from apiflag.records import PaxlstManifest, PnrgovMessage
from apiflag.synth.habits import (
    UNREADABLE_DATE,
    UNREADABLE_SEX,
    check_habits,
    docs_text,
    habit_segments,
    pnr_date,
    unreadable_field,
)

__all__ = [
    "DEFAULT_STYLE",
    "RenderStyle",
    "encode_email",
    "render_paxlst",
    "render_pnrgov",
]

DISCLAIMER = (
    "Confidentiality Notice and Disclaimer:\r\n"
    "This email and any attachment may contain confidential information. Unless you are the "
    "intended recipient, you may not use, copy or disclose the information in this email.\r\n"
    "\r\nEmail secured by Antivirus"
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATE_HABITS = frozenset({"dates_ccyy", "dates_month"})
_ROLE_CODES = {"passenger": "FL", "crew": "FM", "transit_passenger": "DDU", "transit_crew": "DDT"}
_PAXLST_VERSIONS = {"D05B": "05B", "D02B": "02B", "D12B": "12B", "D15B": "15B"}
_PNRGOV_VERSIONS = {
    "13.1": ("13", "1"),
    "11.1": ("11", "1"),
    "10.1": ("10", "1"),
    "15.1": ("15", "1"),
}


@dataclass(frozen=True, slots=True)
class RenderStyle:
    """How a message is laid out as text.

    Attributes:
        separators: the six UNA characters: component, element, decimal, release, reserved,
            segment terminator (``":+.? '"`` is the standard set; feeds also use ``*``, ``#``,
            ``!``, ``-``, ``~``).
        una: write the ``UNA`` service string advice (needed whenever separators are custom).
        segment_newline: end each segment with a line end (tidy); ignored when ``wrap`` is set.
        crlf: line ends are CRLF instead of LF.
        wrap: cut the text into lines of this many columns, in the middle of segments (64 and
            69 are common); ``None`` keeps whole segments.
        telex: wrap the interchange in a Type-B telex envelope (SOH, address line, origin line,
            STX ... ETX).
        parts: split the message into this many ``UNH`` parts (``01:C`` ... ``nn:F``).
        disclaimer: text appended after ``UNZ`` (an e-mail gateway's notice).
        title_glued: PNRGOV ``TIF`` carries the title glued to the given name
            (``PIMCHANOKMS``) instead of after a space (``YUKI MS``).
        leading_spaces: spaces written before the first segment, as some gateways do.
        habits: habits of other senders to write (names from
            :data:`apiflag.synth.habits.HABITS`), e.g. ``("tag_blanks", "loc92")``.
    """

    separators: str = ":+.? '"
    una: bool = True
    segment_newline: bool = True
    crlf: bool = False
    wrap: int | None = None
    telex: bool = False
    parts: int = 1
    disclaimer: str | None = None
    title_glued: bool = False
    leading_spaces: int = 0
    habits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seps = self.separators
        if len(seps) != 6:
            raise UsageError(f"render style: separators must be 6 characters, got {seps!r}")
        active = seps[0] + seps[1] + seps[3] + seps[5]
        if len(set(active)) != 4 or any(c.isalnum() for c in active):
            raise UsageError(
                f"render style: component, element, release and terminator must be distinct "
                f"non-alphanumeric characters, got {seps!r}"
            )
        if not self.una and seps != ":+.? '":
            raise UsageError("render style: custom separators need una=True")
        if self.wrap is not None and self.wrap < 10:
            raise UsageError(f"render style: wrap must be at least 10 columns, got {self.wrap}")
        if self.parts < 1 or self.parts > 99:
            raise UsageError(f"render style: parts must be 1..99, got {self.parts}")
        if self.leading_spaces < 0:
            raise UsageError("render style: leading_spaces must not be negative")
        if self.habits:
            problem = check_habits(self.habits, seps, self.una)
            if problem:
                raise UsageError(f"render style: {problem}")


DEFAULT_STYLE = RenderStyle()


class _Writer:
    """Segment builder bound to one style's separators."""

    __slots__ = (
        "comp", "elem", "term", "dec", "table", "segs", "cache", "habits", "turn", "pdate",
    )  # fmt: skip

    def __init__(self, style: RenderStyle) -> None:
        seps = style.separators
        self.habits = frozenset(style.habits)
        self.comp = seps[0]
        self.elem = seps[1]
        self.dec = seps[2]
        # a word processor's apostrophe: the UNA still declares "'"
        self.term = "\u2019" if "una_typographic" in self.habits else seps[5]
        rel = seps[3]
        self.table = str.maketrans({c: rel + c for c in (seps[0], seps[1], rel, self.term)})
        self.turn = 0  # the next docs_items variant
        self.pdate = _ddmmyy if not self.habits & _DATE_HABITS else self._habit_date
        self.segs: list[str] = []
        self.cache: dict[tuple[Any, ...], str] = {}  # repeated segments (ORG, TVL) of one message

    def _habit_date(self, d: dt.date | None) -> str | None:
        return pnr_date(d, self.habits) if d is not None else None

    def esc(self, value: object) -> str:
        if value is None:
            return ""
        return str(value).translate(self.table)

    def add(self, tag: str, *elements: str | tuple[str | None, ...] | None) -> None:
        """Append one segment; elements are raw text or tuples of components (escaped here)."""
        out: list[str] = []
        for element in elements:
            if element is None:
                out.append("")
            elif isinstance(element, tuple):
                comps = [self.esc(c) for c in element]
                while comps and comps[-1] == "":
                    comps.pop()
                out.append(self.comp.join(comps))
            else:
                out.append(self.esc(element))
        while out and out[-1] == "":
            out.pop()
        if out:
            self.segs.append(tag + self.elem + self.elem.join(out))
        else:
            self.segs.append(tag)

    def amount(self, value: float | None) -> str | None:
        if value is None:
            return None
        return f"{value:.2f}".replace(".", self.dec)


@lru_cache(maxsize=1 << 16)
def _yymmdd(d: dt.date | None) -> str | None:
    return None if d is None else f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"


@lru_cache(maxsize=1 << 16)
def _ddmmyy(d: dt.date | None) -> str | None:
    return None if d is None else f"{d.day:02d}{d.month:02d}{d.year % 100:02d}"


@lru_cache(maxsize=1 << 16)
def _hhmm(t: dt.datetime | None) -> str | None:
    return None if t is None else f"{t.hour:02d}{t.minute:02d}"


def _stamp(t: dt.datetime) -> str:
    return f"{t.year % 100:02d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}"


@lru_cache(maxsize=1 << 16)
def _ddmmmyy(d: dt.date | None) -> str:
    return "" if d is None else f"{d.day:02d}{_MONTHS[d.month - 1]}{d.year % 100:02d}"


def encode_email(email: str) -> str:
    """Write an e-mail the way PNR contact SSRs carry it (``@`` as ``//``, ``_`` as ``..``).

    Args:
        email: the address as a person writes it.

    Returns:
        The encoded text, e.g. ``YUKI..SATO//EXAMPLE.JP`` for ``YUKI_SATO@EXAMPLE.JP``.
    """
    return email.replace("_", "..").replace("@", "//")


def _split(items: tuple[Any, ...], parts: int) -> list[tuple[Any, ...]]:
    parts = max(1, min(parts, max(1, len(items))))
    size, extra = divmod(len(items), parts)
    chunks: list[tuple[Any, ...]] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def _finish(
    style: RenderStyle, segs: list[str], term: str, telex_addr: tuple[str, str, str]
) -> str:
    """Join segments and apply line layout, habits, telex envelope and disclaimer."""
    eol = "\r\n" if style.crlf else "\n"
    habits = style.habits
    if habits:
        segs = habit_segments(segs, frozenset(habits), style.separators[1], style.separators)
    blanks = "terminator_blanks" in habits
    if style.wrap is not None:
        flat = (f" {term}{eol}  " if blanks else term).join(segs) + term
        width = style.wrap
        body = eol.join(flat[i : i + width] for i in range(0, len(flat), width)) + eol
    elif style.segment_newline or blanks:
        body = (f" {term}{eol}  " if blanks else term + eol).join(segs) + term + eol
    else:
        body = term.join(segs) + term + eol
    if style.una:
        # UNA is glued to the next segment, as in the fixtures.
        una = "UNA" + style.separators
        if "una_newline" in habits:
            una = una[:-1] + eol
        body = una + body if style.wrap is None else una + eol + body
    body = " " * style.leading_spaces + body
    if style.telex:
        recipient, origin, stamp = telex_addr
        body = f"\x01QU {recipient}{eol}.{origin} {stamp}{eol}\x02{body}\x03{eol}"
    if style.disclaimer:
        body = body + eol + style.disclaimer.replace("\r\n", eol) + eol
    return body


def render_paxlst(manifest: PaxlstManifest, style: RenderStyle = DEFAULT_STYLE) -> str:
    """Render one PAXLST manifest (passenger or crew list) as EDIFACT text.

    Args:
        manifest: the manifest; ``None`` envelope fields get defaults derived from the flight
            (sender = carrier, recipient ``JPNAPIS``, references from the flight and date).
        style: layout; :data:`DEFAULT_STYLE` is tidy.

    Returns:
        The interchange text (``UNA`` ... ``UNZ``), split into ``style.parts`` messages.

    Raises:
        UsageError: when the manifest's version is not a PAXLST directory this writer knows.
    """
    return paxlst_text(manifest, style)


def paxlst_text(m: Any, style: RenderStyle) -> str:
    """Render from any object with PaxlstManifest's attributes (the world passes light views)."""
    version = _PAXLST_VERSIONS.get(m.version)
    if version is None:
        raise UsageError(
            f"unknown PAXLST version {m.version!r} (use one of {sorted(_PAXLST_VERSIONS)})"
        )
    w = _Writer(style)
    first = m.legs[0]
    carrier = first.carrier
    sender = m.sender or f"{carrier}APIS"
    recipient = m.recipient or "JPNAPIS"
    dep = first.scheduled_departure
    prepared = m.prepared or dep or dt.datetime(2000, 1, 1)
    icref = m.interchange_ref or f"{carrier}{first.number}{_yymmdd(prepared)}"
    msgref = m.message_ref
    flight_id = f"{carrier}{int(first.number.rstrip('ABCDEFGHIJKLMNOPQRSTUVWXYZ') or 0):04d}"
    flight_ref = f"{flight_id}/{_yymmdd(dep) or ''}/{_hhmm(dep) or ''}"
    crew = m.document_code in ("250", "336")
    w.add(
        "UNB",
        ("UNOA", "4"),
        (sender, "ZZ"),
        (recipient, "ZZ"),
        (_yymmdd(prepared), _hhmm(prepared)),
        icref,
        None,
        "APIS",
    )
    w.add(
        "UNG",
        "PAXLST",
        (sender, "ZZ"),
        (recipient, "ZZ"),
        (_yymmdd(prepared), _hhmm(prepared)),
        "1",
        "UN",
        ("D", version),
    )
    chunks = _split(tuple(m.travellers), style.parts)
    n_parts = len(chunks)
    position = 0
    for part_no, chunk in enumerate(chunks, start=1):
        start = len(w.segs)
        part = f"{part_no:02d}"
        w.add(
            "UNH",
            msgref,
            ("PAXLST", "D", version, "UN", "IATA"),
            flight_ref,
            (part, "F" if part_no == n_parts else "C"),
        )
        w.add("BGM", m.document_code, m.function)
        if m.transaction_ref:
            w.add("RFF", ("TN", m.transaction_ref, "", "", "1"))
        if m.reporting_party:
            w.add("NAD", "MS", None, None, m.reporting_party)
        w.add("TDT", "20", f"{carrier}{first.number}", None, None, carrier)
        _paxlst_legs(w, m.legs)
        for t in chunk:
            opened = len(w.segs)
            _paxlst_traveller(w, t)
            if "unreadable_values" in w.habits:
                _unreadable(w, opened, unreadable_field(position))
            position += 1
        if part_no == n_parts:
            if crew and m.declared_crew is not None:
                w.add("CNT", ("41", str(m.declared_crew)))
            elif m.declared_passengers is not None:
                w.add("CNT", ("42", str(m.declared_passengers)))
            elif m.declared_crew is not None:
                w.add("CNT", ("41", str(m.declared_crew)))
        w.add("UNT", str(len(w.segs) - start + 1), msgref)
    w.add("UNE", str(n_parts), "1")
    w.add("UNZ", "1", icref)
    stamp = f"{prepared.day:02d}{prepared.hour:02d}{prepared.minute:02d}"
    return _finish(style, w.segs, w.term, ("JPNAPXS", f"{carrier}APXS", stamp))


def _paxlst_legs(w: _Writer, legs: Any) -> None:
    """``LOC 125``/``87`` and ``DTM 189``/``232`` per leg, or as a habit asks."""
    habits = w.habits
    dep_q, arr_q = ("92", "92") if "loc92" in habits else ("125", "87")
    for leg in legs:
        if "arrival_only" not in habits:
            w.add("LOC", dep_q, leg.departure_airport)
            if leg.scheduled_departure is not None:
                w.add("DTM", ("189", _stamp(leg.scheduled_departure), "201"))
        if "departure_only" not in habits:
            w.add("LOC", arr_q, leg.arrival_airport)
            if leg.scheduled_arrival is not None:
                w.add("DTM", ("232", _stamp(leg.scheduled_arrival), "201"))


def _paxlst_traveller(w: _Writer, t: Any) -> None:
    # Hot path: segments are built directly; only data values are escaped.
    c, e, tb = w.comp, w.elem, w.table
    segs = w.segs
    add = segs.append
    given = t.given_names
    name = t.surname.translate(tb) + (c + given.translate(tb) if given else "")
    a = t.address
    if a is not None:
        tail = [name] + [
            (v or "").translate(tb)
            for v in (a.street, a.city, a.subdivision, a.postcode, a.country)
        ]
        while tail and tail[-1] == "":
            tail.pop()
        add(f"NAD{e}{_ROLE_CODES[t.role]}{e}{e}{e}" + e.join(tail))
    else:
        add(f"NAD{e}{_ROLE_CODES[t.role]}{e}{e}{e}{name}")
    if t.sex:
        add(f"ATT{e}2{e}{e}{t.sex}")
    if t.date_of_birth is not None:
        add(f"DTM{e}329{c}{_yymmdd(t.date_of_birth)}")
    if t.checked_bags is not None:
        add(f"MEA{e}CT{e}{e}{c}{t.checked_bags}")
    if t.bag_weight_kg is not None:
        add(f"MEA{e}WT{e}{e}KGM{c}{t.bag_weight_kg:g}")
    if t.verified is not None:
        add(f"GEI{e}4{e}{'173' if t.verified else '174'}")
    for qual, value in (
        (178, t.embarkation),
        (179, t.debarkation),
        (174, t.country_of_residence),
        (180, t.place_of_birth),
    ):
        if value:
            add(f"LOC{e}{qual}{e}{value.translate(tb)}")
    if t.nationality:
        add(f"NAT{e}2{e}{t.nationality}")
    for ref, value in (
        ("AVF", t.record_locator),
        ("ABO", t.passenger_reference),
        ("SEA", t.seat),
        ("CR", t.frequent_flyer),
    ):
        if value:
            add(f"RFF{e}{ref}{c}{value.translate(tb)}")
    for d in t.documents:
        add(f"DOC{e}{d.type}{c}110{c}111{e}{d.number.translate(tb)}")
        if d.expiry_date is not None:
            add(f"DTM{e}36{c}{_yymmdd(d.expiry_date)}")
        if d.issue_date is not None:
            add(f"DTM{e}182{c}{_yymmdd(d.issue_date)}")
        if d.issuing_country:
            add(f"LOC{e}91{e}{d.issuing_country.translate(tb)}")


def _unreadable(w: _Writer, first: int, field: str | None) -> None:
    """Write the traveller's birth date or sex (segments from ``first``) as no reader can read."""
    e, c = w.elem, w.comp
    head, value = {
        "date_of_birth": (f"DTM{e}329{c}", UNREADABLE_DATE),
        "sex": (f"ATT{e}2{e}{e}", UNREADABLE_SEX),
    }.get(field or "", ("", ""))
    if not head:
        return
    for k in range(first, len(w.segs)):
        if w.segs[k].startswith(head):
            w.segs[k] = head + value
            return


def render_pnrgov(message: PnrgovMessage, style: RenderStyle = DEFAULT_STYLE) -> str:
    """Render one PNRGOV push for one flight as EDIFACT text.

    Args:
        message: the push; ``push_type`` ``full`` writes ``MSG+:22``, ``changed`` ``MSG+:141``.
        style: layout; :data:`DEFAULT_STYLE` is tidy.

    Returns:
        The interchange text (``UNA`` ... ``UNZ``), split into ``style.parts`` messages.

    Raises:
        UsageError: when the message's version is not a PNRGOV version this writer knows.
    """
    return pnrgov_text(message, style)


def _tvl(w: _Writer, leg: Any, with_class: bool) -> None:
    dep, arr = leg.scheduled_departure, leg.scheduled_arrival
    cls = getattr(leg, "booking_class", None) if with_class else None
    key = (
        "TVL",
        leg.departure_airport,
        leg.arrival_airport,
        leg.carrier,
        leg.number,
        dep,
        arr,
        cls,
    )
    seg = w.cache.get(key)
    if seg is None:
        c, e = w.comp, w.elem
        day = w.pdate
        when = c.join((day(dep) or "", _hhmm(dep) or "", day(arr) or "", _hhmm(arr) or "")).rstrip(
            c
        )
        number = leg.number + (c + cls if cls else "")
        seg = f"TVL{e}{when}{e}{leg.departure_airport}{e}{leg.arrival_airport}{e}{leg.carrier}{e}{number}"
        w.cache[key] = seg
    w.segs.append(seg)


def pnrgov_text(msg: Any, style: RenderStyle) -> str:
    """Render from any object with PnrgovMessage's attributes (the world passes light views)."""
    version = _PNRGOV_VERSIONS.get(msg.version)
    if version is None:
        raise UsageError(
            f"unknown PNRGOV version {msg.version!r} (use one of {sorted(_PNRGOV_VERSIONS)})"
        )
    w = _Writer(style)
    f = msg.flight
    carrier = f.carrier
    dep = f.scheduled_departure
    prepared = msg.prepared or dep or dt.datetime(2000, 1, 1)
    sender = msg.sender or carrier
    recipient = msg.recipient or "JPNPNR"
    icref = msg.interchange_ref or f"{carrier}{f.number}{_ddmmyy(prepared)}{_hhmm(prepared)}"
    msgref = msg.message_ref
    flight_ref = f"{carrier}{int(f.number.rstrip('ABCDEFGHIJKLMNOPQRSTUVWXYZ') or 0):04d}/{_ddmmyy(dep) or ''}/{_hhmm(dep) or ''}"
    w.add("UNB", ("IATA", "1"), sender, recipient, (_yymmdd(prepared), _hhmm(prepared)), icref)
    chunks = _split(tuple(msg.bookings), style.parts)
    n_parts = len(chunks)
    msg_code = "141" if msg.push_type == "changed" else "22"
    for part_no, chunk in enumerate(chunks, start=1):
        start = len(w.segs)
        if n_parts > 1:
            w.add(
                "UNH",
                msgref,
                ("PNRGOV", version[0], version[1], "IA"),
                flight_ref,
                (f"{part_no:02d}", "F" if part_no == n_parts else "C"),
            )
        else:
            w.add("UNH", msgref, ("PNRGOV", version[0], version[1], "IA"), flight_ref)
        w.add("MSG", ("", msg_code))
        w.add("ORG", (carrier,) if "short_org_add" in w.habits else (carrier, f.departure_airport))
        _tvl(w, f, with_class=False)
        w.add("EQN", str(len(chunk)))
        for b in chunk:
            _pnr_booking(w, b, style)
        w.add("UNT", str(len(w.segs) - start + 1), msgref)
    w.add("UNZ", str(n_parts), icref)
    stamp = f"{prepared.day:02d}{prepared.hour:02d}{prepared.minute:02d}"
    return _finish(style, w.segs, w.term, ("JPNPNXS", f"{carrier}PNXS", stamp))


def _pnr_booking(w: _Writer, b: Any, style: RenderStyle) -> None:
    # Hot path: segments are built directly; only data values are escaped.
    c, e, tb = w.comp, w.elem, w.table
    add = w.segs.append
    carrier = b.carrier or (b.itinerary[0].carrier if b.itinerary else "YY")
    add("SRC")
    created = b.created
    habits = w.habits
    if habits:
        _rci_dat(w, b, carrier)
    else:
        add(
            f"RCI{e}{carrier}{c}{b.record_locator.translate(tb)}{c}{c}{_ddmmyy(created) or ''}{c}{_hhmm(created) or ''}".rstrip(
                c
            )
        )
        lt = b.last_transaction
        if lt is not None:
            add(f"DAT{e}700{c}{_ddmmyy(lt)}{c}{_hhmm(lt)}")
    ag = b.agency
    key = (
        ("ORG", ag.airline, ag.location, ag.agency_id, ag.kind, ag.country, ag.currency)
        if ag
        else ()
    )
    cached = w.cache.get(key) if ag is not None else None
    if cached is not None:
        add(cached)
    elif ag is not None:
        if ag.agency_id or ag.kind or ag.country or ag.currency:
            w.add(
                "ORG",
                (ag.airline, ag.location),
                (ag.agency_id, ag.location) if ag.agency_id else None,
                None,
                None,
                ag.kind,
                (ag.country, ag.currency) if (ag.country or ag.currency) else None,
            )
        else:
            w.add("ORG", (ag.airline, ag.location))
        w.cache[key] = w.segs[-1]
    per_traveller: dict[str, list[Any]] = {}
    ift28 = f"IFT{e}4{c}28{c}{c}{carrier}{e}"
    for ct in b.contacts:
        if ct.traveller_ref is None:
            if ct.kind == "phone":
                add(ift28 + ("CTCM " + ct.value).translate(tb))
            elif ct.kind == "email":
                add(ift28 + ("CTCE " + encode_email(ct.value)).translate(tb))
            else:
                lead = e if "short_org_add" in habits else e + e  # the empty element left out
                add(f"ADD{lead}700{c}" + ct.value.translate(tb))
        else:
            per_traveller.setdefault(ct.traveller_ref, []).append(ct)
    tickets: dict[str | None, list[Any]] = {}
    for tk in b.tickets:
        tickets.setdefault(tk.traveller_ref, []).append(tk)
    ssr = f"{c}HK{c}1{c}{carrier}{c}{c}{c}{c}{c}"
    paid = False
    infants = _infants_under_adult(b, per_traveller) if "infant_docs" in habits else {}
    for t in b.travellers:
        if infants.get(t.ref) == []:
            continue  # an infant written under the adult's TIF
        given = t.given_names or ""
        if t.title:
            given = given + t.title if style.title_glued else (given + " " + t.title).strip()
        add(
            f"TIF{e}{t.surname.translate(tb)}{e}{given.translate(tb)}{c}{t.passenger_type or 'A'}{c}{t.ref.translate(tb)}"
        )
        if t.frequent_flyer:
            add(f"FTI{e}{carrier}{c}{t.frequent_flyer.translate(tb)}")
        if habits:
            _docs_with_habits(w, t, ssr, infants.get(t.ref, ()))
        else:
            for d in t.documents:
                fields = [
                    "",
                    d.type,
                    d.issuing_country or "",
                    d.number,
                    t.nationality or "",
                    _ddmmmyy(t.date_of_birth),
                    t.sex or "",
                    _ddmmmyy(d.expiry_date),
                    t.surname,
                    *(t.given_names or "").split(" ", 1),
                ]
                add(f"SSR{e}DOCS{ssr}" + "/".join(fields).translate(tb))
        for ct in per_traveller.get(t.ref, ()):
            if ct.kind == "phone":
                add(f"SSR{e}CTCM{ssr}/" + ct.value.translate(tb))
            elif ct.kind == "email":
                add(f"SSR{e}CTCE{ssr}/" + encode_email(ct.value).translate(tb))
            else:
                add(f"SSR{e}DOCA{ssr}/" + ct.value.translate(tb))
        for tk in tickets.get(t.ref, ()):
            add(f"TKT{e}{tk.number.translate(tb)}{c}{tk.type or 'T'}{c}1")
        for infant in infants.get(t.ref, ()):  # an infant's ticket goes with its adult's
            for tk in tickets.get(infant.ref, ()):
                add(f"TKT{e}{tk.number.translate(tb)}{c}{tk.type or 'T'}{c}1")
        if not paid:
            paid = True
            _payments(w, b)
    if not paid:
        _payments(w, b)
    for leg in b.itinerary:
        _tvl(w, leg, with_class=True)


def _rci_dat(w: _Writer, b: Any, carrier: str) -> None:
    """RCI and DAT as the style's habits write them (rci_*, stamp_glued, dates_*)."""
    c, e, habits = w.comp, w.elem, w.habits
    created, lt = b.created, b.last_transaction
    locator = f"RCI{e}{carrier}{c}{b.record_locator.translate(w.table)}"
    day, clock = _ddmmyy(created) or "", _hhmm(created) or ""
    if "rci_absent" in habits or created is None:
        w.segs.append(locator)
    elif "stamp_glued" in habits:
        w.segs.append(f"{locator}{c}{c}{day}{clock}")
    elif "rci_shifted" in habits:
        w.segs.append(f"{locator}{c}{day}{c}{clock}")
    else:
        w.segs.append(f"{locator}{c}{c}{day}{c}{clock}")
    if lt is not None:
        glue = "" if "stamp_glued" in habits else c
        w.segs.append(f"DAT{e}700{c}{w.pdate(lt)}{glue}{_hhmm(lt)}")


def _infants_under_adult(b: Any, contacts: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Infants whose DOCS the ``infant_docs`` habit writes under the booking's first adult.

    Returns the adult's ref -> its infants, and each infant's ref -> ``[]`` (its TIF is left
    out). Only
    an infant with a document, a sex M or F and nothing else of its own to say (frequent
    flyer, contacts) qualifies; its title is lost, as DOCS has no place for one.
    """
    adult = next((t for t in b.travellers if t.passenger_type != "IN" and t.documents), None)
    if adult is None:
        return {}
    moved = [
        t
        for t in b.travellers
        if t.passenger_type == "IN"
        and t.documents
        and t.sex in ("M", "F")
        and t.date_of_birth is not None
        and not t.frequent_flyer
        and not contacts.get(t.ref)
    ]
    if not moved:
        return {}
    out: dict[str, list[Any]] = {adult.ref: moved}
    out.update({t.ref: [] for t in moved})
    return out


def _docs_with_habits(w: _Writer, t: Any, ssr: str, infants: Any) -> None:
    """SSR DOCS of a traveller, and of the infants under it, as the style's habits write them."""
    e, tb = w.elem, w.table
    shaped = "docs_items" in w.habits
    for person, sex_code in ((t, None), *((i, i.sex + "I") for i in infants)):
        for d in person.documents:
            items = (
                d.type,
                d.issuing_country or "",
                d.number,
                person.nationality or "",
                person.date_of_birth,
                sex_code or person.sex or "",
                d.expiry_date,
                person.surname,
                person.given_names or "",
            )
            if shaped:
                text = docs_text(items, w.turn)
                w.turn += 1
            else:
                text = "/" + "/".join(
                    [
                        *items[:4],
                        _ddmmmyy(items[4]),
                        items[5],
                        _ddmmmyy(items[6]),
                        items[7],
                        *items[8].split(" ", 1),
                    ]
                )
            w.segs.append(f"SSR{e}DOCS{ssr}" + text.translate(tb))


def _trimmed(sep: str, parts: list[str]) -> str:
    """Join already-escaped parts, dropping trailing empty ones (never cutting a released char)."""
    while parts and parts[-1] == "":
        parts.pop()
    return sep.join(parts)


def _payments(w: _Writer, b: Any) -> None:
    c, e, tb = w.comp, w.elem, w.table
    for p in b.payments:
        parts = [p.form, "", w.amount(p.amount) or ""]
        if p.masked_card or p.card_vendor:
            parts += [
                (v or "").translate(tb) for v in (p.card_vendor, p.masked_card, p.card_expiry)
            ]
        w.segs.append(f"FOP{e}" + _trimmed(c, parts))
        if p.payer_name or p.payer_phone:
            who = [(v or "").translate(tb) for v in (p.payer_name, p.payer_phone)]
            w.segs.append(f"IFT{e}4{c}43{e}" + _trimmed(e, who))
