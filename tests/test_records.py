"""The data contracts: frozen, strict, and published as JSON Schemas that stay in sync."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from apiflag.cli import cli
from apiflag.records import (
    RECORDS,
    CasePerson,
    Document,
    FlightLeg,
    describe_validation_error,
)
from apiflag.schemas_cli import stale_schemas

REPO = Path(__file__).resolve().parents[1]


def test_schemas_folder_is_in_sync() -> None:
    """schemas/ holds exactly what `apiflag schemas export` writes today."""
    assert stale_schemas(REPO / "schemas") == []


def test_schema_check_notices_a_changed_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["schemas", "export", "--out", str(tmp_path)]).exit_code == 0
    (tmp_path / "flag.schema.json").write_text("{}", encoding="utf-8")
    assert stale_schemas(tmp_path) == ["flag.schema.json"]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_record_forbids_unknown_fields(name: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RECORDS[name].model_validate({"no_such_field": 1})


def test_records_are_frozen() -> None:
    leg = FlightLeg(carrier="QK", number="21", departure_airport="BKK", arrival_airport="NRT")
    with pytest.raises(ValidationError):
        leg.number = "22"  # type: ignore[misc]


def test_validation_error_names_field_and_value() -> None:
    with pytest.raises(ValidationError) as info:
        CasePerson(person_id="P1", case_id="C1", role="smuggler", surname="X")  # type: ignore[arg-type]
    line = describe_validation_error(info.value, "persons.csv: row 3")
    assert line.startswith("persons.csv: row 3: field 'role': value 'smuggler'")
    assert "\n" not in line


def test_document_dates_parse_from_iso() -> None:
    doc = Document.model_validate({"type": "P", "number": "AB1", "expiry_date": "2030-01-01"})
    assert doc.expiry_date == dt.date(2030, 1, 1)


def test_flight_number_refuses_leading_zero() -> None:
    with pytest.raises(ValidationError, match="number"):
        FlightLeg(carrier="QK", number="021", departure_airport="BKK", arrival_airport="NRT")
