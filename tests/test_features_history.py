"""History read lazily from the warehouse gives the same features as history held in memory."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pandas as pd
import pytest

from apiflag import atomic, config, warehouse
from apiflag.features import NightTables, SwitchboardPolicy, build_features, build_night_features
from apiflag.features.history import HISTORY_COLUMNS, Tonight, WarehouseHistory, gather
from apiflag.settings import load_settings
from rules_helpers import NightBuilder

TONIGHT = "2026-11-27"
SHARED_PHONE = "+66 81 111 2222"
DESK_PHONE = "+81 3 5555 0000"
REUSED_DOC = "PP1234567"


def _day(days_before: int) -> str:
    return str(dt.date.fromisoformat(TONIGHT) - dt.timedelta(days=days_before))


def _builder(night: str, start: int) -> NightBuilder:
    nb = NightBuilder(night)
    nb._ids = itertools.count(start)  # ids unique across nights, as the warehouse's are
    return nb


def _write(nb: NightBuilder, matches: list[dict[str, Any]] | None = None) -> None:
    """Write the builder's rows as the night's warehouse partition (schema-conformed)."""
    tables = {}
    for name, rows in nb.rows.items():
        frame = pd.DataFrame(rows)
        schema = warehouse.SCHEMAS[name]
        for field in schema:
            if field.name not in frame.columns:
                frame[field.name] = "0" * 64 if field.name == "message_sha256" else None
            elif str(field.type) == "date32[day]":
                frame[field.name] = [
                    None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[field.name]
                ]
        tables[name] = frame[schema.names]
    warehouse.write_tables(nb.night, tables)
    if matches is not None:
        path = config.warehouse_dir(nb.night) / "matches.parquet"
        atomic.write_parquet(path, pd.DataFrame(matches))


def _world() -> None:
    """Tonight and four earlier nights, one of them outside the 30-night window.

    History touches tonight three ways: a phone shared with an earlier booking, a document
    carried earlier under another surname, and a case match on tonight's route; an earlier
    night also has a switchboard (one phone on 21 bookings), and the night outside the window
    shares a phone that must not count.
    """
    old = _builder(_day(45), 9000)
    b = old.booking("OLD001", phones=("+66 82 999 0000",))
    old.traveller("FAR", "AWAY", "1980-01-01", booking_id=b)
    _write(old)

    h1 = _builder(_day(3), 1000)
    b = h1.booking("HIS001", phones=(SHARED_PHONE,), cash=True)
    h1.traveller("REYES", "ANA", "1990-02-02", booking_id=b)
    h1.traveller("SANTOS", "MARIA", "1995-05-05", booking_id=b, document=REUSED_DOC)
    for i in range(21):
        b = h1.booking(f"DSK{i:03d}", phones=(DESK_PHONE,))
        h1.traveller(f"DESK{i}", "STAFF", "1970-01-01", booking_id=b)
    _write(h1)

    h2 = _builder(_day(10), 2000)
    b = h2.booking("HIS002", phones=("+63 917 000 1111",))
    matched = h2.traveller("BROKER", "BEN", "1975-03-03", booking_id=b)
    h2.traveller("OTHER", "ONE", "1988-08-08", booking_id=b)
    _write(h2, [{"traveller_id": matched, "person_id": "P9", "case_id": "C-77",
                 "role": "broker", "probability": 0.93, "protection_only": False}])  # fmt: skip

    h3 = _builder(_day(20), 3000)  # a night with nothing in common with tonight
    b = h3.booking("HIS003", phones=("+1 212 555 0100",))
    h3.traveller("NOBODY", "ELSE", "1960-06-06", booking_id=b)
    _write(h3)

    t = _builder(TONIGHT, 1)
    b = t.booking("TON001", phones=(SHARED_PHONE, DESK_PHONE, "+66 82 999 0000"))
    t.traveller("CRUZ", "LEA", "2001-01-01", booking_id=b, document=REUSED_DOC)
    b = t.booking("TON002", phones=("+44 20 7946 0000",))
    t.traveller("PLAIN", "PAT", "1985-04-04", booking_id=b)
    _write(t, [])


def _eager(night: str, days: int) -> pd.DataFrame:
    tables = NightTables.from_warehouse(night, with_matches=True)
    history = [
        NightTables.from_warehouse(d, with_matches=True)
        for d in warehouse.nights_before(night, days)
    ]
    return build_features(
        tables, history, tables.matches, tables.identifier_matches, settings=load_settings()
    )


def test_lazy_history_gives_the_features_of_history_held_in_memory() -> None:
    _world()
    lazy = build_night_features(TONIGHT, write=False)
    eager = _eager(TONIGHT, load_settings().history_days)
    pd.testing.assert_frame_equal(lazy, eager)

    # ... and history really shaped them (else the comparison would prove nothing)
    row = lazy.set_index("traveller_id").loc["T2"]
    assert row["booking.shared_contact_bookings"] == 1  # HIS001; not the desk, not OLD001
    assert row["booking.switchboard_contacts"] == 1  # the desk phone, on 21 bookings
    assert bool(row["document.seen_under_other_identity"])
    assert row["flight.route_case_links"] == 1  # C-77 on the same route ten nights ago
    tables = NightTables.from_warehouse(TONIGHT, with_matches=True)
    alone = build_features(tables, None, tables.matches, None, settings=load_settings())
    for name in ("booking.shared_contact_bookings", "booking.switchboard_contacts"):
        assert alone.set_index("traveller_id").loc["T2", name] == 0, name
    assert not bool(alone.set_index("traveller_id").loc["T2", "document.seen_under_other_identity"])
    assert alone.set_index("traveller_id").loc["T2", "flight.route_case_links"] == 0


def test_a_wider_window_reads_the_older_night_the_same_both_ways() -> None:
    _world()
    settings = load_settings(history_days=60)
    lazy = build_night_features(TONIGHT, write=False, settings=settings)
    tables = NightTables.from_warehouse(TONIGHT, with_matches=True)
    history = [
        NightTables.from_warehouse(d, with_matches=True)
        for d in warehouse.nights_before(TONIGHT, 60)
    ]
    eager = build_features(tables, history, tables.matches, None, settings=settings)
    pd.testing.assert_frame_equal(lazy, eager)
    assert lazy.set_index("traveller_id").loc["T2", "booking.shared_contact_bookings"] == 2


def test_history_is_read_by_column_and_reduced_to_what_touches_tonight() -> None:
    _world()
    history = WarehouseHistory(warehouse.nights_before(TONIGHT, 30))
    nights = list(history)
    assert [n.night for n in nights] == [_day(20), _day(10), _day(3)]
    h1 = nights[-1]
    # only the projected columns are read; the others come back empty
    assert h1.travellers["nationality"].isna().all()
    assert h1.travellers["surname"].notna().all()
    assert set(HISTORY_COLUMNS["travellers"]) < set(warehouse.SCHEMAS["travellers"].names)
    tonight = Tonight(
        keys=frozenset({"phone:66811112222"}),
        documents=frozenset({REUSED_DOC}),
        routes=frozenset(),
    )
    kept = gather(history, SwitchboardPolicy(), tonight)
    everything = gather(history, SwitchboardPolicy())
    assert sum(len(p) for p in everything.pool) > 21
    assert set(pd.concat(kept.pool)["key"]) == {"phone:66811112222"}
    assert set(pd.concat(kept.identities)["doc"]) == {REUSED_DOC}
    assert kept.links == [] and len(everything.links) == 1 and kept.with_matches


@pytest.mark.parametrize("days", [1, 30])
def test_a_night_without_history_in_its_window_reads_none(days: int) -> None:
    _world()
    lazy = build_night_features(_day(45), write=False, settings=load_settings(history_days=days))
    assert list(lazy["traveller_id"]) == ["T9001"]
    assert lazy["booking.shared_contact_bookings"].tolist() == [0]


def test_a_column_empty_on_one_night_is_read_with_the_others() -> None:
    """A night whose identifier matches have no booking id stores that column as type null."""
    first, second = _day(5), _day(4)
    for night, booking in ((first, None), (second, "B1")):
        frame = pd.DataFrame({"booking_id": [booking], "case_id": ["C1"]})
        atomic.write_parquet(config.warehouse_dir(night) / "identifier_matches.parquet", frame)
    nights = list(WarehouseHistory([first, second]))
    assert [n.night for n in nights] == [first, second]
    assert nights[0].identifier_matches["booking_id"].isna().all()
    assert nights[1].identifier_matches["booking_id"].tolist() == ["B1"]


def test_a_column_all_null_on_an_earlier_night_does_not_fix_its_type() -> None:
    """matches.parquet is written from a frame: an all-null column is stored as type null."""
    first, second = _day(5), _day(4)
    atomic.write_parquet(
        config.warehouse_dir(first) / "matches.parquet",
        pd.DataFrame({"traveller_id": ["T1"], "case_id": [None], "probability": [None]}),
    )
    atomic.write_parquet(
        config.warehouse_dir(second) / "matches.parquet",
        pd.DataFrame({"traveller_id": ["T2"], "case_id": ["C-1"], "probability": [0.9]}),
    )
    nights = list(WarehouseHistory([first, second]).only("matches"))
    assert [n.night for n in nights] == [first, second]
    assert nights[0].matches["case_id"].isna().all()
    assert nights[1].matches["case_id"].tolist() == ["C-1"]
    assert nights[1].matches["probability"].tolist() == [0.9]
