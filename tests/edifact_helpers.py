"""Test helpers for the EDIFACT parsers: Hypothesis strategies for records the writer renders
and the parser must read back, a tiny independent message writer, and mutation operators."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from apiflag.records import (
    Address,
    Agency,
    ApiTraveller,
    Contact,
    Document,
    FlightLeg,
    ItineraryLeg,
    PaxlstManifest,
    Payment,
    PnrBooking,
    PnrgovMessage,
    PnrTraveller,
    Ticket,
)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: separator sets feeds really use: component, element, decimal, release, reserved, terminator
SEPARATOR_SETS = (":+.? '", ":*.? #", ":-.? '", "!~.? #", ":+.\\ '", "^*.? ~")

# Names never end in a title's letters unless DOCS says so (see pnrgov.split_title).
_name = st.text(LETTERS, min_size=2, max_size=10).filter(
    lambda s: not s.endswith(("MR", "MS", "DR", "MRS", "MISS", "MSTR"))
)
# data that needs releasing: apostrophes, plus signs, colons, question marks
_tricky_name = st.builds(
    lambda a, ch, b: f"{a}{ch}{b}", _name, st.sampled_from(["'", "?", "-", " "]), _name
).filter(lambda s: not s.endswith(("MR", "MS", "DR")))
surnames = st.one_of(_name, _tricky_name)
given_names = st.one_of(_name, st.builds(lambda a, b: f"{a} {b}", _name, _name))
alpha3 = st.sampled_from(["THA", "JPN", "VNM", "PHL", "IDN", "CHN", "KOR", "NPL", "UKR", "GBR"])
airports = st.sampled_from(["BKK", "NRT", "HND", "KIX", "MNL", "SGN", "HAN", "ICN", "DEL", "CGK"])
carriers = st.sampled_from(["QK", "ZG", "B2", "A9", "TKX"])
numbers = st.integers(1, 9999).map(str)
minutes = st.datetimes(dt.datetime(2001, 1, 1), dt.datetime(2068, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


def _before(d: dt.date, max_years: int) -> st.SearchStrategy[dt.date]:
    return st.dates(d - dt.timedelta(days=365 * max_years - 2), d)


def _expiry(d: dt.date) -> st.SearchStrategy[dt.date]:
    return st.dates(d - dt.timedelta(days=365 * 10), d + dt.timedelta(days=365 * 19))


@st.composite
def documents(draw: st.DrawFn, prepared: dt.date, with_issue: bool = True) -> Document:
    """A document whose two-digit-year dates resolve back to themselves."""
    return Document(
        type=draw(st.sampled_from(["P", "V", "I", "AC", "L"])),
        number=draw(st.text(LETTERS + "0123456789", min_size=5, max_size=12)),
        issuing_country=draw(st.none() | alpha3),
        expiry_date=draw(st.none() | _expiry(prepared)),
        issue_date=draw(st.none() | _before(prepared, 15)) if with_issue else None,
    )


@st.composite
def api_travellers(draw: st.DrawFn, prepared: dt.date, role: str) -> ApiTraveller:
    """A PAXLST traveller as the synthetic writer renders it."""
    address = draw(
        st.none()
        | st.builds(
            Address,
            street=st.just("1-2-3 SHINJUKU"),
            city=st.sampled_from(["TOKYO", "BANGKOK"]),
            subdivision=st.none(),
            postcode=st.none() | st.just("160-0022"),
            country=st.none() | alpha3,
        )
    )
    return ApiTraveller(
        role=role,  # type: ignore[arg-type]
        surname=draw(surnames),
        given_names=draw(st.none() | given_names),
        sex=draw(st.none() | st.sampled_from(["M", "F", "X", "U"])),
        date_of_birth=draw(st.none() | _before(prepared, 99)),
        nationality=draw(st.none() | alpha3),
        country_of_residence=draw(st.none() | alpha3),
        place_of_birth=draw(st.none() | st.sampled_from(["BANGKOK", "MANILA", "HO CHI MINH"])),
        embarkation=draw(st.none() | airports),
        debarkation=draw(st.none() | airports),
        address=address,
        record_locator=draw(st.none() | st.text(LETTERS + "0123456789", min_size=6, max_size=6)),
        passenger_reference=draw(st.none() | st.text("0123456789", min_size=4, max_size=8)),
        seat=draw(st.none() | st.sampled_from(["12A", "1C", "33K"])),
        frequent_flyer=draw(st.none() | st.text("0123456789", min_size=6, max_size=9)),
        checked_bags=draw(st.none() | st.integers(0, 9)),
        bag_weight_kg=draw(st.none() | st.integers(0, 999).map(lambda n: n / 10)),
        verified=draw(st.none() | st.booleans()),
        documents=tuple(draw(st.lists(documents(prepared), max_size=3))),
    )


@st.composite
def manifests(draw: st.DrawFn) -> PaxlstManifest:
    """A PAXLST manifest with every envelope field given (so it round-trips exactly)."""
    prepared = draw(minutes)
    crew = draw(st.booleans())
    carrier, number = draw(carriers), draw(numbers)
    n_legs = draw(st.integers(1, 3))
    places = draw(st.lists(airports, min_size=n_legs + 1, max_size=n_legs + 1, unique=True))
    start = prepared + dt.timedelta(hours=draw(st.integers(1, 48)))
    legs = []
    for i in range(n_legs):
        dep = start + dt.timedelta(hours=5 * i)
        legs.append(
            FlightLeg(
                carrier=carrier,
                number=number,
                departure_airport=places[i],
                arrival_airport=places[i + 1],
                scheduled_departure=dep,
                scheduled_arrival=dep + dt.timedelta(hours=3, minutes=draw(st.integers(0, 59))),
            )
        )
    role = draw(
        st.sampled_from(["crew", "transit_crew"] if crew else ["passenger", "transit_passenger"])
    )
    travellers = draw(st.lists(api_travellers(prepared.date(), role), max_size=6))
    declared = draw(st.none() | st.just(len(travellers)))
    return PaxlstManifest(
        version=draw(st.sampled_from(["D02B", "D05B", "D12B", "D15B"])),
        message_ref=draw(st.text(LETTERS + "0123456789", min_size=1, max_size=10)),
        interchange_ref=draw(st.text(LETTERS + "0123456789", min_size=1, max_size=14)),
        sender=draw(st.sampled_from(["QKAIR", "APIS_TK"])),
        recipient="JPNAPIS",
        prepared=prepared,
        document_code="250" if crew else "745",
        function=draw(st.none() | st.sampled_from(["CP", "XR", "RP", "CL"])),
        transaction_ref=draw(st.none() | st.text(LETTERS + "0123456789", min_size=1, max_size=12)),
        reporting_party=draw(st.none() | st.just("QK API DESK") | st.just("O'HARA + CO: DESK")),
        legs=tuple(legs),
        travellers=tuple(travellers),
        declared_passengers=None if crew else declared,
        declared_crew=declared if crew else None,
    )


_phone = st.text("0123456789", min_size=8, max_size=13)
_email = st.builds(
    lambda a, sep, b, d: f"{a}{sep}{b}@{d}.JP",
    _name,
    st.sampled_from(["", ".", "_"]),
    _name,
    _name,
)


@st.composite
def pnr_travellers(draw: st.DrawFn, prepared: dt.date, ref: str) -> PnrTraveller:
    """A PNR traveller; nationality, birth date and sex only travel in DOCS, so only with documents."""
    docs = tuple(draw(st.lists(documents(prepared, with_issue=False), max_size=2)))
    return PnrTraveller(
        ref=ref,
        surname=draw(surnames),
        given_names=draw(given_names),
        title=draw(st.none() | st.sampled_from(["MR", "MRS", "MS", "MISS", "MSTR", "DR"])),
        passenger_type=draw(st.sampled_from(["A", "C"])),
        sex=draw(st.sampled_from(["M", "F", "X", "U"])) if docs else None,
        date_of_birth=draw(_before(prepared, 99)) if docs else None,
        nationality=draw(alpha3) if docs else None,
        documents=docs,
        frequent_flyer=draw(st.none() | st.text("0123456789", min_size=6, max_size=9)),
    )


@st.composite
def bookings(draw: st.DrawFn, prepared: dt.datetime, flight: FlightLeg) -> PnrBooking:
    """A booking as the synthetic writer renders it."""
    n = draw(st.integers(1, 3))
    travellers = [draw(pnr_travellers(prepared.date(), str(i + 1))) for i in range(n)]
    contacts: list[Contact] = []
    for kind in draw(st.lists(st.sampled_from(["phone", "email"]), max_size=3)):
        value = draw(_phone) if kind == "phone" else draw(_email)
        ref = draw(st.none() | st.sampled_from([t.ref for t in travellers]))
        contact = Contact(kind=kind, value=value, traveller_ref=ref)  # type: ignore[arg-type]
        if all((c.kind, c.value, c.traveller_ref) != (kind, value, ref) for c in contacts):
            contacts.append(contact)
    payments = [
        Payment(
            form=draw(st.sampled_from(["CA", "CC", "MS"])),
            amount=draw(st.none() | st.integers(0, 10**7).map(lambda c: c / 100)),
            payer_name=draw(st.none() | st.builds(lambda a, b: f"{a} {b}", _name, _name)),
            payer_phone=draw(st.none() | _phone),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    tickets = [
        Ticket(
            number=draw(st.text("0123456789", min_size=13, max_size=13)),
            traveller_ref=t.ref,
            type="T",
        )
        for t in travellers
        if draw(st.booleans())
    ]
    created = draw(st.none() | st.just(prepared - dt.timedelta(days=draw(st.integers(1, 300)))))
    itinerary = (
        ItineraryLeg(**flight.model_dump(), booking_class=draw(st.sampled_from(["Y", "C", "M"]))),
    )
    return PnrBooking(
        record_locator=draw(st.text(LETTERS + "0123456789", min_size=6, max_size=6)),
        carrier=flight.carrier,
        created=created,
        last_transaction=draw(st.none() | st.just(prepared - dt.timedelta(hours=3))),
        agency=draw(
            st.none()
            | st.builds(
                Agency,
                agency_id=st.none() | st.just("77001234"),
                airline=st.just(flight.carrier),
                location=st.sampled_from(["BKK", "TYO"]),
                country=st.none() | st.just("TH"),
                currency=st.none() | st.just("THB"),
                kind=st.none() | st.sampled_from(["A", "T"]),
            )
        ),
        travellers=tuple(travellers),
        itinerary=itinerary,
        contacts=tuple(contacts),
        payments=tuple(payments),
        tickets=tuple(tickets),
    )


@st.composite
def pnr_messages(draw: st.DrawFn) -> PnrgovMessage:
    """A PNRGOV push with every envelope field given."""
    prepared = draw(minutes)
    dep = prepared + dt.timedelta(hours=draw(st.integers(-24, 72)))
    flight = FlightLeg(
        carrier=draw(carriers),
        number=draw(numbers),
        departure_airport="BKK",
        arrival_airport="NRT",
        scheduled_departure=dep,
        scheduled_arrival=dep + dt.timedelta(hours=6, minutes=draw(st.integers(0, 59))),
    )
    items = draw(
        st.lists(bookings(prepared, flight), max_size=4, unique_by=lambda b: b.record_locator)
    )
    return PnrgovMessage(
        version=draw(st.sampled_from(["10.1", "11.1", "13.1", "15.1"])),
        message_ref=draw(st.text("0123456789", min_size=1, max_size=6)),
        interchange_ref=draw(st.text(LETTERS + "0123456789", min_size=1, max_size=14)),
        sender=flight.carrier,
        recipient="JPNPNR",
        prepared=prepared,
        push_type=draw(st.sampled_from(["full", "changed"])),
        flight=flight,
        bookings=tuple(items),
        declared_bookings=len(items),
    )


_PARSER_SET = {"segment", "common_access_ref", "parts", "complete", "source"}


def comparable(record: Any) -> Any:
    """A record's dump without the fields only the parser sets (segment numbers, part info)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _PARSER_SET}
        if isinstance(value, list | tuple):
            return [strip(v) for v in value]
        return value

    return strip(record.model_dump())


