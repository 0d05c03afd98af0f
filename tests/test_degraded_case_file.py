"""A traveller's fields the feed could not be read in reach the queue and the case file."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect

from apiflag import explain as ex
from apiflag.queue import store
from queue_helpers import run_cli, small_night


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFLAG_USER", "auditor-tests")


def _saved(degraded: dict[str, list[str]]) -> dict[str, str]:
    """Combine the small night with ``degraded`` fields per traveller; flag id per traveller."""
    night = small_night()
    ids = night.travellers["traveller_id"]
    night.travellers["degraded"] = [degraded.get(t, []) for t in ids]
    for tid, fields in degraded.items():
        if "date_of_birth" in fields:
            night.travellers.loc[ids == tid, "date_of_birth"] = None
    result = night.combine()
    engine = store.open_engine()
    store.save_night(engine, result)
    engine.dispose()
    return {f.traveller_id: f.flag_id for f in result.flags}


def test_an_unreadable_birth_date_is_named_in_every_form_of_the_case_file(capsys) -> None:
    flags = _saved({"T7": ["date_of_birth", "sex"]})
    code, text, err = run_cli(["explain", flags["T7"]], capsys)
    assert code == 0, err
    assert (
        "Could not be read in the feed: birth date could not be read: age unknown "
        "(may be a minor), check the document in person" in text
    )
    assert "Could not be read in the feed: sex could not be read" in text
    code, out, _ = run_cli(["explain", flags["T7"], "--format", "json"], capsys)
    assert json.loads(out)["traveller"]["degraded"] == ["date_of_birth", "sex"]
    code, html, _ = run_cli(["explain", flags["T7"], "--format", "html"], capsys)
    assert "birth date could not be read: age unknown" in html


def test_a_clean_traveller_s_case_file_has_no_such_line(capsys) -> None:
    flags = _saved({"T7": ["sex"]})
    code, text, _ = run_cli(["explain", flags["T3"]], capsys)
    assert code == 0 and "Could not be read in the feed" not in text


def test_redaction_keeps_the_caveat_not_the_person() -> None:
    flags = _saved({"T7": ["date_of_birth"]})
    engine = store.open_engine()
    exp = ex.redact(ex.explanation(engine, flags["T7"], actor="auditor-tests"))
    engine.dispose()
    assert exp["traveller"]["surname"] is None
    assert exp["traveller"]["degraded"] == ["date_of_birth"]
    assert "Traveller: (redacted)" in ex.render_text(exp)
    assert "age unknown" in ex.render_text(exp)


def test_a_queue_database_made_before_the_column_gets_it_when_opened() -> None:
    engine = store.open_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE flags DROP COLUMN degraded")  # as a build before it
        conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version = 3")
    assert "degraded" not in {c["name"] for c in inspect(engine).get_columns("flags")}
    engine.dispose()
    flags = _saved({"T7": ["date_of_birth"]})  # opens it again, then saves
    engine = store.open_engine()
    exp = ex.explanation(engine, flags["T7"], actor="auditor-tests")
    engine.dispose()
    assert exp["traveller"]["degraded"] == ["date_of_birth"]
