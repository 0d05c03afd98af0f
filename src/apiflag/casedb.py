"""The trafficking-case database: SQL schema, CSV import and read-back as frames.

Decides the tables of docs/ARCHITECTURE.md "Case database" (SQLAlchemy Core, so any SQLAlchemy
URL works: SQLite by default, PostgreSQL in production) and how the registry's CSV export
(``cases.csv``, ``persons.csv``, ``identifiers.csv``) is loaded.

Guarantees:
- An import is one transaction. Every row is validated (the pydantic contracts of
  :mod:`apiflag.records`, unique ids, every ``case_id``/``person_id`` reference resolves) before
  anything is written; if any row is bad, nothing is written and :class:`ApiflagError` names the
  first bad rows (file, row, column, reason). ``row`` is the line number in the file (the
  header is line 1).
- A database that already holds cases is only replaced when asked (``replace=True``); the
  replacement happens in the same transaction as the import.
- Inserts are sorted by key, so the same export always gives the same database.
- Identifier values are stored as written plus a ``normalized`` form (E.164 phones, lower-case
  e-mails, document numbers without separators ...) that matching compares.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pandas as pd
import sqlalchemy as sa
from pydantic import ValidationError

from apiflag import config
from apiflag.db import make_engine
from apiflag.errors import ApiflagError
from apiflag.matching.normalise import normalise_identifier
from apiflag.records import Case, CaseIdentifier, CasePerson

__all__ = [
    "CaseDatabase",
    "ImportFailure",
    "ImportReport",
    "METADATA",
    "casedb",
    "default_url",
    "import_csv",
    "load",
]

METADATA = sa.MetaData()

cases_table = sa.Table(
    "cases",
    METADATA,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("typology", sa.String(64), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)
persons_table = sa.Table(
    "persons",
    METADATA,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("surname", sa.String(200), nullable=False),
    sa.Column("given_names", sa.String(200)),
    sa.Column("date_of_birth", sa.Date),
    sa.Column("nationality", sa.String(3)),
)
aliases_table = sa.Table(
    "person_aliases",
    METADATA,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id"), primary_key=True),
    sa.Column("alias", sa.String(400), primary_key=True),
)
documents_table = sa.Table(
    "person_documents",
    METADATA,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id"), primary_key=True),
    sa.Column("number", sa.String(64), primary_key=True),
)
identifiers_table = sa.Table(
    "identifiers",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False, index=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.person_id")),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(400), nullable=False),
    sa.Column("normalized", sa.String(400), nullable=False, index=True),
)

FILES: dict[str, tuple[str, ...]] = {
    "cases.csv": ("case_id", "typology", "year", "status"),
    "persons.csv": (
        "person_id",
        "case_id",
        "role",
        "surname",
        "given_names",
        "aliases",
        "date_of_birth",
        "nationality",
        "document_numbers",
    ),
    "identifiers.csv": ("case_id", "person_id", "kind", "value"),
}
"""Each CSV file of the export and its required columns (extra columns are refused)."""

MAX_SHOWN = 5
"""How many failure lines the error message shows."""


@dataclass(frozen=True)
class ImportFailure:
    """One bad value in the export: which file, which line, which column, and why."""

    file: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: row {self.row}: column '{self.column}': {self.reason}"


@dataclass
class ImportReport:
    """What an import read and wrote (or, with failures, refused to write)."""

    source: str
    url: str
    cases: int = 0
    persons: int = 0
    aliases: int = 0
    documents: int = 0
    identifiers: int = 0
    replaced: bool = False
    failures: list[ImportFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row was refused."""
        return not self.failures

    def failures_frame(self) -> pd.DataFrame:
        """Return the failures as a tidy table ``file, row, column, reason``."""
        return pd.DataFrame(
            [vars(f) for f in self.failures], columns=["file", "row", "column", "reason"]
        )

    def summary(self) -> str:
        """One line for people: counts, or the number of bad rows."""
        if self.failures:
            return f"{len(self.failures)} bad value(s) in {self.source}; nothing imported"
        return (
            f"imported {self.cases} cases, {self.persons} persons, {self.aliases} aliases, "
            f"{self.documents} documents, {self.identifiers} identifiers into {self.url}"
        )


