"""Records lost in a file that loaded reach the warehouse, and the night's travellers add up.

Real EDIFACT text: a passenger list and a PNR push written by the synthetic writer, then
damaged by hand (an unreadable birth date, a traveller or booking without a surname).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiflag import ingest, warehouse
from apiflag.cli import cli
from apiflag.edifact.loss import RecordLoss
from apiflag.edifact.tokenizer import tokenize
from apiflag.privacy.policy import WAREHOUSE_COLUMNS
from apiflag.record_quarantine import loss_rows, scrub, traveller_balance
from apiflag.synth.render import render_paxlst, render_pnrgov
from ingest_helpers import NIGHT, api_traveller, booking, manifest, pnr_message, pnr_traveller

BAD_DATE = "00XX00"


def _paxlst() -> str:
    people = [
        api_traveller(f"TRAVELLER{c}", "ANNA", dt.date(1980 + i, 1, 2), None, i + 1, doc=f"D{i}")
        for i, c in enumerate("ABCDE")
    ]
    text = render_paxlst(manifest(people, ref="M7"))
    text = text.replace("DTM+329:800102'", f"DTM+329:{BAD_DATE}'")  # TRAVELLERA degraded
    text = text.replace("NAD+FL+++TRAVELLERB:", "NAD+FL+++:")  # TRAVELLERB quarantined
    return text


def _pnrgov() -> str:
    push = pnr_message(
        [
            booking("ABC123", [pnr_traveller("1", "SOMCHAI", "ANNA", dt.date(2010, 3, 4), 3)], 3),
            booking("XYZ789", [pnr_traveller("1", "MALIWAN", "BEE", dt.date(1980, 3, 4), 9)], 9),
        ],
        dt.datetime(2026, 11, 20, 9, 0),
        ref="P9",
    )
    text = render_pnrgov(push)
    text = text.replace("//04MAR10///SOMCHAI", f"//{BAD_DATE}///SOMCHAI")  # degraded
    return text.replace("TIF+MALIWAN+BEE", "TIF++BEE")  # the booking quarantined


@pytest.fixture
def night(tmp_path: Path) -> Path:
    folder = tmp_path / "nights" / NIGHT.isoformat()
    (folder / "paxlst").mkdir(parents=True)
    (folder / "pnrgov").mkdir()
    (folder / "paxlst" / "QK21_BKK_pax.edi").write_text(_paxlst())
    (folder / "pnrgov" / "QK21_BKK_pnr.edi").write_text(_pnrgov())
    ingest.ingest_night(NIGHT, tmp_path, workers=1)
    return tmp_path


def test_each_lost_record_is_a_row_naming_file_message_and_segments(night: Path) -> None:
    rows = warehouse.read_table(NIGHT, "record_quarantine").sort_values("file")
    assert rows["file"].tolist() == ["paxlst/QK21_BKK_pax.edi", "pnrgov/QK21_BKK_pnr.edi"]
    assert rows["kind"].tolist() == ["traveller", "booking"]
    assert rows["message_ref"].tolist() == ["M7", "P9"]
    assert rows["code"].tolist() == ["E_BAD_VALUE", "E_BAD_VALUE"]
    assert rows["travellers"].tolist() == [1, 1]
    assert (rows["last_segment"] > rows["segment"]).all()
    (interchange,) = tokenize(_paxlst())
    by_number = {seg.number: seg for seg in interchange.messages[0].body}
    nad = by_number[int(rows["segment"].iloc[0])]
    assert (nad.tag, nad.get(1), nad.get(4)) == ("NAD", "FL", ""), "the row points at the NAD"
    shas = set(warehouse.read_table(NIGHT, "travellers")["message_sha256"])
    assert rows["message_sha256"].iloc[0] in shas
    for sha in rows["message_sha256"]:  # the record's bytes are in the archive
        assert ingest.archive_path(sha).is_file()
    for message in rows["message"]:
        assert "MALIWAN" not in message and "TRAVELLERB" not in message and "BEE" not in message


def test_the_night_balances_declared_against_clean_degraded_quarantined(night: Path) -> None:
    rec = json.loads((warehouse.night_dir(NIGHT) / "reconciliation.json").read_text())
    # PAXLST: CNT 5 = 3 clean + 1 degraded + 1 quarantined; PNRGOV: 2 TIFs = 1 degraded + 1 lost
    assert rec["traveller_records"] == {
        "declared": 7,
        "files_without_count": 0,
        "clean": 3,
        "degraded": 2,
        "quarantined": 2,
        "found": 7,
        "balanced": True,
    }
    assert [(r["kind"], r["travellers"]) for r in rec["record_quarantine"]] == [
        ("traveller", 1),
        ("booking", 1),
    ]
    out = CliRunner().invoke(cli, ["ingest", "--night", NIGHT.isoformat(), "--from", str(night)])
    assert out.exit_code == 0, out.output
    assert "traveller records declared 7 = clean 3 + degraded 2 + quarantined 2 (balanced)" in (
        out.output
    )
    assert "record quarantined paxlst/QK21_BKK_pax.edi: segments" in out.output


def test_a_list_without_a_count_or_a_short_count_is_not_balanced() -> None:
    carriers = [
        {"declared": 10, "files_without_count": 0, "clean": 8, "degraded": 1, "quarantined": 0},
        {"declared": 0, "files_without_count": 1, "clean": 4, "degraded": 0, "quarantined": 1},
    ]
    assert traveller_balance(carriers[:1])["balanced"] is False  # 10 declared, 9 found
    both = traveller_balance(carriers)
    assert (both["found"], both["balanced"]) == (14, False)
    carriers[0]["quarantined"] = 1
    assert traveller_balance(carriers[:1])["balanced"] is True


def test_a_lost_record_s_message_never_keeps_the_value() -> None:
    pydantic_like = "TIF: field 'surname': value 'NGUYEN THI': too long; field 'ref': value 42: x"
    loss = RecordLoss("booking", 4, 9, "E_BAD_VALUE", pydantic_like, 2, "P1")
    (row,) = loss_rows("pnrgov/a.edi", "f" * 64, [loss])
    assert "NGUYEN" not in row["message"] and "42" not in row["message"]
    assert row["message"] == (
        "TIF: field 'surname': value (10 characters): too long; field 'ref': value (2 digits): x"
    )
    assert scrub("message type 'XYZ' in a file of PAXLST messages") == (
        "message type (3 letters) in a file of PAXLST messages"
    )
    assert WAREHOUSE_COLUMNS["record_quarantine"] == {}  # nothing personal left to mask


def test_degraded_fields_are_a_list_per_traveller_in_both_traveller_tables(night: Path) -> None:
    api = warehouse.read_table(NIGHT, "travellers").set_index("surname")
    assert list(api.loc["TRAVELLERA", "degraded"]) == ["date_of_birth"]
    assert api.loc["TRAVELLERA", "date_of_birth"] is None
    assert [list(d) for d in api.drop(index="TRAVELLERA")["degraded"]] == [[], [], []]
    pnr = warehouse.read_table(NIGHT, "pnr_travellers").set_index("surname")
    assert list(pnr.index) == ["SOMCHAI"]
    assert "date_of_birth" in list(pnr.loc["SOMCHAI", "degraded"])
