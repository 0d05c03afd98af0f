"""PAXLST (API) messages to :class:`~apiflag.records.PaxlstManifest` records.

One tolerant reader for D02B, D05B, D12B and D15B: the versions differ in optional segments,
not in the ones read here, so unknown segments are skipped with one warning per tag.

What it decides:

* **Groups.** ``NAD+FL|FM|DDU|DDT`` opens a traveller (passenger, crew, transit passenger,
  transit crew); ``DOC`` opens one of the traveller's documents, whose ``DTM 36`` (expiry),
  ``DTM 182`` (issue) and ``LOC 91`` (issuing country) follow it. ``NAD+MS`` is the reporting
  party. Another ``NAD`` qualifier is skipped with a warning, with its whole group.
* **Flight legs.** Each ``TDT+20`` names a flight; each ``LOC`` after it is a stop (``125``
  departs, ``87`` arrives, ``92`` is intermediate, or departs/arrives when only a ``DTM 189``
  or only a ``DTM 232`` follows it, as senders write every leg as ``92``; ``130`` is the
  final destination). A leg that gives only one airport keeps the other null with a warning.
* **Multipart messages.** Messages of one file that share the UNH common access reference
  (element 3) and carry part numbers (element 4, ``01:C`` ... ``nn:F``) are joined into one
  manifest in part order: the header comes from the first part, travellers are concatenated,
  counts from the last part that has them. A missing part or final part gives
  ``complete=False`` and a ``W_INCOMPLETE_PARTS`` warning, never an error: real feeds send
  parts in separate files.
* **BGM** document code (745 passengers, 250 crew, ...) and function (CP, XR, RP, CL, ...) are
  carried on the manifest; the stages that keep history apply them.
* **Two-digit years** resolve against the UNB preparation date (see :mod:`.dates`), or the
  first flight date when UNB's cannot be read.
* **Loss** (see :mod:`.loss`). A value that cannot be read (a birth, expiry or flight date, a
  sex, a country, a number, a document the contract cannot hold) becomes ``None``, named in a
  warning and in the traveller's ``degraded``; an unreadable birth date is age unknown, never
  a guess. A traveller without a surname, or whose segments raise, is a ``traveller`` record
  loss spanning its NAD group; a message without a readable TDT flight is one ``message``
  loss counting its travellers. No BGM is read as 745 (or 250 when only crew are listed),
  with a warning. Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from apiflag.edifact import dates
from apiflag.edifact.loss import RecordLoss, RecordUnreadable, degrade, value_class, value_warning
from apiflag.edifact.sensitive import DropLog
from apiflag.edifact.tokenizer import Interchange, Message, Segment
from apiflag.errors import ParseError
from apiflag.records import (
    ApiTraveller,
    PaxlstManifest,
    describe_validation_error,
)

__all__ = ["ROLES", "parse_flight_id", "parse_paxlst", "prepared_at"]

#: NAD qualifier -> traveller role
ROLES = {
    "FL": "passenger",
    "FM": "crew",
    "DDU": "transit_passenger",
    "DDT": "transit_crew",
}

_SEX = {"M": "M", "F": "F", "U": "U", "X": "X", "MALE": "M", "FEMALE": "F"}
_ALPHA3 = re.compile(r"[A-Z]{3}")
_AIRPORT = re.compile(r"[A-Z]{3}")
_FLIGHT_ID = re.compile(r"([A-Z]{3}|[A-Z0-9]{2})\s*0*([1-9][0-9]{0,3}[A-Z]?)")
_NUMBER = re.compile(r"0*([1-9][0-9]{0,3}[A-Z]?)")
# segments read elsewhere or known and not needed: no warning
_QUIET = frozenset({"COM", "EMP", "QTY", "ERP", "ERC", "UNS", "CPI", "TSR", "SEQ", "FTX"})
_LB_TO_KG = 0.45359237


def prepared_at(unb: Segment) -> dt.datetime:
    """Return the UNB preparation date/time; ``YYMMDD`` years are taken as 20YY (19YY for 70-99).

    Raises:
        ParseError: ``E_BAD_DATE`` when UNB has no valid date.
    """
    day, clock = unb.get(4, 0), unb.get(4, 1) or "0000"
    if len(day) == 6 and day.isdigit():
        yy = int(day[:2])
        day = f"{1900 + yy if yy >= 70 else 2000 + yy}{day[2:]}"
    if not (len(day) == 8 and day.isdigit()):
        raise ParseError("E_BAD_DATE", f"UNB preparation date {day!r} is not YYMMDD", unb.number)
    try:
        date = dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise ParseError(
            "E_BAD_DATE", f"UNB preparation date {day!r} is not a date", unb.number
        ) from None
    return dt.datetime.combine(date, dates.time_of(clock, unb.number, "UNB preparation time"))


def parse_flight_id(flight_id: str, carrier: str | None) -> tuple[str, str] | None:
    """Split ``QK0021`` / ``B2740`` / ``QK 21`` into (carrier, number without leading zeros).

    Args:
        flight_id: the flight identifier as the message writes it.
        carrier: the carrier the message names separately, when it does.

    Returns:
        ``(carrier, number)`` or None when the identifier cannot be read.
    """
    fid = flight_id.replace(" ", "").upper()
    if carrier:
        carrier = carrier.upper()
        if fid.startswith(carrier):
            m = _NUMBER.fullmatch(fid[len(carrier) :])
            if m:
                return carrier, m.group(1)
        m = _NUMBER.fullmatch(fid)
        if m:
            return carrier, m.group(1)
    m = _FLIGHT_ID.fullmatch(fid)
    if m:
        return carrier or m.group(1), m.group(2)
    return None


@dataclass
class _Part:
    """One UNH...UNT message before multipart joining."""

    message_ref: str
    version: str
    common_access_ref: str | None
    part: int | None
    final: bool | None
    document_code: str | None = None
    function: str | None = None
    transaction_ref: str | None = None
    reporting_party: str | None = None
    legs: list[Any] = field(default_factory=list)
    travellers: list[Any] = field(default_factory=list)
    builders: list[Any] = field(default_factory=list)
    declared_passengers: int | None = None
    declared_crew: int | None = None
    first_segment: int = 1
    lost: list[RecordLoss] = field(default_factory=list)
    bad_flight: Segment | None = None


def _text(seg: Segment, element: int) -> str | None:
    comps = [c.strip() for c in seg.element(element) if c.strip()]
    return " ".join(comps) or None


def _int(value: str, seg: Segment, what: str, warnings: list[str]) -> int | None:
    v = value.strip()
    if not v:
        return None
    try:
        n = int(float(v))
    except ValueError:
        warnings.append(
            f"segment {seg.number}: W_BAD_VALUE: {what} {value_class(v)} value is not a number"
        )
        return None
    if n < 0:
        warnings.append(f"segment {seg.number}: W_BAD_VALUE: {what} value is negative")
        return None
    return n


def _build(model: Any, data: dict[str, Any], segment: int, what: str, check: bool = True) -> Any:
    """Validate ``data`` as ``model`` (``check``), or pass the dict on for one bulk validation."""
    if not check:
        return data
    try:
        return model(**data)
    except ValidationError as exc:
        raise ParseError("E_BAD_VALUE", describe_validation_error(exc, what), segment) from None


class LegBuilder:
    """Collects TDT/LOC/DTM into flight legs, as senders really write them.

    Each ``LOC`` is a stop and each ``DTM 189``/``232`` after it is that stop's departure or
    arrival time. ``125`` departs, ``87`` arrives, ``92`` is intermediate: it arrives and
    departs, unless only a ``DTM 232`` (then it arrives) or only a ``DTM 189`` (then it
    departs) follows it, which is how senders write every leg as ``LOC 92``. A leg with
    only a departure or only an arrival keeps the other airport null with a warning;
    ``LOC 130`` is the last leg's arrival when nothing else gives it.
    """

    def __init__(self) -> None:
        self.groups: list[tuple[tuple[str, str], list[dict[str, Any]]]] = []
        self.final_destination: str | None = None
        self.bad_flight: Segment | None = None

    def tdt(self, seg: Segment) -> None:
        fid, carrier = seg.get(2), seg.get(5) or None
        parsed = parse_flight_id(fid, carrier)
        if parsed is None:
            self.bad_flight = self.bad_flight or seg
            return
        self.groups.append((parsed, []))

    def loc(self, seg: Segment, qualifier: str, warnings: list[str]) -> None:
        if qualifier == "130":
            self.final_destination = _airport(seg.get(2), seg, "final destination", warnings)
            return
        if qualifier not in ("125", "87", "92"):
            return
        if not self.groups:
            warnings.append(
                f"segment {seg.number}: W_MISSING_SEGMENT: LOC {qualifier}: flight LOC before any TDT; ignored"
            )
            return
        place = _airport(seg.get(2), seg, "airport", warnings)
        self.groups[-1][1].append({"q": qualifier, "place": place, "segment": seg.number})

    def dtm(self, seg: Segment, qualifier: str, ref: dt.date, warnings: list[str]) -> None:
        if qualifier not in ("189", "232") or not self.groups or not self.groups[-1][1]:
            return
        stop = self.groups[-1][1][-1]
        value = seg.get(1, 1)
        try:
            stop[qualifier] = dates.near_datetime(value, ref, seg.number, "flight date/time")
        except ParseError:
            stop[qualifier] = None
            warnings.append(
                value_warning(seg.number, f"DTM+{qualifier}", "flight", value, "is not a date/time")
            )

    def finish(self, warnings: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (carrier, number), stops in self.groups:
            out.extend(self._legs(carrier, number, stops))
        if out and out[-1].get("arrival_airport") is None and self.final_destination:
            out[-1]["arrival_airport"] = self.final_destination
        for leg in out:
            for key, code in (("departure_airport", "125"), ("arrival_airport", "87")):
                if leg.get(key) is None:
                    leg[key] = None
                    warnings.append(
                        f"segment {leg['segment']}: W_MISSING_SEGMENT: LOC {code} "
                        f"{key}: flight leg {leg['carrier']}{leg['number']} does not say it; "
                        "read as null"
                    )
        return out

    @staticmethod
    def _legs(carrier: str, number: str, stops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        legs: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        tentative = False  # opened by an intermediate stop that may have been the last one

        def opened(stop: dict[str, Any]) -> dict[str, Any]:
            leg = {"carrier": carrier, "number": number, "segment": stop["segment"]}
            leg["departure_airport"] = stop["place"]
            if stop.get("189") is not None:
                leg["scheduled_departure"] = stop["189"]
            return leg

        for stop in stops:
            q, has_dep, has_arr = stop["q"], "189" in stop, "232" in stop
            role = {"125": "dep", "87": "arr"}.get(q)
            if role is None:
                role = (
                    "arr"
                    if has_arr and not has_dep
                    else "dep"
                    if has_dep and not has_arr
                    else "via"
                )
            if role in ("arr", "via") and current is not None:
                current["arrival_airport"] = stop["place"]
                if stop.get("232") is not None:
                    current["scheduled_arrival"] = stop["232"]
                legs.append(current)
                current = None
            elif role == "arr":  # a leg with only an arrival
                leg = {"carrier": carrier, "number": number, "segment": stop["segment"]}
                leg["arrival_airport"] = stop["place"]
                if stop.get("232") is not None:
                    leg["scheduled_arrival"] = stop["232"]
                legs.append(leg)
                continue
            if role in ("dep", "via"):
                if current is not None:  # two departures in a row: a leg with only a departure
                    legs.append(current)
                current, tentative = opened(stop), role == "via"
        if current is not None and not (
            tentative and legs and "scheduled_departure" not in current
        ):
            legs.append(current)
        return legs


def _airport(value: str, seg: Segment, what: str, warnings: list[str]) -> str | None:
    v = value.strip().upper()
    if not v:
        return None
    if _AIRPORT.fullmatch(v):
        return v
    warnings.append(
        value_warning(seg.number, f"LOC+{seg.get(1)}", what, v, "is not an IATA airport code")
    )
    return None


class _TravellerBuilder:
    """Collects one NAD group into an ApiTraveller's fields, and what of it was lost."""

    def __init__(self, seg: Segment, role: str) -> None:
        self.segment = self.last_segment = seg.number
        names = seg.fields(4, 1)
        surname = names[0]
        given = " ".join(filter(None, names[1:])) or None
        if not surname and seg.get(3):  # unstructured "SURNAME/GIVEN" in element 3
            name = seg.get(3)
            surname, _, rest = name.partition("/")
            given = rest.strip() or None
        if not surname.strip():
            raise RecordUnreadable("E_BAD_VALUE", "traveller NAD has no surname", seg.number)
        address = None
        if len(seg.parts) > 5 and any(seg.get(i) for i in range(5, 10)):
            address = {
                "street": _text(seg, 5),
                "city": seg.get(6) or None,
                "subdivision": seg.get(7) or None,
                "postcode": seg.get(8) or None,
                "country": seg.get(9) or None,
            }
        self.data: dict[str, Any] = {
            "role": role,
            "surname": surname.strip(),
            "given_names": given,
            "segment": seg.number,
        }
        if address:
            self.data["address"] = address
        self.documents: list[dict[str, Any]] = []
        self.doc_segments: list[int] = []
        self.degraded: list[str] = []
        self.lost: RecordUnreadable | None = None

    def degrade(self, name: str) -> None:
        degrade(self.degraded, name)

    def finish(self) -> dict[str, Any]:
        data = dict(self.data)
        data["documents"] = tuple(self.documents)
        if self.degraded:
            data["degraded"] = tuple(self.degraded)
        return data

    def loss(self, message_ref: str, code: str, text: str) -> RecordLoss:
        return RecordLoss("traveller", self.segment, self.last_segment, code, text, 1, message_ref)