@dataclass(frozen=True)
class CaseDatabase:
    """The case database as frames, the form matching reads.

    Attributes:
        cases: ``case_id, typology, year, status``.
        persons: ``person_id, case_id, role, surname, given_names, date_of_birth, nationality``.
        aliases: ``person_id, alias``.
        documents: ``person_id, number``.
        identifiers: ``id, case_id, person_id, kind, value, normalized``.
    """

    cases: pd.DataFrame
    persons: pd.DataFrame
    aliases: pd.DataFrame
    documents: pd.DataFrame
    identifiers: pd.DataFrame

    def digest(self) -> str:
        """Return a SHA-256 of the content, for caching and for recording which snapshot matched."""
        h = hashlib.sha256()
        for name in ("cases", "persons", "aliases", "documents", "identifiers"):
            frame: pd.DataFrame = getattr(self, name)
            h.update(name.encode())
            h.update(frame.to_csv(index=False).encode())
        return h.hexdigest()

    @classmethod
    def from_records(
        cls,
        cases: list[Case],
        persons: list[CasePerson],
        identifiers: list[CaseIdentifier] | tuple[CaseIdentifier, ...] = (),
    ) -> CaseDatabase:
        """Build a database in memory from contract records (tests, small tools)."""
        rows = _rows_from_records(cases, persons, list(identifiers))
        return cls(**{name: _frame(name, data) for name, data in rows.items()})


def default_url() -> str:
    """Return the default case database: SQLite ``casedb.sqlite`` under ``$APIFLAG_HOME``."""
    return f"sqlite:///{config.home() / 'casedb.sqlite'}"


def _read_csv(
    path: Path, failures: list[ImportFailure], seen: set[str] | None = None, key: str = ""
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) of a CSV file; ``seen`` collects raw ``key`` values, valid or not."""
    name = path.name
    required = FILES[name]
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            failures.append(ImportFailure(name, 1, "(header)", "file is empty"))
            return
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        extra = [c for c in header if c not in required]
        if missing or extra:
            why = []
            if missing:
                why.append(f"missing column(s) {', '.join(missing)}")
            if extra:
                why.append(f"unknown column(s) {', '.join(extra)}")
            failures.append(ImportFailure(name, 1, "(header)", "; ".join(why)))
            return
        for line, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                failures.append(
                    ImportFailure(
                        name, line, "(row)", f"{len(values)} fields, header has {len(header)}"
                    )
                )
                continue
            row = {k: v.strip() for k, v in zip(header, values, strict=True)}
            if seen is not None:
                seen.add(row[key])
            yield line, row


def _empty_to_none(row: dict[str, str]) -> dict[str, Any]:
    return {k: (v if v != "" else None) for k, v in row.items()}


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(p.strip() for p in value.split("|") if p.strip())


def _validation_failures(
    file: str, line: int, exc: ValidationError, column_of: dict[str, str] | None = None
) -> list[ImportFailure]:
    out = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else "(row)"
        column = (column_of or {}).get(loc, loc)
        value = err.get("input")
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        out.append(ImportFailure(file, line, column, f"{err['msg']} (value {shown})"))
    return out


def _parse_export(src: Path) -> tuple[dict[str, list[dict[str, Any]]], list[ImportFailure]]:
    failures: list[ImportFailure] = []
    if not src.is_dir():
        raise ApiflagError(f"{src}: not a directory with cases.csv, persons.csv, identifiers.csv")
    for name in ("cases.csv", "persons.csv"):
        if not (src / name).is_file():
            raise ApiflagError(
                f"{src / name}: missing (the export needs cases.csv and persons.csv)"
            )
    # ids of rows that exist but were refused: references to them are not reported twice
    seen = _Seen()
    cases = _parse_cases(src / "cases.csv", failures, seen)
    persons = _parse_persons(src / "persons.csv", failures, seen)
    identifiers: list[CaseIdentifier] = []
    ident_path = src / "identifiers.csv"
    if ident_path.is_file():
        identifiers = _parse_identifiers(ident_path, failures, seen)
    failures.sort(key=lambda f: (list(FILES).index(f.file), f.row, f.column))
    return _rows_from_records(cases, persons, identifiers), failures


@dataclass
class _Seen:
    """What the rows read so far name: refused ids, accepted rows' lines, readable files."""

    case_ids: set[str] = field(default_factory=set)  # every case id on a row, refused or not
    person_ids: set[str] = field(default_factory=set)
    case_lines: dict[str, int] = field(default_factory=dict)  # accepted cases
    person_lines: dict[str, int] = field(default_factory=dict)  # accepted persons
    person_case: dict[str, str] = field(default_factory=dict)
    cases_readable: bool = True
    persons_readable: bool = True


