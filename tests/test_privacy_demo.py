"""The issue's acceptance test on a real demo state (slow: `make test-slow`).

`apiflag demo --orchestrator plain` builds a world, trains and promotes a model and runs a
night; an analyst decides a flag with a note naming the traveller. After `retention apply` as of
a date past the masking period for every night, no surname, given name, birth date or document
number of any traveller in the world's truth file remains in plain text anywhere under
$APIFLAG_HOME (the case database export excepted: it is not passenger data and apiflag does not
own it), and the audit chain still verifies.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.privacy_helpers import scan_home

from apiflag.audit import check_chain
from apiflag.cli import cli
from apiflag.queue.store import open_engine


def _truth_values(home: Path) -> set[str]:
    casedb: set[str] = set()
    for path in (home / "world" / "casedb").glob("*.csv"):
        for row in csv.reader(path.open()):
            casedb.update(v.upper() for v in row)
    values = set()
    with (home / "world" / "truth" / "travellers.csv").open() as fh:
        for row in csv.DictReader(fh):
            for key in ("surname", "given_names", "date_of_birth", "document_number"):
                value = row[key]
                if key == "date_of_birth" and value >= "2025-06-01":
                    continue  # a newborn's birthday is also a night's date
                if value and len(value) >= 6 and value.upper() not in casedb:
                    values.add(value)
    return values


@pytest.mark.slow
def test_retention_leaves_no_personal_value_on_a_demo_state(apiflag_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--orchestrator", "plain"])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(cli, ["queue", "list", "--format", "json"]).output)
    items = listed if isinstance(listed, list) else listed["items"]
    flag = items[0]
    person = flag["traveller"]
    note = f"Interviewed {person['surname']} {person['given_names']} with an interpreter"
    decided = runner.invoke(
        cli,
        ["queue", "decide", flag["flag_id"], "--outcome", "cleared", "--reason",
         "legitimate_purpose", "--analyst", "demo", "--note", note],
    )  # fmt: skip
    assert decided.exit_code == 0, decided.output
    values = _truth_values(apiflag_home)
    assert scan_home(apiflag_home, values)  # the scan can fail
    applied = runner.invoke(cli, ["retention", "apply", "--as-of", "2028-01-01"])
    assert applied.exit_code == 0, applied.output
    found = [hit for hit in scan_home(apiflag_home, values) if "casedb" not in hit[0]]
    assert found == []
    assert check_chain(open_engine()).broken_seq is None
    stats = runner.invoke(cli, ["stats", "--from", "2026-01-01", "--to", "2027-12-31"])
    assert stats.exit_code == 0
    assert not [v for v in values if v in stats.output]