def _header_segment(
    seg: Segment, q: str, part: _Part, legs: LegBuilder, ref: dt.date, drops: DropLog,
    warnings: list[str], unknown: Counter[str],
) -> None:  # fmt: skip
    tag = seg.tag
    if tag == "BGM":
        part.document_code = q or None
        part.function = seg.get(2) or None
    elif tag == "RFF":
        if q == "TN":
            part.transaction_ref = seg.get(1, 1) or None
    elif tag == "TDT":
        legs.tdt(seg)
    elif tag == "LOC":
        legs.loc(seg, q, warnings)
    elif tag == "DTM":
        legs.dtm(seg, q, ref, warnings)
    elif tag == "FTX":
        drops.drop(f"FTX:{q or '?'}")
    elif tag not in _QUIET:
        unknown[tag] += 1


def _date_value(
    tb: _TravellerBuilder, seg: Segment, field: str, value: str, ref: dt.date,
    warnings: list[str], kind: str = "past",
) -> dt.date | None:  # fmt: skip
    try:
        if kind == "expiry":
            return dates.expiry(value, ref, seg.number)
        return dates.past(value, ref, seg.number, what=field)
    except ParseError:
        warnings.append(
            value_warning(seg.number, f"DTM+{seg.get(1)}", field, value, "is not a date")
        )
        tb.degrade(field if field == "date_of_birth" else "documents")
        return None


