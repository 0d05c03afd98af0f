"""The night assembled: which messages belong to it, PNR push order, replaced lists, links.

- **Night-level rows.** The warehouse holds the travellers of flights arriving that night (local
  arrival date; a manifest without an arrival time belongs to the folder's night) and the PNR
  bookings for those flights. Parsed messages about other nights are counted, not loaded.
- **PNR push order** (:func:`push_order`). Pushes of the same record locator for the same
  flight are ordered by the message's prepared time (the booking's last transaction when the
  message has none), then push type (a full push before a changed-PNRs push prepared at the
  same minute), then file order; every push is kept, all but the last get
  ``superseded = true``.
- **Manifest functions** (:func:`apply_manifest_functions`): a later list naming a traveller
  replaces the earlier row; a cancellation (``XR``) removes it.
- **Links.** Each API traveller is linked to a PNR traveller by :mod:`apiflag.linking`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from apiflag import warehouse
from apiflag.edifact.rows import CREW_ROLES, MSG, flight_id_of
from apiflag.linking import link_travellers, name_key

__all__ = [
    "PUSH_RANK",
    "AssembledNight",
    "NightMessages",
    "apply_manifest_functions",
    "assemble_night",
    "assemble_table",
    "push_order",
    "resolve_pnr_flight",
    "select_night",
]

PUSH_RANK = {"full": 0, "changed": 1}
"""Order of pushes prepared at the same time: a full push before a changed-PNRs push."""


def assemble_table(
    name: str, parts: list[pa.Table], keep: list[bool], drop: bool = True
) -> pa.Table:
    """Concatenate a table's batches, keep the rows of kept messages, drop the tag column."""
    if not parts:
        table = warehouse.empty_table(name).append_column(MSG, pa.array([], pa.int32()))
    else:
        table = pa.concat_tables(parts)
        mask = pc.take(pa.array(keep, pa.bool_()), table.column(MSG))
        table = table.filter(mask).combine_chunks()
    return table.drop_columns([MSG]) if drop else table


def push_order(
    bookings: pd.DataFrame, metas: list[dict[str, Any]], pnr_flight: list[str | None]
) -> pd.DataFrame:
    """Set flight, ``push_seq`` (1 = first push) and ``superseded`` per (flight, record locator).

    Order: the message's prepared time (else the booking's last transaction; pushes with neither
    count as oldest), then the push type (full before changed), then message order in the
    night's sorted files, then segment.
    """
    out = bookings.drop(columns=[MSG])
    if bookings.empty:
        return out
    msg = bookings[MSG].to_numpy()
    when = pd.Series(pd.to_datetime([m.get("prepared") for m in metas]), dtype="datetime64[us]")
    rank = [PUSH_RANK.get(m.get("push_type") or "", 9) for m in metas]
    out["flight_id"] = [pnr_flight[i] for i in msg]
    frame = pd.DataFrame(
        {
            "flight_id": out["flight_id"],
            "locator": out["record_locator"].str.strip().str.upper(),
            "when": when.to_numpy()[msg],
            "last": out["last_transaction"].to_numpy(),
            "rank": [rank[i] for i in msg],
            "order": msg,
            "seg": out["segment"].fillna(-1).to_numpy(),
        },
        index=out.index,
    )
    frame["when"] = frame["when"].fillna(frame["last"])
    frame["known"] = frame["when"].notna()
    frame["when"] = frame["when"].fillna(pd.Timestamp.min)
    frame["last"] = frame["last"].fillna(pd.Timestamp.min)
    ordered = frame.sort_values(
        ["flight_id", "locator", "known", "when", "last", "rank", "order", "seg"],
        kind="mergesort",
    )
    groups = ordered.groupby(["flight_id", "locator"], sort=False)
    seq = groups.cumcount() + 1
    size = groups["order"].transform("size")
    out.loc[seq.index, "push_seq"] = seq.astype("int32")
    out.loc[seq.index, "superseded"] = (seq < size).to_numpy()
    return out


def _identity(row: tuple[Any, ...]) -> tuple[str, ...] | None:
    """Who a traveller row is, for replacing and cancelling across messages (None: unknowable)."""
    flight, role, surname, given, dob, document = row
    if dob is None and not document:
        return None
    return (
        str(flight),
        "crew" if role in CREW_ROLES else "passenger",
        name_key(surname),
        name_key(given),
        str(dob),
        str(document or "").upper(),
    )


