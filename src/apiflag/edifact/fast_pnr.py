"""The fast columnar reader's PNRGOV part (see :mod:`.fast`).

The same state machine as :class:`apiflag.edifact.pnrgov._Reader` (level 0, ``SRC`` bookings,
``TIF`` travellers, ``FOP`` payments, ``TVL`` legs and check-in), on raw element lists, keeping
only what the warehouse stores. Anything the tolerant reader would warn about, skip as
non-air or history, or refuse raises :class:`~apiflag.edifact.fast_base.Unsupported`, and the
file goes to the tolerant reader. Names, titles, e-mails and phones go through the tolerant
reader's own functions, so each decision stays in one place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from types import SimpleNamespace
from typing import Any

from apiflag.edifact import dates
from apiflag.edifact.fast_base import (
    AIRPORT,
    CARRIER,
    DOC_TYPE,
    Envelope,
    add_documents,
    check,
    elements,
    fields,
    get,
    leg_record,
    segment,
)
from apiflag.edifact.pnrgov import (
    DATE_SHAPE,
    DDMMMYY_RE,
    STATUS_COUNT,
    decode_email,
    docs_aligned,
    phone_of,
    same_name,
    split_title,
    stamp_parts,
    tvl_leg,
)
from apiflag.edifact.pnrgov import PNR_SEX as _PNR_SEX
from apiflag.edifact.pnrgov import QUIET_SEGMENTS as _PNR_QUIET
from apiflag.edifact.rows import RowBatch, flight_fields
from apiflag.edifact.sensitive import CONTACT_PHONE_CODES, KEPT_SSR_CODES
from apiflag.normalise import normalise_contact

__all__ = ["read_pnr_message"]

_FORM = re.compile(r"[A-Z]{2}")
_LEVEL0 = frozenset({"SRC", "MSG", "ORG", "TVL", "EQN", "DAT"}) | _PNR_QUIET


class _Person:
    """One TIF (or an infant from SSR DOCS/INFT): what the pnr_travellers row needs."""

    __slots__ = ("data", "docs_names", "documents", "given", "infant_of", "ptype", "ref",
                 "segment", "surname")  # fmt: skip

    def __init__(
        self, ref: str, segment: int, surname: str, given: str, ptype: str | None,
        infant_of: str | None = None,
    ) -> None:  # fmt: skip
        self.ref, self.segment, self.surname, self.given = ref, segment, surname, given
        self.ptype, self.infant_of = ptype, infant_of
        self.data: dict[str, Any] = {}
        self.documents: list[dict[str, Any]] = []
        self.docs_names: tuple[str, str | None] | None = None


class _Booking:
    __slots__ = ("contacts", "data", "legs", "payments", "people", "segment", "sponsor")

    def __init__(self, segment: int) -> None:
        self.segment = segment
        self.data: dict[str, Any] = {}
        self.people: list[_Person] = []
        self.contacts: list[tuple[str, str, str | None, str]] = []
        self.payments: list[dict[str, Any]] = []
        self.legs: list[dict[str, Any]] = []
        self.sponsor: dict[str, Any] = {}

    def person(self, ref: str) -> _Person | None:
        return next((t for t in self.people if t.ref == ref), None)

    def contact(self, kind: str, value: str | None, ref: str | None, source: str) -> None:
        if value:
            item = (kind, value, ref, source)
            if item not in self.contacts:
                self.contacts.append(item)


class _Reader:
    """One message's body, as ``pnrgov._Reader`` reads a clean one."""

    def __init__(self, ref: dt.date, drops: Counter[str]) -> None:
        self.ref = ref
        self.drops = drops
        self.booking: _Booking | None = None
        self.person: _Person | None = None
        self.section = "header"
        self.fop: list[dict[str, Any]] = []
        self.bookings: list[_Booking] = []
        self.push_type = "full"
        self.flight: dict[str, Any] | None = None
        self.declared: int | None = None

    def level0(self, p: list[str], tag: str, n: int) -> None:
        if tag == "SRC":
            self.booking = _Booking(n)
            self.bookings.append(self.booking)
            self.section, self.person, self.fop = "booking", None, []
        elif tag == "MSG":
            code = get(p, 1, 1) or get(p, 1, 0)
            self.push_type = "changed" if code == "141" else "full"
        elif tag == "TVL":
            if self.flight is None:
                leg, problems = tvl_leg(segment(p, n), self.ref, "flight")
                check(not problems)  # W_BAD_VALUE
                leg.pop("booking_class", None)
                self.flight = leg
        elif tag == "EQN":
            count = get(p, 1)
            self.declared = int(count) if count.isdigit() else None
        elif tag == "SSR":
            self.drops[get(p, 1).upper() or "?"] += 1
        elif tag == "IFT":
            q = ":".join(c for c in p[1].split(":") if c) if len(p) > 1 else ""
            self.drops["OSI" if q.startswith("4:28") else f"IFT:{q or '?'}"] += 1
        elif tag == "LTS":
            self.drops["LTS"] += 1
        else:
            check(tag in _LEVEL0)

    def read(self, p: list[str], tag: str, n: int) -> None:
        b = self.booking
        if b is None:
            self.level0(p, tag, n)
        elif tag == "SSR":
            self.ssr(b, p, n)
        elif tag == "TIF":
            self.tif(b, p, n)
        elif tag == "TVL":
            b.legs.append(_itinerary_leg(p, n, self.ref))
            self.section, self.person = "leg", None
        elif tag == "TKT":
            if self.section == "fop":
                self.section = "traveller"
        elif tag == "SRC":
            self.level0(p, tag, n)
        elif tag in ("RCI", "DAT", "ORG"):
            self.booking_data(b, p, tag, n)
        elif tag in ("FOP", "IFT", "ADD"):
            self.money(b, p, tag)
        else:
            self.other(b, p, tag)

    def other(self, b: _Booking, p: list[str], tag: str) -> None:
        if tag == "FTI":
            if self.person is not None and self.section == "traveller":
                number = get(p, 1, 1)
                if number:
                    self.person.data["frequent_flyer"] = number
        elif tag == "TRI":
            if self.section in ("leg", "checkin"):
                self.section = "checkin"
        elif tag == "TBD":
            _bags(p)
        elif tag == "LTS":
            self.drops["LTS"] += 1
        else:  # MSG/EQN/ABI in a booking: non-air, split or history; or an unknown tag
            check(tag in ("RPI", "SSD") or tag in _PNR_QUIET)

    def booking_data(self, b: _Booking, p: list[str], tag: str, n: int) -> None:
        if tag == "RCI":
            check(self.section != "split")
            if "record_locator" in b.data:
                return
            e1 = fields(p, 1, 5)
            b.data["carrier"] = e1[0] or None
            b.data["record_locator"] = e1[1]
            if not DATE_SHAPE.fullmatch(e1[3]):  # a date moved elsewhere: the tolerant reader
                check(not any(DATE_SHAPE.fullmatch(x) for x in e1[2:]) and not any(e1[3:]))
            if e1[3]:
                b.data["created"] = _stamp(e1[3], e1[4], self.ref, n)
        elif tag == "DAT":
            if self.section in ("leg", "checkin"):
                self.section = "checkin"
                return
            for element in p[1:]:
                comps = element.split(":")
                if comps[0] == "700" and len(comps) > 1 and comps[1]:
                    clock = comps[2] if len(comps) > 2 else ""
                    b.data["last_transaction"] = _stamp(comps[1], clock, self.ref, n)
        elif self.section == "booking":  # ORG of the booking, not of the sender or check-in
            e1, e6 = fields(p, 1, 2), fields(p, 6, 2)
            agency = (e1[0], e1[1], get(p, 2), get(p, 5), e6[0], e6[1])
            if any(agency):
                b.data["agency"] = agency

    def money(self, b: _Booking, p: list[str], tag: str) -> None:
        if tag == "FOP":
            self.fop = []
            for element in p[1:]:
                c = element.split(":") + [""] * 6
                form = c[0].upper()
                if not form:
                    continue
                check(bool(_FORM.fullmatch(form)))
                amount = float(c[2].replace(",", ".")) if c[2] else None
                payment = {"form": form, "amount": amount, "masked_card": c[4] or None}
                b.payments.append(payment)
                self.fop.append(payment)
            self.section = "fop"
        elif tag == "IFT":
            self.ift(b, p)
        else:
            self.add(b, p)

    def ift(self, b: _Booking, p: list[str]) -> None:
        q = ":".join(c for c in p[1].split(":")[:2] if c) if len(p) > 1 else ""
        raw = [" ".join(c for c in el.split(":") if c) for el in p[2:]]
        if q == "4:43":
            name = raw[0] if raw and raw[0] else None
            phone = next((x for x in map(phone_of, raw[1:]) if x), None)
            if self.section == "fop" and self.fop:
                for pay in self.fop:
                    pay.setdefault("payer_name", name)
                    pay.setdefault("payer_phone", phone)
            else:
                b.sponsor = {"payer_name": name, "payer_phone": phone}
            return
        person = self.person if self.section in ("traveller", "fop") else None
        ref = person.ref if person is not None else None
        if q.startswith("4:28") or q == "4":
            for line in (x for x in raw if x):
                if not self.contact_line(b, line, ref, "IFT"):
                    self.drops["OSI"] += 1
            return
        self.drops[f"IFT:{q or '?'}"] += 1

    def add(self, b: _Booking, p: list[str]) -> None:
        element = p[2].split(":") if len(p) > 2 else []
        if not element and len(p) > 1 and ":" in p[1]:  # the empty first element left out
            element = p[1].split(":")
        comps = element + [""] * 8
        kind = comps[0].upper()
        street, city, state, country, postcode, extra = (
            comps[1], comps[2], comps[3], comps[5], comps[6], comps[7],
        )  # fmt: skip
        has_address = any((street, city, state, postcode, country))
        ref = self.person.ref if self.section == "traveller" and self.person else None
        if self.section == "fop" and self.fop:
            return
        if has_address:
            text = ", ".join(v for v in (street, city, state, postcode, country) if v)
            b.contact("address", text, ref, "ADD")
        if extra:
            if kind == "E" or "CTCE" in extra.upper() or "//" in extra or "@" in extra:
                value = extra.upper().replace("CTCE", "").strip()
                b.contact("email", decode_email(value), ref, "ADD")
            elif phone_of(extra):
                b.contact("phone", phone_of(extra), ref, "ADD")

    def contact_line(self, b: _Booking, text: str, ref: str | None, source: str) -> bool:
        t = text.strip()
        code, value = t[:4].upper(), t[4:].strip()
        if code == "CTCE":
            b.contact("email", decode_email(value), ref, "CTCE")
        elif code in CONTACT_PHONE_CODES:
            b.contact("phone", phone_of(value), ref, code)
        elif code == "CTCA":
            b.contact("address", value.lstrip("/") or None, ref, "CTCA")
        else:
            return False
        return True

    def tif(self, b: _Booking, p: list[str], n: int) -> None:
        e1 = p[1].split(":") if len(p) > 1 else [""]
        e2 = (p[2].split(":") if len(p) > 2 else []) + ["", "", ""]
        surname, given = e1[0].upper(), e2[0].upper()
        ptype, ref = e2[1].upper() or None, e2[2]
        if ptype is None and len(e1) > 1 and e1[1].upper() == "I":
            ptype = "IN"
        if self.section in ("leg", "checkin"):  # a check-in TIF names a booked traveller
            found = b.person(ref) if ref else None
            if found is None:
                found = next(
                    (t for t in b.people if t.surname == surname and t.given == given), None
                )
            check(found is not None)  # else W_UNKNOWN_TRAVELLER
            return
        check(bool(surname))
        if not ref:
            ref = str(len(b.people) + 1)
            while b.person(ref) is not None:
                ref += "'"
        self.person = _Person(ref, n, surname, given, ptype)
        b.people.append(self.person)
        self.section = "traveller"

    def target(self, b: _Booking, p: list[str]) -> _Person | None:
        ref = get(p, 2, 2)
        if ref:
            found = b.person(ref)
            if found is not None:
                return found
        if self.section in ("traveller", "fop") and self.person is not None:
            return self.person
        return b.people[0] if len(b.people) == 1 else None

    def ssr(self, b: _Booking, p: list[str], n: int) -> None:
        code = get(p, 1).upper()
        if code not in KEPT_SSR_CODES:
            self.drops[code or "?"] += 1
            return
        if code in ("SEAT", "NSST", "RQST", "FQTV", "TKNE", "CHLD", "UMNR"):
            return  # seats are not warehouse columns; they cannot fail a contract
        text = _ssr_text(p)
        target = self.target(b, p)
        if code == "CTCE" or code in CONTACT_PHONE_CODES:
            owner = None
            if target is not None and (self.section != "booking" or get(p, 2, 2)):
                owner = target.ref
            self.contact_line(b, f"{code} {text}", owner, "SSR")
            return
        check(target is not None)  # else W_UNKNOWN_TRAVELLER
        assert target is not None
        if code == "DOCS":
            self.docs(b, target, text, n)
        elif code == "DOCO":
            _doco(target, text, self.ref, n)
        elif code == "DOCA":
            _doca(b, target, text)
        else:
            self.inft(b, target, text, n)

    def docs(self, b: _Booking, t: _Person, text: str, n: int) -> None:
        flat = text.strip().upper()
        if flat[:1] == "/":  # one leading slash; more are empty items
            flat = flat[1:]
        f = flat.split("/")
        if " " in flat or not flat.isprintable():
            f = [x.strip() for x in f]
        if f and STATUS_COUNT.fullmatch(f[0]):
            f = f[1:]
        if len(f) < 6 or f[5] not in _PNR_SEX or not DDMMMYY_RE.fullmatch(f[4]):
            f = docs_aligned(f)
        f += [""] * (11 - len(f))
        doc_type, issuer, number, nationality, dob, sex, expiry = f[:7]
        surname, given, middle = f[7], f[8], " ".join(filter(None, f[9:]))
        if sex in ("MI", "FI"):
            t = self.infant(b, t, surname, given, n)
        check(not sex or sex in _PNR_SEX)  # else W_BAD_VALUE, a degraded traveller
        if nationality:
            t.data["nationality"] = _alpha3(nationality)
            check(t.data["nationality"] is not None)
        if dob:
            t.data["date_of_birth"] = dates.past(dob, self.ref, n, order="dmy", what="DOCS")
        if sex:
            t.data["sex"] = _PNR_SEX.get(sex)
        if surname:
            check(t.ptype == "IN" or same_name(surname, t.surname))  # else W_BAD_VALUE
            named = (f"{given} {middle}" if middle else given) if given else (middle or None)
            t.docs_names = (surname, named)
        if number:
            doc_type = doc_type or "P"
            check(bool(DOC_TYPE.fullmatch(doc_type)) and len(number) <= 35)
            check(not issuer or _alpha3(issuer) is not None)
            doc: dict[str, Any] = {"type": doc_type, "number": number,
                                   "issuing_country": _alpha3(issuer)}  # fmt: skip
            if expiry:
                doc["expiry_date"] = dates.expiry(expiry, self.ref, n, order="dmy")
            t.documents.append(doc)

    def inft(self, b: _Booking, t: _Person, text: str, n: int) -> None:
        tokens = [x for x in re.split(r"[/\s]+", text.strip().upper()) if x]
        dob = next((x for x in tokens if DDMMMYY_RE.fullmatch(x)), None)
        names = [x for x in tokens if x != dob and not STATUS_COUNT.fullmatch(x)]
        infant = self.infant(b, t, names[0] if names else t.surname, " ".join(names[1:]), n)
        if dob:
            infant.data["date_of_birth"] = dates.past(dob, self.ref, n, order="dmy", what="INFT")

    @staticmethod
    def infant(b: _Booking, adult: _Person, surname: str, given: str, n: int) -> _Person:
        """``pnrgov._Reader._infant_for``: the adult's infant, or a new one (twins apart)."""
        infants = 0
        for t in b.people:
            if t.ptype == "IN" and (t.infant_of == adult.ref or t.surname == surname):
                infants += t.infant_of == adult.ref
                named = t.docs_names
                if (
                    named is not None
                    and given
                    and not (named[0] == surname and (named[1] or "").startswith(given))
                ):
                    continue  # another infant's DOCS already named this one
                if not given or t.given.startswith(given) or t.infant_of == adult.ref:
                    return t
        ref = f"{adult.ref}I{infants + 1 if infants else ''}"
        infant = _Person(ref, n, surname or adult.surname, given, "IN", adult.ref)
        b.people.append(infant)
        return infant