def _traveller_segment(
    tb: _TravellerBuilder, seg: Segment, q: str, doc: dict[str, Any] | None, ref: dt.date,
    drops: DropLog, warnings: list[str], unknown: Counter[str],
) -> dict[str, Any] | None:  # fmt: skip
    """Read one segment of a traveller's group; return the document now open."""
    t, tag = tb.data, seg.tag
    tb.last_segment = seg.number
    if tag == "DOC":
        number = seg.get(2)
        if not number:
            warnings.append(
                f"segment {seg.number}: W_BAD_VALUE: DOC documents: DOC without a number skipped"
            )
            tb.degrade("documents")
            return {}
        if len(number) > 35:
            warnings.append(
                value_warning(
                    seg.number, "DOC", "documents", number, "is longer than 35 characters"
                )
            )
            tb.degrade("documents")
            return {}
        doc_type = seg.get(1, 0).upper()
        if doc_type and not _DOC_TYPE.fullmatch(doc_type):
            warnings.append(
                value_warning(seg.number, "DOC", "documents", doc_type, "is not a document type")
            )
            tb.degrade("documents")
            doc_type = ""
        new = {"type": doc_type or "P", "number": number}
        tb.documents.append(new)
        tb.doc_segments.append(seg.number)
        return new
    if tag == "DTM":
        value = seg.get(1, 1)
        if q == "329":
            t["date_of_birth"] = _date_value(tb, seg, "date_of_birth", value, ref, warnings)
        elif doc and q == "36":
            doc["expiry_date"] = _date_value(tb, seg, "expiry_date", value, ref, warnings, "expiry")
        elif doc and q == "182":
            doc["issue_date"] = _date_value(tb, seg, "issue_date", value, ref, warnings)
    elif tag == "LOC":
        place = seg.get(2) or seg.get(2, 3)
        if q == "91":
            if doc:
                doc["issuing_country"] = _alpha3(place, seg, "issuing country", warnings)
                if doc["issuing_country"] is None and place:
                    tb.degrade("documents")
        elif q == "174":
            t["country_of_residence"] = place or None
        elif q == "178":
            t["embarkation"] = place or None
        elif q == "179":
            t["debarkation"] = place or None
        elif q == "180":
            t["place_of_birth"] = " ".join(c.strip() for c in seg.element(2) if c.strip()) or None
    elif tag == "ATT":
        raw = seg.get(3).upper()
        sex = _SEX.get(raw)
        if raw and sex is None:
            warnings.append(value_warning(seg.number, "ATT", "sex", raw, "is not M/F/X/U"))
            tb.degrade("sex")
        t["sex"] = sex
    elif tag == "NAT":
        raw = seg.get(2)
        t["nationality"] = _alpha3(raw, seg, "nationality", warnings)
        if t["nationality"] is None and raw:
            tb.degrade("nationality")
    elif tag == "RFF":
        field = _RFF_FIELDS.get(q)
        if field:
            t[field] = seg.get(1, 1) or None
    elif tag == "MEA":
        _mea(tb, seg, q, warnings)
    elif tag == "GEI":
        values = {c.strip() for comps in seg.elements[1:] for c in comps}
        if "173" in values:
            t["verified"] = True
        elif "174" in values:
            t["verified"] = False
    elif tag == "FTX":
        if q != "BAG":
            drops.drop(f"FTX:{q or '?'}")
    elif tag in ("TDT", "BGM"):
        warnings.append(
            f"segment {seg.number}: W_UNEXPECTED_SEGMENT: {tag} after the travellers; ignored"
        )
    elif tag == "":
        tb.degrade("unreadable_segment")
    elif tag not in _QUIET:
        unknown[tag] += 1
    return doc