def _header_refused(failures: list[ImportFailure], since: int, file: str) -> bool:
    return any(f.column == "(header)" for f in failures[since:] if f.file == file)


def _parse_cases(path: Path, failures: list[ImportFailure], seen: _Seen) -> list[Case]:
    n_before = len(failures)
    cases: list[Case] = []
    case_lines = seen.case_lines
    for line, row in _read_csv(path, failures, seen.case_ids, "case_id"):
        try:
            case = Case.model_validate(_empty_to_none(row))
        except ValidationError as exc:
            failures.extend(_validation_failures("cases.csv", line, exc))
            continue
        if case.case_id in case_lines:
            failures.append(
                ImportFailure(
                    "cases.csv",
                    line,
                    "case_id",
                    f"duplicate case_id {case.case_id!r} (first on row {case_lines[case.case_id]})",
                )
            )
            continue
        case_lines[case.case_id] = line
        cases.append(case)
    seen.cases_readable = not _header_refused(failures, n_before, "cases.csv")
    return cases


def _parse_persons(path: Path, failures: list[ImportFailure], seen: _Seen) -> list[CasePerson]:
    persons: list[CasePerson] = []
    person_lines = seen.person_lines
    n_before = len(failures)
    for line, row in _read_csv(path, failures, seen.person_ids, "person_id"):
        data = _empty_to_none(row)
        data["aliases"] = _split(row["aliases"])
        data["document_numbers"] = _split(row["document_numbers"])
        try:
            person = CasePerson.model_validate(data)
        except ValidationError as exc:
            failures.extend(_validation_failures("persons.csv", line, exc))
            continue
        if person.person_id in person_lines:
            failures.append(
                ImportFailure(
                    "persons.csv",
                    line,
                    "person_id",
                    f"duplicate person_id {person.person_id!r} "
                    f"(first on row {person_lines[person.person_id]})",
                )
            )
            continue
        if person.case_id not in seen.case_lines:
            if person.case_id in seen.case_ids or not seen.cases_readable:
                continue  # its case row is refused already
            failures.append(
                ImportFailure("persons.csv", line, "case_id", f"unknown case_id {person.case_id!r}")
            )
            continue
        if person.date_of_birth is not None and person.date_of_birth > dt.date.today():
            failures.append(
                ImportFailure(
                    "persons.csv",
                    line,
                    "date_of_birth",
                    f"in the future ({person.date_of_birth.isoformat()})",
                )
            )
            continue
        person_lines[person.person_id] = line
        seen.person_case[person.person_id] = person.case_id
        persons.append(person)
    seen.persons_readable = not _header_refused(failures, n_before, "persons.csv")
    return persons


def _identifier_failure(ident: CaseIdentifier, line: int, seen: _Seen) -> ImportFailure | None:
    """Why an identifier row is refused (None: accepted, or its case or person was refused)."""
    if ident.case_id not in seen.case_lines:
        if ident.case_id in seen.case_ids or not seen.cases_readable:
            return None
        return ImportFailure(
            "identifiers.csv", line, "case_id", f"unknown case_id {ident.case_id!r}"
        )
    if ident.person_id is not None:
        owner_case = seen.person_case.get(ident.person_id)
        if owner_case is None:
            if ident.person_id in seen.person_ids or not seen.persons_readable:
                return None
            return ImportFailure(
                "identifiers.csv", line, "person_id", f"unknown person_id {ident.person_id!r}"
            )
        if owner_case != ident.case_id:
            return ImportFailure(
                "identifiers.csv",
                line,
                "person_id",
                f"person {ident.person_id!r} belongs to case {owner_case!r}, not {ident.case_id!r}",
            )
    if not normalise_identifier(ident.kind, ident.value):  # cached: computed once
        return ImportFailure(
            "identifiers.csv", line, "value", f"no usable {ident.kind} in {ident.value!r}"
        )
    return None


