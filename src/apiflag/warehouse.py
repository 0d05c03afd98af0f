"""The night's warehouse: one Parquet file per table under ``$APIFLAG_HOME/warehouse/night=<D>/``.

This module decides the exact Arrow schema of every table ingest writes (the contract in
``docs/ARCHITECTURE.md`` "Warehouse") and guarantees that:

- a table is written whole or not at all (temporary file in the same folder, then rename), with
  its columns in schema order and cast to the schema's types, so every reader sees the same
  types whatever wrote it;
- every row carries ``message_sha256`` (the SHA-256 of the archived file it came from) and
  ``segment`` (the number of the segment that opened the record in that file);
- ``read_table(night, name, current=True)`` hides PNR pushes that a later push superseded:
  bookings whose ``superseded`` is true and every row hanging off them (PNR travellers, their
  documents, contacts, payments, itinerary). ``current=False`` returns everything kept.

Dates come back as ``datetime.date`` objects, times as naive ``datetime64[us]`` local times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apiflag import atomic, config
from apiflag.errors import ApiflagError

__all__ = [
    "BOOKING_TABLES",
    "RECORD_TABLES",
    "SCHEMAS",
    "TABLES",
    "empty_table",
    "night_dir",
    "nights",
    "read_arrow",
    "read_table",
    "to_arrow",
    "write_table",
    "write_tables",
]

_S = pa.string()
_TS = pa.timestamp("us")
_DEGRADED = pa.list_(_S)  # contract fields read as null because the value could not be read
_PROVENANCE = [pa.field("message_sha256", _S, nullable=False), pa.field("segment", pa.int32())]


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in fields] + _PROVENANCE)


SCHEMAS: dict[str, pa.Schema] = {
    "flights": _schema(
        ("flight_id", _S),
        ("carrier", _S),
        ("number", _S),
        ("departure_airport", _S),
        ("arrival_airport", _S),
        ("scheduled_departure", _TS),
        ("scheduled_arrival", _TS),
    ),
    "travellers": _schema(
        ("traveller_id", _S),
        ("flight_id", _S),
        ("role", _S),
        ("surname", _S),
        ("given_names", _S),
        ("sex", _S),
        ("date_of_birth", pa.date32()),
        ("nationality", _S),
        ("country_of_residence", _S),
        ("place_of_birth", _S),
        ("record_locator", _S),
        ("seat", _S),
        ("frequent_flyer", _S),
        ("checked_bags", pa.int32()),
        ("bag_weight_kg", pa.float64()),
        ("document_number", _S),
        ("pnr_traveller_id", _S),
        ("booking_id", _S),
        ("link_confidence", pa.float64()),
        ("link_level", _S),
        ("degraded", _DEGRADED),
    ),
    "documents": _schema(
        ("owner_kind", _S),
        ("owner_id", _S),
        ("seq", pa.int32()),
        ("doc_type", _S),
        ("number", _S),
        ("issuing_country", _S),
        ("expiry_date", pa.date32()),
        ("issue_date", pa.date32()),
    ),
    "bookings": _schema(
        ("booking_id", _S),
        ("record_locator", _S),
        ("carrier", _S),
        ("flight_id", _S),
        ("created", _TS),
        ("last_transaction", _TS),
        ("agency_id", _S),
        ("agency_location", _S),
        ("agency_country", _S),
        ("push_type", _S),
        ("push_seq", pa.int32()),
        ("superseded", pa.bool_()),
        ("n_travellers", pa.int32()),
    ),
    "pnr_travellers": _schema(
        ("pnr_traveller_id", _S),
        ("booking_id", _S),
        ("record_locator", _S),
        ("ref", _S),
        ("surname", _S),
        ("given_names", _S),
        ("title", _S),
        ("passenger_type", _S),
        ("sex", _S),
        ("date_of_birth", pa.date32()),
        ("nationality", _S),
        ("frequent_flyer", _S),
        ("degraded", _DEGRADED),
    ),
    "booking_contacts": _schema(
        ("booking_id", _S),
        ("pnr_traveller_id", _S),
        ("kind", _S),
        ("value", _S),
        ("normalized", _S),
        ("source", _S),
    ),
    "payments": _schema(
        ("booking_id", _S),
        ("form", _S),
        ("amount", pa.float64()),
        ("currency", _S),
        ("masked_card", _S),
        ("payer_name", _S),
        ("payer_phone", _S),
    ),
    "itinerary": _schema(
        ("booking_id", _S),
        ("leg_seq", pa.int32()),
        ("carrier", _S),
        ("number", _S),
        ("departure_airport", _S),
        ("arrival_airport", _S),
        ("scheduled_departure", _TS),
        ("scheduled_arrival", _TS),
    ),
    "quarantine": pa.schema(
        [
            pa.field("file", _S),
            pa.field("message_sha256", _S, nullable=False),
            pa.field("code", _S),
            pa.field("segment", pa.int32()),
            pa.field("message", _S),
        ]
    ),
    # records quarantined while the rest of their file loaded (apiflag.record_quarantine);
    # ``segment`` is the record's first segment
    "record_quarantine": _schema(
        ("file", _S),
        ("kind", _S),
        ("message_ref", _S),
        ("last_segment", pa.int32()),
        ("code", _S),
        ("message", _S),
        ("travellers", pa.int32()),
    ),
    # per-carrier data quality (apiflag.carrier_quality): one row per file and carrier, and one
    # per file, carrier and deviation; ``segment`` is the first segment it concerns
    "carrier_quality": _schema(
        ("file", _S),
        ("kind", _S),
        ("carrier", _S),
        ("named_by", _S),
        ("messages", pa.int32()),
        ("declared", pa.int32()),
        ("clean", pa.int32()),
        ("degraded", pa.int32()),
        ("quarantined", pa.int32()),
    ),
    "carrier_deviations": _schema(
        ("file", _S),
        ("carrier", _S),
        ("tag", _S),
        ("code", _S),
        ("field", _S),
        ("count", pa.int32()),
        ("travellers", pa.int32()),
    ),
}
"""Arrow schema of every warehouse table ingest writes, columns in file order."""

TABLES: tuple[str, ...] = tuple(SCHEMAS)
"""Names of the tables ingest writes, in the order it writes them."""

RECORD_TABLES: tuple[str, ...] = tuple(
    name
    for name in SCHEMAS
    if name not in {"quarantine", "record_quarantine", "carrier_quality", "carrier_deviations"}
)
"""Tables whose rows are the records of the messages (the rest count files and carriers)."""

BOOKING_TABLES: frozenset[str] = frozenset(
    {"bookings", "pnr_travellers", "booking_contacts", "payments", "itinerary"}
)
"""Tables whose rows belong to one PNR push and disappear with it under ``current=True``."""


def _night_text(night: dt.date | str) -> str:
    if isinstance(night, dt.date):
        return night.isoformat()
    try:
        return dt.date.fromisoformat(night).isoformat()
    except ValueError:
        raise ApiflagError(f"night {night!r}: not a date (YYYY-MM-DD)") from None


def night_dir(night: dt.date | str) -> Path:
    """Return the folder of one night's warehouse partition (not created).

    Args:
        night: the arrival night, as a date or ``YYYY-MM-DD``.

    Returns:
        ``$APIFLAG_HOME/warehouse/night=<YYYY-MM-DD>``.
    """
    return config.warehouse_dir(_night_text(night))


def nights() -> list[dt.date]:
    """Return the nights that have an ingested warehouse partition, oldest first."""
    base = config.warehouse_dir()
    found = []
    if base.is_dir():
        for child in base.iterdir():
            if child.name.startswith("night=") and (child / "travellers.parquet").is_file():
                try:
                    found.append(dt.date.fromisoformat(child.name[len("night=") :]))
                except ValueError:
                    continue
    return sorted(found)


def nights_before(night: dt.date | str, days: int) -> list[str]:
    """Return the ingested nights in the ``days`` before ``night`` (its history), oldest first."""
    end = dt.date.fromisoformat(_night_text(night))
    start = end - dt.timedelta(days=days)
    return [str(day) for day in nights() if start <= day < end]


def _schema_of(name: str) -> pa.Schema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ApiflagError(
            f"warehouse table {name!r}: unknown (tables: {', '.join(TABLES)})"
        ) from None


def empty_table(name: str) -> pa.Table:
    """Return a table with ``name``'s schema and no rows."""
    return _schema_of(name).empty_table()