# ------------------------------------------------------------------ independent tiny writer


def write_segments(segments: list[list[list[str]]], seps: str) -> str:
    """Write segments (elements of components) with UNA ``seps``, releasing data characters."""
    comp, elem, _dec, rel, _res, term = seps
    table = str.maketrans({c: rel + c for c in (comp, elem, rel, term)})
    out = []
    for seg in segments:
        tag, *elements = seg
        text = tag[0] + "".join(elem + comp.join(c.translate(table) for c in e) for e in elements)
        out.append(text + term)
    return "UNA" + seps + "".join(out)


def envelope(body: list[list[list[str]]], msg_type: str = "PAXLST") -> list[list[list[str]]]:
    """Wrap message body segments in UNB/UNH/UNT/UNZ with correct counts."""
    version = (
        ["PAXLST", "D", "05B", "UN", "IATA"]
        if msg_type == "PAXLST"
        else ["PNRGOV", "11", "1", "IA"]
    )
    return [
        [["UNB"], ["UNOA", "4"], ["SENDER"], ["RECEIVER"], ["261120", "1800"], ["REF1"]],
        [["UNH"], ["M1"], version],
        *body,
        [["UNT"], [str(len(body) + 2)], ["M1"]],
        [["UNZ"], ["1"], ["REF1"]],
    ]