_CODES: dict[str, str | None] = {}


def _alpha3(value: str) -> str | None:
    """``pnrgov._alpha3``: an ISO alpha-3 code, else None (remembered per value)."""
    got = _CODES.get(value, "")
    if got == "":
        v = value.strip().upper()
        got = v if AIRPORT.fullmatch(v) else None
        if len(_CODES) < 4096:
            _CODES[value] = got
    return got


def _ssr_text(p: list[str]) -> str:
    comps = p[1].split(":") if len(p) > 1 else []
    if len(comps) > 8 and comps[8].strip():
        return comps[8].strip()
    for c in reversed(comps[4:]):
        if c.strip():
            return c.strip()
    rest = [" ".join(c for c in el.split(":") if c) for el in p[2:]]
    return " ".join(r for r in rest if r)


def _doco(t: _Person, text: str, ref: dt.date, n: int) -> None:
    f = [x.strip().upper() for x in text.strip().lstrip("/").split("/")] + [""] * 7
    doc_type, number, issue_date, country = f[1], f[2], f[4], f[5]
    if not number or doc_type not in ("V", "VI"):
        return
    check(len(number) <= 35 and (not country or _alpha3(country) is not None))
    doc: dict[str, Any] = {"type": "V", "number": number, "issuing_country": _alpha3(country)}
    if issue_date:
        doc["issue_date"] = dates.past(issue_date, ref, n, order="dmy", what="DOCO issue date")
    t.documents.append(doc)


