"""Every message a synthetic world writes parses, and its travellers are the world's travellers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from apiflag.cli import main
from apiflag.edifact import contract_rows, parse_bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    try:
        main(
            [
                "synth",
                "--out",
                str(out),
                "--seed",
                "11",
                "--arrivals",
                "200",
                "--history-nights",
                "0",
            ]
        )
    except SystemExit as exc:  # pragma: no cover - a failing synth is reported by its own tests
        assert not exc.code
    return out


def test_every_file_of_a_world_parses(world: Path) -> None:
    files = sorted(world.glob("nights/*/*/*.edi"))
    assert any("paxlst" in f.parts for f in files) and any("pnrgov" in f.parts for f in files)
    for path in files:
        parsed = parse_bytes(path.read_bytes(), str(path))
        assert parsed.kind == path.parent.name.upper()
        assert parsed.travellers > 0, path


def test_world_travellers_read_back_with_their_key(world: Path) -> None:
    """Truth's traveller key (night, flight, names, birth date, document) is what PAXLST says."""
    parsed_keys = set()
    for path in world.glob("nights/*/paxlst/*.edi"):
        night = path.parent.parent.name
        for row in contract_rows(parse_bytes(path.read_bytes()), path.name):
            document = row["documents"][0]["number"] if row["documents"] else ""
            parsed_keys.add(
                (
                    night,
                    row["flight"]["carrier"],
                    row["flight"]["number"],
                    row["surname"],
                    row["given_names"] or "",
                    row["date_of_birth"] or "",
                    document,
                )
            )
    with (world / "truth" / "travellers.csv").open() as fh:
        truth = {
            (
                r["night"],
                r["carrier"],
                r["number"],
                r["surname"],
                r["given_names"],
                "" if r["unreadable"] == "date_of_birth" else r["date_of_birth"],
                r["document_number"],
            )
            for r in csv.DictReader(fh)
        }
    assert truth and truth == parsed_keys
