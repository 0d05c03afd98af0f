"""Hand-built records and a stand-in parser for ingest tests that must not depend on the parser.

A night folder is written with files whose bytes are ``FAKE:<key>``; :class:`FakeParser` maps
each key to hand-built records (or a ParseError), and is installed over
``apiflag.ingest.pool.parse_bytes`` with monkeypatch. Tests with real EDIFACT live beside these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from apiflag.errors import ParseError
from apiflag.records import (
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
)

NIGHT = dt.date(2026, 11, 21)


@dataclass
class FakeParsed:
    kind: str
    manifests: list[PaxlstManifest] = field(default_factory=list)
    pnr_messages: list[PnrgovMessage] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lost: list[object] = field(default_factory=list)  # as ParsedFile: no record quarantined
    interchanges: list[object] = field(default_factory=list)  # no envelope to place warnings


def leg(
    number: str = "21",
    carrier: str = "QK",
    dep: str = "BKK",
    arr: str = "NRT",
    departure: dt.datetime | None = dt.datetime(2026, 11, 21, 0, 5),
    arrival: dt.datetime | None = dt.datetime(2026, 11, 21, 8, 10),
) -> FlightLeg:
    return FlightLeg(
        carrier=carrier,
        number=number,
        departure_airport=dep,
        arrival_airport=arr,
        scheduled_departure=departure,
        scheduled_arrival=arrival,
    )


def api_traveller(
    surname: str,
    given: str | None,
    dob: dt.date | None,
    locator: str | None,
    segment: int,
    role: str = "passenger",
    doc: str | None = None,
) -> ApiTraveller:
    docs = (Document(type="P", number=doc, issuing_country="THA"),) if doc else ()
    return ApiTraveller(
        role=role,  # type: ignore[arg-type]
        surname=surname,
        given_names=given,
        date_of_birth=dob,
        record_locator=locator,
        nationality="THA",
        sex="F",
        documents=docs,
        segment=segment,
    )


def manifest(
    travellers: list[ApiTraveller],
    flight: FlightLeg | None = None,
    declared: int | None = -1,
    code: str = "745",
    ref: str = "M1",
    prepared: dt.datetime | None = None,
    function: str | None = None,
) -> PaxlstManifest:
    n = declared if declared != -1 else len(travellers)
    crew = code == "250"
    return PaxlstManifest(
        version="D05B",
        message_ref=ref,
        document_code=code,
        function=function,
        prepared=prepared,
        legs=(flight or leg(),),
        travellers=tuple(travellers),
        declared_passengers=None if crew else n,
        declared_crew=n if crew else None,
    )


def pnr_traveller(
    ref: str, surname: str, given: str | None, dob: dt.date | None, segment: int
) -> PnrTraveller:
    return PnrTraveller(
        ref=ref,
        surname=surname,
        given_names=given,
        date_of_birth=dob,
        segment=segment,
        documents=(Document(type="P", number=f"D{segment}"),),
    )


def booking(
    locator: str,
    travellers: list[PnrTraveller],
    segment: int,
    last: dt.datetime | None = None,
    phone: str = "+66 81 111 2222",
) -> PnrBooking:
    return PnrBooking(
        record_locator=locator,
        carrier="QK",
        created=dt.datetime(2026, 11, 1, 10, 0),
        last_transaction=last,
        travellers=tuple(travellers),
        itinerary=(ItineraryLeg(**leg().model_dump()),),
        contacts=(
            Contact(kind="phone", value=phone, source="CTCM"),
            Contact(kind="email", value="A.B@Example.JP", traveller_ref=travellers[0].ref),
        ),
        payments=(Payment(form="CA", amount=9800.0, currency="THB", payer_name="N P"),),
        segment=segment,
    )


def pnr_message(
    bookings: list[PnrBooking],
    prepared: dt.datetime | None,
    push_type: str = "full",
    flight: FlightLeg | None = None,
    ref: str = "1",
) -> PnrgovMessage:
    return PnrgovMessage(
        version="11.1",
        message_ref=ref,
        prepared=prepared,
        push_type=push_type,  # type: ignore[arg-type]
        flight=flight or leg(),
        bookings=tuple(bookings),
    )


class FakeParser:
    """Maps ``FAKE:<key>`` file bytes to hand-built parse results."""

    def __init__(self) -> None:
        self.results: dict[str, FakeParsed | ParseError | Exception] = {}
        self.calls: list[str] = []

    def __call__(self, data: bytes, file: str) -> FakeParsed:
        self.calls.append(file)
        key = data.decode().removeprefix("FAKE:")
        result = self.results[key]
        if isinstance(result, ParseError):
            raise result.with_file(file)
        if isinstance(result, Exception):
            raise result
        return result


def write_night(
    root: Path, parser: FakeParser, files: dict[str, FakeParsed | ParseError | Exception]
) -> Path:
    """Write ``root/nights/<NIGHT>/<rel>`` files registered in ``parser``; return ``root``."""
    night = root / "nights" / NIGHT.isoformat()
    for rel, result in files.items():
        key = rel.replace("/", ":")
        parser.results[key] = result
        path = night / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"FAKE:{key}".encode())
    return root
