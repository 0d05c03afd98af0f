"""PAXLST (API) messages to :class:`~apiflag.records.PaxlstManifest` records.

One tolerant reader for D02B, D05B, D12B and D15B: the versions differ in optional segments,
not in the ones read here, so unknown segments are skipped with one warning per tag.

What it decides:

* **Groups.** ``NAD+FL|FM|DDU|DDT`` opens a traveller (passenger, crew, transit passenger,
  transit crew); ``DOC`` opens one of the traveller's documents, whose ``DTM 36`` (expiry),
  ``DTM 182`` (issue) and ``LOC 91`` (issuing country) follow it. ``NAD+MS`` is the reporting
  party. Another ``NAD`` qualifier is skipped with a warning, with its whole group.
* **Flight legs.** Each ``TDT+20`` names a flight; ``LOC 125``/``DTM 189`` give a leg's
  departure, ``LOC 87``/``DTM 232`` its arrival, ``LOC 92`` ends one leg and starts the next
  (multi-leg flights), ``LOC 130`` is the arrival when ``LOC 87`` is absent.
* **Multipart messages.** Messages of one file that share the UNH common access reference
  (element 3) and carry part numbers (element 4, ``01:C`` ... ``nn:F``) are joined into one
  manifest in part order: the header comes from the first part, travellers are concatenated,
  counts from the last part that has them. A missing part or final part gives
  ``complete=False`` and a ``W_INCOMPLETE_PARTS`` warning, never an error: real feeds send
  parts in separate files.
* **BGM** document code (745 passengers, 250 crew, ...) and function (CP, XR, RP, CL, ...) are
  carried on the manifest; the stages that keep history apply them.
* **Two-digit years** resolve against the UNB preparation date (see :mod:`.dates`).
* **Errors vs warnings.** A value the contract cannot hold without guessing (a bad date, an
  unreadable flight, no BGM/TDT, a traveller without surname) is a :class:`ParseError`; a
  value that is merely unusual (an unknown sex code, a bag count that is not a number, a
  country code that is not alpha-3) becomes ``None`` with a warning. Nothing is dropped
  silently.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from apiflag.edifact import dates
from apiflag.edifact.loss import RecordLoss
from apiflag.edifact.sensitive import DropLog
from apiflag.edifact.tokenizer import Interchange, Message, Segment
from apiflag.errors import ParseError
from apiflag.records import (
    Address,
    ApiTraveller,
    Document,
    FlightLeg,
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
        warnings.append(f"segment {seg.number}: W_BAD_VALUE: {what} {v!r} is not a number")
        return None
    if n < 0:
        warnings.append(f"segment {seg.number}: W_BAD_VALUE: {what} {v!r} is negative")
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


class _LegBuilder:
    """Collects TDT/LOC/DTM into flight legs."""

    def __init__(self) -> None:
        self.legs: list[dict[str, Any]] = []
        self.flight: tuple[str, str] | None = None
        self.dep_leg: dict[str, Any] | None = None
        self.arr_leg: dict[str, Any] | None = None
        self.final_destination: str | None = None
        self.opened: list[int] = []  # segment numbers that opened each leg

    def tdt(self, seg: Segment) -> None:
        fid, carrier = seg.get(2), seg.get(5) or None
        parsed = parse_flight_id(fid, carrier)
        if parsed is None:
            raise ParseError(
                "E_BAD_VALUE", f"TDT flight {fid!r} is not a carrier and flight number", seg.number
            )
        self.flight = parsed
        self.dep_leg = self.arr_leg = None

    def _new_leg(self, seg: Segment) -> dict[str, Any]:
        if self.flight is None:
            raise ParseError("E_MISSING_SEGMENT", "flight LOC before any TDT", seg.number)
        leg: dict[str, Any] = {"carrier": self.flight[0], "number": self.flight[1]}
        self.legs.append(leg)
        self.opened.append(seg.number)
        return leg

    def loc(self, seg: Segment, qualifier: str) -> None:
        place = seg.get(2)
        if qualifier == "125":
            current = self.legs[-1] if self.legs and self.dep_leg is not None else None
            if current is None or "departure_airport" in current or "arrival_airport" in current:
                current = self._new_leg(seg)
            current["departure_airport"] = place
            self.dep_leg = current
        elif qualifier == "87":
            current = self.dep_leg if self.dep_leg is not None else None
            if current is None or "arrival_airport" in current:
                current = self._new_leg(seg)
            current["arrival_airport"] = place
            self.arr_leg = current
        elif qualifier == "92":
            current = self.dep_leg
            if current is not None and "arrival_airport" not in current:
                current["arrival_airport"] = place
                self.arr_leg = current
            nxt = self._new_leg(seg)
            nxt["departure_airport"] = place
            self.dep_leg = nxt
        elif qualifier == "130":
            self.final_destination = place

    def dtm(self, seg: Segment, qualifier: str, ref: dt.date) -> None:
        if qualifier == "189" and self.dep_leg is not None:
            self.dep_leg["scheduled_departure"] = dates.near_datetime(
                seg.get(1, 1), ref, seg.number, "departure date/time"
            )
        elif qualifier == "232" and self.arr_leg is not None:
            self.arr_leg["scheduled_arrival"] = dates.near_datetime(
                seg.get(1, 1), ref, seg.number, "arrival date/time"
            )

    def finish(self, check: bool) -> list[Any]:
        if self.legs and "arrival_airport" not in self.legs[-1] and self.final_destination:
            self.legs[-1]["arrival_airport"] = self.final_destination
        out = []
        for leg, number in zip(self.legs, self.opened, strict=True):
            if "departure_airport" not in leg or "arrival_airport" not in leg:
                raise ParseError(
                    "E_MISSING_SEGMENT",
                    f"flight leg {leg['carrier']}{leg['number']} lacks LOC 125 or LOC 87",
                    number,
                )
            out.append(_build(FlightLeg, leg, number, "flight leg", check))
        return out


class _TravellerBuilder:
    """Collects one NAD group into an ApiTraveller."""

    def __init__(self, seg: Segment, role: str) -> None:
        self.segment = seg.number
        names = seg.fields(4, 1)
        surname = names[0]
        given = " ".join(filter(None, names[1:])) or None
        if not surname and seg.get(3):  # unstructured "SURNAME/GIVEN" in element 3
            name = seg.get(3)
            surname, _, rest = name.partition("/")
            given = rest.strip() or None
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

    def finish(self, check: bool) -> Any:
        docs = tuple(
            _build(Document, d, n, "document", check)
            for d, n in zip(self.documents, self.doc_segments, strict=True)
        )
        data = dict(self.data)
        if "address" in data:
            data["address"] = _build(
                Address, data["address"], self.segment, "traveller address", check
            )
        data["documents"] = docs
        return _build(ApiTraveller, data, self.segment, "traveller", check)


def _message_part(
    msg: Message,
    ref: dt.date,
    drops: DropLog,
    warnings: list[str],
) -> _Part:
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
    legs = _LegBuilder()
    traveller: _TravellerBuilder | None = None
    travellers: list[_TravellerBuilder] = []
    doc: dict[str, Any] | None = None
    skipping = False  # inside a NAD group of an unknown party
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
            traveller = _TravellerBuilder(seg, role)
            if not traveller.data["surname"]:
                raise ParseError("E_BAD_VALUE", "traveller NAD has no surname", seg.number)
            travellers.append(traveller)
            continue
        if tag == "CNT":
            skipping, traveller, doc = False, None, None
            for comps in seg.elements[1:]:
                kind = comps[0].strip() if comps else ""
                value = comps[1] if len(comps) > 1 else ""
                n = _int(value, seg, f"CNT {kind}", warnings)
                if kind == "42":
                    part.declared_passengers = n
                elif kind == "41":
                    part.declared_crew = n
            continue
        if skipping:
            continue
        if in_header:
            if tag == "BGM":
                part.document_code = q or None
                part.function = seg.get(2) or None
            elif tag == "RFF":
                if q == "TN":
                    part.transaction_ref = seg.get(1, 1) or None
            elif tag == "TDT":
                legs.tdt(seg)
            elif tag == "LOC":
                legs.loc(seg, q)
            elif tag == "DTM":
                legs.dtm(seg, q, ref)
            elif tag == "FTX":
                drops.drop(f"FTX:{q or '?'}")
            elif tag not in _QUIET:
                unknown[tag] += 1
            continue
        assert traveller is not None
        t = traveller.data
        if tag == "DOC":
            number = seg.get(2)
            if not number:
                warnings.append(f"segment {seg.number}: W_BAD_VALUE: DOC without a number skipped")
                doc = {}
                continue
            doc = {"type": seg.get(1, 0).upper() or "P", "number": number}
            traveller.documents.append(doc)
            traveller.doc_segments.append(seg.number)
        elif tag == "DTM":
            value = seg.get(1, 1)
            if q == "329":
                t["date_of_birth"] = dates.past(value, ref, seg.number, what="date of birth")
            elif doc is not None and q == "36":
                if doc:
                    doc["expiry_date"] = dates.expiry(value, ref, seg.number)
            elif doc is not None and q == "182":
                if doc:
                    doc["issue_date"] = dates.past(value, ref, seg.number, what="issue date")
        elif tag == "LOC":
            place = seg.get(2) or seg.get(2, 3)
            if q == "91":
                if doc:
                    doc["issuing_country"] = _alpha3(place, seg, "issuing country", warnings)
            elif q == "174":
                t["country_of_residence"] = place or None
            elif q == "178":
                t["embarkation"] = place or None
            elif q == "179":
                t["debarkation"] = place or None
            elif q == "180":
                t["place_of_birth"] = (
                    " ".join(c.strip() for c in seg.element(2) if c.strip()) or None
                )
        elif tag == "ATT":
            raw = seg.get(3).upper()
            sex = _SEX.get(raw)
            if raw and sex is None:
                warnings.append(f"segment {seg.number}: W_BAD_VALUE: sex code {raw!r} not M/F/X/U")
            t["sex"] = sex
        elif tag == "NAT":
            t["nationality"] = _alpha3(seg.get(2), seg, "nationality", warnings)
        elif tag == "RFF":
            ref_value = seg.get(1, 1) or None
            if q == "AVF":
                t["record_locator"] = ref_value
            elif q == "ABO":
                t["passenger_reference"] = ref_value
            elif q == "SEA":
                t["seat"] = ref_value
            elif q == "CR":
                t["frequent_flyer"] = ref_value
        elif tag == "MEA":
            value = seg.get(3, 1)
            if q == "CT":
                t["checked_bags"] = _int(value, seg, "bag count", warnings)
            elif q == "WT" and value:
                try:
                    weight = float(value)
                except ValueError:
                    warnings.append(
                        f"segment {seg.number}: W_BAD_VALUE: bag weight {value!r} not a number"
                    )
                else:
                    unit = seg.get(3, 0).upper()
                    if unit in ("LBR", "LB", "LBS"):
                        weight = round(weight * _LB_TO_KG, 1)
                    t["bag_weight_kg"] = weight if weight >= 0 else None
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
            raise ParseError("E_UNEXPECTED_SEGMENT", f"{tag} after the travellers", seg.number)
        elif tag not in _QUIET:
            unknown[tag] += 1
    for tag, count in sorted(unknown.items()):
        warnings.append(
            f"segment {unh.number}: W_UNKNOWN_SEGMENT: {tag} x{count} ignored in message "
            f"{part.message_ref}"
        )
    part.legs = legs.finish(check=False)
    part.travellers = [tb.finish(check=False) for tb in travellers]
    part.builders = [legs, *travellers]
    return part


def _alpha3(value: str, seg: Segment, what: str, warnings: list[str]) -> str | None:
    v = value.strip().upper()
    if not v:
        return None
    if _ALPHA3.fullmatch(v):
        return v
    warnings.append(f"segment {seg.number}: W_BAD_VALUE: {what} {v!r} is not ISO alpha-3")
    return None


def _join(parts: list[_Part], warnings: list[str], interchange: Interchange) -> PaxlstManifest:
    parts = sorted(parts, key=lambda p: p.part or 0)
    head = parts[0]
    numbers = [p.part for p in parts if p.part is not None]
    multipart = bool(numbers) and (len(parts) > 1 or head.final is not None or head.part != 1)
    complete = True
    if multipart:
        expected = list(range(1, max(numbers) + 1))
        has_final = any(p.final for p in parts)
        single_unmarked = len(parts) == 1 and head.final is None and head.part == 1
        complete = (numbers == expected and has_final) or single_unmarked
        if not complete:
            warnings.append(
                f"segment {head.first_segment}: W_INCOMPLETE_PARTS: message "
                f"{head.common_access_ref or head.message_ref} has parts "
                f"{','.join(f'{n:02d}' for n in numbers)}"
                f"{'' if has_final else ' and no final (F) part'}"
            )
    legs = next((p.legs for p in parts if p.legs), [])
    document_code = next((p.document_code for p in parts if p.document_code), None)
    if not legs:
        raise ParseError(
            "E_MISSING_SEGMENT", f"message {head.message_ref} has no TDT flight", head.first_segment
        )
    if document_code is None:
        raise ParseError(
            "E_MISSING_SEGMENT", f"message {head.message_ref} has no BGM", head.first_segment
        )
    travellers = [t for p in parts for t in p.travellers]
    declared_passengers = next(
        (p.declared_passengers for p in reversed(parts) if p.declared_passengers is not None), None
    )
    declared_crew = next(
        (p.declared_crew for p in reversed(parts) if p.declared_crew is not None), None
    )
    if complete:
        pax = sum(t["role"] in ("passenger", "transit_passenger") for t in travellers)
        crew = len(travellers) - pax
        for declared, actual, who in ((declared_passengers, pax, "passengers"),
                                      (declared_crew, crew, "crew")):  # fmt: skip
            if declared is not None and declared != actual:
                warnings.append(
                    f"segment {head.first_segment}: W_CNT_MISMATCH: CNT declares {declared} "
                    f"{who}, message {head.message_ref} lists {actual}"
                )
    prepared = prepared_at(interchange.unb)
    data = {
        "version": head.version,
        "message_ref": head.message_ref,
        "interchange_ref": interchange.unb.get(5) or None,
        "sender": interchange.unb.get(2) or None,
        "recipient": interchange.unb.get(3) or None,
        "prepared": prepared,
        "document_code": document_code,
        "function": next((p.function for p in parts if p.function), None),
        "transaction_ref": next((p.transaction_ref for p in parts if p.transaction_ref), None),
        "reporting_party": next((p.reporting_party for p in parts if p.reporting_party), None),
        "legs": tuple(legs),
        "travellers": tuple(travellers),
        "declared_passengers": declared_passengers,
        "declared_crew": declared_crew,
        "common_access_ref": head.common_access_ref,
        "parts": tuple(numbers) if multipart else (),
        "complete": complete,
    }
    try:
        return PaxlstManifest.model_validate(data)
    except ValidationError as exc:
        for part in parts:  # find the traveller or leg at fault, with its segment number
            for builder in part.builders:
                builder.finish(check=True)
        raise ParseError(
            "E_BAD_VALUE", describe_validation_error(exc, "manifest"), head.first_segment
        ) from None


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
        One manifest per message (per joined multipart message), in file order.

    Raises:
        ParseError: on the defects listed in the module docstring.
    """
    groups: dict[str, list[_Part]] = {}
    order: list[tuple[str, Interchange]] = []
    for index, (interchange, msg) in enumerate(messages):
        ref = prepared_at(interchange.unb).date()
        part = _message_part(msg, ref, drops, warnings)
        if part.part is not None and part.common_access_ref:
            key = part.common_access_ref
        else:
            key = f"\x00{index}"
        if key not in groups:
            groups[key] = []
            order.append((key, interchange))
        groups[key].append(part)
    return [_join(groups[key], warnings, interchange) for key, interchange in order]