def _parse_identifiers(
    path: Path, failures: list[ImportFailure], seen: _Seen
) -> list[CaseIdentifier]:
    identifiers: list[CaseIdentifier] = []
    for line, row in _read_csv(path, failures):
        try:
            ident = CaseIdentifier.model_validate(_empty_to_none(row))
        except ValidationError as exc:
            failures.extend(_validation_failures("identifiers.csv", line, exc))
            continue
        refused = _identifier_failure(ident, line, seen)
        if refused is not None:
            failures.append(refused)
            continue
        if ident.case_id not in seen.case_lines or (
            ident.person_id is not None and ident.person_id not in seen.person_case
        ):
            continue  # its case or person row is refused already
        identifiers.append(ident)
    return identifiers


def _rows_from_records(
    cases: list[Case], persons: list[CasePerson], identifiers: list[CaseIdentifier]
) -> dict[str, list[dict[str, Any]]]:
    case_rows = sorted((c.model_dump() for c in cases), key=lambda r: r["case_id"])
    person_rows: list[dict[str, Any]] = []
    alias_rows: set[tuple[str, str]] = set()
    doc_rows: set[tuple[str, str]] = set()
    for p in persons:
        person_rows.append(
            {
                "person_id": p.person_id,
                "case_id": p.case_id,
                "role": p.role,
                "surname": p.surname,
                "given_names": p.given_names,
                "date_of_birth": p.date_of_birth,
                "nationality": p.nationality,
            }
        )
        alias_rows.update((p.person_id, a) for a in p.aliases)
        doc_rows.update((p.person_id, d) for d in p.document_numbers)
    person_rows.sort(key=lambda r: str(r["person_id"]))
    ident_sorted = sorted(
        identifiers, key=lambda i: (i.case_id, i.person_id or "", i.kind, i.value)
    )
    ident_rows = [
        {
            "id": n,
            "case_id": i.case_id,
            "person_id": i.person_id,
            "kind": i.kind,
            "value": i.value,
            "normalized": normalise_identifier(i.kind, i.value),  # cached by the check above
        }
        for n, i in enumerate(ident_sorted, start=1)
    ]
    return {
        "cases": case_rows,
        "persons": person_rows,
        "aliases": [{"person_id": a, "alias": b} for a, b in sorted(alias_rows)],
        "documents": [{"person_id": a, "number": b} for a, b in sorted(doc_rows)],
        "identifiers": ident_rows,
    }


_TABLES: dict[str, sa.Table] = {
    "cases": cases_table,
    "persons": persons_table,
    "aliases": aliases_table,
    "documents": documents_table,
    "identifiers": identifiers_table,
}
_COLUMNS: dict[str, list[str]] = {name: [c.name for c in t.columns] for name, t in _TABLES.items()}


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=_COLUMNS[name])
    if name == "persons":
        frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"]).astype("datetime64[us]")
    return frame


def _engine(url: str) -> sa.Engine:
    return make_engine(url, what="case database")