_RFF_FIELDS = {
    "AVF": "record_locator",
    "ABO": "passenger_reference",
    "SEA": "seat",
    "CR": "frequent_flyer",
}
_DOC_TYPE = re.compile(r"[A-Z]{1,3}")


def _mea(tb: _TravellerBuilder, seg: Segment, q: str, warnings: list[str]) -> None:
    value = seg.get(3, 1)
    if q == "CT":
        n = _int(value, seg, "bag count", warnings)
        tb.data["checked_bags"] = n
        if n is None and value.strip():
            tb.degrade("checked_bags")
    elif q == "WT" and value:
        try:
            weight = float(value)
        except ValueError:
            warnings.append(
                value_warning(seg.number, "MEA", "bag_weight_kg", value, "is not a number")
            )
            tb.degrade("bag_weight_kg")
            return
        unit = seg.get(3, 0).upper()
        if unit in ("LBR", "LB", "LBS"):
            weight = round(weight * _LB_TO_KG, 1)
        tb.data["bag_weight_kg"] = weight if weight >= 0 else None


def _cnt(seg: Segment, part: _Part, warnings: list[str]) -> None:
    for comps in seg.elements[1:]:
        kind = comps[0].strip() if comps else ""
        value = comps[1] if len(comps) > 1 else ""
        n = _int(value, seg, f"CNT {kind}", warnings)
        if kind == "42":
            part.declared_passengers = n
        elif kind == "41":
            part.declared_crew = n


