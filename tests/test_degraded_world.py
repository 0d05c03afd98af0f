"""A synthetic world whose writer leaves some values unreadable: every stage sees them degraded.

The writer's ``unreadable_values`` habit (within the mess share) writes a birth date that is no
date or a sex code that is none; the world's truth names each such traveller and field. Ingest
must load those travellers with the field null and named in ``degraded`` (not lose them), and
the night's traveller records must still add up.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from apiflag import ingest, warehouse
from apiflag.synth.world import WorldConfig, generate_world

CONFIG = WorldConfig(seed=4, arrivals=400, history_nights=0, nights=1, mess_share=1.0)
NIGHT = CONFIG.start


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("degraded-world")
    generate_world(root / "w", CONFIG)
    return root / "w"


def _unreadable(world: Path) -> dict[tuple[str, str, str, str], str]:
    """(flight, surname, given names, document) -> the field truth says was written unreadable."""
    with (world / "truth" / "travellers.csv").open(encoding="utf-8") as fh:
        return {
            (f"{r['carrier']}{r['number']}", r["surname"], r["given_names"], r["document_number"]):
            r["unreadable"]
            for r in csv.DictReader(fh)
            if r["unreadable"] and r["night"] == NIGHT.isoformat()
        }  # fmt: skip


def test_unreadable_travellers_load_degraded_and_the_night_adds_up(world: Path) -> None:
    truth = _unreadable(world)
    assert {"date_of_birth", "sex"} <= set(truth.values()), "the habit was drawn"
    report = ingest.ingest_night(NIGHT, world, workers=1)
    travellers = warehouse.read_table(NIGHT, "travellers")
    flights = warehouse.read_table(NIGHT, "flights").set_index("flight_id")
    flight = travellers["flight_id"].map(flights["carrier"] + flights["number"])
    key = list(
        zip(flight, travellers["surname"], travellers["given_names"].fillna(""),
            travellers["document_number"].fillna(""), strict=True)
    )  # fmt: skip
    loaded = {k: (list(d), row) for k, d, row in zip(key, travellers["degraded"],
                                                    travellers.to_dict("records"), strict=True)}  # fmt: skip
    for who, fld in truth.items():
        assert who in loaded, f"{who} was lost"
        degraded, row = loaded[who]
        assert degraded == [fld] and pd.isna(row[fld]), who
    others = [d for k, (d, _) in loaded.items() if k not in truth]
    assert others and not any(others), "only the travellers truth names are degraded"
    balance = report.reconciliation["traveller_records"]
    assert balance["balanced"] is True, balance
    assert balance["degraded"] >= len(truth)
    stored = json.loads((warehouse.night_dir(NIGHT) / "reconciliation.json").read_text())
    assert stored["traveller_records"] == balance
    lost = warehouse.read_table(NIGHT, "record_quarantine")
    assert lost["travellers"].sum() == balance["quarantined"]
