"""One atomic writer, one engine factory with the SQLite pragmas, a versioned queue migration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from apiflag import atomic, casedb
from apiflag.audit import check_chain
from apiflag.db import SQLITE_PRAGMAS, make_engine
from apiflag.errors import ApiflagError
from apiflag.privacy import stats
from apiflag.privacy import store as privacy_store
from apiflag.provenance import combined_digest
from apiflag.queue import store
from queue_helpers import small_night

FIXTURE = Path(__file__).parent / "data" / "queue_before_digests.sqlite"


# ------------------------------------------------------------------ atomic writer


def test_atomic_writes_replace_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "x.parquet"
    atomic.write_parquet(target, pd.DataFrame({"a": [1, 2]}))
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]
    atomic.write_text(tmp_path / "t.json", "{}")
    assert (tmp_path / "t.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = out / "x.parquet"
    atomic.write_parquet(target, pd.DataFrame({"a": [1]}))
    before = target.read_bytes()
    # fails inside the Parquet writer, after the temporary file exists
    with pytest.raises(pa.lib.ArrowException):
        atomic.write_parquet(target, pd.DataFrame({"a": [2]}), compression="no-such-codec")
    assert target.read_bytes() == before
    with pytest.raises(RuntimeError), atomic.atomic_paths({"b": out / "b.txt"}) as staged:
        staged["b"].write_text("half")
        raise RuntimeError("crash")
    assert not (out / "b.txt").exists()
    assert [p.name for p in out.iterdir()] == ["x.parquet"]


# ------------------------------------------------------------------ engine factory


def _pragmas(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())
            for name, _ in SQLITE_PRAGMAS
        }


EXPECTED = {"foreign_keys": 1, "busy_timeout": 30000, "secure_delete": 1}


def test_every_store_opens_sqlite_with_the_pragmas(tmp_path: Path, apiflag_home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    engines = {
        "queue": store.open_engine(url),
        "privacy": privacy_store.engine(url),
        "casedb": casedb._engine(f"sqlite:///{tmp_path / 'c.db'}"),
        "stats": make_engine(url, what="queue database"),
    }
    try:
        for name, engine in engines.items():
            assert _pragmas(engine) == EXPECTED, name
    finally:
        for engine in engines.values():
            engine.dispose()
    # statistics read the queue database through the same factory
    assert len(stats._flags("2026-01-01", "2026-12-31", url)) == 0


def test_foreign_keys_hold_in_the_queue_database(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                store.contributions.insert().values(
                    flag_id="F-none", ord=0, source="rule", source_id="R", weight=1.0,
                    sentence="s", against="[]",
                )
            )  # fmt: skip
    finally:
        engine.dispose()


def test_a_bad_url_is_one_line() -> None:
    with pytest.raises(ApiflagError, match="case database: invalid URL 'nonsense://x'"):
        make_engine("nonsense://x", what="case database")


# ------------------------------------------------------------------ migration


def test_a_queue_database_of_the_earlier_build_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, db)
    raw = sa.create_engine(f"sqlite:///{db}")
    with raw.connect() as conn:
        assert "code_digest" not in {c["name"] for c in sa.inspect(conn).get_columns("flags")}
        old = {r.flag_id: r.status for r in conn.execute(sa.text("SELECT * FROM flags"))}
    raw.dispose()
    assert "cleared" in old.values()

    engine = store.open_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("flags")}
            runs = {c["name"] for c in sa.inspect(conn).get_columns("night_runs")}
            versions = conn.execute(sa.select(store.schema_migrations.c.version)).scalars().all()
            kept = {r.flag_id: r.status for r in conn.execute(sa.select(store.flags))}
        assert "code_digest" in columns and {"code_digest", "code_digests", "settings"} <= runs
        assert versions == [1, 2, 3]
        assert kept == old
        assert check_chain(engine).broken_seq is None
        # the migrated database takes a night of today's build, digests and all
        result = small_night().combine()
        report = store.save_night(engine, result, settings={"capacity": 50})
        assert report.kept == 1  # the decided flag is never touched
        with engine.connect() as conn:
            digests = set(conn.execute(sa.select(store.flags.c.code_digest)).scalars())
        # refreshed new flags record today's digest; the decided one keeps its NULL
        assert digests == {None, combined_digest(result.code_digests)}
    finally:
        engine.dispose()
    # opening again applies nothing twice
    assert store.migrate(store.open_engine(f"sqlite:///{db}")) == []


def test_a_new_database_records_every_migration_without_applying_it(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert store.migrate(engine) == []
    with engine.connect() as conn:
        versions = conn.execute(sa.select(store.schema_migrations.c.version)).scalars().all()
        assert versions == [version for version, _, _ in store.MIGRATIONS] == [1, 2, 3]
    engine.dispose()
