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
    code, out, err = run([str(cut), str(missing), str(good)], capsys)
    assert code == 1
    assert len(out.splitlines()) == 3  # only the good file's travellers; nothing of the cut one
    lines = err.splitlines()
    assert re.fullmatch(rf"{re.escape(str(cut))}: segment \d+: E_TRUNCATED: .+", lines[0])
    assert re.fullmatch(rf"{re.escape(str(missing))}: segment 0: E_READ: .+", lines[1])
    assert "Traceback" not in err


def test_warnings_and_drops_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    pnr = HAND / "pnrgov_11_1_two_pnrs.edi"
    code, _, err = run(["--dropped", "--warnings", str(pnr)], capsys)
    assert code == 0
    assert f"{pnr}: dropped: VGML=1" in err.splitlines()


def test_no_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    assert code == 2 and "Missing argument" in err
