"""Ingest end to end with the real parser on real EDIFACT text: the shared fixtures, messages the
synthetic world's writer renders, a broken file, the process pool, and the real-world samples."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from apiflag import ingest, warehouse
from apiflag.synth.render import RenderStyle, render_paxlst, render_pnrgov
from ingest_helpers import api_traveller, booking, manifest, pnr_message, pnr_traveller

SHARED = Path(__file__).resolve().parent / "data" / "messages"  # copies of shared/fixtures
NIGHT = dt.date(2026, 11, 21)
DOB = dt.date(2005, 6, 2)


def _fixture_night(root: Path) -> Path:
    for sub, name in (
        ("paxlst", "paxlst_d05b_passengers.edi"),
        ("pnrgov", "pnrgov_11_1_two_pnrs.edi"),
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / "hand" / name, root / sub / name)
    return root


def test_shared_fixtures_load_link_and_drop_the_meal_code(tmp_path: Path) -> None:
    report = ingest.ingest_night(NIGHT, _fixture_night(tmp_path / "night"), workers=1)
    r = report.reconciliation
    assert r["messages"]["balanced"] and r["messages"]["parsed"] == 2
    assert r["messages"]["unh_messages"] == 2
    assert r["sensitive_dropped"].get("VGML") == 1
    (flight,) = r["flights"]["per_flight"]
    assert flight["flight_id"] == "QK21-20261121"
    assert (flight["passengers_parsed"], flight["passengers_declared"], flight["cnt_ok"]) == (
        3,
        3,
        True,
    )
    travellers = warehouse.read_table(NIGHT, "travellers").set_index("surname")
    assert travellers.loc["KAEWKLA", "link_level"] == "exact"
    assert travellers.loc["SATO", "link_level"] == "exact"
    assert travellers.loc["CHAIYAPORN", "link_level"] is None or str(
        travellers.loc["CHAIYAPORN", "link_level"]
    ) in ("nan", "<NA>")
    expected = json.loads((SHARED / "hand" / "expected.json").read_text())
    for row in expected["paxlst_d05b_passengers.edi"]:
        t = travellers.loc[row["surname"]]
        assert t["given_names"] == row["given_names"]
        assert t["date_of_birth"].isoformat() == row["date_of_birth"]
        assert t["document_number"] == row["documents"][0]["number"]
    bookings = warehouse.read_table(NIGHT, "bookings").set_index("record_locator")
    assert travellers.loc["KAEWKLA", "booking_id"] == bookings.loc["QKTT02", "booking_id"]
    payments = warehouse.read_table(NIGHT, "payments")
    cash = payments.loc[payments["booking_id"] == bookings.loc["QKTT02", "booking_id"]]
    assert list(cash["form"]) == ["CA"] and list(cash["payer_name"]) == ["NARONG PHETSRI"]
    contacts = warehouse.read_table(NIGHT, "booking_contacts")
    assert "66811112222" in set(contacts["normalized"])
    assert "yuki_sato@example.jp" in set(contacts["normalized"])
    docs = warehouse.read_table(NIGHT, "documents")
    assert set(docs.loc[docs["owner_kind"] == "api", "number"]) >= {"AB1234567", "JV5550001"}
    for name in warehouse.TABLES:  # every row says which archived message it came from
        table = warehouse.read_table(NIGHT, name, current=False)
        assert table["message_sha256"].notna().all(), name
        for sha in set(table["message_sha256"]):
            assert ingest.archive_path(sha).is_file()


def _rendered_night(root: Path, t72_prepared: dt.datetime, dep_prepared: dt.datetime) -> Path:
    people = [
        api_traveller("KAEWKLA", "PIMCHANOK DARA", DOB, "ABC123", 1, doc="AC7654321"),
        api_traveller("O'BRIEN", "ANNA+MARIE", dt.date(1990, 1, 2), "ABC124", 2, doc="X1"),
    ]
    style = RenderStyle(separators="*#.!~|", wrap=64, telex=True, parts=2)
    pax = render_paxlst(manifest(people), style)
    (root / "paxlst").mkdir(parents=True)
    (root / "pnrgov").mkdir(parents=True)
    (root / "paxlst" / "QK21_BKK_pax.edi").write_text(pax)
    for name, prepared, given in (
        ("t72", t72_prepared, "PIMCHANOK"),
        ("dep", dep_prepared, "PIMCHANOK DARA"),
    ):
        pnr = pnr_message(
            [booking("ABC123", [pnr_traveller("1", "KAEWKLA", given, DOB, 1)], 1)], prepared
        )
        (root / "pnrgov" / f"QK21_BKK_{name}.edi").write_text(render_pnrgov(pnr))
    return root


@pytest.mark.parametrize(
    ("t72", "dep", "current_given"),
    [
        (dt.datetime(2026, 11, 18, 0, 5), dt.datetime(2026, 11, 21, 0, 25), "PIMCHANOK DARA"),
        (dt.datetime(2026, 11, 21, 0, 25), dt.datetime(2026, 11, 18, 0, 5), "PIMCHANOK"),
    ],
    ids=["in-name-order", "file-names-lie"],
)
def test_rendered_messages_push_order_by_prepared_time(
    tmp_path: Path, t72: dt.datetime, dep: dt.datetime, current_given: str
) -> None:
    root = _rendered_night(tmp_path / "night", t72, dep)
    report = ingest.ingest_night(NIGHT, root, workers=1)
    assert report.reconciliation["messages"]["parsed"] == 3
    current = warehouse.read_table(NIGHT, "pnr_travellers")
    assert list(current["given_names"]) == [current_given]
    travellers = warehouse.read_table(NIGHT, "travellers").set_index("surname")
    assert travellers.loc["O'BRIEN", "given_names"] == "ANNA+MARIE"  # released characters
    assert travellers.loc["KAEWKLA", "pnr_traveller_id"] == current["pnr_traveller_id"].item()


def test_a_file_without_an_envelope_is_quarantined_and_a_cut_file_keeps_what_it_holds(
    tmp_path: Path,
) -> None:
    root = _fixture_night(tmp_path / "night")
    text = (SHARED / "hand" / "paxlst_d05b_passengers.edi").read_text()
    lines = text.splitlines(keepends=True)
    (root / "paxlst" / "QK21_cut.edi").write_text("".join(lines[: len(lines) // 2]))
    (root / "paxlst" / "empty.edi").write_bytes(b"")
    (root / "paxlst" / "prose.edi").write_text("Please find the manifest attached.\n")
    report = ingest.ingest_night(NIGHT, root, workers=1)
    m = report.reconciliation["messages"]
    assert (m["distinct"], m["parsed"], m["quarantined"], m["balanced"]) == (5, 3, 2, True)
    q = warehouse.read_table(NIGHT, "quarantine").set_index("file")
    assert q.loc["paxlst/empty.edi", "code"] == "E_EMPTY"
    assert q.loc["paxlst/prose.edi", "code"] == "E_NO_UNB"
    assert "paxlst/QK21_cut.edi" not in q.index  # read up to the cut, not refused
    assert len(warehouse.read_table(NIGHT, "travellers")) == 3  # the cut copy adds nobody


def _night_bytes() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(warehouse.night_dir(NIGHT).glob("*.parquet"))}


def _mixed_night(root: Path) -> Path:
    _rendered_night(root, dt.datetime(2026, 11, 18), dt.datetime(2026, 11, 21))
    return _fixture_night(root)


def test_batching_never_changes_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _mixed_night(tmp_path / "night")
    ingest.ingest_night(NIGHT, root, workers=1)
    whole = _night_bytes()
    monkeypatch.setattr(ingest.pool, "BATCH_FILES", 1)  # one file per batch: message numbers offset
    ingest.ingest_night(NIGHT, root, workers=1)
    assert _night_bytes() == whole


@pytest.mark.slow
def test_process_pool_gives_the_same_bytes(tmp_path: Path) -> None:
    root = _mixed_night(tmp_path / "night")
    ingest.ingest_night(NIGHT, root, workers=1)
    alone = _night_bytes()
    ingest.ingest_night(NIGHT, root, workers=2)
    assert _night_bytes() == alone


def test_real_world_samples_never_stop_the_night(tmp_path: Path) -> None:
    root = tmp_path / "night"
    (root / "paxlst").mkdir(parents=True)
    samples = sorted((SHARED / "real").glob("*.txt"))
    for path in samples:
        shutil.copy(path, root / "paxlst" / path.name)
    night = dt.date(2021, 7, 13)
    report = ingest.ingest_night(night, root, workers=1)
    m = report.reconciliation["messages"]
    assert m["distinct"] == m["parsed"] + m["quarantined"]
    assert m["parsed"] >= 1
    loaded = len(warehouse.read_table(night, "travellers"))
    in_night = sum(
        f["passengers_parsed"] + f["crew_parsed"]
        for f in report.reconciliation["flights"]["per_flight"]
    )
    assert loaded == in_night
