"""The warehouse tables a night's features are built from (:class:`NightTables`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from apiflag import config, warehouse
from apiflag.errors import ApiflagError

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "flights": (
        "flight_id",
        "carrier",
        "number",
        "departure_airport",
        "arrival_airport",
        "scheduled_departure",
        "scheduled_arrival",
    ),
    "travellers": (
        "traveller_id",
        "flight_id",
        "role",
        "surname",
        "given_names",
        "sex",
        "date_of_birth",
        "nationality",
        "country_of_residence",
        "place_of_birth",
        "record_locator",
        "seat",
        "frequent_flyer",
        "checked_bags",
        "bag_weight_kg",
        "document_number",
        "pnr_traveller_id",
        "booking_id",
        "link_confidence",
        "link_level",
    ),
    "documents": (
        "owner_kind",
        "owner_id",
        "seq",
        "doc_type",
        "number",
        "issuing_country",
        "expiry_date",
        "issue_date",
    ),
    "bookings": (
        "booking_id",
        "record_locator",
        "carrier",
        "flight_id",
        "created",
        "last_transaction",
        "agency_id",
        "agency_location",
        "agency_country",
        "push_type",
        "push_seq",
        "superseded",
        "n_travellers",
    ),
    "pnr_travellers": (
        "pnr_traveller_id",
        "booking_id",
        "record_locator",
        "ref",
        "surname",
        "given_names",
        "title",
        "passenger_type",
        "sex",
        "date_of_birth",
        "nationality",
        "frequent_flyer",
    ),
    "booking_contacts": ("booking_id", "pnr_traveller_id", "kind", "value", "normalized", "source"),
    "payments": (
        "booking_id",
        "form",
        "amount",
        "currency",
        "masked_card",
        "payer_name",
        "payer_phone",
    ),
    "itinerary": (
        "booking_id",
        "leg_seq",
        "carrier",
        "number",
        "departure_airport",
        "arrival_airport",
        "scheduled_departure",
        "scheduled_arrival",
    ),
}
NOT_READ: Mapping[str, frozenset[str]] = {
    "flights": frozenset({"carrier", "number"}),
    "travellers": frozenset({"record_locator", "frequent_flyer", "link_level"}),
    "documents": frozenset({"doc_type", "issuing_country", "expiry_date"}),
    "bookings": frozenset(
        {
            "carrier",
            "last_transaction",
            "agency_location",
            "agency_country",
            "push_type",
            "push_seq",
        }
    ),
    "pnr_travellers": frozenset(
        {"record_locator", "ref", "title", "sex", "nationality", "frequent_flyer"}
    ),
    "booking_contacts": frozenset({"source"}),
    "payments": frozenset({"amount", "currency"}),
    "itinerary": frozenset(
        {"carrier", "number", "leg_seq", "arrival_airport", "scheduled_arrival"}
    ),
}
"""Columns of :data:`TABLE_COLUMNS` no feature reads: the nightly stage leaves them on disk
(:meth:`NightTables.from_warehouse` with ``features_only``), where they come back all-null; a
test builds the features with and without them."""
FEATURE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    name: tuple(c for c in columns if c not in NOT_READ[name])
    for name, columns in TABLE_COLUMNS.items()
}
"""The columns of each warehouse table the features read."""
MATCH_COLUMNS = ("traveller_id", "person_id", "case_id", "role", "probability", "protection_only")
IDENTIFIER_MATCH_COLUMNS = (
    "booking_id",
    "kind",
    "value",
    "case_id",
    "source",
    "owner_kind",
    "owner_id",
    "protection_only",
)


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _conform(frame: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame:
    """Return ``frame`` with every expected column present (missing ones all-null)."""
    cols = tuple(columns)
    if frame is None:
        return _empty(cols)
    out = frame.copy()
    for c in cols:
        if c not in out.columns:
            out[c] = pd.Series([None] * len(out), index=out.index, dtype=object)
        elif isinstance(out[c].dtype, pd.StringDtype):
            # plain Python strings: row-wise name and contact logic iterates them fast
            values = out[c].to_numpy(dtype=object, na_value=None)
            out[c] = pd.Series(values, index=out.index, dtype=object)
    return out


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a DataFrame, strings as plain Python ``str`` objects (None for null).

    Row-wise name and contact logic iterates plain strings fast; other columns convert as
    :meth:`pyarrow.Table.to_pandas` converts them.
    """
    data: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            data[name] = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        else:
            data[name] = column.to_pandas()
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows))


