"""Migration 2 (the evidence contract) on a queue database written by an earlier build.

``tests/data/queue_before_digests.sqlite`` was written by the build before the migrations
(the small night saved, one flag decided): ``flags.probability`` NOT NULL, no outcome or match
figures, no ``contributions.column``.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from apiflag import explain as ex
from apiflag.audit import check_chain
from apiflag.queue import store
from queue_helpers import small_night

V0 = Path(__file__).parent / "data" / "queue_before_digests.sqlite"
LATEST = [version for version, _, _ in store.MIGRATIONS]


def applied(path: Path) -> list[int]:
    return [int(r[0]) for r in _dump(path, "SELECT version FROM schema_migrations ORDER BY 1")]


@pytest.fixture()
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "apiflag.db"
    shutil.copy(V0, path)
    return path


def _dump(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_the_fixture_is_a_database_of_the_old_build(old_db: Path) -> None:
    cols = {r[1]: r[3] for r in _dump(old_db, "PRAGMA table_info(flags)")}
    assert cols["probability"] == 1  # NOT NULL
    assert "outcome_log_odds" not in cols
    assert "column" not in {r[1] for r in _dump(old_db, "PRAGMA table_info(contributions)")}


def test_old_database_gains_the_new_columns_and_keeps_every_row(old_db: Path) -> None:
    flags_before = _dump(old_db, "SELECT flag_id, total, probability, priority FROM flags")
    contrib_before = _dump(old_db, "SELECT flag_id, ord, weight, sentence FROM contributions")
    audit_before = _dump(old_db, "SELECT seq, hash FROM audit_events ORDER BY seq")
    engine = store.open_engine(f"sqlite:///{old_db}")
    insp = inspect(engine)
    flags_cols = {c["name"]: c["nullable"] for c in insp.get_columns("flags")}
    assert flags_cols["probability"] is True
    assert {"outcome_log_odds", "match_probability"} <= set(flags_cols)
    assert "column" in {c["name"] for c in insp.get_columns("contributions")}
    assert {i["name"] for i in insp.get_indexes("flags")} >= {"ix_flags_night", "ix_flags_status"}
    assert applied(old_db) == LATEST and 2 in LATEST
    assert store.migrate(engine) == []  # nothing twice
    assert _dump(old_db, "SELECT flag_id, total, probability, priority FROM flags") == flags_before
    assert (
        _dump(old_db, "SELECT flag_id, ord, weight, sentence FROM contributions") == contrib_before
    )
    assert _dump(old_db, "SELECT seq, hash FROM audit_events ORDER BY seq") == audit_before
    assert check_chain(engine).broken_seq is None
    assert _dump(old_db, "PRAGMA foreign_key_check") == []


def test_old_flags_still_explain_decide_and_new_nights_save(old_db: Path) -> None:
    engine = store.open_engine(f"sqlite:///{old_db}")
    fid = _dump(old_db, "SELECT flag_id FROM flags WHERE status = 'new' ORDER BY priority")[0][0]
    exp = ex.explanation(engine, fid, actor="auditor")
    # rows written before the contract are one combined column, still exact
    assert set(exp["sum_check"]["columns"]) == {"legacy"}
    assert exp["sum_check"]["columns"]["legacy"]["exact"] is True
    assert "stored before the evidence contract" in ex.render_text(exp)
    store.decide(engine, fid, "cleared", "data_error", "analyst-a")
    # the foreign key from dispositions to the rebuilt flags table holds
    with pytest.raises(Exception, match="FOREIGN KEY"):
        with engine.begin() as conn:
            conn.execute(
                store.dispositions.insert().values(
                    flag_id="F-none", from_status="new", to_status="cleared",
                    reason_code="x", analyst="a", at=store._now(),
                )
            )  # fmt: skip
    result = small_night().without_model().combine()
    report = store.save_night(engine, result)
    assert report.kept == 2 and report.inserted + report.updated + report.unchanged >= 1
    with engine.connect() as conn:
        probs = conn.execute(select(store.flags.c.probability)).scalars().all()
    assert None in probs


def test_a_fresh_database_records_the_migrations_as_applied(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert applied(tmp_path / "new.db") == LATEST
    assert store.migrate(engine) == []


@pytest.mark.postgres
def test_postgres_database_of_the_build_before_is_migrated() -> None:
    from queue_helpers import postgres_database

    with postgres_database("apiflag_migrate") as url:
        engine = store.open_engine(url)
        store.save_night(engine, small_night().combine())
        # put the database back as the build before migration 2 left it
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE flags SET probability = 0.5 WHERE probability IS NULL")
            conn.exec_driver_sql("ALTER TABLE flags ALTER COLUMN probability SET NOT NULL")
            conn.exec_driver_sql("ALTER TABLE flags DROP COLUMN outcome_log_odds")
            conn.exec_driver_sql("ALTER TABLE flags DROP COLUMN match_probability")
            conn.exec_driver_sql('ALTER TABLE contributions DROP COLUMN "column"')
            conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version = 2")
        engine.dispose()
        engine = store.open_engine(url)
        insp = inspect(engine)
        flags_cols = {c["name"]: c["nullable"] for c in insp.get_columns("flags")}
        assert flags_cols["probability"] is True
        assert {"outcome_log_odds", "match_probability"} <= set(flags_cols)
        assert "column" in {c["name"] for c in insp.get_columns("contributions")}
        assert store.migrate(engine) == []
        result = small_night().without_model().combine()
        store.save_night(engine, result)
        with engine.connect() as conn:
            assert None in conn.execute(select(store.flags.c.probability)).scalars().all()
        engine.dispose()
