"""The warehouse: exact schemas, atomic writes, and the current-push view other stages read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from apiflag import warehouse
from apiflag.errors import ApiflagError

NIGHT = dt.date(2026, 11, 21)


def _rows(name: str, n: int, **values: object) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {f.name: [None] * n for f in warehouse.SCHEMAS[name]}
    cols["message_sha256"] = ["a" * 64] * n
    for key, value in values.items():
        cols[key] = list(value) if isinstance(value, list) else [value] * n  # type: ignore[call-overload]
    return cols


def test_every_table_carries_provenance() -> None:
    for name, schema in warehouse.SCHEMAS.items():
        assert {"message_sha256", "segment"} <= set(schema.names), name


def test_write_then_read_round_trips_types() -> None:
    rows = _rows(
        "travellers",
        2,
        traveller_id=["T-1", "T-2"],
        surname=["SATO", "KAEWKLA"],
        date_of_birth=[dt.date(1992, 10, 10), None],
        checked_bags=[1, None],
        link_confidence=[1.0, None],
        segment=[12, 30],
    )
    path = warehouse.write_table(NIGHT, "travellers", rows)
    assert path == warehouse.night_dir(NIGHT) / "travellers.parquet"
    assert pq.read_schema(path).names == warehouse.SCHEMAS["travellers"].names
    back = warehouse.read_table("2026-11-21", "travellers")
    assert list(back["traveller_id"]) == ["T-1", "T-2"]
    assert back.loc[0, "date_of_birth"] == dt.date(1992, 10, 10)
    assert pd.isna(back.loc[1, "link_confidence"])
    assert warehouse.nights() == [NIGHT]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.pop("surname"), "missing columns \\['surname'\\]"),
        (lambda c: c.__setitem__("extra", [1]), "unexpected columns \\['extra'\\]"),
        (lambda c: c.__setitem__("checked_bags", ["many"]), "column checked_bags"),
        (lambda c: c.__setitem__("message_sha256", [None]), "nulls in required columns"),
    ],
    ids=["missing", "extra", "bad-type", "no-provenance"],
)
def test_nonconforming_rows_are_refused(change: object, match: str) -> None:
    rows = _rows("travellers", 1, traveller_id="T-1", surname="SATO")
    change(rows)  # type: ignore[operator]
    with pytest.raises(ValueError, match=match):
        warehouse.to_arrow("travellers", rows)


def test_failed_multi_table_write_leaves_the_night_untouched() -> None:
    warehouse.write_table(NIGHT, "flights", _rows("flights", 1, flight_id="QK21-20261121"))
    before = (warehouse.night_dir(NIGHT) / "flights.parquet").read_bytes()
    bad = _rows("travellers", 1)
    bad.pop("surname")
    with pytest.raises(ValueError):
        warehouse.write_tables(NIGHT, {"flights": _rows("flights", 2), "travellers": bad})
    assert (warehouse.night_dir(NIGHT) / "flights.parquet").read_bytes() == before
    assert not (warehouse.night_dir(NIGHT) / "travellers.parquet").exists()
    assert not [p for p in warehouse.night_dir(NIGHT).iterdir() if p.name.startswith(".")]


def test_same_rows_give_same_bytes() -> None:
    rows = _rows(
        "flights", 1, flight_id="QK21-20261121", scheduled_arrival=dt.datetime(2026, 11, 21, 8)
    )
    first = warehouse.write_table(NIGHT, "flights", rows).read_bytes()
    assert warehouse.write_table(NIGHT, "flights", rows).read_bytes() == first


def _two_pushes() -> None:
    warehouse.write_tables(
        NIGHT,
        {
            "bookings": _rows(
                "bookings",
                2,
                booking_id=["B-old", "B-new"],
                record_locator="QKTT02",
                superseded=[True, False],
                push_seq=[1, 2],
            ),
            "pnr_travellers": _rows(
                "pnr_travellers",
                2,
                pnr_traveller_id=["P-old", "P-new"],
                booking_id=["B-old", "B-new"],
            ),
            "booking_contacts": _rows("booking_contacts", 2, booking_id=["B-old", "B-new"]),
            "payments": _rows("payments", 2, booking_id=["B-old", "B-new"]),
            "itinerary": _rows("itinerary", 2, booking_id=["B-old", "B-new"]),
            "documents": _rows(
                "documents",
                3,
                owner_kind=["pnr", "pnr", "api"],
                owner_id=["P-old", "P-new", "T-1"],
                number=["X1", "X2", "X3"],
            ),
        },
    )


@pytest.mark.parametrize(
    ("table", "column", "current", "all_rows"),
    [
        ("bookings", "booking_id", ["B-new"], ["B-old", "B-new"]),
        ("pnr_travellers", "pnr_traveller_id", ["P-new"], ["P-old", "P-new"]),
        ("booking_contacts", "booking_id", ["B-new"], ["B-old", "B-new"]),
        ("payments", "booking_id", ["B-new"], ["B-old", "B-new"]),
        ("itinerary", "booking_id", ["B-new"], ["B-old", "B-new"]),
        ("documents", "number", ["X2", "X3"], ["X1", "X2", "X3"]),
    ],
)
def test_current_view_hides_superseded_pushes(
    table: str, column: str, current: list[str], all_rows: list[str]
) -> None:
    _two_pushes()
    assert list(warehouse.read_table(NIGHT, table)[column]) == current
    assert list(warehouse.read_table(NIGHT, table, current=False)[column]) == all_rows


def test_reading_a_night_never_ingested_names_the_command() -> None:
    with pytest.raises(ApiflagError, match="apiflag ingest --night 2026-11-21"):
        warehouse.read_table(NIGHT, "travellers")
    with pytest.raises(ApiflagError, match="unknown"):
        warehouse.read_table(NIGHT, "passengers")
    with pytest.raises(ApiflagError, match="not a date"):
        warehouse.night_dir("21/11/2026")


def test_empty_table_has_the_schema(tmp_path: Path) -> None:
    table = warehouse.empty_table("quarantine")
    assert table.num_rows == 0 and table.schema == warehouse.SCHEMAS["quarantine"]