@dataclasses.dataclass(frozen=True)
class NightTables:
    """The warehouse frames of one arrival night (current PNR pushes only).

    Attributes:
        night: the local arrival date, ``YYYY-MM-DD``.
        flights, travellers, documents, bookings, pnr_travellers, booking_contacts, payments,
        itinerary: the warehouse tables of docs/ARCHITECTURE.md "Warehouse".
        matches, identifier_matches: optional case-match output of that night; history nights
            that carry them contribute to ``flight.route_case_links``.
    """

    night: str
    flights: pd.DataFrame
    travellers: pd.DataFrame
    documents: pd.DataFrame
    bookings: pd.DataFrame
    pnr_travellers: pd.DataFrame
    booking_contacts: pd.DataFrame
    payments: pd.DataFrame
    itinerary: pd.DataFrame
    matches: pd.DataFrame | None = None
    identifier_matches: pd.DataFrame | None = None

    @classmethod
    def from_frames(cls, night: str, **frames: pd.DataFrame | None) -> NightTables:
        """Build from whichever tables are given; absent tables and columns become empty/null.

        Superseded PNR pushes (``bookings.superseded``) are dropped together with their contacts,
        payments, itinerary and PNR travellers.

        Args:
            night: the arrival night, ``YYYY-MM-DD``.
            **frames: tables by name (``travellers=...``), plus optional ``matches`` and
                ``identifier_matches``.

        Raises:
            ValueError: an unknown table name.
        """
        unknown = set(frames) - set(TABLE_COLUMNS) - {"matches", "identifier_matches"}
        if unknown:
            raise ValueError(f"unknown warehouse table(s): {', '.join(sorted(unknown))}")
        tables = {name: _conform(frames.get(name), cols) for name, cols in TABLE_COLUMNS.items()}
        bookings = tables["bookings"]
        if len(bookings):
            superseded = bookings["superseded"].astype("boolean").fillna(False).to_numpy(bool)
            bookings = bookings.loc[~superseded].reset_index(drop=True)
            tables["bookings"] = bookings
            current = set(bookings["booking_id"].dropna())
            for name in ("booking_contacts", "payments", "itinerary", "pnr_travellers"):
                t = tables[name]
                tables[name] = t.loc[t["booking_id"].isin(current)].reset_index(drop=True)
        matches = frames.get("matches")
        idm = frames.get("identifier_matches")
        return cls(
            night=str(pd.Timestamp(night).date()),
            matches=None if matches is None else _conform(matches, MATCH_COLUMNS),
            identifier_matches=None if idm is None else _conform(idm, IDENTIFIER_MATCH_COLUMNS),
            **tables,
        )

    @classmethod
    def from_warehouse(
        cls, night: str, *, with_matches: bool = False, features_only: bool = False
    ) -> NightTables:
        """Read one night's current tables from ``$APIFLAG_HOME/warehouse``.

        Args:
            night: the arrival night, ``YYYY-MM-DD``.
            with_matches: also read ``matches.parquet`` and ``identifier_matches.parquet`` when
                present (use for history nights).
            features_only: read only :data:`FEATURE_COLUMNS` (the others come back all-null).

        Raises:
            ApiflagError: the night has no warehouse partition.
        """
        part = config.warehouse_dir(night)
        if not part.is_dir():
            raise ApiflagError(f"{part}: no warehouse partition for night {night} (run ingest)")
        frames: dict[str, pd.DataFrame | None] = {}
        for name, columns in (FEATURE_COLUMNS if features_only else TABLE_COLUMNS).items():
            names = warehouse.SCHEMAS[name].names
            table = warehouse.read_arrow(
                night, name, current=True, columns=[c for c in columns if c in names]
            )
            frames[name] = arrow_frame(table)
        if with_matches:
            for name in ("matches", "identifier_matches"):
                path = part / f"{name}.parquet"
                frames[name] = pd.read_parquet(path) if path.exists() else None
        return cls.from_frames(night, **frames)
