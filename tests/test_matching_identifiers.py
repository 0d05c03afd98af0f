"""Identifier matching and the ``apiflag match`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from apiflag.casedb import import_csv
from apiflag.matching.identifiers import IDENTIFIER_COLUMNS, card_compatible, match_identifiers
from apiflag.matching.normalise import normalise_identifier, normalise_name, normalise_phone
from matching_helpers import case_database, write_export

PERSONS = [
    {
        "person_id": "P-1",
        "case_id": "C-1",
        "role": "recruiter",
        "surname": "PHETSRI",
        "given_names": "NARONG",
        "aliases": (),
        "date_of_birth": "1975-08-19",
        "nationality": "THA",
        "document_numbers": ("AA1112223",),
    },
    {
        "person_id": "P-2",
        "case_id": "C-2",
        "role": "victim",
        "surname": "NGUYEN",
        "given_names": "THI HUONG",
        "aliases": (),
        "date_of_birth": "1999-03-04",
        "nationality": "VNM",
        "document_numbers": ("C1234567",),
    },
]
IDENTS = [
    {"case_id": "C-1", "person_id": "P-1", "kind": "phone", "value": "+66 81 111 2222"},
    {"case_id": "C-1", "person_id": None, "kind": "email", "value": "Jobs.Abroad@Example.com"},
    {"case_id": "C-1", "person_id": None, "kind": "agency", "value": "12-345 678"},
    {"case_id": "C-1", "person_id": None, "kind": "card", "value": "411111XXXXXX1111"},
    {"case_id": "C-1", "person_id": None, "kind": "address", "value": "1-2 Chome, Shinjuku, Tokyo"},
    {"case_id": "C-2", "person_id": "P-2", "kind": "phone", "value": "0084 912 345 678"},
]
DB = case_database(PERSONS, IDENTS)

EMPTY_CONTACTS = pd.DataFrame(columns=["booking_id", "pnr_traveller_id", "kind", "value"])
EMPTY_PAYMENTS = pd.DataFrame(columns=["booking_id", "masked_card", "payer_phone"])
EMPTY_BOOKINGS = pd.DataFrame(columns=["booking_id", "agency_id"])
EMPTY_DOCS = pd.DataFrame(columns=["owner_kind", "owner_id", "number"])

CASES = [
    # (name, table, row, expected (kind, case_id) or None)
    (
        "phone without plus",
        "contacts",
        {"booking_id": "B1", "pnr_traveller_id": None, "kind": "phone", "value": "66811112222"},
        ("phone", "C-1"),
    ),
    (
        "phone with 00 prefix",
        "contacts",
        {
            "booking_id": "B1",
            "pnr_traveller_id": "PT1",
            "kind": "phone",
            "value": "0066-81-111-2222",
        },
        ("phone", "C-1"),
    ),
    (
        "other phone",
        "contacts",
        {"booking_id": "B1", "pnr_traveller_id": None, "kind": "phone", "value": "66811112223"},
        None,
    ),
    (
        "e-mail case and PNR escapes",
        "contacts",
        {
            "booking_id": "B1",
            "pnr_traveller_id": None,
            "kind": "email",
            "value": "JOBS.ABROAD//EXAMPLE.COM",
        },
        ("email", "C-1"),
    ),
    (
        "address order and punctuation",
        "contacts",
        {
            "booking_id": "B1",
            "pnr_traveller_id": None,
            "kind": "address",
            "value": "TOKYO SHINJUKU 1 2 CHOME",
        },
        ("address", "C-1"),
    ),
    (
        "agency separators",
        "bookings",
        {"booking_id": "B1", "agency_id": "12345678"},
        ("agency", "C-1"),
    ),
    (
        "masked card BIN and last four",
        "payments",
        {"booking_id": "B1", "masked_card": "4111 11XX XXXX 1111", "payer_phone": None},
        ("card", "C-1"),
    ),
    (
        "masked card last four only",
        "payments",
        {"booking_id": "B1", "masked_card": "XXXXXXXXXXXX1111", "payer_phone": None},
        None,
    ),
    (
        "masked card other BIN",
        "payments",
        {"booking_id": "B1", "masked_card": "522222XXXXXX1111", "payer_phone": None},
        None,
    ),
    (
        "payer phone",
        "payments",
        {"booking_id": "B1", "masked_card": None, "payer_phone": "+84912345678"},
        ("phone", "C-2"),
    ),
    (
        "document of a case person",
        "documents",
        {"owner_kind": "api", "owner_id": "T1", "number": "AA-111 2223"},
        ("document", "C-1"),
    ),
]


@pytest.mark.parametrize(
    ("table", "row", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_identifier_kind(
    table: str, row: dict[str, object], expected: tuple[str, str] | None
) -> None:
    frames = {
        "contacts": EMPTY_CONTACTS,
        "payments": EMPTY_PAYMENTS,
        "bookings": EMPTY_BOOKINGS,
        "documents": EMPTY_DOCS,
    }
    frames[table] = pd.DataFrame([row])
    hits = match_identifiers(
        frames["contacts"], frames["payments"], frames["bookings"], frames["documents"], DB
    )
    assert list(hits.columns) == IDENTIFIER_COLUMNS
    got = sorted(zip(hits["kind"], hits["case_id"], strict=True))
    assert got == ([expected] if expected else [])
    for sentence in hits["sentence"]:
        assert "matches" in sentence and "case C-" in sentence


def test_victim_identifier_is_protection_only() -> None:
    contacts = pd.DataFrame(
        [
            {
                "booking_id": "B",
                "pnr_traveller_id": None,
                "kind": "phone",
                "value": "+84 912 345 678",
            },
            {"booking_id": "B", "pnr_traveller_id": None, "kind": "phone", "value": "+66811112222"},
        ]
    )
    hits = match_identifiers(contacts, EMPTY_PAYMENTS, EMPTY_BOOKINGS, EMPTY_DOCS, DB).set_index(
        "case_id"
    )
    assert bool(hits.loc["C-2", "protection_only"]) and hits.loc["C-2", "role"] == "victim"
    assert not bool(hits.loc["C-1", "protection_only"])


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        ("411111XXXXXX1111", "411111XXXXXX1111", True),
        ("411111XXXXXX1111", "4111111111111111", True),
        ("XXXXXXXXXXXX1111", "411111XXXXXX1111", False),  # only four known digits in common
        ("411111XXXXXX1111", "411112XXXXXX1111", False),
        ("411111XXXXXX1111", "411111XXXXXXX1111", False),  # other length
    ],
)
def test_card_compatible(a: str, b: str, ok: bool) -> None:
    assert card_compatible(a, b) is ok


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Nguyễn Thị Hương", "NGUYEN THI HUONG"),
        ("MÜLLER", "MUELLER"),
        ("DELA<CRUZ", "DELA CRUZ"),
        ("O'BRIEN", "OBRIEN"),
        ("GARCIA-LOPEZ", "GARCIA LOPEZ"),
        ("NARONG MR", "NARONG"),
        ("DR. JOSE", "JOSE"),
        ("FNU", ""),
        ("XX", ""),
        ("ЮЛИЯ", "YULIYA"),
        (None, ""),
    ],
)
def test_normalise_name(raw: str | None, norm: str) -> None:
    assert normalise_name(raw) == norm


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("66811112222", "+66811112222"),
        ("+81 90-1234-5678", "+819012345678"),
        ("0081 90 1234 5678", "+819012345678"),
        ("n/a", None),
        ("123", None),
    ],
)
def test_normalise_phone(raw: str, e164: str | None) -> None:
    assert normalise_phone(raw) == e164


def test_unknown_identifier_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown identifier kind"):
        normalise_identifier("fax", "123")


# --------------------------------------------------------------------------- apiflag match


def _cli(args: list[str], home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (exit codes, stdin, stderr as users see them)."""
    env = {**os.environ, "APIFLAG_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "apiflag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
    )


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess[str]:
    """Run ``apiflag.cli.main`` in-process (same error handling, no interpreter start-up)."""
    from apiflag.cli import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