def apply_manifest_functions(
    travellers: pd.DataFrame, metas: list[dict[str, Any]]
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Apply PAXLST lists of one flight in order: the latest list naming a traveller wins.

    Lists are ordered by prepared time (lists without one first), then file order. A traveller
    (same flight, passenger or crew, names, date of birth and first document) named again by a
    later message is *replaced* by that message's row: a resent or closing list (``CL``,
    ``CLOB``, ``RP`` ...) or a change (``CP``) never doubles anyone, while parts of one list
    sent as separate files add up. When the latest message naming a traveller is a
    cancellation (``XR``) the traveller is *cancelled*: no row is loaded. Rows of one message
    never replace each other, and a row with neither date of birth nor document is never
    matched.

    Returns:
        The rows to load (without the message tag) and, per removed traveller id, why
        (``replaced`` or ``cancelled``) and its flight.
    """
    if travellers.empty:
        return travellers.drop(columns=[MSG]), {}
    lists = travellers.groupby(
        [travellers["flight_id"], travellers["role"].isin(sorted(CREW_ROLES))], sort=False
    )[MSG].nunique()
    xr = any(m.get("function") == "XR" for m in metas)
    if not xr and (lists <= 1).all():  # one list per flight and class: nothing to replace
        return travellers.drop(columns=[MSG]), {}
    msg = travellers[MSG].to_numpy()
    prepared = [m.get("prepared") for m in metas]
    when = [prepared[i] for i in msg]
    order = sorted(
        range(len(travellers)),
        key=lambda i: (
            when[i] is not None,
            when[i] or dt.datetime.min,
            msg[i],
            i,
        ),
    )
    cols = ["flight_id", "role", "surname", "given_names", "date_of_birth", "document_number"]
    rows = [
        tuple(None if v is None or v is pd.NA or v is pd.NaT or v != v else v for v in r)
        for r in travellers[cols].astype(object).itertuples(index=False, name=None)
    ]
    keys = [_identity(row) for row in rows]
    latest: dict[tuple[str, ...], tuple[int, list[int]]] = {}
    for i in order:
        key = keys[i]
        if key is None:
            continue
        seen = latest.get(key)
        if seen is not None and seen[0] == msg[i]:
            seen[1].append(i)
        else:
            latest[key] = (int(msg[i]), [i])
    winners: set[int] = set()
    cancelled: set[tuple[str, ...]] = set()
    for key, (m, indices) in latest.items():
        if metas[m].get("function") == "XR":
            cancelled.add(key)
        else:
            winners.update(indices)
    removed: dict[str, tuple[str, str]] = {}
    keep = []
    ids = travellers["traveller_id"].tolist()
    for i, row in enumerate(rows):
        key = keys[i]
        if key is None or i in winners:
            keep.append(True)
            continue
        keep.append(False)
        removed[ids[i]] = ("cancelled" if key in cancelled else "replaced", str(row[0]))
    kept = travellers.loc[keep].drop(columns=[MSG]).reset_index(drop=True)
    return kept, removed


def _without_owners(documents: pa.Table, removed: set[str]) -> pa.Table:
    if not removed:
        return documents
    gone = pc.and_(
        pc.equal(documents.column("owner_kind"), "api"),
        pc.is_in(documents.column("owner_id"), value_set=pa.array(sorted(removed), pa.string())),
    )
    return documents.filter(pc.invert(pc.fill_null(gone, False)))


def resolve_pnr_flight(
    flight: dict[str, Any], night: dt.date, flights: dict[str, dict[str, Any]]
) -> str | None:
    """The night flight a PNR push is for, or None when it is not a flight of this night."""
    dep = flight["scheduled_departure"]
    arr = flight["scheduled_arrival"]
    if arr is not None:
        fid = flight_id_of(flight["carrier"], flight["number"], arr.date())
        return fid if arr.date() == night else None
    fid = flight_id_of(flight["carrier"], flight["number"], night)
    known = flights.get(fid)
    if known is None:
        return None
    kdep = known["scheduled_departure"]
    if dep is not None and kdep is not None and dep.date() != kdep.date():
        return None
    return fid


@dataclass
class NightMessages:
    """Which parsed messages belong to the night.

    Attributes:
        keep: per message number, whether its rows are loaded.
        pnr_flight: per message number, the night flight a PNR push is for (None otherwise).
        other_night: the messages about other nights (parsed, counted, not loaded).
        manifests: the metadata of the night's PAXLST messages.
        flights: the night's flights by id (from manifests, else from a PNR push).
    """

    keep: list[bool]
    pnr_flight: list[str | None]
    other_night: list[dict[str, Any]] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    flights: dict[str, dict[str, Any]] = field(default_factory=dict)


def select_night(
    night: dt.date, metas: list[dict[str, Any]], flight_parts: list[pa.Table]
) -> NightMessages:
    """Decide which messages belong to ``night`` and the flight each PNR push is for."""
    chosen = NightMessages(keep=[False] * len(metas), pnr_flight=[None] * len(metas))
    for i, meta in enumerate(metas):
        if meta["kind"] != "PAXLST":
            continue
        if meta["arrival_date"] is not None and meta["arrival_date"] != night:
            chosen.other_night.append(
                {
                    "file": meta["file"],
                    "kind": "PAXLST",
                    "message_ref": meta["message_ref"],
                    "flight_id": meta["flight_id"],
                }
            )
        else:
            chosen.keep[i] = True
            chosen.manifests.append(meta)
    flights = chosen.flights
    for row in assemble_table("flights", flight_parts, chosen.keep).to_pylist():
        flights.setdefault(row["flight_id"], row)
    for i, meta in enumerate(metas):
        if meta["kind"] != "PNRGOV":
            continue
        fid = resolve_pnr_flight(meta["flight"], night, flights)
        if fid is None:
            fl = meta["flight"]
            chosen.other_night.append(
                {
                    "file": meta["file"],
                    "kind": "PNRGOV",
                    "message_ref": meta["message_ref"],
                    "flight_id": f"{fl['carrier']}{fl['number']}",
                }
            )
            continue
        chosen.keep[i] = True
        chosen.pnr_flight[i] = fid
        if fid not in flights:  # a PNR for a flight of this night that sent no API (yet)
            flights[fid] = {
                "flight_id": fid,
                **meta["flight"],
                "message_sha256": meta["sha256"],
                "segment": None,
            }
    return chosen


@dataclass
class AssembledNight:
    """The night's record tables, ready to write.

    Attributes:
        tables: ``flights``, ``travellers``, ``documents``, ``bookings``, ``pnr_travellers``,
            ``booking_contacts``, ``payments``, ``itinerary`` (Arrow tables or frames).
        travellers: the loaded travellers, linked; bookings: every push, ordered.
        removed: per traveller id removed by a later list, why and its flight.
    """

    tables: dict[str, Any]
    travellers: pd.DataFrame
    bookings: pd.DataFrame
    removed: dict[str, tuple[str, str]]


def assemble_night(
    chosen: NightMessages, metas: list[dict[str, Any]], parts: dict[str, list[pa.Table]]
) -> AssembledNight:
    """Assemble the kept messages' rows, order the pushes, apply the lists, link.

    ``parts`` is consumed: each table's fragments are released once assembled.
    """
    keep = chosen.keep
    flights_table = warehouse.to_arrow(
        "flights",
        {
            f.name: [row[f.name] for row in chosen.flights.values()]
            for f in warehouse.SCHEMAS["flights"]
        },
    )
    bookings_df = assemble_table("bookings", parts.pop("bookings", []), keep, drop=False)
    bookings = push_order(bookings_df.to_pandas(), metas, chosen.pnr_flight)
    tagged = assemble_table("travellers", parts.pop("travellers", []), keep, drop=False)
    travellers, removed = apply_manifest_functions(tagged.to_pandas(), metas)
    pnr = assemble_table("pnr_travellers", parts.pop("pnr_travellers", []), keep).to_pandas()
    links = link_travellers(travellers, pnr, bookings)
    for column in ("pnr_traveller_id", "booking_id", "link_confidence", "link_level"):
        travellers[column] = links[column]
    documents = assemble_table("documents", parts.pop("documents", []), keep)
    tables: dict[str, Any] = {
        "flights": flights_table,
        "travellers": travellers,
        "documents": _without_owners(documents, set(removed)),
        "bookings": bookings,
        "pnr_travellers": pnr,
    }
    for name in ("booking_contacts", "payments", "itinerary"):
        tables[name] = assemble_table(name, parts.pop(name, []), keep)
    return AssembledNight(tables=tables, travellers=travellers, bookings=bookings, removed=removed)