def _insert_many(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows with the driver's executemany (no per-row SQLAlchemy parameter processing)."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    if conn.dialect.paramstyle not in ("qmark", "format", "pyformat"):
        conn.execute(table.insert(), rows)
        return
    preparer = conn.dialect.identifier_preparer
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    values = [tuple(row[c] for c in columns) for row in rows]
    for start in range(0, len(values), 50_000):
        conn.exec_driver_sql(sql, values[start : start + 50_000])


def import_csv(src: Path, url: str, *, replace: bool = False) -> ImportReport:
    """Load the case database export in ``src`` into the database at ``url``.

    Args:
        src: folder with ``cases.csv``, ``persons.csv`` and (optionally) ``identifiers.csv``
            in the issue-4 format; aliases and document numbers separated by ``|``.
        url: any SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://...``).
        replace: replace a database that already holds cases (same transaction); without it a
            non-empty database is refused.

    Returns:
        The counts written.

    Raises:
        ApiflagError: any bad row (the message lists the first ones; nothing is written), a
            missing file, a non-empty database without ``replace``, or an unusable URL.
    """
    src = Path(src)
    report = ImportReport(source=str(src), url=url)
    rows, failures = _parse_export(src)
    if failures:
        report.failures = failures
        shown = "; ".join(str(f) for f in failures[:MAX_SHOWN])
        more = f" (and {len(failures) - MAX_SHOWN} more)" if len(failures) > MAX_SHOWN else ""
        raise ImportRefused(report, f"{src}: nothing imported: {shown}{more}")
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            METADATA.create_all(conn)
            existing = conn.execute(sa.select(sa.func.count()).select_from(cases_table)).scalar()
            if existing:
                if not replace:
                    raise ApiflagError(
                        f"{url}: already holds {existing} cases; use --replace to replace them"
                    )
                for table in reversed(METADATA.sorted_tables):
                    conn.execute(table.delete())
                report.replaced = True
            for name in ("cases", "persons", "aliases", "documents", "identifiers"):
                _insert_many(conn, _TABLES[name], rows[name])
    except sa.exc.SQLAlchemyError as exc:
        raise ApiflagError(
            f"{url}: import failed, nothing written: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()
    report.cases = len(rows["cases"])
    report.persons = len(rows["persons"])
    report.aliases = len(rows["aliases"])
    report.documents = len(rows["documents"])
    report.identifiers = len(rows["identifiers"])
    return report


class ImportRefused(ApiflagError):
    """An export with bad rows; ``report.failures`` holds every one of them."""

    def __init__(self, report: ImportReport, message: str) -> None:
        super().__init__(message)
        self.report = report


def load(url: str) -> CaseDatabase:
    """Read the case database at ``url`` as frames (rows sorted by key).

    Raises:
        ApiflagError: when the URL cannot be opened or holds no case database.
    """
    sqlite_file = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    if sqlite_file and sqlite_file != ":memory:" and not Path(sqlite_file).is_file():
        # reading must never create an empty database file as a side effect
        raise ApiflagError(f"{url}: no case database here (no such file)")
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            missing = [t.name for t in METADATA.sorted_tables if t.name not in names]
            if missing:
                raise ApiflagError(f"{url}: no case database here (missing {', '.join(missing)})")
            frames: dict[str, pd.DataFrame] = {}
            for name, table in _TABLES.items():
                keys = [c for c in table.primary_key.columns]
                result = conn.execute(sa.select(table).order_by(*keys))
                frames[name] = _frame(name, [dict(r._mapping) for r in result])
    except sa.exc.SQLAlchemyError as exc:
        raise ApiflagError(
            f"{url}: cannot read the case database: {exc.__class__.__name__}"
        ) from exc
    finally:
        engine.dispose()
    return CaseDatabase(**frames)


@click.group("casedb")
def casedb() -> None:
    """The trafficking-case database: import the registry's CSV export."""


@casedb.command("import")
@click.option(
    "--from",
    "src",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder with cases.csv, persons.csv, identifiers.csv.",
)
@click.option(
    "--to", "url", default=None, help="SQLAlchemy URL (default: SQLite under $APIFLAG_HOME)."
)
@click.option("--replace", is_flag=True, help="Replace a database that already holds cases.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def import_command(src: Path, url: str | None, replace: bool, fmt: str) -> None:
    """Load the case database export in one transaction; bad rows import nothing."""
    import json

    report = import_csv(src, url or default_url(), replace=replace)
    if fmt == "json":
        out = {k: v for k, v in vars(report).items() if k != "failures"}
        click.echo(json.dumps(out, sort_keys=True))
    else:
        click.echo(report.summary())