LINES = [
    {
        "surname": "PHETSRY",
        "given_names": "NARONG",
        "date_of_birth": "1975-08-19",
        "nationality": "THA",
        "documents": [{"type": "P", "number": "AA1112223"}],
        "phones": ["66811112222"],
        "emails": [],
    },
    {
        "surname": "SATO",
        "given_names": "YUKI",
        "date_of_birth": "1992-10-10",
        "nationality": "JPN",
        "documents": [],
    },
    {
        "surname": "NGUYEN",
        "given_names": "THI HUONG",
        "date_of_birth": "1999-03-04",
        "nationality": "VNM",
        "documents": [{"type": "P", "number": "C1234567"}],
    },
]


@pytest.fixture()
def casedb_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'case.sqlite'}"
    import_csv(write_export(tmp_path / "export"), url)
    return url


def test_cli_prints_person_and_identifier_candidates(
    tmp_path: Path, casedb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(line) for line in LINES) + "\n")
    done = _main(["match", "--casedb", casedb_url, str(src)], capsys)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    persons = [(o["traveller"], o["person_id"]) for o in out if "identifier" not in o]
    assert persons == [(1, "P-1"), (3, "P-3")]
    victim = next(o for o in out if o.get("person_id") == "P-3" and "identifier" not in o)
    assert victim["role"] == "victim" and victim["protection_only"] is True
    assert abs(sum(f["weight"] for f in victim["fields"]) - victim["match_weight"]) < 1e-3
    assert {f["field"] for f in victim["fields"]} >= {
        "prior",
        "surname",
        "date_of_birth",
        "document",
    }
    idents = sorted(
        (o["traveller"], o["identifier"]["kind"], o["case_id"]) for o in out if "identifier" in o
    )
    assert idents == [(1, "document", "C-1"), (1, "phone", "C-1"), (3, "document", "C-2")]
    assert all(o["probability"] is None for o in out if "identifier" in o)


