"""The reconciliation adds up on a synthetic week, and nobody the world sent goes missing.

One small world (7 nights, a fifth of the files written with real-world mess) is generated with
``apiflag synth``; one night also gets an identical resend and a file cut short. Every night is
ingested, and its counts are checked against the files on disk, the warehouse tables and the
world's ground truth (``truth/travellers.csv``, which scoring never reads).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from apiflag import config, ingest, warehouse
from apiflag.cli import cli

KEY = ["carrier", "number", "surname", "given_names", "date_of_birth", "document_number"]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    args = ["synth", "--out", str(out), "--seed", "11", "--nights", "7", "--arrivals", "200"]
    args += ["--history-nights", "0", "--mess-share", "0.2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    first = out / "nights" / "2026-11-20"
    pax = sorted((first / "paxlst").iterdir())
    shutil.copy(pax[0], first / "paxlst" / f"{pax[0].stem}_resent.edi")
    lines = pax[-1].read_bytes().splitlines(keepends=True)
    (first / "paxlst" / "ZZ1_CUT_pax.edi").write_bytes(b"".join(lines[: len(lines) // 2]))
    return out


def _keys(frame: pd.DataFrame) -> set[tuple[str, ...]]:
    return {
        tuple("" if pd.isna(v) else str(v) for v in row)
        for row in frame[KEY].itertuples(index=False, name=None)
    }


def test_reconciliation_adds_up_on_a_synthetic_week(week: Path) -> None:
    truth = pd.read_csv(week / "truth" / "travellers.csv", dtype=str, keep_default_na=False)
    nights = sorted(p.name for p in (week / "nights").iterdir())
    assert len(nights) == 7
    for text in nights:
        night = dt.date.fromisoformat(text)
        folder = week / "nights" / text
        on_disk = sorted(p for sub in ("paxlst", "pnrgov") for p in (folder / sub).iterdir())
        r = ingest.ingest_night(night, week, workers=1).reconciliation
        m = r["messages"]
        assert m["arrived"] == len(on_disk), text
        assert m["arrived"] == m["distinct"] + m["resends"], text
        assert m["distinct"] == m["parsed"] + m["quarantined"] and m["balanced"], text
        assert m["other_night"] == 0, text
        log = config.archive_dir() / "arrivals" / f"night={text}.jsonl"
        assert len(log.read_text().splitlines()) == len(on_disk)

        travellers = warehouse.read_table(night, "travellers")
        flights = warehouse.read_table(night, "flights")
        t = r["travellers"]
        assert len(travellers) == t["total"] == t["passengers"] + t["crew"], text
        per_flight = r["flights"]["per_flight"]
        parsed = sum(f["passengers_parsed"] + f["crew_parsed"] for f in per_flight)
        assert parsed == t["total"] + t["replaced"] + t["cancelled"], text
        assert travellers["traveller_id"].is_unique
        for f in per_flight:
            rows = travellers.loc[travellers["flight_id"] == f["flight_id"]]
            assert len(rows) == f["loaded"], f
            assert f["passengers_parsed"] + f["crew_parsed"] == (
                f["loaded"] + f["replaced"] + f["cancelled"]
            ), f
            assert f["linked"] + f["unlinked"] == len(rows), f
            if f["cnt_ok"]:
                assert f["passengers_declared"] in (None, f["passengers_parsed"]), f
        assert r["flights"]["cnt_mismatches"] == sum(not f["cnt_ok"] for f in per_flight)

        links = r["links"]
        assert links["linked"] + links["unlinked"] == t["total"], text
        by_level = dict(links["by_level"])
        by_level.pop("ambiguous")
        assert sum(by_level.values()) == links["linked"], text
        assert travellers["link_confidence"].notna().sum() == links["linked"]
        linked = travellers.loc[travellers["link_confidence"].notna()]
        pnr = warehouse.read_table(night, "pnr_travellers").set_index("pnr_traveller_id")
        assert linked["pnr_traveller_id"].is_unique
        assert set(linked["pnr_traveller_id"]) <= set(pnr.index)  # only current pushes
        # locator-level links join the booking the traveller's own RFF AVF names
        by_locator = linked.loc[linked["link_level"].str.startswith(("exact", "locator"))]
        booked = pnr.loc[by_locator["pnr_traveller_id"], "record_locator"].to_numpy()
        assert (by_locator["record_locator"].str.upper().to_numpy() == booked).all()

        b = r["bookings"]
        every = warehouse.read_table(night, "bookings", current=False)
        current = warehouse.read_table(night, "bookings")
        assert len(every) == b["pushes"] == b["current"] + b["superseded"], text
        assert len(current) == b["current"]
        assert not current.duplicated(["flight_id", "record_locator"]).any()

        # nobody the world sent for this night is missing, and nobody is loaded twice
        loaded = travellers.merge(flights[["flight_id", "carrier", "number"]], on="flight_id")
        expected = truth.loc[truth["night"] == text]
        assert _keys(loaded) == _keys(expected), text  # the cut file is a copy: nobody lost
        assert len(loaded) == len(_keys(loaded)), text

    first = json.loads((warehouse.night_dir("2026-11-20") / "reconciliation.json").read_text())
    assert first["messages"]["resends"] == 1
    # the world's cut copy of a file is read up to the cut now, so no file is refused whole
    assert first["quarantine"] == []
    assert first["messages"]["parsed"] == first["messages"]["distinct"]
