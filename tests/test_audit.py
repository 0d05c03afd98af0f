from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from apiflag.audit import GENESIS, append_event, audit_events, check_chain, event_hash, verify
from apiflag.queue import store
from queue_helpers import engine_for, postgres_database


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database("apiflag_audit") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with engine_for(request.param, url) as eng:
        yield eng


def _fill(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        append_event(engine, f"user{i}", "flag.view", f"F-{i}", {"i": i, "night": "2026-11-27"})


def _drop_guards(engine: Engine) -> None:
    """What an attacker with database rights would do first."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def test_events_chain_from_genesis(engine: Engine) -> None:
    first = append_event(engine, "alice", "queue.decide", "F-1", {"reason": "data_error"})
    second = append_event(engine, "bob", "flag.view", "F-1")
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == event_hash(
        1,
        first.time.isoformat(timespec="microseconds"),
        "alice",
        "queue.decide",
        "F-1",
        {"reason": "data_error"},
        GENESIS,
    )
    assert verify(engine) is None
    assert check_chain(engine).head_seq == 2


def test_empty_log_verifies(engine: Engine) -> None:
    check = check_chain(engine)
    assert check.broken_seq is None and check.checked == 0 and check.head_hash == GENESIS


@pytest.mark.parametrize(
    "column, value",
    [
        ("details", json.dumps({"i": 99, "night": "2026-11-27"})),
        ("actor", "mallory"),
        ("action", "flag.explain"),
        ("object", "F-other"),
        ("time", "2020-01-01T00:00:00.000000+00:00"),
        ("prev_hash", "f" * 64),
    ],
)
def test_tampered_event_is_named(engine: Engine, column: str, value: str) -> None:
    _fill(engine)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(audit_events.update().where(audit_events.c.seq == 3).values({column: value}))
    check = check_chain(engine)
    assert check.broken_seq == 3
    assert verify(engine) == 3


def test_removed_event_is_named(engine: Engine) -> None:
    _fill(engine)
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(audit_events.delete().where(audit_events.c.seq == 2))
    check = check_chain(engine)
    assert check.broken_seq == 3 and "removed" in check.reason


def test_rewritten_and_rehashed_event_breaks_the_next_link(engine: Engine) -> None:
    _fill(engine)
    _drop_guards(engine)
    with engine.begin() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.seq == 2)).one()
        forged = event_hash(2, row.time, "mallory", row.action, row.object, {}, row.prev_hash)
        conn.execute(
            audit_events.update()
            .where(audit_events.c.seq == 2)
            .values(actor="mallory", details="{}", hash=forged)
        )
    assert verify(engine) == 3


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
)
def test_database_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    _fill(engine, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    assert verify(engine) is None


def test_event_rolls_back_with_the_change_it_records(engine: Engine) -> None:
    _fill(engine, 1)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            append_event(conn, "alice", "queue.decide", "F-9")
            raise RuntimeError("decision failed")
    assert check_chain(engine).head_seq == 1


def test_two_writers_never_fork_the_chain(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        eng = store.open_engine(url)
        try:
            for i in range(15):
                append_event(eng, name, "flag.view", f"F-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check = check_chain(engine)
    assert check.broken_seq is None and check.head_seq == 30


def test_details_must_be_json(engine: Engine) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        append_event(engine, "a", "x", "y", {"when": object()})
    with pytest.raises(ValueError, match="must not be empty"):
        append_event(engine, "", "x", "y")


@given(
    details=st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none()),
        max_size=4,
    )
)
def test_property_hash_changes_with_any_detail(details: dict) -> None:
    base = event_hash(1, "t", "a", "b", "o", details, GENESIS)
    assert base == event_hash(1, "t", "a", "b", "o", dict(reversed(details.items())), GENESIS)
    assert base != event_hash(1, "t", "a", "b", "o", {**details, "\x00extra": 1}, GENESIS)
    assert base != event_hash(2, "t", "a", "b", "o", details, GENESIS)