def _doca(b: _Booking, t: _Person, text: str) -> None:
    value = text.strip().lstrip("/")
    f = [x.strip() for x in value.split("/")]
    if len(f) >= 4 and f[0] in ("R", "D"):
        value = ", ".join(x for x in f[2:6] + [f[1]] if x)
    b.contact("address", value or None, t.ref, "DOCA")


def _bags(p: list[str]) -> None:
    """A TBD the Bag contract would refuse (a negative or NaN weight) needs the tolerant reader."""
    if not get(p, 2).isdigit():
        return
    w = get(p, 2, 1)
    if w:
        try:
            weight = float(w)
        except ValueError:
            return
        check(weight >= 0)


_STAMPS: dict[tuple[str, str, dt.date], dt.datetime] = {}


def _stamp(day: str, clock: str, ref: dt.date, n: int) -> dt.datetime:
    """A ``DDMMYY`` date and optional ``HHMM`` time (RCI, DAT), as the tolerant reader reads them."""
    key = (day, clock, ref)
    got = _STAMPS.get(key)
    if got is None:
        day, clock = stamp_parts(day, clock)  # DDMMYYHHMM in one component
        date = dates.near(day, ref, n, order="dmy", what="booking date")
        got = dt.datetime.combine(date, dates.time_of(clock, n, "time") if clock else dt.time())
        if len(_STAMPS) >= 65536:
            _STAMPS.clear()
        _STAMPS[key] = got
    return got


