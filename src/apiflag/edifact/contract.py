"""The parse contract: one plain JSON-ready object per traveller (MESSAGES.md).

Every row has the same keys, PAXLST or PNRGOV, so a JSON Lines consumer never meets a
missing key: a key the message kind does not carry is ``null`` (``title``, ``phones`` ...
on a PAXLST row; ``role``, ``flight`` on a PNRGOV row). Dates are ISO ``YYYY-MM-DD``, times
ISO local ``YYYY-MM-DDTHH:MM``; flight numbers carry no carrier and no leading zeros.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from apiflag.records import (
    ApiTraveller,
    Document,
    FlightLeg,
    PaxlstManifest,
    PnrBooking,
    PnrgovMessage,
    PnrTraveller,
)

if TYPE_CHECKING:
    from apiflag.edifact import ParsedFile

__all__ = ["ROW_KEYS", "contract_rows"]

#: the keys of every row, in output order
ROW_KEYS = (
    "source",
    "surname",
    "given_names",
    "title",
    "sex",
    "date_of_birth",
    "nationality",
    "documents",
    "record_locator",
    "role",
    "flight",
    "message_function",
    "booking_created",
    "forms_of_payment",
    "payer_name",
    "phones",
    "emails",
    "agency",
    "itinerary",
    "degraded",
)


def _date(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def _minutes(t: dt.datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M")


def _flight(leg: FlightLeg) -> dict[str, Any]:
    return {
        "carrier": leg.carrier,
        "number": leg.number,
        "departure_airport": leg.departure_airport,
        "arrival_airport": leg.arrival_airport,
        "scheduled_departure": _minutes(leg.scheduled_departure),
        "scheduled_arrival": _minutes(leg.scheduled_arrival),
    }


def _documents(docs: tuple[Document, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": d.type,
            "number": d.number,
            "issuing_country": d.issuing_country,
            "expiry_date": _date(d.expiry_date),
        }
        for d in docs
    ]


def _traveller_leg(manifest: PaxlstManifest, t: ApiTraveller) -> FlightLeg:
    """The leg a traveller arrives on: the one landing at their debarkation, else the last."""
    if t.debarkation:
        for leg in manifest.legs:
            if leg.arrival_airport == t.debarkation:
                return leg
    return manifest.legs[-1]


def _empty_row() -> dict[str, Any]:
    return dict.fromkeys(ROW_KEYS)


def _paxlst_rows(m: PaxlstManifest, file: str) -> list[dict[str, Any]]:
    rows = []
    for t in m.travellers:
        row = _empty_row()
        row.update(
            source={
                "file": file,
                "message_type": "PAXLST",
                "version": m.version,
                "message_ref": m.message_ref,
                "segment": t.segment,
            },
            surname=t.surname,
            given_names=t.given_names,
            sex=t.sex,
            date_of_birth=_date(t.date_of_birth),
            nationality=t.nationality,
            documents=_documents(t.documents),
            record_locator=t.record_locator,
            role=t.role,
            flight=_flight(_traveller_leg(m, t)),
            message_function=m.function,
            degraded=list(t.degraded),
        )
        rows.append(row)
    return rows


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _pnr_row(m: PnrgovMessage, b: PnrBooking, t: PnrTraveller, file: str) -> dict[str, Any]:
    mine = [c for c in b.contacts if c.traveller_ref in (None, t.ref)]
    payer = next((p.payer_name for p in b.payments if p.payer_name), None)
    agency = b.agency.model_dump() if b.agency is not None else None
    row = _empty_row()
    row.update(
        source={
            "file": file,
            "message_type": "PNRGOV",
            "version": m.version,
            "message_ref": m.message_ref,
            "segment": t.segment,
        },
        surname=t.surname,
        given_names=t.given_names,
        title=t.title,
        sex=t.sex,
        date_of_birth=_date(t.date_of_birth),
        nationality=t.nationality,
        documents=_documents(t.documents),
        record_locator=b.record_locator,
        message_function=m.push_type,
        booking_created=_minutes(b.created),
        forms_of_payment=_unique([p.form for p in b.payments]),
        payer_name=payer,
        phones=_unique([c.value for c in mine if c.kind == "phone"]),
        emails=_unique([c.value for c in mine if c.kind == "email"]),
        agency=agency,
        itinerary=[_flight(leg) for leg in b.itinerary],
        degraded=list(t.degraded),
    )
    return row


def contract_rows(parsed: ParsedFile, file: str) -> list[dict[str, Any]]:
    """Return the parse-contract objects of a parsed file, one per traveller, in file order.

    Args:
        parsed: what :func:`apiflag.edifact.parse_bytes` returned.
        file: the name to put in each row's ``source.file``.

    Returns:
        JSON-serialisable dicts with exactly the keys in :data:`ROW_KEYS`.
    """
    rows: list[dict[str, Any]] = []
    for manifest in parsed.manifests:
        rows.extend(_paxlst_rows(manifest, file))
    for message in parsed.pnr_messages:
        for booking in message.bookings:
            for traveller in booking.travellers:
                rows.append(_pnr_row(message, booking, traveller, file))
    return rows
