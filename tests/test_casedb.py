"""Case database import: schema, round trip, bad rows refused whole, CLI, PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from apiflag.casedb import ImportRefused, default_url, import_csv, load
from apiflag.errors import ApiflagError
from matching_helpers import small_export, write_export


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'case.sqlite'}"


def test_import_then_load_round_trips(tmp_path: Path) -> None:
    src = write_export(tmp_path / "export")
    report = import_csv(src, _url(tmp_path))
    assert (report.cases, report.persons, report.aliases, report.documents, report.identifiers) == (
        2,
        4,
        2,
        3,
        6,
    )
    db = load(_url(tmp_path))
    assert list(db.cases["case_id"]) == ["C-1", "C-2"]  # sorted by key
    assert list(db.persons["person_id"]) == ["P-1", "P-2", "P-3", "P-4"]
    p1 = db.persons.set_index("person_id").loc["P-1"]
    assert p1["role"] == "recruiter" and p1["date_of_birth"] == dt.datetime(1975, 8, 19)
    assert db.persons.set_index("person_id").loc["P-4", "surname"] == "MÜLLER"
    assert set(db.aliases["alias"]) == {"NARONG PHETSRY", "NONG P"}
    assert set(db.documents["number"]) == {"AA1112223", "AB-999 888", "C1234567"}
    norm = dict(zip(db.identifiers["kind"], db.identifiers["normalized"], strict=True))
    assert norm == {
        "phone": "+66811112222",
        "email": "jobs.abroad@example.com",
        "agency": "12345678",
        "card": "411111XXXXXX1111",
        "address": "1 2 CHOME TOKYO",
        "document": "C1234567",
    }


def test_same_export_gives_same_database(tmp_path: Path) -> None:
    export = small_export()
    a = write_export(tmp_path / "a", export)
    shuffled = copy.deepcopy(export)
    for rows in shuffled.values():
        rows.reverse()
    b = write_export(tmp_path / "b", shuffled)
    import_csv(a, f"sqlite:///{tmp_path / 'a.sqlite'}")
    import_csv(b, f"sqlite:///{tmp_path / 'b.sqlite'}")
    assert (
        load(f"sqlite:///{tmp_path / 'a.sqlite'}").digest()
        == load(f"sqlite:///{tmp_path / 'b.sqlite'}").digest()
    )


def _mutate(table: str, index: int, **changes: Any) -> dict[str, list[dict[str, Any]]]:
    export = small_export()
    export[table][index].update(changes)
    return export


def _append(table: str, **row: Any) -> dict[str, list[dict[str, Any]]]:
    export = small_export()
    export[table].append(row)
    return export


BAD_ROWS = [
    # (name, export, file, row, column, reason fragment)
    ("bad-role", _mutate("persons", 1, role="boss"), "persons.csv", 3, "role", "Input should be"),
    (
        "bad-dob",
        _mutate("persons", 0, date_of_birth="1999-13-40"),
        "persons.csv",
        2,
        "date_of_birth",
        "date",
    ),
    (
        "future-dob",
        _mutate("persons", 0, date_of_birth="2999-01-01"),
        "persons.csv",
        2,
        "date_of_birth",
        "future",
    ),
    (
        "bad-nationality",
        _mutate("persons", 2, nationality="Philippines"),
        "persons.csv",
        4,
        "nationality",
        "pattern",
    ),
    ("no-surname", _mutate("persons", 3, surname=""), "persons.csv", 5, "surname", ""),
    (
        "unknown-case",
        _mutate("persons", 0, case_id="C-9"),
        "persons.csv",
        2,
        "case_id",
        "unknown case_id",
    ),
    (
        "dup-person",
        _append("persons", **{**small_export()["persons"][0], "surname": "X"}),
        "persons.csv",
        6,
        "person_id",
        "duplicate",
    ),
    ("bad-year", _mutate("cases", 0, year="20x3"), "cases.csv", 2, "year", "integer"),
    ("bad-status", _mutate("cases", 1, status="pending"), "cases.csv", 3, "status", ""),
    (
        "dup-case",
        _append("cases", case_id="C-2", typology="x", year=2020, status="open"),
        "cases.csv",
        4,
        "case_id",
        "duplicate",
    ),
    ("bad-kind", _mutate("identifiers", 0, kind="fax"), "identifiers.csv", 2, "kind", ""),
    (
        "unknown-person",
        _mutate("identifiers", 0, person_id="P-77"),
        "identifiers.csv",
        2,
        "person_id",
        "unknown",
    ),
    (
        "person-other-case",
        _mutate("identifiers", 0, person_id="P-3"),
        "identifiers.csv",
        2,
        "person_id",
        "belongs to case",
    ),
    (
        "unusable-phone",
        _mutate("identifiers", 0, value="n/a"),
        "identifiers.csv",
        2,
        "value",
        "no usable phone",
    ),
]


@pytest.mark.parametrize(
    ("export", "file", "row", "column", "reason"),
    [b[1:] for b in BAD_ROWS],
    ids=[b[0] for b in BAD_ROWS],
)
def test_bad_row_is_reported_and_nothing_is_imported(
    tmp_path: Path,
    export: dict[str, list[dict[str, Any]]],
    file: str,
    row: int,
    column: str,
    reason: str,
) -> None:
    src = write_export(tmp_path / "export", export)
    url = _url(tmp_path)
    with pytest.raises(ImportRefused) as info:
        import_csv(src, url)
    failures = info.value.report.failures
    assert len(failures) == 1, failures
    failure = failures[0]
    assert (failure.file, failure.row, failure.column) == (file, row, column)
    assert reason in failure.reason
    assert f"{file}: row {row}: column '{column}'" in str(info.value)
    assert "\n" not in str(info.value)
    engine = sa.create_engine(url)
    assert sa.inspect(engine).get_table_names() == []  # nothing written, not even the schema


def test_all_failures_are_collected_not_just_the_first(tmp_path: Path) -> None:
    export = small_export()
    export["persons"][0]["role"] = "boss"
    export["persons"][1]["date_of_birth"] = "yesterday"
    export["identifiers"][2]["kind"] = "fax"
    src = write_export(tmp_path / "export", export)
    with pytest.raises(ImportRefused) as info:
        import_csv(src, _url(tmp_path))
    frame = info.value.report.failures_frame()
    assert list(frame.columns) == ["file", "row", "column", "reason"]
    assert list(zip(frame["file"], frame["row"], frame["column"], strict=True)) == [
        ("persons.csv", 2, "role"),
        ("persons.csv", 3, "date_of_birth"),
        ("identifiers.csv", 4, "kind"),
    ]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("case_id,typology,year\n", "missing column(s) status"),
        ("case_id,typology,year,status,notes\n", "unknown column(s) notes"),
        ("", "file is empty"),
    ],
)
def test_bad_header_is_refused(tmp_path: Path, header: str, reason: str) -> None:
    src = write_export(tmp_path / "export")
    (src / "cases.csv").write_text(header)
    with pytest.raises(ImportRefused, match=re.escape(reason)):
        import_csv(src, _url(tmp_path))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    src = write_export(tmp_path / "export")
    (src / "persons.csv").unlink()
    with pytest.raises(ApiflagError, match="persons.csv: missing"):
        import_csv(src, _url(tmp_path))


def test_identifiers_file_is_optional(tmp_path: Path) -> None:
    export = small_export()
    del export["identifiers"]
    report = import_csv(write_export(tmp_path / "export", export), _url(tmp_path))
    assert report.identifiers == 0 and report.persons == 4


def test_non_empty_database_needs_replace_and_is_kept_when_refused(tmp_path: Path) -> None:
    url = _url(tmp_path)
    import_csv(write_export(tmp_path / "first"), url)
    second = small_export()
    second["persons"] = second["persons"][:1]
    second["identifiers"] = [i for i in second["identifiers"] if i["person_id"] in ("", "P-3")]
    src = write_export(tmp_path / "second", second)
    with pytest.raises(ApiflagError, match="already holds 2 cases; use --replace"):
        import_csv(src, url)
    assert len(load(url).persons) == 4
    report = import_csv(src, url, replace=True)
    assert report.replaced and len(load(url).persons) == 1


def test_database_failure_mid_import_rolls_everything_back(tmp_path: Path) -> None:
    """A failure while inserting the last table leaves no case or person behind."""
    url = _url(tmp_path)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # an identifiers table the import cannot satisfy: values must be shorter than 3 chars
        conn.execute(
            sa.text(
                "CREATE TABLE identifiers (id INTEGER PRIMARY KEY, case_id TEXT, person_id TEXT,"
                " kind TEXT, value TEXT CHECK (length(value) < 3), normalized TEXT)"
            )
        )
    with pytest.raises(ApiflagError, match="import failed, nothing written"):
        import_csv(write_export(tmp_path / "export"), url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        for table in ("cases", "persons", "person_aliases", "person_documents"):
            if table in names:
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_load_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ApiflagError, match="no case database here"):
        load(_url(tmp_path))


def _cli(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APIFLAG_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "apiflag.cli", *args], capture_output=True, text=True, env=env
    )


def test_cli_import_default_url_and_json(tmp_path: Path, apiflag_home: Path) -> None:
    src = write_export(tmp_path / "export")
    done = _cli("casedb", "import", "--from", str(src), "--format", "json", env_home=apiflag_home)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["persons"] == 4 and out["url"].endswith("casedb.sqlite")
    assert len(load(default_url()).persons) == 4


def test_cli_bad_row_is_one_line_exit_1(tmp_path: Path, apiflag_home: Path) -> None:
    src = write_export(tmp_path / "export", _mutate("persons", 1, role="boss"))
    done = _cli(
        "casedb", "import", "--from", str(src), "--to", _url(tmp_path), env_home=apiflag_home
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "persons.csv: row 3: column 'role'" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.postgres
def test_postgres_import_round_trip(tmp_path: Path) -> None:
    base = os.environ.get("APIFLAG_TEST_PG_URL")
    if not base:
        pytest.skip("APIFLAG_TEST_PG_URL not set")
    schema = f"casedb_test_{os.getpid()}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
        report = import_csv(write_export(tmp_path / "export"), url)
        assert report.persons == 4
        db = load(url)
        assert list(db.persons["person_id"]) == ["P-1", "P-2", "P-3", "P-4"]
        assert db.persons.set_index("person_id").loc["P-4", "surname"] == "MÜLLER"
        bad = write_export(tmp_path / "bad", _mutate("persons", 1, role="boss"))
        with pytest.raises(ImportRefused):
            import_csv(bad, url, replace=True)
        assert len(load(url).persons) == 4
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_load_of_a_missing_sqlite_file_is_refused_without_creating_it(tmp_path: Path) -> None:
    target = tmp_path / "nowhere.sqlite"
    with pytest.raises(ApiflagError, match=r"no case database here \(no such file\)"):
        load(f"sqlite:///{target}")
    assert not target.exists()
