"""The history window: the earlier nights that feed shared contacts, identities and route links.

Two ways in, one result:

* a list of :class:`NightTables` (what tests and callers holding frames pass): every night in
  the window is used whole, as it always was;
* :class:`WarehouseHistory` (what the nightly stage uses): the window's nights are read from the
  partitioned Parquet warehouse one at a time through a :mod:`pyarrow.dataset`, only the columns
  the history features read, and each night is reduced at once to the rows that can touch
  tonight (contacts tonight's bookings carry, documents tonight's travellers hold, routes
  tonight's flights fly). Memory then stays flat however many nights history holds; the
  features are the same (a test compares both ways).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from apiflag import config, warehouse
from apiflag.features.contacts import SwitchboardPolicy, _contact_pool
from apiflag.features.documents import _identities
from apiflag.features.route import RouteLink, _route_links
from apiflag.features.tables import NightTables, arrow_frame

HISTORY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "flights": ("flight_id", "departure_airport", "arrival_airport", "scheduled_arrival"),
    "travellers": (
        "traveller_id",
        "flight_id",
        "booking_id",
        "surname",
        "given_names",
        "date_of_birth",
    ),
    "documents": ("owner_kind", "owner_id", "seq", "number"),
    "bookings": (
        "booking_id",
        "record_locator",
        "flight_id",
        "agency_id",
        "superseded",
        "n_travellers",
    ),
    "pnr_travellers": ("pnr_traveller_id", "booking_id"),
    "booking_contacts": ("booking_id", "kind", "value", "normalized"),
    "payments": ("booking_id", "form", "masked_card", "payer_name", "payer_phone"),
    "itinerary": ("booking_id", "scheduled_departure"),
    "matches": ("traveller_id", "case_id", "probability"),
    "identifier_matches": ("booking_id", "case_id"),
}
"""The columns of each warehouse table that history features read (all others stay on disk)."""


def _history_window(night: str, history: list[NightTables] | None, days: int) -> list[NightTables]:
    if not history:
        return []
    end = dt.date.fromisoformat(night)
    start = end - dt.timedelta(days=days)
    return [h for h in history if start <= dt.date.fromisoformat(h.night) < end]


class WarehouseHistory:
    """The history nights of the warehouse, read lazily one night at a time.

    Args:
        nights: the history nights (``YYYY-MM-DD``), e.g. :func:`apiflag.warehouse.nights_before`.
    """

    def __init__(self, nights: Sequence[str], tables: Sequence[str] | None = None) -> None:
        self.nights = [str(dt.date.fromisoformat(n)) for n in nights]
        self.tables = tuple(HISTORY_COLUMNS) if tables is None else tuple(tables)

    def only(self, *tables: str) -> WarehouseHistory:
        """The same nights with only ``tables`` read (the others come back empty)."""
        return WarehouseHistory(self.nights, tables)

    def within(self, night: str, days: int) -> WarehouseHistory:
        """The nights of this history in the ``days`` before ``night``."""
        end = dt.date.fromisoformat(night)
        start = end - dt.timedelta(days=days)
        nights = [n for n in self.nights if start <= dt.date.fromisoformat(n) < end]
        return WarehouseHistory(nights, self.tables)

    def _dataset(self, name: str) -> ds.Dataset | None:
        files = [
            str(p)
            for n in self.nights
            if (p := config.warehouse_dir(n) / f"{name}.parquet").is_file()
        ]
        if not files:
            return None
        night = pa.schema([("night", pa.string())])
        # one schema over every night's file: a column that is all-null on one night is
        # stored as type null there and must not fix the type for the nights that have values
        schema = pa.unify_schemas([*(pq.read_schema(f) for f in files), night])
        return ds.dataset(
            files,
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(night, flavor="hive"),
            partition_base_dir=str(config.warehouse_dir()),
        )

    def __iter__(self) -> Iterator[NightTables]:
        sets = {name: self._dataset(name) for name in self.tables}
        for night in self.nights:
            frames: dict[str, pd.DataFrame | None] = {}
            for name in self.tables:
                columns, data = HISTORY_COLUMNS[name], sets[name]
                present = (
                    (config.warehouse_dir(night) / f"{name}.parquet").is_file()
                    if data is not None
                    else False
                )
                if data is None or not present:
                    frames[name] = None
                    continue
                cols = [c for c in columns if c in data.schema.names]
                table = data.to_table(columns=cols, filter=ds.field("night") == night)
                frames[name] = arrow_frame(table)
            yield NightTables.from_frames(night, **frames)


@dataclasses.dataclass
class HistoryEvidence:
    """What history contributes to tonight's features.

    Attributes:
        pool: contact-pool rows of the history nights (see :func:`_contact_pool`).
        identities: document holders of the history nights (see :func:`_identities`).
        links: route-case links of the history nights (see :func:`_route_links`).
        with_matches: some history night carries case-match output.
    """

    pool: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    identities: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    links: list[RouteLink] = dataclasses.field(default_factory=list)
    with_matches: bool = False


@dataclasses.dataclass(frozen=True)
class Tonight:
    """What of tonight a history row must share to matter: contact keys, documents, routes."""

    keys: frozenset[str]
    documents: frozenset[str]
    routes: frozenset[tuple[object, object]]


def gather(
    past: Iterable[NightTables], policy: SwitchboardPolicy, tonight: Tonight | None = None
) -> HistoryEvidence:
    """Reduce the history nights to what tonight's features read, one night at a time.

    Args:
        past: the history nights (a list, or a :class:`WarehouseHistory`).
        policy: the switchboard policy (the contact pool marks business-like bookings by it).
        tonight: keep only rows sharing a contact key, a document or a route with tonight;
            None keeps every row.
    """
    out = HistoryEvidence()
    for h in past:
        pool = _contact_pool(h, policy)
        ids = _identities(h)
        links = _route_links(h, h.matches, h.identifier_matches)
        if tonight is not None:
            pool = pool.loc[pool["key"].isin(tonight.keys)]
            ids = ids.loc[ids["doc"].isin(tonight.documents)]
            links = [link for link in links if link[0] in tonight.routes]
        out.pool.append(pool)
        out.identities.append(ids)
        out.links.extend(links)
        out.with_matches |= h.matches is not None or h.identifier_matches is not None
    return out


def history_nights(night: str, days: int) -> WarehouseHistory:
    """The warehouse nights in the ``days`` before ``night``, to be read lazily."""
    return WarehouseHistory(warehouse.nights_before(night, days))
