"""Versioned migrations of the queue database: an existing database gains new columns in place.

Decides how a queue database written by an earlier build is brought to the current tables
(:data:`apiflag.queue.store.METADATA`) and guarantees:

* each migration runs once, in order, in one transaction, and is recorded with its version in
  ``schema_migrations``; a fresh database (tables created complete) records them as applied;
* no row is lost: a table that must be rebuilt (SQLite cannot relax ``NOT NULL`` in place) is
  copied column by column, foreign keys checked before the change commits.

Migration 1 (the evidence contract): ``flags.probability`` may be null (no champion model, no
probability), ``flags.outcome_log_odds`` and ``flags.match_probability`` are new, and
``contributions.column`` says which column of the explanation a row belongs to (null on rows
written before, which were one combined column).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
)
from sqlalchemy.schema import CreateIndex, CreateTable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "applied", "migrate"]

MIGRATION_METADATA = MetaData()
schema_migrations = Table(
    "schema_migrations",
    MIGRATION_METADATA,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _columns(engine: Engine, table: str) -> dict[str, bool]:
    """Return ``{column: nullable}`` of a table as the database has it."""
    return {c["name"]: bool(c["nullable"]) for c in inspect(engine).get_columns(table)}


def _add_columns(engine: Engine, table: str, columns: dict[str, str]) -> None:
    have = _columns(engine, table)
    with engine.begin() as conn:
        for name, sql_type in columns.items():
            if name not in have:
                conn.exec_driver_sql(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql_type}')


def _rebuild_sqlite(engine: Engine, table: Table) -> None:
    """Rebuild a SQLite table to its current definition, keeping every row (SQLite's recipe)."""
    old = set(_columns(engine, table.name))
    keep = [c.name for c in table.columns if c.name in old]
    cols = ", ".join(f'"{c}"' for c in keep)
    create = str(CreateTable(table).compile(engine)).replace(
        f"CREATE TABLE {table.name} ", f"CREATE TABLE {table.name}__new ", 1
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(create)
            cur.execute(f"INSERT INTO {table.name}__new ({cols}) SELECT {cols} FROM {table.name}")
            cur.execute(f"DROP TABLE {table.name}")
            cur.execute(f"ALTER TABLE {table.name}__new RENAME TO {table.name}")
            for index in table.indexes:
                cur.execute(str(CreateIndex(index).compile(engine)))
            problems = cur.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign key check failed after rebuilding {table.name}")
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    finally:
        raw.close()


def _evidence_contract(engine: Engine) -> None:
    from apiflag.queue.store import flags

    _add_columns(engine, "flags", {"outcome_log_odds": "FLOAT", "match_probability": "FLOAT"})
    _add_columns(engine, "contributions", {"column": "VARCHAR(16)"})
    if not _columns(engine, "flags")["probability"]:
        if engine.dialect.name == "sqlite":
            _rebuild_sqlite(engine, flags)
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE flags ALTER COLUMN probability DROP NOT NULL")


#: (version, name, function), applied in order
MIGRATIONS: tuple[tuple[int, str, Callable[[Engine], None]], ...] = (
    (
        1,
        "evidence contract: nullable probability, outcome and match figures, columns",
        _evidence_contract,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def applied(engine: Engine) -> list[int]:
    """Return the versions recorded in ``schema_migrations`` (empty before any)."""
    MIGRATION_METADATA.create_all(engine, checkfirst=True)
    with engine.connect() as conn:
        return sorted(int(v) for v in conn.execute(select(schema_migrations.c.version)).scalars())


def migrate(engine: Engine) -> list[int]:
    """Apply the migrations this database has not had yet; return the versions applied now."""
    done = set(applied(engine))
    now: list[int] = []
    for version, name, fn in MIGRATIONS:
        if version in done:
            continue
        fn(engine)
        with engine.begin() as conn:
            conn.execute(
                schema_migrations.insert().values(
                    version=version, name=name, applied_at=dt.datetime.now(dt.UTC)
                )
            )
        now.append(version)
    return now