def _message_part(
    msg: Message,
    ref: dt.date,
    drops: DropLog,
    warnings: list[str],
) -> _Part:
    """Read one UNH...UNT message; a traveller that cannot be read is marked lost."""
    unh = msg.unh
    version_parts = [c.strip() for c in unh.element(2)[1:3] if c.strip()]
    part_no = unh.get(4, 0)
    indicator = unh.get(4, 1).upper() or None
    part = _Part(
        message_ref=unh.get(1),
        version="".join(version_parts) or "unknown",
        common_access_ref=unh.get(3) or None,
        part=int(part_no) if part_no.isdigit() else None,
        final=None if indicator is None else indicator == "F",
        first_segment=unh.number,
    )
    legs = LegBuilder()
    traveller: _TravellerBuilder | None = None
    travellers: list[_TravellerBuilder] = []
    lost: list[RecordLoss] = []
    doc: dict[str, Any] | None = None
    skipping = False  # inside a NAD group of an unknown party, or of a lost traveller
    lost_open = False  # skipping the group of a NAD that cannot be read
    unknown: Counter[str] = Counter()
    in_header = True
    for seg in msg.body:
        tag = seg.tag
        q = seg.get(1)
        if tag == "NAD":
            doc = None
            if q == "MS":
                part.reporting_party = _text(seg, 4) or _text(seg, 3)
                skipping = False
                continue
            role = ROLES.get(q)
            if role is None:
                warnings.append(
                    f"segment {seg.number}: W_UNKNOWN_PARTY: NAD qualifier {q!r} skipped "
                    "with its group"
                )
                skipping, traveller = True, None
                continue
            skipping, in_header = False, False
            lost_open = False
            try:
                traveller = _TravellerBuilder(seg, role)
            except RecordUnreadable as exc:
                lost_open = True
                lost.append(
                    RecordLoss(
                        "traveller",
                        seg.number,
                        seg.number,
                        exc.code,
                        exc.message,
                        1,
                        part.message_ref,
                    )
                )
                skipping, traveller = True, None
                continue
            travellers.append(traveller)
            continue
        if tag == "CNT":
            skipping, traveller, doc, lost_open = False, None, None, False
            _cnt(seg, part, warnings)
            continue
        if skipping:
            if lost_open:  # the group of a traveller that cannot be read runs on
                last = lost[-1]
                lost[-1] = RecordLoss(
                    last.kind,
                    last.first_segment,
                    seg.number,
                    last.code,
                    last.message,
                    last.travellers,
                    last.message_ref,
                )
            continue
        if in_header or traveller is None:
            _header_segment(seg, q, part, legs, ref, drops, warnings, unknown)
            continue
        try:
            doc = _traveller_segment(traveller, seg, q, doc, ref, drops, warnings, unknown)
        except (ParseError, RecordUnreadable) as exc:
            traveller.lost = RecordUnreadable(exc.code, exc.message, seg.number)
            skipping = True
    for tag, count in sorted(unknown.items()):
        warnings.append(
            f"segment {unh.number}: W_UNKNOWN_SEGMENT: {tag} x{count} ignored in message "
            f"{part.message_ref}"
        )
    part.legs = legs.finish(warnings)
    part.builders = [legs, *travellers]
    part.travellers = travellers
    part.lost = lost
    part.bad_flight = legs.bad_flight
    return part