def to_arrow(name: str, data: pa.Table | pd.DataFrame | Mapping[str, Sequence[Any]]) -> pa.Table:
    """Conform ``data`` to table ``name``'s schema: exactly its columns, in order, of its types.

    Args:
        name: a table in :data:`SCHEMAS`.
        data: an Arrow table, a DataFrame, or a mapping of column name to values.

    Returns:
        An Arrow table with the schema of :data:`SCHEMAS` ``[name]`` and no schema metadata.

    Raises:
        ValueError: a schema column is missing or an extra column is present, or a value does
            not convert to the column's type (a bug in the writer, not a user's mistake).
    """
    schema = _schema_of(name)
    if isinstance(data, pd.DataFrame):
        columns: dict[str, Any] = {c: data[c] for c in data.columns}
    elif isinstance(data, pa.Table):
        columns = {c: data.column(c) for c in data.column_names}
    else:
        columns = dict(data)
    missing = [f.name for f in schema if f.name not in columns]
    extra = [c for c in columns if c not in schema.names]
    if missing or extra:
        raise ValueError(f"table {name}: missing columns {missing}, unexpected columns {extra}")
    arrays = []
    for field in schema:
        values = columns[field.name]
        try:
            if isinstance(values, pa.ChunkedArray | pa.Array):
                arrays.append(values.cast(field.type))
            elif isinstance(values, pd.Series):
                arrays.append(pa.array(values, type=field.type, from_pandas=True))
            else:
                arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise ValueError(f"table {name}: column {field.name}: {exc}") from exc
    table = pa.Table.from_arrays(arrays, schema=schema)
    nulls = [f.name for f in schema if not f.nullable and table.column(f.name).null_count]
    if nulls:
        raise ValueError(f"table {name}: nulls in required columns {nulls}")
    return table