def test_cli_threshold_and_stdin(
    tmp_path: Path, casedb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = {
        "surname": "NGUYEN",
        "given_names": "THI HUONG",
        "date_of_birth": "1999-04-03",
        "nationality": "VNM",
    }
    text = json.dumps(line) + "\n"
    src = tmp_path / "in.jsonl"
    src.write_text(text)
    low = _cli(
        ["match", "--casedb", casedb_url, "--threshold", "0.000001", "-"], tmp_path, stdin=text
    )
    assert low.returncode == 0, low.stderr
    (found,) = [json.loads(x) for x in low.stdout.splitlines()]
    p = found["probability"]
    assert found["person_id"] == "P-3" and 0 < p < 1
    above = _main(
        ["match", "--casedb", casedb_url, "--threshold", str((p + 1) / 2), str(src)], capsys
    )
    assert above.returncode == 0 and above.stdout == ""
    bad = _main(["match", "--casedb", casedb_url, "--threshold", "2", str(src)], capsys)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"given_names": "X"}', "'surname' is missing"),
        ('{"surname": "A", "date_of_birth": "19-1-1"}', "not an ISO date"),
        ('{"surname": "A", "documents": [{"type": "P"}]}', "needs a string 'number'"),
        ('{"surname": "A", "phones": "0812"}', "'phones' must be a list"),
    ],
)
def test_cli_bad_line_is_one_line_naming_it(
    tmp_path: Path, casedb_url: str, line: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(LINES[1]) + "\n\n" + line + "\n")
    done = _main(["match", "--casedb", casedb_url, str(src)], capsys)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{src}: line 3: " in lines[0] and why in lines[0], done.stderr


def test_cli_missing_case_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(LINES[1]) + "\n")
    done = _main(["match", "--casedb", f"sqlite:///{tmp_path / 'none.sqlite'}", str(src)], capsys)
    assert done.returncode == 1 and "no case database here" in done.stderr
    assert "Traceback" not in done.stderr