_LEGS: dict[tuple[str, dt.date], dict[str, Any]] = {}


def _itinerary_leg(p: list[str], n: int, ref: dt.date) -> dict[str, Any]:
    """An itinerary TVL as ``pnrgov._tvl_leg`` reads it, checked against the contract once.

    Legs recur in most bookings of a push: the same text against the same reference date is
    read once (the dict is shared, never changed: only the columns read it).
    """
    key = ("+".join(p), ref)
    leg = _LEGS.get(key)
    if leg is None:
        leg, problems = tvl_leg(segment(p, n), ref, "itinerary")
        check(not problems)  # W_BAD_VALUE, a degraded booking
        check(bool(CARRIER.fullmatch(leg["carrier"])))
        check(bool(AIRPORT.fullmatch(leg["departure_airport"])))
        check(bool(AIRPORT.fullmatch(leg["arrival_airport"])))
        if len(_LEGS) >= 16384:
            _LEGS.clear()
        _LEGS[key] = leg
    return leg


def read_pnr_message(
    batch: RowBatch, env: Envelope, unh: list[str], body: list[str], first: int,
    ref: dt.date, drops: Counter[str], index: int, file: str, sha: str, night: dt.date,
) -> SimpleNamespace:  # fmt: skip
    """Read one PNRGOV message into the batch's columns (``Unsupported`` when not plain).

    Returns:
        The push as the per-carrier accounting reads it (see :func:`.fast.accounting_view`).
    """
    reader = _Reader(ref, drops)
    for n, raw in enumerate(body, first + 1):
        p = elements(raw)
        reader.read(p, p[0], n)
    check(reader.flight is not None)
    assert reader.flight is not None
    flight = leg_record(reader.flight)
    check(reader.declared is None or reader.declared == len(reader.bookings))
    for b in reader.bookings:
        check(bool(b.data.get("record_locator")))
    _add_pnr(batch, env, unh, flight, reader, (index, file, sha))
    bookings = [
        SimpleNamespace(
            segment=b.segment,
            travellers=[SimpleNamespace(segment=t.segment, degraded=()) for t in b.people],
        )
        for b in reader.bookings
    ]
    return SimpleNamespace(
        flight=flight, bookings=bookings, message_ref=get(unh, 1),
        common_access_ref=get(unh, 3) or None,
    )  # fmt: skip


