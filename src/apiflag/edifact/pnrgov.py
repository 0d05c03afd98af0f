"""PNRGOV (PNR push) messages to :class:`~apiflag.records.PnrgovMessage` records.

One tolerant reader for PNRGOV 10.1, 11.1, 13.1 and 15.1. The reader is a small state
machine over the segment groups of MESSAGES.md rather than a strict grammar, because real
pushes put segments where the guide does not (GTAS saw IFT after TKT in production):

* level 0: ``MSG`` (``:22`` full push, ``:141`` changed PNRs), ``ORG``, ``TVL`` (the pushed
  flight), ``EQN`` (number of PNRs);
* ``SRC`` opens a booking: ``RCI`` (carrier, record locator, creation date), ``DAT`` 700
  (last transaction), ``ORG`` (the booking's agency), booking-level ``IFT 4:28`` contacts,
  ``ADD``, ``SSR``;
* ``TIF`` opens a traveller: ``FTI``, ``SSR`` (DOCS, DOCO, DOCA, CTCE, CTCM, INFT), ``ADD``,
  ``TKT``; ``FOP`` (one payment per element) with ``IFT 4:43`` (card holder / payer name and
  phone) and ``ADD`` (billing address) after it;
* ``TVL`` in a booking is an itinerary leg (dates ``DDMMYY``; a leg without an arrival date
  that lands before it leaves arrives the next day, or after the ``date variation``
  component's days), with ``RPI`` status, seat ``SSR``, check-in ``DAT``/``TRI``/``TIF``,
  ``SSD`` seat and ``TBD`` bags;
* ``EQN`` + ``RCI`` inside a booking list split PNRs; ``MSG`` + ``TVL`` inside a booking are
  non-air services and ``ABI``/``SAC`` history: neither becomes an itinerary leg.

Habits of other senders read as they come: ``RCI`` with the creation date and time in other
components, as one ``DDMMYYHHMM`` value, or absent; ``DAT`` and ``TVL`` dates of six, seven,
eight or nine characters (``DDMMYY``, ``DDMMMYY``, ``DDMMCCYY``, ``DDMMMCCYY``); ``ORG`` with only
the airline; ``ADD`` with fewer components or without its empty first element. SSR DOCS free
text is re-aligned on its birth date and sex when a sender wrote too many slashes (empty items
are kept where they are: ``/////21APR66/M//SURNAME/GIVEN``) or too few (document type, number
and countries told apart by their shape). An infant's DOCS (sex ``FI``/``MI``) on an adult's TIF
adds the infant and never renames the adult; another infant's DOCS adds another infant.

Names: DOCS names win over TIF names. Titles (MR, MRS, MS, MISS, MSTR, DR) are taken off the
TIF given name whether spaced (``YUKI MS``) or glued (``PIMCHANOKMS``); a glued title is only
removed when DOCS confirms the name without it, or, without DOCS, when the name is not one of
the given names that end in those letters (ALEKSANDR, WILLIAMS, ...).

Loss, the PAXLST way (:mod:`.loss`): a value that cannot be read (a DOCS/DOCO/INFT date, sex,
nationality or issuing country; an RCI, DAT 700 or TVL date or time) is null, with a
``W_BAD_VALUE`` warning naming segment, field and the value's class (never the value), and its
field in ``degraded``: the traveller's own (``sex``, ``nationality``, ``date_of_birth``,
``documents``), or, for a booking's value, every traveller of the booking (``booking_created``,
``last_transaction``, ``itinerary``). A DOCS whose surname is not the TIF's (items missing or
extra before the names) is warned about and the TIF names are kept. A booking is quarantined
only when it cannot be read at all (no RCI record locator, a TIF without a surname, a leg
without a flight number, the file ending inside it); a message without a readable level-0 TVL
flight is quarantined whole and the file's other messages load.

Sensitive SSRs and free text are dropped and counted (see :mod:`.sensitive`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from apiflag.edifact import dates
from apiflag.edifact.loss import RecordLoss, degrade, lose_value, value_class, value_warning
from apiflag.edifact.paxlst import prepared_at
from apiflag.edifact.sensitive import CONTACT_PHONE_CODES, KEPT_SSR_CODES, DropLog
from apiflag.edifact.tokenizer import Interchange, Message, Segment
from apiflag.errors import ParseError
from apiflag.records import (
    Address,
    Agency,
    Bag,
    Contact,
    Document,
    FlightLeg,
    ItineraryLeg,
    Payment,
    PnrBooking,
    PnrgovMessage,
    PnrTraveller,
    Seat,
    Ticket,
    describe_validation_error,
)

__all__ = ["TITLES", "decode_email", "parse_pnrgov", "same_name", "split_title"]

#: titles taken off given names, longest first so MRS wins over MR
TITLES = ("MSTR", "MISS", "MRS", "MR", "MS", "DR")

#: given names that end in a title's letters: never cut without DOCS to confirm
_TITLE_LOOKALIKES = frozenset(
    {
        "ALEKSANDR", "ALEXANDR", "ALIAKSANDR", "OLEKSANDR", "ISKANDR", "ISKENDR", "WILLIAMS",
        "ADAMS", "WILLIAMSMR", "ABRAHAMS", "EPHRAIMS", "JIMS", "SAMS", "TOMS", "HIRAMS",
        "VLADIMR", "CHIDR", "KADR", "KHIDR", "KHUDR", "BADR", "NADR", "QADR", "SADR", "SAMR",
        "AMR", "OMR", "TAMR", "ZAMR", "ELMS", "MS", "MR", "DR",
    }
)  # fmt: skip

_PHONE = re.compile(r"\+?\d[\d\s\-./()]{4,}\d")
_NUMBER = re.compile(r"0*([1-9][0-9]{0,3}[A-Z]?)")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_PAX_ASSOCIATION = re.compile(r"-\d+[A-Z].*$")
_NON_DIGIT = re.compile(r"\D")
STATUS_COUNT = re.compile(r"[A-Z]{2}\d+")
_FORM = re.compile(r"[A-Z]{2}")
DDMMMYY_RE = re.compile(r"\d{2}[A-Z]{3}\d{2}(?:\d{2})?")
DATE_SHAPE = re.compile(r"\d{6}(?:\d{2}|\d{4}|\d{6})?|\d{2}[A-Z]{3}\d{2}(?:\d{2})?")
QUIET_SEGMENTS = frozenset({"REF", "FAR", "MON", "PTK", "TXD", "APD", "TRA", "EBD", "ERC", "SAC"})
PNR_SEX = {"M": "M", "F": "F", "U": "U", "X": "X", "MI": "M", "FI": "F"}
_DOC_TYPE = re.compile(r"[A-Z]{1,3}")


def split_title(given: str, docs_given: str | None = None) -> tuple[str, str | None]:
    """Take a title off a TIF given name.

    Args:
        given: the TIF given name, e.g. ``"YUKI MS"`` or ``"PIMCHANOKMS"``.
        docs_given: the DOCS given (and middle) names, when the traveller has DOCS.

    Returns:
        ``(given names without the title, title or None)``.
    """
    g = " ".join(given.split()).upper()
    if not g:
        return "", None
    tokens = g.split(" ")
    if len(tokens) > 1 and tokens[-1] in TITLES:
        return " ".join(tokens[:-1]), tokens[-1]
    last = tokens[-1]
    docs = " ".join(docs_given.split()).upper() if docs_given else None
    docs_tokens = docs.split(" ") if docs else []
    for title in TITLES:
        if not last.endswith(title) or len(last) - len(title) < 2:
            continue
        stem = last[: -len(title)]
        candidate = " ".join([*tokens[:-1], stem])
        if docs is not None:
            if last in docs_tokens or g == docs:
                return g, None  # DOCS spells the name with those letters
            joined = docs.replace(" ", "")
            if (
                candidate == docs
                or stem in docs_tokens
                or joined.startswith(candidate.replace(" ", ""))
            ):
                return candidate, title
        if last in _TITLE_LOOKALIKES:
            return g, None
        return candidate, title
    return g, None


def decode_email(text: str) -> str:
    """Restore an e-mail from PNR contact text (``//`` is ``@``, ``..`` is ``_``, ``./`` is ``-``).

    Args:
        text: the value after ``CTCE`` (a leading ``/``, a ``-1SURNAME`` passenger association
            and a ``/EN`` language suffix are removed).

    Returns:
        The address, e.g. ``YUKI_SATO@EXAMPLE.JP``.
    """
    t = text.strip().lstrip("/").strip()
    t = t.split(" ")[0] if " " in t else t
    t = t.replace("//", "@").replace("./", "-").replace("..", "_")
    t = _PAX_ASSOCIATION.sub("", t)
    return t.split("/")[0].strip()


def phone_of(text: str) -> str | None:
    t = text.strip().lstrip("/").split("/")[0]
    m = _PHONE.search(t)
    if not m:
        return None
    raw = m.group(0)
    digits = _NON_DIGIT.sub("", raw)
    return ("+" + digits) if raw.startswith("+") else digits


def _build(model: Any, data: dict[str, Any], segment: int, what: str, check: bool = True) -> Any:
    """Validate ``data`` as ``model`` (``check``), or pass the dict on for one bulk validation."""
    if not check:
        return data
    try:
        return model(**data)
    except ValidationError as exc:
        raise ParseError("E_BAD_VALUE", describe_validation_error(exc, what), segment) from None


def stamp_parts(day: str, clock: str) -> tuple[str, str]:
    """Split a date written with its time (``DDMMYYHHMM``) when no time component follows."""
    d = day.strip()
    if not clock and len(d) in (10, 12) and d.isdigit():
        return d[:-4], d[-4:]
    return d, clock


def docs_aligned(f: list[str]) -> list[str]:
    """Re-align DOCS items on the birth date when a sender wrote too many or too few slashes.

    The birth date (``DDMMMYY[YY]`` followed by a sex code) is the anchor: empty items too
    many before it are removed (a doubled slash, the first one from the front, the others from
    the right); with too few items before it, the document type, issuer, number and
    nationality are told apart by their shape. Without an anchor the items stay as sent.
    """
    at = next(
        (i for i in range(len(f) - 1) if f[i + 1] in PNR_SEX and DDMMMYY_RE.fullmatch(f[i])), None
    )
    if at is None or at == 4:
        return f
    head, tail = f[:at], f[at:]
    if at > 4:
        extra = at - 4
        empties = [i for i, x in enumerate(head) if not x]
        if len(empties) < extra:
            return f
        order = ([0] if head[0] == "" else []) + [i for i in reversed(empties) if i != 0]
        drop = set(order[:extra])
        return [x for i, x in enumerate(head) if i not in drop] + tail
    doc_type = head.pop(0) if head and len(head[0]) <= 2 and head[0].isalpha() else ""
    number_at = next((i for i, x in enumerate(head) if any(c.isdigit() for c in x)), None)
    before, after = (head, []) if number_at is None else (head[:number_at], head[number_at + 1 :])
    number = "" if number_at is None else head[number_at]
    return [doc_type, before[0] if before else "", number, after[0] if after else "", *tail]


_NOT_LETTER = re.compile(r"[^A-Z]")


def same_name(docs_surname: str, tif_surname: str) -> bool:
    """Whether a DOCS surname is the TIF's, blanks and hyphens aside, either one cut short."""
    docs = _NOT_LETTER.sub("", docs_surname.upper())
    tif = _NOT_LETTER.sub("", tif_surname.upper())
    return not tif or docs.startswith(tif) or tif.startswith(docs)


def _alpha3(value: str) -> str | None:
    v = value.strip().upper()
    return v if _ALPHA3.fullmatch(v) else None


def _ssr_text(seg: Segment) -> str:
    comps = seg.element(1)
    if len(comps) > 8 and comps[8].strip():
        return comps[8].strip()
    for c in reversed(comps[4:]):
        if c.strip():
            return c.strip()
    rest = [" ".join(c for c in el if c) for el in seg.elements[2:]]
    return " ".join(r for r in rest if r)


#: what a TVL could not read: (component as sent, why), each read as null
LegProblems = tuple[tuple[str, str], ...]

_TVL_CACHE: dict[tuple[str, str, dt.date, str], tuple[dict[str, Any], LegProblems]] = {}


def tvl_leg(seg: Segment, ref: dt.date, what: str) -> tuple[dict[str, Any], LegProblems]:
    """Read a TVL into FlightLeg fields (plus booking_class); a fresh dict on every call.

    The same legs recur in most bookings of a push, so a TVL read once (same text, component
    separator and reference date) is copied, not read again. Segments with released
    characters and failing ones are always read afresh (errors name their own segment).

    Returns:
        The leg, and the dates, times or day variations it read as null (``(value, why)``,
        for the caller's warnings: a cached leg's problems are the same text's).
    """
    if seg.released:
        return _read_tvl(seg, ref, what)
    key = (seg.key, seg.component, ref, what)
    got = _TVL_CACHE.get(key)
    if got is None:
        got = _read_tvl(seg, ref, what)
        if len(_TVL_CACHE) >= 16384:
            _TVL_CACHE.clear()
        _TVL_CACHE[key] = got
    return dict(got[0]), got[1]


def _leg_date(value: str, ref: dt.date, n: int, why: str, problems: list[tuple[str, str]]) -> Any:
    """A leg's date (``DDMMYY`` ...), or None with ``(value, why)`` in ``problems``."""
    try:
        return dates.near(value, ref, n, order="dmy")
    except ParseError:
        problems.append((value, why))
        return None


def _leg_time(value: str, n: int, why: str, problems: list[tuple[str, str]]) -> Any:
    """A leg's ``HHMM`` time, or None with ``(value, why)`` in ``problems``."""
    try:
        return dates.time_of(value, n)
    except ParseError:
        problems.append((value, why))
        return None


def _read_tvl(seg: Segment, ref: dt.date, what: str) -> tuple[dict[str, Any], LegProblems]:
    comps = [c.strip() for c in seg.element(1)]
    n = seg.number
    problems: list[tuple[str, str]] = []
    dep_date = comps[0] if comps else ""
    day = _leg_date(dep_date, ref, n, "is not a departure date", problems)
    rest = comps[1:]
    dep_time = rest.pop(0) if rest and len(rest[0]) == 4 else ""
    arr_date = rest.pop(0) if rest and len(rest[0]) in (6, 7, 8, 9) else ""  # DDMM[M]YY[YY]
    if rest and rest[0] == "" and not arr_date:
        rest.pop(0)
    arr_time = rest.pop(0) if rest and len(rest[0]) == 4 else ""
    v = rest[0].lstrip("-") if rest else ""
    # the date variation follows an arrival time, and nothing follows it
    variation = (
        rest.pop(0) if arr_time and v.isdigit() and len(v) <= 2 and not any(rest[1:]) else ""
    )
    for left in (c for c in rest if c):  # a damaged date or time that fits no place
        problems.append((left, "is not a date, time or day variation of the leg"))
    departure = arrival = None
    if dep_time:
        clock = _leg_time(dep_time, n, "is not a departure time", problems)
        if day is not None and clock is not None:
            departure = dt.datetime.combine(day, clock)
    if arr_time and not any(rest):
        clock = _leg_time(arr_time, n, "is not an arrival time", problems)
        if arr_date:
            aday = _leg_date(arr_date, ref, n, "is not an arrival date", problems)
        else:
            aday = day + dt.timedelta(days=int(variation)) if variation and day else day
        if aday is not None and clock is not None:
            arrival = dt.datetime.combine(aday, clock)
            if not arr_date and not variation and departure is not None and arrival < departure:
                arrival += dt.timedelta(days=1)  # across midnight
    elif not dep_time and day is not None and not any(rest):
        departure = dt.datetime.combine(day, dt.time())
    carrier = seg.get(4, 0).upper()
    e5 = seg.fields(5, 2)
    number = e5[0].upper()
    m = _NUMBER.fullmatch(number)
    if not m:
        raise ParseError(
            "E_BAD_VALUE",
            f"{what} TVL flight number: {value_class(number)} value is not a flight number",
            n,
        )
    leg: dict[str, Any] = {
        "carrier": carrier,
        "number": m.group(1),
        "departure_airport": seg.get(2, 0).upper(),
        "arrival_airport": seg.get(3, 0).upper(),
        "scheduled_departure": departure,
        "scheduled_arrival": arrival,
    }
    if e5[1]:
        leg["booking_class"] = e5[1]
    return leg, tuple(problems)


class _Traveller:
    """One TIF group (or an infant read from SSR INFT / DOCS) before it becomes a record."""

    __slots__ = (
        "data", "degraded", "docs_names", "documents", "infant_of", "passenger_type", "ref",
        "segment", "tif_given", "tif_surname",
    )  # fmt: skip

    def __init__(
        self,
        ref: str,
        segment: int,
        tif_surname: str,
        tif_given: str,
        passenger_type: str | None,
        infant_of: str | None = None,
    ) -> None:
        self.ref = ref
        self.segment = segment
        self.tif_surname = tif_surname
        self.tif_given = tif_given
        self.passenger_type = passenger_type
        self.data: dict[str, Any] = {}
        self.documents: list[tuple[dict[str, Any], int]] = []
        self.docs_names: tuple[str, str | None] | None = None
        self.infant_of = infant_of
        self.degraded: list[str] = []  # fields read as null (see :func:`.loss.lose_value`)


class _Booking:
    """One SRC group before it becomes a record."""

    __slots__ = (
        "bags", "contacts", "data", "degraded", "itinerary", "last", "leg_segments", "lost",
        "payments", "seats", "segment", "splits", "sponsor", "tickets", "tifs", "travellers",
    )  # fmt: skip

    def __init__(self, segment: int) -> None:
        self.segment = segment
        self.last = segment  # number of the booking's last segment so far
        self.tifs = 0  # travellers' TIFs seen (a quarantined booking counts them)
        self.lost: ParseError | None = None  # why the booking cannot be read, if it cannot
        self.data: dict[str, Any] = {}
        self.travellers: list[_Traveller] = []
        self.contacts: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.tickets: list[dict[str, Any]] = []
        self.itinerary: list[dict[str, Any]] = []
        self.leg_segments: list[int] = []
        self.bags: list[dict[str, Any]] = []
        self.seats: list[dict[str, Any]] = []
        self.splits: list[str] = []
        self.sponsor: dict[str, Any] = {}
        #: booking values read as null (created, itinerary ...): degraded in each traveller
        self.degraded: list[str] = []

    def degraded_of(self, t: _Traveller) -> tuple[str, ...]:
        """A traveller's ``degraded``: the booking's lost values, then the traveller's own."""
        if not self.degraded:
            return tuple(t.degraded)
        out = list(self.degraded)
        for name in t.degraded:
            degrade(out, name)
        return tuple(out)

    def traveller(self, ref: str) -> _Traveller | None:
        return next((t for t in self.travellers if t.ref == ref), None)

    def add_contact(self, kind: str, value: str | None, ref: str | None, source: str) -> None:
        if not value:
            return
        item = {"kind": kind, "value": value, "traveller_ref": ref, "source": source}
        if item not in self.contacts:
            self.contacts.append(item)


@dataclass
class _Part:
    message_ref: str
    version: str
    common_access_ref: str | None
    part: int | None
    final: bool | None
    first_segment: int
    push_type: str = "full"
    flight: dict[str, Any] | None = None
    flight_segment: int = 0
    declared_bookings: int | None = None
    bookings: list[Any] = field(default_factory=list)
    reader: Any = None
    truncated: bool = False  # the file ends inside it: its last booking was quarantined
    last_segment: int = 0  # number of its last segment (UNT, else its last body segment)
    bad_flight: ParseError | None = None  # why its level-0 TVL flight cannot be read


class _Reader:
    """State machine over one message's body."""

    def __init__(self, ref: dt.date, drops: DropLog, warnings: list[str], part: _Part) -> None:
        self.part = part
        self.ref = ref
        self.drops = drops
        self.warnings = warnings
        self.booking: _Booking | None = None
        self.traveller: _Traveller | None = None
        self.section = "header"
        self.fop: list[dict[str, Any]] = []
        self.checkin_ref: str | None = None
        self.unknown: Counter[str] = Counter()
        self.bookings: list[_Booking] = []
        self.kept: list[_Booking] = []  # the bookings read, in the order of part.bookings
        self.lost: list[RecordLoss] = []  # the bookings quarantined

    # ------------------------------------------------------------------ helpers
    def _target(self, seg: Segment) -> _Traveller | None:
        """The traveller an SSR belongs to: its reference element, else the open TIF."""
        b = self.booking
        assert b is not None
        ref = seg.get(2, 2)
        if ref:
            found = b.traveller(ref)
            if found is not None:
                return found
        if self.section in ("traveller", "fop") and self.traveller is not None:
            return self.traveller
        if len(b.travellers) == 1:
            return b.travellers[0]
        return None

    def _contact_line(self, text: str, ref: str | None, source: str) -> bool:
        """Read ``CTCx value``; return False when the text is not a contact."""
        b = self.booking
        assert b is not None
        t = text.strip()
        code = t[:4].upper()
        value = t[4:].strip()
        if code == "CTCE":
            b.add_contact("email", decode_email(value), ref, "CTCE")
            return True
        if code in CONTACT_PHONE_CODES:
            b.add_contact("phone", phone_of(value), ref, code)
            return True
        if code == "CTCA":
            b.add_contact("address", value.lstrip("/") or None, ref, "CTCA")
            return True
        return False

    # ------------------------------------------------------------------ segments
    def segment(self, seg: Segment) -> None:
        tag = seg.tag
        handler = _HANDLERS.get(tag)
        if self.booking is None:
            if tag in ("SRC", "MSG", "ORG", "TVL", "EQN") and handler is not None:
                handler(self, seg)
            elif tag in ("SSR", "IFT", "LTS"):
                self._drop_free(seg)
            elif tag not in QUIET_SEGMENTS and tag != "DAT":
                self.unknown[tag] += 1
            return
        if tag == "SRC":
            self._src(seg)
            return
        booking = self.booking
        booking.last = seg.number
        booking.tifs += tag == "TIF" and self.section not in ("leg", "checkin")
        try:
            self._in_booking(seg, tag, handler)
        except ParseError as exc:  # the booking is quarantined; the rest of the file loads
            if booking.lost is None:
                booking.lost = exc

    def _in_booking(
        self, seg: Segment, tag: str, handler: Callable[[_Reader, Segment], None] | None
    ) -> None:
        if self.section in ("nonair", "history") and tag not in ("SRC", "EQN", "MSG", "ABI", "LTS"):
            if tag in ("SSR", "IFT"):
                self._drop_free(seg)
            return  # non-air services and PNR history never become bookings' data
        if handler is None:
            if tag not in QUIET_SEGMENTS:
                self.unknown[tag] += 1
            return
        handler(self, seg)

    def _drop_free(self, seg: Segment) -> None:
        if seg.tag == "SSR":
            self.drops.drop(seg.get(1, 0).upper())
        elif seg.tag == "IFT":
            q = ":".join(c.strip() for c in seg.element(1) if c.strip())
            self.drops.drop("OSI" if q.startswith("4:28") else f"IFT:{q or '?'}")
        else:
            self.drops.drop(seg.tag)

    def _msg(self, seg: Segment) -> None:
        if self.booking is None:
            code = seg.get(1, 1) or seg.get(1, 0)
            self.part.push_type = "changed" if code == "141" else "full"
        else:
            self.section = "nonair"

    def _org(self, seg: Segment) -> None:
        if self.booking is None or self.section != "booking":
            return  # sender (level 0) or check-in agent: not the booking's originator
        e1, e6 = seg.fields(1, 2), seg.fields(6, 2)
        agency = {
            "airline": e1[0] or None,
            "location": e1[1] or None,
            "agency_id": seg.get(2, 0) or None,
            "kind": seg.get(5, 0) or None,
            "country": e6[0] or None,
            "currency": e6[1] or None,
        }
        if any(agency.values()):
            self.booking.data["agency"] = agency

    def _tvl(self, seg: Segment) -> None:
        if self.booking is None:
            if self.part.flight is None:
                try:
                    leg, problems = tvl_leg(seg, self.ref, "flight")
                except ParseError as exc:
                    self.part.bad_flight = exc  # the message is quarantined (see _join)
                    return
                leg.pop("booking_class", None)
                self.part.flight = leg
                self.part.flight_segment = seg.number
                for value, why in problems:  # on no traveller's row: warned, not degraded
                    self.warnings.append(value_warning(seg.number, "TVL", "flight", value, why))
            return
        b = self.booking
        self.section = "leg"  # also when the leg cannot be read: TIFs after it are check-ins
        self.traveller = None
        self.checkin_ref = None
        leg, problems = tvl_leg(seg, self.ref, "itinerary")
        for value, why in problems:
            lose_value(self.warnings, b.degraded, seg.number, "TVL", "itinerary", value, why)
        b.itinerary.append(leg)
        b.leg_segments.append(seg.number)

    def _eqn(self, seg: Segment) -> None:
        if self.booking is None:
            n = seg.get(1, 0)
            self.part.declared_bookings = int(n) if n.isdigit() else None
        else:
            self.section = "split"

    def _src(self, seg: Segment) -> None:
        self.booking = _Booking(seg.number)
        self.bookings.append(self.booking)
        self.section = "booking"
        self.traveller = None
        self.fop = []

    def _rci(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        if self.section == "split":
            for comps in seg.elements[1:]:
                if len(comps) > 1 and comps[1].strip():
                    b.splits.append(comps[1].strip())
            return
        if "record_locator" in b.data:
            return  # another carrier's locator (codeshare) or operating-carrier RCI
        e1 = seg.fields(1, 5)
        b.data["carrier"] = e1[0] or None
        b.data["record_locator"] = e1[1]
        day, clock = e1[3], e1[4]
        if not DATE_SHAPE.fullmatch(day):  # senders move the date (``ABC123:201026:1405``)
            at = next((i for i in range(2, len(e1)) if DATE_SHAPE.fullmatch(e1[i])), None)
            if at is not None:
                day, clock = e1[at], e1[at + 1] if at + 1 < len(e1) else ""
            elif not day:  # no date anywhere, but something in its place: a damaged date
                day = next((c for c in e1[3:] if c), "")
        if day:
            day, clock = stamp_parts(day, clock)
            b.data["created"] = self._stamp(seg, b, "RCI", "booking_created", day, clock)

    def _dat(self, seg: Segment) -> None:
        b = self.booking
        if b is None:
            return
        if self.section in ("leg", "checkin"):
            if b.itinerary:
                b.itinerary[-1]["checked_in"] = True
            self.section = "checkin"
            return
        for comps in seg.elements[1:]:
            q = comps[0].strip() if comps else ""
            if q == "700" and len(comps) > 1 and comps[1].strip():
                day, clock = stamp_parts(comps[1], comps[2].strip() if len(comps) > 2 else "")
                b.data["last_transaction"] = self._stamp(
                    seg, b, "DAT+700", "last_transaction", day, clock
                )

    def _stamp(
        self, seg: Segment, b: _Booking, tag: str, field: str, day: str, clock: str
    ) -> dt.datetime | None:
        """A booking's date and time (``DDMMYY`` + ``HHMM``), or None with its warning."""
        try:
            date = dates.near(day, self.ref, seg.number, order="dmy")
        except ParseError:
            lose_value(self.warnings, b.degraded, seg.number, tag, field, day, "is not a date")
            return None
        try:
            return dt.datetime.combine(
                date, dates.time_of(clock, seg.number) if clock else dt.time()
            )
        except ParseError:
            lose_value(self.warnings, b.degraded, seg.number, tag, field, clock, "is not a time")
            return None

    def _tif(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        e1, e2 = seg.fields(1, 2), seg.fields(2, 3)
        surname = e1[0].upper()
        given = e2[0].upper()
        ptype = e2[1].upper() or None
        ref = e2[2]
        if ptype is None and e1[1].upper() == "I":
            ptype = "IN"
        if self.section in ("leg", "checkin"):
            found = b.traveller(ref) if ref else None
            if found is None:
                found = next(
                    (t for t in b.travellers if t.tif_surname == surname and t.tif_given == given),
                    None,
                )
            if found is None:
                self.warnings.append(
                    f"segment {seg.number}: W_UNKNOWN_TRAVELLER: check-in TIF {surname} "
                    f"matches no traveller of booking {b.data.get('record_locator')}"
                )
            self.checkin_ref = found.ref if found else None
            return
        if not surname:
            raise ParseError("E_BAD_VALUE", "TIF has no surname", seg.number)
        if not ref:
            ref = str(len(b.travellers) + 1)
            while b.traveller(ref) is not None:
                ref += "'"
        t = _Traveller(ref, seg.number, surname, given, ptype)
        b.travellers.append(t)
        self.traveller = t
        self.section = "traveller"

    def _fti(self, seg: Segment) -> None:
        if self.traveller is not None and self.section == "traveller":
            number = seg.get(1, 1)
            if number:
                self.traveller.data["frequent_flyer"] = number

    def _tkt(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        e1 = seg.fields(1, 2)
        number = e1[0]
        if number:
            b.tickets.append(
                {
                    "number": number,
                    "type": e1[1] or None,
                    "traveller_ref": self.traveller.ref if self.traveller else None,
                }
            )
        if self.section == "fop":
            self.section = "traveller"

    def _fop(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        self.fop = []
        for comps in seg.elements[1:]:
            form = comps[0].strip().upper()
            if not form:
                continue
            c = [x.strip() for x in comps] + [""] * 6
            if not _FORM.fullmatch(form):
                self.warnings.append(
                    f"segment {seg.number}: W_BAD_VALUE: FOP forms_of_payment: "
                    f"{value_class(form)} value is not a form of payment; read as MS"
                )
                form = "MS"
            amount = None
            if c[2]:
                try:
                    amount = float(c[2].replace(",", "."))
                except ValueError:
                    self.warnings.append(
                        value_warning(seg.number, "FOP", "amount", c[2], "is not a number")
                    )
            payment = {
                "form": form,
                "amount": amount,
                "card_vendor": c[3] or None,
                "masked_card": c[4] or None,
                "card_expiry": c[5] or None,
            }
            b.payments.append(payment)
            self.fop.append(payment)
        self.section = "fop"

    def _ift(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        q = ":".join(c.strip() for c in seg.element(1)[:2] if c.strip())
        raw_lines = [" ".join(c.strip() for c in el if c.strip()) for el in seg.elements[2:]]
        lines = [x for x in raw_lines if x]
        if q == "4:43":
            name = raw_lines[0] if raw_lines and raw_lines[0] else None
            phone = next((p for p in map(phone_of, raw_lines[1:]) if p), None)
            if self.section == "fop" and self.fop:
                for p in self.fop:
                    p.setdefault("payer_name", name)
                    p.setdefault("payer_phone", phone)
            else:
                b.sponsor = {"payer_name": name, "payer_phone": phone}
            return
        ref = (
            self.traveller.ref
            if self.section in ("traveller", "fop") and self.traveller is not None
            else None
        )
        if q.startswith("4:28") or q == "4":
            for line in lines:
                if not self._contact_line(line, ref, "IFT"):
                    self.drops.drop("OSI")
            return
        self.drops.drop(f"IFT:{q or '?'}")

    def _add(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        element = seg.element(2)
        if not element and len(seg.element(1)) > 1:  # the empty first element left out
            element = seg.element(1)
        comps = [c.strip() for c in element] + [""] * 8
        kind = comps[0].upper()
        street, city, state, country, postcode, extra = (
            comps[1], comps[2], comps[3], comps[5], comps[6], comps[7],
        )  # fmt: skip
        address = {
            "street": street or None,
            "city": city or None,
            "subdivision": state or None,
            "postcode": postcode or None,
            "country": country or None,
        }
        has_address = any(address.values())
        ref = self.traveller.ref if self.section == "traveller" and self.traveller else None
        if self.section == "fop" and self.fop:
            if has_address:
                for p in self.fop:
                    p.setdefault("billing_address", address)
            return
        if has_address:
            text = ", ".join(v for v in (street, city, state, postcode, country) if v)
            b.add_contact("address", text, ref, "ADD")
            if ref is not None and self.traveller is not None:
                self.traveller.data.setdefault("address", address)
        if extra:
            if kind == "E" or "CTCE" in extra.upper() or "//" in extra or "@" in extra:
                value = extra.upper().replace("CTCE", "").strip()
                b.add_contact("email", decode_email(value), ref, "ADD")
            elif phone_of(extra):
                b.add_contact("phone", phone_of(extra), ref, "ADD")

    def _rpi(self, seg: Segment) -> None:
        b = self.booking
        if b is not None and b.itinerary and self.section == "leg":
            status = seg.get(2, 0)
            if status:
                b.itinerary[-1]["status"] = status

    def _tri(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        if self.section not in ("leg", "checkin"):
            return
        comps = [c.strip() for c in seg.element(2) if c.strip()]
        self.checkin_ref = comps[-1] if comps else None
        if b.itinerary:
            b.itinerary[-1]["checked_in"] = True
        self.section = "checkin"

    def _ssd(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        seat = seg.get(1, 0)
        if seat and b.itinerary:
            b.seats.append(
                {"seat": seat, "traveller_ref": self.checkin_ref, "leg": len(b.itinerary) - 1}
            )

    def _tbd(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        count = seg.get(2, 0)
        if not count.isdigit():
            return
        weight: float | None = None
        w = seg.get(2, 1)
        if w:
            try:
                weight = float(w)
            except ValueError:
                weight = None
            if weight is not None and seg.get(2, 2) == "701":
                weight = round(weight * 0.45359237, 1)
        b.bags.append(
            {
                "count": int(count),
                "weight_kg": weight,
                "traveller_ref": self.checkin_ref,
                "leg": len(b.itinerary) - 1 if b.itinerary else None,
            }
        )

    def _abi(self, seg: Segment) -> None:
        self.section = "history"

    def _lts(self, seg: Segment) -> None:
        self.drops.drop("LTS")

    def _ssr(self, seg: Segment) -> None:
        b = self.booking
        assert b is not None
        code = seg.get(1, 0).upper()
        if code not in KEPT_SSR_CODES:
            self.drops.drop(code or "?")
            return
        if code in ("SEAT", "NSST", "RQST"):
            if self.section in ("leg", "checkin") and b.itinerary:
                for comps in seg.elements[2:]:
                    seat = comps[0].strip() if comps else ""
                    ref = comps[2].strip() if len(comps) > 2 else ""
                    if seat:
                        b.seats.append(
                            {
                                "seat": seat,
                                "traveller_ref": ref or None,
                                "leg": len(b.itinerary) - 1,
                            }
                        )
            return
        if code in ("FQTV", "TKNE", "CHLD", "UMNR"):
            return
        text = _ssr_text(seg)
        target = self._target(seg)
        if code == "CTCE" or code in CONTACT_PHONE_CODES:
            owner: str | None = None
            if target is not None and (self.section != "booking" or seg.get(2, 2)):
                owner = target.ref
            self._contact_line(f"{code} {text}", owner, "SSR")
            return
        if target is None:
            self.warnings.append(
                f"segment {seg.number}: W_UNKNOWN_TRAVELLER: SSR {code} names no traveller; skipped"
            )
            return
        if code == "DOCS":
            self._docs(seg, target, text)
        elif code == "DOCO":
            self._doco(seg, target, text)
        elif code == "DOCA":
            self._doca(target, text)
        elif code == "INFT":
            self._inft(seg, target, text)

    def _docs(self, seg: Segment, t: _Traveller, text: str) -> None:
        flat = text.strip().upper()
        if flat[:1] == "/":  # one leading slash; more are empty items (/////21APR66/M//...)
            flat = flat[1:]
        f = flat.split("/")
        if " " in flat or not flat.isprintable():  # blanks (any whitespace) around a field
            f = [x.strip() for x in f]
        if f and STATUS_COUNT.fullmatch(f[0]):
            f = f[1:]  # status and count, e.g. HK1
        if len(f) < 6 or f[5] not in PNR_SEX or not DDMMMYY_RE.fullmatch(f[4]):
            f = docs_aligned(f)
        f += [""] * (11 - len(f))
        doc_type, issuer, number, nationality, dob, sex, expiry = f[:7]
        surname, given, middle = f[7], f[8], " ".join(filter(None, f[9:]))
        target = t
        if sex in ("MI", "FI"):
            target = self._infant_for(t, surname, given, seg.number)
        data, n = target.data, seg.number
        lost = target.degraded
        if nationality:
            data["nationality"] = _alpha3(nationality)
            if data["nationality"] is None:
                self._lost(lost, n, "nationality", nationality, "is not ISO alpha-3")
        if dob:
            data["date_of_birth"] = self._date(lost, n, "date_of_birth", dob, dates.past)
        if sex:
            data["sex"] = PNR_SEX.get(sex)
            if data["sex"] is None:
                self._lost(lost, n, "sex", sex, "is not M/F/X/U")
        if (
            surname
            and target is t
            and t.passenger_type != "IN"
            and not same_name(surname, t.tif_surname)
        ):
            self.warnings.append(
                f"segment {n}: W_BAD_VALUE: SSR+DOCS surname: not the TIF's (DOCS items missing "
                "or extra before the names?); the TIF names are kept"
            )
        elif surname:
            target.docs_names = (
                surname,
                (f"{given} {middle}" if middle else given) if given else (middle or None),
            )
        if number:
            doc = self._document(lost, n, doc_type or "P", number, issuer)
            if doc is None:
                return
            if expiry:
                doc["expiry_date"] = self._date(lost, n, "expiry_date", expiry, dates.expiry)
            target.documents.append((doc, n))

    def _lost(
        self, degraded: list[str], n: int, field: str, value: str, why: str, tag: str = "SSR+DOCS"
    ) -> None:
        """A DOCS (DOCO, INFT) value read as null: its warning, its field in ``degraded``."""
        as_ = "documents" if field in ("issuing_country", "expiry_date", "issue_date") else None
        lose_value(self.warnings, degraded, n, tag, field, value, why, as_)

    def _date(
        self, degraded: list[str], n: int, field: str, value: str,
        resolve: Callable[..., dt.date], tag: str = "SSR+DOCS",
    ) -> dt.date | None:  # fmt: skip
        """An SSR date (``DDMMMYY``), or None with its warning."""
        try:
            return resolve(value, self.ref, n, order="dmy")
        except ParseError:
            self._lost(degraded, n, field, value, "is not a date", tag)
            return None

    def _document(
        self, degraded: list[str], n: int, doc_type: str, number: str, issuer: str,
        tag: str = "SSR+DOCS",
    ) -> dict[str, Any] | None:  # fmt: skip
        """A document's fields, as PAXLST reads DOC: None (and a warning) when unreadable."""
        if len(number) > 35:
            self._lost(degraded, n, "documents", number, "is longer than 35 characters", tag)
            return None
        if not _DOC_TYPE.fullmatch(doc_type):
            self._lost(degraded, n, "documents", doc_type, "is not a document type", tag)
            doc_type = "P"  # as PAXLST reads a DOC without a readable type
        country = _alpha3(issuer)
        if issuer and country is None:
            self._lost(degraded, n, "issuing_country", issuer, "is not ISO alpha-3", tag)
        return {"type": doc_type, "number": number, "issuing_country": country}

    def _doco(self, seg: Segment, t: _Traveller, text: str) -> None:
        f = [x.strip().upper() for x in text.strip().lstrip("/").split("/")] + [""] * 7
        _birthplace, doc_type, number, _issue_place, issue_date, country = f[:6]
        if not number or doc_type not in ("V", "VI"):
            return  # known-traveller and redress numbers are not travel documents
        n = seg.number
        doc = self._document(t.degraded, n, "V", number, country, "SSR+DOCO")
        if doc is None:
            return
        if issue_date:
            doc["issue_date"] = self._date(
                t.degraded, n, "issue_date", issue_date, dates.past, "SSR+DOCO"
            )
        t.documents.append((doc, n))

    def _doca(self, t: _Traveller, text: str) -> None:
        b = self.booking
        assert b is not None
        value = text.strip().lstrip("/")
        f = [x.strip() for x in value.split("/")]
        if len(f) >= 4 and f[0] in ("R", "D"):
            address = {
                "country": f[1] or None,
                "street": f[2] or None,
                "city": f[3] or None,
                "subdivision": f[4] if len(f) > 4 and f[4] else None,
                "postcode": f[5] if len(f) > 5 and f[5] else None,
            }
            t.data.setdefault("address", address)
            value = ", ".join(x for x in f[2:6] + [f[1]] if x)
        b.add_contact("address", value or None, t.ref, "DOCA")

    def _inft(self, seg: Segment, t: _Traveller, text: str) -> None:
        tokens = [x for x in re.split(r"[/\s]+", text.strip().upper()) if x]
        dob = next((x for x in tokens if DDMMMYY_RE.fullmatch(x)), None)
        names = [x for x in tokens if x != dob and not STATUS_COUNT.fullmatch(x)]
        surname = names[0] if names else t.tif_surname
        given = " ".join(names[1:])
        infant = self._infant_for(t, surname, given, seg.number)
        if dob:
            infant.data["date_of_birth"] = self._date(
                infant.degraded, seg.number, "date_of_birth", dob, dates.past, "SSR+INFT"
            )

    def _infant_for(self, adult: _Traveller, surname: str, given: str, segment: int) -> _Traveller:
        b = self.booking
        assert b is not None
        infants = 0
        for t in b.travellers:
            if t.passenger_type == "IN" and (t.infant_of == adult.ref or t.tif_surname == surname):
                infants += t.infant_of == adult.ref
                if (
                    t.docs_names is not None
                    and given
                    and not (
                        t.docs_names[0] == surname and (t.docs_names[1] or "").startswith(given)
                    )
                ):
                    continue  # another infant's DOCS already named this one: twins
                if not given or t.tif_given.startswith(given) or t.infant_of == adult.ref:
                    return t
        infant = _Traveller(
            ref=f"{adult.ref}I{infants + 1 if infants else ''}",
            segment=segment,
            tif_surname=surname or adult.tif_surname,
            tif_given=given,
            passenger_type="IN",
            infant_of=adult.ref,
        )
        b.travellers.append(infant)
        return infant

    # ------------------------------------------------------------------ results
    def finish_booking(self, b: _Booking, check: bool) -> Any:
        """The booking as a record (``check``) or as a dict for one bulk validation."""
        if not b.data.get("record_locator"):
            raise ParseError(
                "E_MISSING_SEGMENT", "booking (SRC) has no RCI record locator", b.segment
            )
        if not check:
            return self._booking_dict(b)
        travellers = []
        for t in b.travellers:
            surname, docs_given = t.docs_names if t.docs_names else (t.tif_surname, None)
            given, title = split_title(t.tif_given, docs_given)
            data = dict(t.data)
            if "address" in data:
                data["address"] = _build(
                    Address, data["address"], t.segment, "traveller address", check
                )
            data.update(
                ref=t.ref,
                surname=surname,
                given_names=(docs_given if t.docs_names else given) or None,
                title=title,
                passenger_type=t.passenger_type,
                segment=t.segment,
                documents=tuple(_build(Document, d, n, "document", check) for d, n in t.documents),
                degraded=b.degraded_of(t),
            )
            travellers.append(_build(PnrTraveller, data, t.segment, "traveller", check))
        payments = []
        for p in b.payments:
            p = dict(p)
            for key, value in b.sponsor.items():
                if p.get(key) is None:
                    p[key] = value
            if p.get("billing_address"):
                p["billing_address"] = _build(
                    Address, p["billing_address"], b.segment, "address", check
                )
            payments.append(_build(Payment, p, b.segment, "payment", check))
        itinerary = tuple(
            _build(ItineraryLeg, leg, n, "itinerary leg", check)
            for leg, n in zip(b.itinerary, b.leg_segments, strict=True)
        )
        data = dict(b.data)
        if data.get("agency"):
            data["agency"] = _build(Agency, data["agency"], b.segment, "agency", check)
        data.update(
            travellers=tuple(travellers),
            itinerary=itinerary,
            contacts=tuple(_build(Contact, c, b.segment, "contact", check) for c in b.contacts),
            payments=tuple(payments),
            tickets=tuple(_build(Ticket, x, b.segment, "ticket", check) for x in b.tickets),
            bags=tuple(_build(Bag, x, b.segment, "bag", check) for x in b.bags),
            seats=tuple(_build(Seat, x, b.segment, "seat", check) for x in b.seats),
            split_record_locators=tuple(b.splits),
            segment=b.segment,
        )
        return _build(PnrBooking, data, b.segment, "booking", check)

    @staticmethod
    def _booking_dict(b: _Booking) -> dict[str, Any]:
        """:meth:`finish_booking` without checks: plain dicts for the one bulk validation."""
        travellers = []
        for t in b.travellers:
            if t.docs_names:
                surname, given = t.docs_names
                title = split_title(t.tif_given, given)[1]
            else:
                surname = t.tif_surname
                given, title = split_title(t.tif_given)
            data = dict(t.data)
            data["ref"] = t.ref
            data["surname"] = surname
            data["given_names"] = given or None
            data["title"] = title
            data["passenger_type"] = t.passenger_type
            data["segment"] = t.segment
            data["documents"] = [d for d, _ in t.documents]
            if t.degraded or b.degraded:
                data["degraded"] = b.degraded_of(t)
            travellers.append(data)
        payments = b.payments
        if b.sponsor:
            payments = []
            for p in b.payments:
                p = dict(p)
                for key, value in b.sponsor.items():
                    if p.get(key) is None:
                        p[key] = value
                payments.append(p)
        data = dict(b.data)
        data["travellers"] = travellers
        data["itinerary"] = b.itinerary
        data["contacts"] = b.contacts
        data["payments"] = payments
        data["tickets"] = b.tickets
        data["bags"] = b.bags
        data["seats"] = b.seats
        data["split_record_locators"] = b.splits
        data["segment"] = b.segment
        return data

    def read(self, msg: Message) -> _Part:
        part = self.part
        for seg in msg.body:
            self.segment(seg)
        for tag, count in sorted(self.unknown.items()):
            self.warnings.append(
                f"segment {msg.unh.number}: W_UNKNOWN_SEGMENT: {tag} x{count} ignored in "
                f"message {part.message_ref}"
            )
        part.last_segment = max(
            (s.number for s in (msg.unh, *msg.body[-1:], msg.unt) if s is not None), default=0
        )
        part.bookings = []
        for b in self.bookings:
            try:
                if b.lost is not None:
                    raise b.lost
                part.bookings.append(self.finish_booking(b, check=False))
                self.kept.append(b)
            except ParseError as exc:
                self.lost.append(self.loss(b, exc))
        part.reader = self
        return part

    def loss(self, b: _Booking, exc: ParseError) -> RecordLoss:
        """A booking that cannot be read, as a quarantined record holding its travellers.

        It holds its travellers' TIFs and the infants read from SSR INFT or DOCS; the
        message names the segment at fault.
        """
        infants = sum(1 for t in b.travellers if t.infant_of is not None)
        return RecordLoss(
            "booking",
            b.segment,
            b.last,
            exc.code,
            f"segment {exc.segment}: {exc.message}" if exc.segment else exc.message,
            b.tifs + infants,
            self.part.message_ref,
        )


#: segment tag -> the _Reader method that reads it (``_tvl`` reads TVL ...)
_HANDLERS: dict[str, Callable[[_Reader, Segment], None]] = {
    name[1:].upper(): fn
    for name, fn in vars(_Reader).items()
    if len(name) == 4 and name.startswith("_") and name[1:].isalpha()
}


def _checked_bookings(parts: list[_Part], lost: list[RecordLoss]) -> tuple[Any, ...]:
    """Validate the bookings one by one, quarantining those that fail (the slow path)."""
    good = []
    for part in parts:
        reader = part.reader
        for b in reader.kept:
            try:
                good.append(reader.finish_booking(b, check=True))
            except ParseError as exc:
                lost.append(reader.loss(b, exc))
    return tuple(good)


def _message_loss(parts: list[_Part], exc: ParseError) -> RecordLoss:
    """A message whose flight cannot be read, quarantined whole with every booking it held."""
    head = parts[0]
    held = sum(
        len(b.travellers) for p in parts for b in p.reader.kept
    ) + sum(x.travellers for p in parts for x in p.reader.lost)  # fmt: skip
    at = f"segment {exc.segment}: " if exc.segment and exc.segment != head.first_segment else ""
    return RecordLoss(
        "message",
        head.first_segment,
        max(p.last_segment for p in parts),
        exc.code,
        f"{at}{exc.message}",
        held,
        head.message_ref,
    )


def _join(
    parts: list[_Part], warnings: list[str], interchange: Interchange, lost: list[RecordLoss]
) -> PnrgovMessage | None:
    parts = sorted(parts, key=lambda p: p.part or 0)
    head = parts[0]
    numbers = [p.part for p in parts if p.part is not None]
    multipart = bool(numbers) and (len(parts) > 1 or head.final is not None or head.part != 1)
    complete = True
    if multipart:
        has_final = any(p.final for p in parts)
        complete = numbers == list(range(1, max(numbers) + 1)) and (
            has_final or (len(parts) == 1 and head.final is None)
        )
        if not complete:
            warnings.append(
                f"segment {head.first_segment}: W_INCOMPLETE_PARTS: message "
                f"{head.common_access_ref or head.message_ref} has parts "
                f"{','.join(f'{n:02d}' for n in numbers)}"
                f"{'' if has_final else ' and no final (F) part'}"
            )
    with_flight = next((p for p in parts if p.flight), None)
    bad = next((p.bad_flight for p in parts if p.bad_flight is not None), None)
    try:
        if with_flight is None or with_flight.flight is None:
            raise bad or ParseError(
                "E_MISSING_SEGMENT", f"message {head.message_ref} has no level-0 TVL flight",
                head.first_segment,
            )  # fmt: skip
        flight = _build(FlightLeg, with_flight.flight, with_flight.flight_segment, "flight")
    except ParseError as exc:
        lost.append(_message_loss(parts, exc))
        return None
    flight = flight.model_dump()
    bookings = [b for p in parts for b in p.bookings]
    for p in parts:
        lost.extend(p.reader.lost)
    listed = len(bookings) + sum(len(p.reader.lost) for p in parts)
    declared = [p.declared_bookings for p in parts]
    declared_total = None if any(d is None for d in declared) else sum(d or 0 for d in declared)
    truncated = any(p.truncated for p in parts)
    if complete and not truncated and declared_total is not None and declared_total != listed:
        warnings.append(
            f"segment {head.first_segment}: W_EQN_MISMATCH: EQN declares {declared_total} "
            f"PNRs, message {head.message_ref} has {listed}"
        )
    data = {
        "version": head.version,
        "message_ref": head.message_ref,
        "interchange_ref": interchange.unb.get(5) or None,
        "sender": interchange.unb.get(2) or None,
        "recipient": interchange.unb.get(3) or None,
        "prepared": prepared_at(interchange.unb),
        "push_type": head.push_type,
        "flight": flight,
        "bookings": tuple(bookings),
        "declared_bookings": declared_total,
        "common_access_ref": head.common_access_ref,
        "parts": tuple(numbers) if multipart else (),
        "complete": complete,
    }
    try:
        return PnrgovMessage.model_validate(data)
    except ValidationError:
        # find the bookings at fault, with their segment numbers, and quarantine them
        data["bookings"] = _checked_bookings(parts, lost)
    try:
        return PnrgovMessage.model_validate(data)
    except ValidationError as exc:
        raise ParseError(
            "E_BAD_VALUE", describe_validation_error(exc, "PNRGOV message"), head.first_segment
        ) from None


def parse_pnrgov(
    messages: list[tuple[Interchange, Message]],
    drops: DropLog,
    warnings: list[str],
    lost: list[RecordLoss] | None = None,
) -> list[PnrgovMessage]:
    """Read PNRGOV messages into pushes, joining the parts of multipart messages.

    Args:
        messages: every PNRGOV message of one file with its interchange, in file order.
        drops: where dropped SSRs and free text are counted.
        warnings: where warnings are appended (``"segment N: W_CODE: text"``).
        lost: where records that cannot be read are quarantined (see :mod:`.loss`).

    Returns:
        One message per push (per joined multipart message), in file order.

    Raises:
        ParseError: on the defects listed in the package docs.
    """
    groups: dict[str, list[_Part]] = {}
    order: list[tuple[str, Interchange]] = []
    for index, (interchange, msg) in enumerate(messages):
        ref = prepared_at(interchange.unb).date()
        unh = msg.unh
        part_no, indicator = unh.get(4, 0), unh.get(4, 1).upper() or None
        version = ".".join(c.strip() for c in unh.element(2)[1:3] if c.strip()) or "unknown"
        part = _Part(
            message_ref=unh.get(1),
            version=version,
            common_access_ref=unh.get(3) or None,
            part=int(part_no) if part_no.isdigit() else None,
            final=None if indicator is None else indicator == "F",
            first_segment=unh.number,
            truncated=msg.truncated,
        )
        _Reader(ref, drops, warnings, part).read(msg)
        key = part.common_access_ref if part.part is not None and part.common_access_ref else None
        key = key or f"\x00{index}"
        if key not in groups:
            groups[key] = []
            order.append((key, interchange))
        groups[key].append(part)
    if lost is None:
        lost = []
    joined = (_join(groups[key], warnings, interchange, lost) for key, interchange in order)
    return [m for m in joined if m is not None]
