"""The shared fixtures give exactly their expected JSON; the real samples parse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apiflag.edifact import ROW_KEYS, contract_rows, parse_bytes

DATA = Path(__file__).parent / "data" / "messages"
HAND = DATA / "hand"
REAL = DATA / "real"
EXPECTED: dict[str, list[dict[str, Any]]] = json.loads((HAND / "expected.json").read_text())


def _rows(path: Path) -> list[dict[str, Any]]:
    return contract_rows(parse_bytes(path.read_bytes(), path.name), path.name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_exactly_its_expected_json(name: str) -> None:
    """Each traveller has exactly the values expected.json lists ('note' is a comment)."""
    rows = _rows(HAND / name)
    expected = EXPECTED[name]
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert set(row) == set(ROW_KEYS)
        for key, value in want.items():
            if key == "note":
                continue
            assert row[key] == value, f"{name}: {want.get('surname')}: {key}"
        assert row["source"]["file"] == name
        assert isinstance(row["source"]["segment"], int) and row["source"]["segment"] >= 1


def test_meal_code_appears_nowhere_in_the_output() -> None:
    """VGML is dropped (and counted), never carried into any record or row."""
    path = HAND / "pnrgov_11_1_two_pnrs.edi"
    parsed = parse_bytes(path.read_bytes(), path.name)
    assert parsed.dropped == {"VGML": 1}
    assert "VGML" not in json.dumps(contract_rows(parsed, path.name))
    assert "VGML" not in repr(parsed.pnr_messages)


@pytest.mark.parametrize(
    ("name", "travellers", "role", "surname", "separators"),
    [
        ("ediclean_original_A.txt", 1, "passenger", "DJEMFISJER", "+"),
        ("ediclean_original_C.txt", 3, "passenger", "MULLERSFER", "*"),
        ("ediclean_original_D.txt", 1, "passenger", "ERFADFEFW", "-"),
        ("ediclean_original_F.txt", 1, "crew", "KETI", "+"),
        ("ediclean_reference_B_clean.txt", 1, "passenger", "AERWDEDE", "*"),
    ],
)
def test_real_samples_parse(
    name: str, travellers: int, role: str, surname: str, separators: str
) -> None:
    """Telex headers, wrapped lines, custom separators and disclaimers are all handled."""
    path = REAL / name
    assert separators in path.read_text(encoding="latin-1")
    rows = _rows(path)
    assert len(rows) == travellers
    assert rows[0]["role"] == role
    assert rows[0]["surname"] == surname
    assert all(r["documents"] and r["flight"]["carrier"] for r in rows)


def test_real_sample_wrapped_mid_segment_keeps_values_whole() -> None:
    """Sample A wraps 'CNT+42:4' / '7' and 'DTM+232:210' / '7131200' across lines."""
    parsed = parse_bytes((REAL / "ediclean_original_A.txt").read_bytes())
    manifest = parsed.manifests[0]
    assert manifest.declared_passengers == 47
    assert manifest.legs[0].scheduled_arrival is not None
    assert manifest.legs[0].scheduled_arrival.isoformat() == "2021-07-13T12:00:00"
    traveller = manifest.travellers[0]
    assert traveller.seat == "9F" and traveller.record_locator == "ABC123"
    assert traveller.documents[0].expiry_date is not None
    assert traveller.documents[0].expiry_date.isoformat() == "2028-09-07"


def test_real_sample_parts_and_counts_are_warnings_not_errors() -> None:
    """A lone part 02 with a UNT count of the whole message parses, flagged incomplete."""
    parsed = parse_bytes((REAL / "ediclean_original_A.txt").read_bytes())
    manifest = parsed.manifests[0]
    assert manifest.parts == (2,) and manifest.complete is False
    codes = {w.split(": ")[1] for w in parsed.warnings}
    assert {"W_SEGMENT_COUNT", "W_INCOMPLETE_PARTS", "W_TRAILING_TEXT"} <= codes


def test_real_crew_sample_reads_address_place_of_birth_and_two_documents() -> None:
    parsed = parse_bytes((REAL / "ediclean_original_F.txt").read_bytes())
    m = parsed.manifests[0]
    assert (m.document_code, m.function, m.declared_crew) == ("250", "C", 7)
    crew = m.travellers[0]
    assert crew.address is not None and crew.address.city == "FRAANBUL"
    assert crew.place_of_birth == "ABC BAKIRKOY"
    assert [d.type for d in crew.documents] == ["P", "L"]
    assert crew.date_of_birth is not None and crew.date_of_birth.year == 1971