def _add_pnr(
    batch: RowBatch, env: Envelope, unh: list[str], flight: Any, reader: _Reader,
    where: tuple[int, str, str],
) -> None:  # fmt: skip
    """The columns ``RowBatch.add_pnr`` fills from a push record, from the reader's state."""
    index, file, sha = where
    msg = len(batch.metas)
    stem = f"{sha[:16]}-{index}"
    B = reader.bookings
    bids = [f"B-{stem}-{b.segment}" for b in B]
    agencies = [b.data.get("agency") or (None,) * 6 for b in B]
    batch.extend(
        "bookings", msg, len(B), booking_id=bids,
        record_locator=[b.data["record_locator"] for b in B],
        carrier=[b.data.get("carrier") for b in B], created=[b.data.get("created") for b in B],
        last_transaction=[b.data.get("last_transaction") for b in B],
        agency_id=[a[2] or None for a in agencies],
        agency_location=[a[1] or None for a in agencies],
        agency_country=[a[4] or None for a in agencies], push_type=reader.push_type,
        n_travellers=[len(b.people) for b in B], message_sha256=sha,
        segment=[b.segment for b in B],
    )  # fmt: skip
    people = [
        (bid, b, t, f"P-{stem}-{t.segment}")
        for bid, b in zip(bids, B, strict=True)
        for t in b.people
    ]
    rows = [_person_row(t) for _, _, t, _ in people]
    batch.extend(
        "pnr_travellers", msg, len(people), pnr_traveller_id=[pid for _, _, _, pid in people],
        booking_id=[bid for bid, _, _, _ in people],
        record_locator=[b.data["record_locator"] for _, b, _, _ in people],
        ref=[t.ref for _, _, t, _ in people], surname=[r[0] for r in rows],
        given_names=[r[1] for r in rows], title=[r[2] for r in rows],
        passenger_type=[t.ptype for _, _, t, _ in people],
        sex=[t.data.get("sex") for _, _, t, _ in people],
        date_of_birth=[t.data.get("date_of_birth") for _, _, t, _ in people],
        nationality=[t.data.get("nationality") for _, _, t, _ in people],
        frequent_flyer=[t.data.get("frequent_flyer") for _, _, t, _ in people],
        degraded=[[] for _ in people], message_sha256=sha, segment=[t.segment for _, _, t, _ in people],
    )  # fmt: skip
    add_documents(batch, msg, "pnr", [(pid, t.segment, t.documents) for _, _, t, pid in people],
                  sha)  # fmt: skip
    pid_of = {(bid, t.ref): pid for bid, _, t, pid in reversed(people)}  # first wins
    contacts = [(bid, b, c) for bid, b in zip(bids, B, strict=True) for c in b.contacts]
    batch.extend(
        "booking_contacts", msg, len(contacts), booking_id=[bid for bid, _, _ in contacts],
        pnr_traveller_id=[pid_of.get((bid, c[2])) if c[2] else None for bid, _, c in contacts],
        kind=[c[0] for _, _, c in contacts], value=[c[1] for _, _, c in contacts],
        normalized=[normalise_contact(c[0], c[1]) for _, _, c in contacts],
        source=[c[3] for _, _, c in contacts], message_sha256=sha,
        segment=[b.segment for _, b, _ in contacts],
    )  # fmt: skip
    _add_money_and_legs(batch, msg, B, bids, sha)
    batch.metas.append(
        {
            "kind": "PNRGOV", "file": file, "sha256": sha, "index": index,
            "message_ref": get(unh, 1), "flight": flight_fields(flight),
            "prepared": env.prepared, "push_type": reader.push_type,
        }
    )  # fmt: skip


