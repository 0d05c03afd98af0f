"""`apiflag parse FILE...`: JSON Lines on stdout, one line per failed file on stderr, exit 1."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from apiflag.cli import main
from apiflag.edifact import ROW_KEYS

HAND = Path(__file__).parent / "data" / "messages" / "hand"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(["parse", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_one_json_object_per_traveller(capsys: pytest.CaptureFixture[str]) -> None:
    pax, pnr = HAND / "paxlst_d05b_passengers.edi", HAND / "pnrgov_11_1_two_pnrs.edi"
    code, out, err = run([str(pax), str(pnr)], capsys)
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 5
    assert all(list(r) == list(ROW_KEYS) for r in rows)
    assert [r["source"]["message_type"] for r in rows] == ["PAXLST"] * 3 + ["PNRGOV"] * 2
    assert rows[0]["source"]["file"] == str(pax)


def test_bad_file_reported_on_one_line_and_others_still_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.edi"
    shutil.copy(HAND / "paxlst_d05b_passengers.edi", good)
    cut = tmp_path / "cut.edi"
    text = good.read_text()
    cut.write_text(text[: text.index("NAD+FL+++SATO")])
    missing = tmp_path / "missing.edi"
    empty = tmp_path / "empty.edi"
    empty.write_bytes(b"")
    code, out, err = run(["--warnings", str(cut), str(missing), str(empty), str(good)], capsys)
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    # the cut file keeps the traveller before the cut; the one it ends inside is quarantined
    assert [(Path(r["source"]["file"]).name, r["surname"]) for r in rows] == [
        ("cut.edi", "CHAIYAPORN"),
        ("good.edi", "CHAIYAPORN"),
        ("good.edi", "KAEWKLA"),
        ("good.edi", "SATO"),
    ]
    lines = err.splitlines()
    assert any(
        re.fullmatch(rf"{re.escape(str(cut))}: warning: segment \d+: W_TRUNCATED: .+", x)
        for x in lines
    )
    assert any(
        re.fullmatch(
            rf"{re.escape(str(cut))}: lost: segments? [\d-]+: E_TRUNCATED: traveller quarantined: .+",
            x,
        )
        for x in lines
    )
    assert f"{missing}: segment 0: E_READ: " in err
    assert f"{empty}: segment 0: E_EMPTY: " in err
    assert "Traceback" not in err


def test_exit_status_is_0_when_every_file_was_read_even_with_losses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "damaged.edi"
    text = (HAND / "paxlst_d05b_passengers.edi").read_text()
    damaged.write_text(text.replace("NAD+FL+++SATO", "NAD+FL+++", 1))
    code, out, err = run(["--warnings", str(damaged)], capsys)
    assert code == 0
    assert len(out.splitlines()) == 2
    assert (
        ": lost: " in err
        and "E_BAD_VALUE: traveller quarantined: traveller NAD has no surname" in err
    )


def test_warnings_and_drops_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    pnr = HAND / "pnrgov_11_1_two_pnrs.edi"
    code, _, err = run(["--dropped", "--warnings", str(pnr)], capsys)
    assert code == 0
    assert f"{pnr}: dropped: VGML=1" in err.splitlines()


def test_no_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    assert code == 2 and "Missing argument" in err