def _alpha3(value: str, seg: Segment, what: str, warnings: list[str]) -> str | None:
    v = value.strip().upper()
    if not v:
        return None
    if _ALPHA3.fullmatch(v):
        return v
    field = what.replace(" ", "_")
    warnings.append(
        value_warning(seg.number, f"{seg.tag}+{seg.get(1)}", field, v, "is not ISO alpha-3")
    )
    return None


def _complete(parts: list[_Part], warnings: list[str]) -> tuple[tuple[int, ...], bool]:
    head = parts[0]
    numbers = [p.part for p in parts if p.part is not None]
    multipart = bool(numbers) and (len(parts) > 1 or head.final is not None or head.part != 1)
    if not multipart:
        return (), True
    in_order = sorted(numbers) == list(range(1, len(numbers) + 1))  # never sized by the feed
    has_final = any(p.final for p in parts)
    single_unmarked = len(parts) == 1 and head.final is None and head.part == 1
    complete = (in_order and has_final) or single_unmarked
    if not complete:
        warnings.append(
            f"segment {head.first_segment}: W_INCOMPLETE_PARTS: message "
            f"{head.common_access_ref or head.message_ref} has parts "
            f"{','.join(f'{n:02d}' for n in numbers)}"
            f"{'' if has_final else ' and no final (F) part'}"
        )
    return tuple(numbers), complete