def write_table(
    night: dt.date | str,
    name: str,
    data: pa.Table | pd.DataFrame | Mapping[str, Sequence[Any]],
) -> Path:
    """Write one table of one night atomically (temporary file in the same folder, then rename).

    The same data always gives the same bytes, so rewriting a night with unchanged input
    leaves its files identical.

    Args:
        night: the arrival night.
        name: a table in :data:`SCHEMAS`.
        data: the rows (see :func:`to_arrow`).

    Returns:
        The path written: ``night_dir(night)/<name>.parquet``.
    """
    table = to_arrow(name, data)
    folder = night_dir(night)
    path = folder / f"{name}.parquet"
    return atomic.write_parquet(path, table, compression="zstd", write_statistics=True)


def write_tables(
    night: dt.date | str,
    tables: Mapping[str, pa.Table | pd.DataFrame | Mapping[str, Sequence[Any]]],
) -> dict[str, Path]:
    """Write several tables of one night: all to temporary files first, then all renamed.

    A failure while converting or writing leaves every existing table of the night untouched.

    Args:
        night: the arrival night.
        tables: table name -> rows (see :func:`to_arrow`).

    Returns:
        Table name -> path written.
    """
    arrow = {name: to_arrow(name, data) for name, data in tables.items()}
    folder = night_dir(night)
    paths = {name: folder / f"{name}.parquet" for name in arrow}
    with atomic.atomic_paths(paths) as staged:
        for name, table in arrow.items():
            pq.write_table(table, staged[name], compression="zstd", write_statistics=True)
    return paths


def _read_raw(night: dt.date | str, name: str, columns: list[str] | None = None) -> pa.Table:
    schema = _schema_of(name)
    path = night_dir(night) / f"{name}.parquet"
    if not path.is_file():
        raise ApiflagError(
            f"{path}: night {_night_text(night)} has no {name} table "
            f"(run: apiflag ingest --night {_night_text(night)})"
        )
    table = pq.read_table(path, columns=columns)
    return table if columns else table.cast(schema)


def _keep(table: pa.Table, column: str, allowed: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table.column(column), value_set=allowed))


def read_arrow(
    night: dt.date | str,
    name: str,
    current: bool = True,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Read one table of one night as Arrow.

    Args:
        night: the arrival night.
        name: a table in :data:`SCHEMAS`.
        current: drop rows of PNR pushes a later push superseded (see the module docstring).
        columns: read only these columns (in this order); None reads them all.

    Returns:
        The table, with the schema of :data:`SCHEMAS` ``[name]`` (or its ``columns``).

    Raises:
        ApiflagError: the night has not been ingested (names the file and the command to run).
    """
    if columns is not None:
        wanted = list(columns)
        needed = {"documents": ["owner_kind", "owner_id"]}.get(name, ["booking_id"])
        read = list(dict.fromkeys([*wanted, *(needed if current else [])]))
        schema = _schema_of(name)
        raw = _read_raw(night, name, [c for c in read if c in schema.names])
        table = raw.cast(pa.schema([schema.field(c) for c in raw.column_names]))
        return _current(night, name, table, current).select(wanted)
    return _current(night, name, _read_raw(night, name), current)


def _current(night: dt.date | str, name: str, table: pa.Table, current: bool) -> pa.Table:
    """``table`` without the rows of superseded PNR pushes when ``current``."""
    if not current or name not in BOOKING_TABLES | {"documents"}:
        return table
    bookings = _read_raw(night, "bookings", ["booking_id", "superseded"])
    live = bookings.filter(pc.invert(pc.fill_null(bookings.column("superseded"), False)))
    live_ids = live.column("booking_id").combine_chunks()
    if name in BOOKING_TABLES:
        return _keep(table, "booking_id", live_ids)
    # documents: API documents always; PNR documents only of travellers in a live push
    pnr = _read_raw(night, "pnr_travellers", ["pnr_traveller_id", "booking_id"])
    live_pnr = _keep(pnr, "booking_id", live_ids).column("pnr_traveller_id").combine_chunks()
    is_pnr = pc.equal(table.column("owner_kind"), "pnr")
    keep = pc.or_(pc.invert(is_pnr), pc.is_in(table.column("owner_id"), value_set=live_pnr))
    return table.filter(pc.fill_null(keep, True))


def read_table(night: dt.date | str, name: str, current: bool = True) -> pd.DataFrame:
    """Read one table of one night as a DataFrame (what the other stages call).

    Args:
        night: the arrival night.
        name: a table in :data:`SCHEMAS`.
        current: drop rows of PNR pushes a later push superseded (the default every scoring
            stage wants); ``False`` returns every push kept.

    Returns:
        The rows, columns as in :data:`SCHEMAS`; dates as ``datetime.date``, times as
        naive ``datetime64[us]``.

    Raises:
        ApiflagError: the night has not been ingested.
    """
    return read_arrow(night, name, current=current).to_pandas()