_TITLES: dict[tuple[str, str | None], tuple[str, str | None]] = {}


def _split_title(given: str, docs_given: str | None) -> tuple[str, str | None]:
    key = (given, docs_given)
    got = _TITLES.get(key)
    if got is None:
        got = split_title(given, docs_given)
        if len(_TITLES) >= 65536:
            _TITLES.clear()
        _TITLES[key] = got
    return got


def _person_row(t: _Person) -> tuple[str, str | None, str | None]:
    """Surname, given names and title as ``pnrgov._Reader._booking_dict`` decides them."""
    if t.docs_names:
        surname, given = t.docs_names
        return surname, given or None, _split_title(t.given, given)[1]
    given_tif, title = _split_title(t.given, None)
    return t.surname, given_tif or None, title


def _add_money_and_legs(
    batch: RowBatch, msg: int, B: list[_Booking], bids: list[str], sha: str
) -> None:
    pays = []
    for bid, b in zip(bids, B, strict=True):
        for p in b.payments:
            if b.sponsor:
                p = dict(p)
                for key, value in b.sponsor.items():
                    if p.get(key) is None:
                        p[key] = value
            pays.append((bid, b, p))
    batch.extend(
        "payments", msg, len(pays), booking_id=[bid for bid, _, _ in pays],
        form=[p["form"] for _, _, p in pays], amount=[p["amount"] for _, _, p in pays],
        masked_card=[p["masked_card"] for _, _, p in pays],
        payer_name=[p.get("payer_name") for _, _, p in pays],
        payer_phone=[p.get("payer_phone") for _, _, p in pays],
        message_sha256=sha, segment=[b.segment for _, b, _ in pays],
    )  # fmt: skip
    legs = [
        (bid, b, seq, leg)
        for bid, b in zip(bids, B, strict=True)
        for seq, leg in enumerate(b.legs, 1)
    ]
    batch.extend(
        "itinerary", msg, len(legs), booking_id=[bid for bid, _, _, _ in legs],
        leg_seq=[seq for _, _, seq, _ in legs], carrier=[x["carrier"] for _, _, _, x in legs],
        number=[x["number"] for _, _, _, x in legs],
        departure_airport=[x["departure_airport"] for _, _, _, x in legs],
        arrival_airport=[x["arrival_airport"] for _, _, _, x in legs],
        scheduled_departure=[x["scheduled_departure"] for _, _, _, x in legs],
        scheduled_arrival=[x["scheduled_arrival"] for _, _, _, x in legs],
        message_sha256=sha, segment=[b.segment for _, b, _, _ in legs],
    )  # fmt: skip