def _validated_travellers(parts: list[_Part], lost: list[RecordLoss]) -> list[ApiTraveller]:
    """Validate each traveller's fields; a traveller the contract cannot hold is quarantined."""
    out = []
    for part in parts:
        lost.extend(part.lost)
        for tb in part.travellers:
            if tb.lost is not None:
                lost.append(tb.loss(part.message_ref, tb.lost.code, tb.lost.message))
                continue
            data = tb.finish()
            try:
                out.append(ApiTraveller.model_validate(data))
            except ValidationError as exc:
                lost.append(tb.loss(part.message_ref, "E_BAD_VALUE", _fields_at_fault(exc)))
    return out


def _fields_at_fault(exc: ValidationError) -> str:
    """Name the fields pydantic refused and why, without their values (personal data)."""
    return "; ".join(
        f"field '{'.'.join(str(p) for p in err['loc']) or '(record)'}': {err['msg']}"
        for err in exc.errors()
    )


def _join(
    parts: list[_Part], warnings: list[str], interchange: Interchange, ref: dt.date,
    lost: list[RecordLoss],
) -> PaxlstManifest | None:  # fmt: skip
    """Join the parts of one message into a manifest; a header that cannot be read loses it."""
    parts = sorted(parts, key=lambda p: p.part or 0)
    head = parts[0]
    numbers, complete = _complete(parts, warnings)
    legs = next((p.legs for p in parts if p.legs), [])
    document_code = next((p.document_code for p in parts if p.document_code), None)
    bad_flight = next((p.bad_flight for p in parts if p.bad_flight is not None), None)
    problem = None
    if not legs:
        problem = (
            ("E_BAD_VALUE", "TDT flight is not a carrier and flight number")
            if bad_flight
            else ("E_MISSING_SEGMENT", f"message {head.message_ref} has no TDT flight")
        )
    if problem is not None:
        builders = [tb for p in parts for tb in p.travellers]
        held = len(builders) + sum(x.travellers for p in parts for x in p.lost)
        ends = [tb.last_segment for tb in builders] + [
            x.last_segment for p in parts for x in p.lost
        ]
        last = max(ends, default=head.first_segment)
        code, text = problem
        lost.append(
            RecordLoss("message", head.first_segment, last, code, text, held, head.message_ref)
        )
        return None
    travellers = _validated_travellers(parts, lost)
    if document_code is None:
        crew_only = travellers and all(t.role in ("crew", "transit_crew") for t in travellers)
        document_code = "250" if crew_only else "745"
        warnings.append(
            f"segment {head.first_segment}: W_MISSING_SEGMENT: BGM document_code: message "
            f"{head.message_ref} has no BGM; read as {document_code} from its travellers"
        )
    declared_passengers = next(
        (p.declared_passengers for p in reversed(parts) if p.declared_passengers is not None), None
    )
    declared_crew = next(
        (p.declared_crew for p in reversed(parts) if p.declared_crew is not None), None
    )
    if complete:
        lost_here = sum(x.travellers for p in parts for x in p.lost) + sum(
            tb.lost is not None for p in parts for tb in p.travellers
        )
        pax = sum(t.role in ("passenger", "transit_passenger") for t in travellers)
        crew = len(travellers) - pax
        for declared, actual, who in ((declared_passengers, pax, "passengers"),
                                      (declared_crew, crew, "crew")):  # fmt: skip
            if (
                declared is not None
                and declared != actual
                and not (lost_here and declared <= actual + lost_here)
            ):
                warnings.append(
                    f"segment {head.first_segment}: W_CNT_MISMATCH: CNT declares {declared} "
                    f"{who}, message {head.message_ref} lists {actual}"
                )
    data = {
        "version": head.version,
        "message_ref": head.message_ref,
        "interchange_ref": interchange.unb.get(5) or None,
        "sender": interchange.unb.get(2) or None,
        "recipient": interchange.unb.get(3) or None,
        "prepared": _prepared_or_none(interchange.unb),
        "document_code": document_code,
        "function": next((p.function for p in parts if p.function), None),
        "transaction_ref": next((p.transaction_ref for p in parts if p.transaction_ref), None),
        "reporting_party": next((p.reporting_party for p in parts if p.reporting_party), None),
        "legs": tuple(legs),
        "travellers": tuple(travellers),
        "declared_passengers": declared_passengers,
        "declared_crew": declared_crew,
        "common_access_ref": head.common_access_ref,
        "parts": numbers,
        "complete": complete,
    }
    for leg in legs:
        leg.pop("segment", None)
    try:
        return PaxlstManifest.model_validate(data)
    except ValidationError as exc:
        held = len(travellers)
        lost.append(
            RecordLoss(
                "message",
                head.first_segment,
                head.first_segment,
                "E_BAD_VALUE",
                _fields_at_fault(exc),
                held,
                head.message_ref,
            )
        )
        return None


