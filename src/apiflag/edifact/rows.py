"""Records to warehouse rows: the column lists both readers fill for a batch of files.

The tolerant reader's records (:mod:`apiflag.records`) are converted here
(:meth:`RowBatch.add_manifest`, :meth:`RowBatch.add_pnr`); the fast reader
(:mod:`apiflag.edifact.fast`) fills the same lists straight from the text
(:meth:`RowBatch.extend`). Ingest (:mod:`apiflag.ingest`) concatenates the batches into the
night's warehouse tables. Row ids (``<P>-<sha16>-<message>-<segment>``) and flight ids
(:func:`flight_id_of`) are decided here, once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from apiflag import warehouse
from apiflag.normalise import normalise_contact
from apiflag.records import FlightLeg, PaxlstManifest, PnrgovMessage

__all__ = [
    "CREW_ROLES",
    "MSG",
    "PASSENGER_ROLES",
    "RowBatch",
    "RowIds",
    "arrival_leg",
    "flight_fields",
    "flight_id_of",
]

PASSENGER_ROLES = frozenset({"passenger", "transit_passenger"})
"""PAXLST roles counted as passengers (the rest are crew)."""
CREW_ROLES = frozenset({"crew", "transit_crew"})
"""PAXLST roles counted as crew."""

MSG = "_msg"
"""Hidden column tying each row to its message number until ingest assembles the night."""


class RowIds:
    """Stable ids ``<P>-<sha16>-<message>-<segment>``.

    ``x<n>`` replaces a missing or reused segment number, so an id is never shared.
    """

    def __init__(self, sha: str, message: int) -> None:
        self.stem = f"{sha[:16]}-{message}"
        self.seen: set[str] = set()
        self.n = 0

    def __call__(self, prefix: str, segment: int | None) -> str:
        self.n += 1
        ident = f"{prefix}-{self.stem}-{segment}" if segment is not None else ""
        if not ident or ident in self.seen:
            ident = f"{prefix}-{self.stem}-x{self.n}"
        self.seen.add(ident)
        return ident


def arrival_leg(legs: Sequence[FlightLeg], night: dt.date) -> FlightLeg:
    """The leg that arrives on the night (the last such leg), else the last leg."""
    for leg in reversed(legs):
        if leg.scheduled_arrival is not None and leg.scheduled_arrival.date() == night:
            return leg
    return legs[-1]


def flight_id_of(carrier: str, number: str, arrival: dt.date) -> str:
    """Return the id of a flight: carrier, number and local arrival date (``QK21-20261121``).

    A flight number flies at most once a day, so the id is the same whichever message (passenger
    list, crew list, PNR push) describes the flight.
    """
    return f"{carrier}{number}-{arrival:%Y%m%d}"


def flight_fields(leg: FlightLeg) -> dict[str, Any]:
    """The ``flights`` columns a leg gives (carrier, number, airports, scheduled times)."""
    return {
        "carrier": leg.carrier,
        "number": leg.number,
        "departure_airport": leg.departure_airport,
        "arrival_airport": leg.arrival_airport,
        "scheduled_departure": leg.scheduled_departure,
        "scheduled_arrival": leg.scheduled_arrival,
    }


class RowBatch:
    """Column lists of every warehouse table for a batch of files.

    Each row is tagged with the number of its message in the batch; the batch is converted to
    Arrow once, not once per file.
    """

    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {
            name: {f.name: [] for f in warehouse.SCHEMAS[name]} | {MSG: []}
            for name in warehouse.RECORD_TABLES
        }
        self.metas: list[dict[str, Any]] = []

    def extend(self, table: str, msg: int, n: int, **columns: Any) -> None:
        """Append ``n`` rows; a list gives one value per row, anything else repeats."""
        if not n:
            return
        for name, values in self.cols[table].items():
            if name == MSG:
                values.extend([msg] * n)
                continue
            value = columns.get(name)
            if isinstance(value, list):
                values.extend(value)
            else:
                values.extend([value] * n)

    def add_documents(
        self, msg: int, kind: str, owners: list[tuple[str, int | None, Any]], sha: str
    ) -> None:
        docs = [(oid, seq, d, seg) for oid, seg, ds in owners for seq, d in enumerate(ds)]
        self.extend(
            "documents",
            msg,
            len(docs),
            owner_kind=kind,
            owner_id=[o for o, _, _, _ in docs],
            seq=[s for _, s, _, _ in docs],
            doc_type=[d.type for _, _, d, _ in docs],
            number=[d.number for _, _, d, _ in docs],
            issuing_country=[d.issuing_country for _, _, d, _ in docs],
            expiry_date=[d.expiry_date for _, _, d, _ in docs],
            issue_date=[d.issue_date for _, _, d, _ in docs],
            message_sha256=sha,
            segment=[g for _, _, _, g in docs],
        )

    def add_manifest(
        self, m: PaxlstManifest, index: int, file: str, sha: str, night: dt.date
    ) -> None:
        msg = len(self.metas)
        leg = arrival_leg(m.legs, night)
        arrival = leg.scheduled_arrival.date() if leg.scheduled_arrival else None
        fid = flight_id_of(leg.carrier, leg.number, arrival or night)
        ids = RowIds(sha, index)
        T = m.travellers
        tids = [ids("T", t.segment) for t in T]
        self.extend("flights", msg, 1, flight_id=fid, **flight_fields(leg), message_sha256=sha)
        self.extend(
            "travellers",
            msg,
            len(T),
            traveller_id=tids,
            flight_id=fid,
            role=[t.role for t in T],
            surname=[t.surname for t in T],
            given_names=[t.given_names for t in T],
            sex=[t.sex for t in T],
            date_of_birth=[t.date_of_birth for t in T],
            nationality=[t.nationality for t in T],
            country_of_residence=[t.country_of_residence for t in T],
            place_of_birth=[t.place_of_birth for t in T],
            record_locator=[t.record_locator for t in T],
            seat=[t.seat for t in T],
            frequent_flyer=[t.frequent_flyer for t in T],
            checked_bags=[t.checked_bags for t in T],
            bag_weight_kg=[t.bag_weight_kg for t in T],
            document_number=[t.documents[0].number if t.documents else None for t in T],
            degraded=[list(t.degraded) for t in T],
            message_sha256=sha,
            segment=[t.segment for t in T],
        )
        self.add_documents(
            msg, "api", [(tid, t.segment, t.documents) for tid, t in zip(tids, T, strict=True)], sha
        )
        roles: Counter[str] = Counter(t.role for t in T)
        self.metas.append(
            {
                "kind": "PAXLST",
                "file": file,
                "sha256": sha,
                "index": index,
                "message_ref": m.message_ref,
                "flight_id": fid,
                "arrival_date": arrival,
                "document_code": m.document_code,
                "function": (m.function or "").upper() or None,
                "prepared": m.prepared,
                "declared_passengers": m.declared_passengers,
                "declared_crew": m.declared_crew,
                "passengers": sum(roles[r] for r in PASSENGER_ROLES),
                "crew": sum(roles[r] for r in CREW_ROLES),
            }
        )

    def add_pnr(self, m: PnrgovMessage, index: int, file: str, sha: str) -> None:
        msg = len(self.metas)
        ids = RowIds(sha, index)
        B = m.bookings
        bids = [ids("B", b.segment) for b in B]
        agencies = [b.agency for b in B]
        self.extend(
            "bookings",
            msg,
            len(B),
            booking_id=bids,
            record_locator=[b.record_locator for b in B],
            carrier=[b.carrier for b in B],
            created=[b.created for b in B],
            last_transaction=[b.last_transaction for b in B],
            agency_id=[a.agency_id if a else None for a in agencies],
            agency_location=[a.location if a else None for a in agencies],
            agency_country=[a.country if a else None for a in agencies],
            push_type=m.push_type,
            n_travellers=[len(b.travellers) for b in B],
            message_sha256=sha,
            segment=[b.segment for b in B],
        )
        people = [
            (bid, b, p, ids("P", p.segment))
            for bid, b in zip(bids, B, strict=True)
            for p in b.travellers
        ]
        self.extend(
            "pnr_travellers",
            msg,
            len(people),
            pnr_traveller_id=[pid for _, _, _, pid in people],
            booking_id=[bid for bid, _, _, _ in people],
            record_locator=[b.record_locator for _, b, _, _ in people],
            ref=[p.ref for _, _, p, _ in people],
            surname=[p.surname for _, _, p, _ in people],
            given_names=[p.given_names for _, _, p, _ in people],
            title=[p.title for _, _, p, _ in people],
            passenger_type=[p.passenger_type for _, _, p, _ in people],
            sex=[p.sex for _, _, p, _ in people],
            date_of_birth=[p.date_of_birth for _, _, p, _ in people],
            nationality=[p.nationality for _, _, p, _ in people],
            frequent_flyer=[p.frequent_flyer for _, _, p, _ in people],
            degraded=[list(p.degraded) for _, _, p, _ in people],
            message_sha256=sha,
            segment=[p.segment for _, _, p, _ in people],
        )
        self.add_documents(
            msg, "pnr", [(pid, p.segment, p.documents) for _, _, p, pid in people], sha
        )
        pid_of = {(bid, p.ref): pid for bid, _, p, pid in reversed(people)}  # first wins
        contacts = [(bid, b, c) for bid, b in zip(bids, B, strict=True) for c in b.contacts]
        self.extend(
            "booking_contacts",
            msg,
            len(contacts),
            booking_id=[bid for bid, _, _ in contacts],
            pnr_traveller_id=[
                pid_of.get((bid, c.traveller_ref)) if c.traveller_ref else None
                for bid, _, c in contacts
            ],
            kind=[c.kind for _, _, c in contacts],
            value=[c.value for _, _, c in contacts],
            normalized=[normalise_contact(c.kind, c.value) for _, _, c in contacts],
            source=[c.source for _, _, c in contacts],
            message_sha256=sha,
            segment=[b.segment for _, b, _ in contacts],
        )
        pays = [(bid, b, p) for bid, b in zip(bids, B, strict=True) for p in b.payments]
        self.extend(
            "payments",
            msg,
            len(pays),
            booking_id=[bid for bid, _, _ in pays],
            form=[p.form for _, _, p in pays],
            amount=[p.amount for _, _, p in pays],
            currency=[p.currency for _, _, p in pays],
            masked_card=[p.masked_card for _, _, p in pays],
            payer_name=[p.payer_name for _, _, p in pays],
            payer_phone=[p.payer_phone for _, _, p in pays],
            message_sha256=sha,
            segment=[b.segment for _, b, _ in pays],
        )
        legs = [
            (bid, b, seq, leg)
            for bid, b in zip(bids, B, strict=True)
            for seq, leg in enumerate(b.itinerary, start=1)
        ]
        self.extend(
            "itinerary",
            msg,
            len(legs),
            booking_id=[bid for bid, _, _, _ in legs],
            leg_seq=[seq for _, _, seq, _ in legs],
            carrier=[leg.carrier for _, _, _, leg in legs],
            number=[leg.number for _, _, _, leg in legs],
            departure_airport=[leg.departure_airport for _, _, _, leg in legs],
            arrival_airport=[leg.arrival_airport for _, _, _, leg in legs],
            scheduled_departure=[leg.scheduled_departure for _, _, _, leg in legs],
            scheduled_arrival=[leg.scheduled_arrival for _, _, _, leg in legs],
            message_sha256=sha,
            segment=[b.segment for _, b, _, _ in legs],
        )
        self.metas.append(
            {
                "kind": "PNRGOV",
                "file": file,
                "sha256": sha,
                "index": index,
                "message_ref": m.message_ref,
                "flight": flight_fields(m.flight),
                "prepared": m.prepared,
                "push_type": m.push_type,
            }
        )

    def absorb(self, other: RowBatch) -> None:
        """Append ``other``'s rows and messages after this batch's."""
        offset = len(self.metas)
        for name, cols in self.cols.items():
            for column, values in cols.items():
                theirs = other.cols[name][column]
                values.extend([v + offset for v in theirs] if column == MSG else theirs)
        self.metas.extend(other.metas)

    def tables(self) -> dict[str, pa.Table]:
        """Convert to Arrow once: one table per warehouse table, tagged with :data:`MSG`."""
        out = {}
        for name, cols in self.cols.items():
            msg = cols.pop(MSG)
            table = warehouse.to_arrow(name, cols)
            out[name] = table.append_column(MSG, pa.array(msg, pa.int32()))
        return out