def _prepared_or_none(unb: Segment) -> dt.datetime | None:
    try:
        return prepared_at(unb)
    except ParseError:
        return None


def reference_date(interchange: Interchange, msg: Message, warnings: list[str]) -> dt.date | None:
    """The date two-digit years resolve against: UNB's, else the message's first flight date.

    Returns None when neither can be read (the message cannot be placed in time).
    """
    try:
        return prepared_at(interchange.unb).date()
    except ParseError:
        pass
    for seg in msg.body:
        if seg.tag in ("DTM", "TVL"):
            value = seg.get(1, 1) if seg.tag == "DTM" else seg.get(1, 0)
            digits = value.strip()
            if seg.tag == "DTM" and len(digits) in (10, 12) and digits.isdigit():
                day = digits[:6] if len(digits) == 10 else digits[2:8]
            elif seg.tag == "TVL" and len(digits) == 6 and digits.isdigit():
                day = digits[4:6] + digits[2:4] + digits[:2]
            else:
                continue
            try:
                found = dt.date(2000 + int(day[:2]), int(day[2:4]), int(day[4:6]))
            except ValueError:
                continue
            warnings.append(
                f"segment {interchange.unb.number}: W_BAD_VALUE: UNB prepared: the preparation "
                f"date cannot be read; two-digit years resolved against the flight date"
            )
            return found
    return None


def parse_paxlst(
    messages: list[tuple[Interchange, Message]],
    drops: DropLog,
    warnings: list[str],
    lost: list[RecordLoss] | None = None,
) -> list[PaxlstManifest]:
    """Read PAXLST messages into manifests, joining the parts of multipart messages.

    Args:
        messages: every PAXLST message of one file with its interchange, in file order.
        drops: where dropped free text is counted.
        warnings: where warnings are appended (``"segment N: W_CODE: text"``).
        lost: where records that cannot be read are quarantined (see :mod:`.loss`).

    Returns:
        One manifest per message (per joined multipart message) that could be read, in
        file order; a message whose flight cannot be read is one ``message`` loss.
    """
    lost = [] if lost is None else lost
    groups: dict[str, list[_Part]] = {}
    order: list[tuple[str, Interchange, dt.date]] = []
    for index, (interchange, msg) in enumerate(messages):
        ref = reference_date(interchange, msg, warnings)
        if ref is None:
            held = sum(1 for seg in msg.body if seg.tag == "NAD" and seg.get(1) in ROLES)
            last = msg.body[-1].number if msg.body else msg.unh.number
            lost.append(
                RecordLoss(
                    "message",
                    msg.unh.number,
                    last,
                    "E_BAD_DATE",
                    "neither the UNB preparation date nor a flight date can be read",
                    held,
                    msg.unh.get(1),
                )
            )
            continue
        part = _message_part(msg, ref, drops, warnings)
        if part.part is not None and part.common_access_ref:
            key = part.common_access_ref
        else:
            key = f"\x00{index}"
        if key not in groups:
            groups[key] = []
            order.append((key, interchange, ref))
        groups[key].append(part)
    manifests = (_join(groups[key], warnings, ic, ref, lost) for key, ic, ref in order)
    return [m for m in manifests if m is not None]
