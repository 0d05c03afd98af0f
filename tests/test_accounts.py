"""Accounts: `apiflag users`, Argon2 hashes in the queue database, and who the CLI acts as."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from apiflag.audit import read_events
from apiflag.privacy import accounts
from apiflag.privacy.accounts import os_login
from apiflag.queue import store
from queue_helpers import run_cli, saved_small_night
from web_helpers import cheap_hashes

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def fast() -> Iterator[None]:
    with cheap_hashes():
        yield


def _users(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str = "", monkeypatch=None):  # type: ignore[no-untyped-def]
    assert monkeypatch is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_cli(["users", *args], capsys)


def test_users_add_list_passwd_disable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _users(
        ["add", "tanaka", "--role", "analyst", "--role", "supervisor", "--password-stdin"],
        capsys,
        PASSWORD + "\n",
        monkeypatch,
    )
    assert code == 0, err
    assert "tanaka: analyst, supervisor" in out
    engine = store.open_engine()
    with engine.connect() as conn:
        digest = conn.execute(select(accounts.accounts.c.password_hash)).scalar_one()
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    assert accounts.authenticate(engine, "tanaka", PASSWORD, client="t") is not None
    code, out, _ = _users(
        ["passwd", "tanaka", "--password-stdin"], capsys, "another long one\n", monkeypatch
    )
    assert code == 0
    assert accounts.authenticate(engine, "tanaka", PASSWORD, client="t") is None
    assert accounts.authenticate(engine, "tanaka", "another long one", client="t") is not None
    code, out, _ = _users(["list"], capsys, "", monkeypatch)
    assert "tanaka" in out and "analyst,supervisor" in out and "active" in out
    assert _users(["disable", "tanaka"], capsys, "", monkeypatch)[0] == 0
    assert "disabled" in _users(["list"], capsys, "", monkeypatch)[1]
    assert accounts.authenticate(engine, "tanaka", "another long one", client="t") is None
    actions = [e.action for e in read_events(engine, action="account")]
    assert actions == ["account.add", "account.passwd", "account.disable"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "x", "--role", "wizard", "--password-stdin"], PASSWORD, "unknown"),
        (["add", "x", "--role", "analyst", "--password-stdin"], "short", "at least 12"),
        (["add", "x", "--role", "analyst", "--password-stdin"], "", "held no password"),
        (["add", "<b>", "--role", "analyst", "--password-stdin"], PASSWORD, "account name"),
        (["add", "x", "--role", "analyst"], "", "pipe it with --password-stdin"),
        (["passwd", "nobody", "--password-stdin"], PASSWORD, "no such account"),
        (["disable", "nobody"], "", "no such account"),
    ],
)
def test_bad_account_input_is_one_line_and_nonzero(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    code, out, err = _users(args, capsys, stdin + "\n" if stdin else "", monkeypatch)
    assert code in (1, 2)
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_acts_as_the_account_of_its_login(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = store.open_engine()
    store.save_night(engine, saved_small_night())
    flag = store.list_flags(engine)[0]["flag_id"]
    accounts.add_account(
        engine, "aiko", ("analyst",), password=PASSWORD, login=os_login(), actor="t"
    )
    monkeypatch.delenv("APIFLAG_USER", raising=False)
    code, _, err = run_cli(
        [
            "queue",
            "decide",
            flag,
            "--outcome",
            "cleared",
            "--reason",
            "data_error",
            "--analyst",
            "someone",
        ],
        capsys,
    )
    assert code == 1 and "acts as account aiko" in err
    monkeypatch.setenv("APIFLAG_USER", "someone")
    code, _, err = run_cli(["queue", "list"], capsys)
    assert code == 1 and "cannot act as another account" in err
    monkeypatch.delenv("APIFLAG_USER")
    code, out, err = run_cli(
        [
            "queue",
            "decide",
            flag,
            "--outcome",
            "cleared",
            "--reason",
            "data_error",
            "--analyst",
            "aiko",
        ],
        capsys,
    )
    assert code == 0, err
    assert [e.actor for e in read_events(engine, action="queue.list")] == []
    code, _, err = run_cli(["audit", "log"], capsys)
    assert code == 1 and "may not audit.view" in err  # aiko is an analyst only
    code, _, err = run_cli(["users", "add", "x", "--role", "analyst", "--no-password"], capsys)
    assert code == 1 and "only a supervisor" in err


def test_login_without_an_account_is_refused_once_accounts_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = store.open_engine()
    accounts.add_account(
        engine, "other", ("analyst",), password=PASSWORD, login="not-me", actor="t"
    )
    code, _, err = run_cli(["queue", "list"], capsys)
    assert code == 1 and f"login {os_login()}: no account is mapped" in err


def test_roles_mapping_of_config_migrates_to_accounts(
    capsys: pytest.CaptureFixture[str], apiflag_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (apiflag_home / "config.yaml").write_text(
        f"roles:\n  {os_login()}: [supervisor, analyst]\n  kenji: auditor\n"
    )
    monkeypatch.delenv("APIFLAG_USER", raising=False)
    code, out, err = run_cli(["users", "migrate"], capsys)
    assert code == 0, err
    assert "created 2 accounts" in out
    engine = store.open_engine()
    kenji = accounts.get_account(engine, "kenji")
    assert kenji is not None and kenji.roles == ("auditor",) and not kenji.has_password
    me = accounts.get_account(engine, os_login())
    assert me is not None and me.roles == ("supervisor", "analyst") and me.login == os_login()
    assert accounts.authenticate(engine, "kenji", "", client="t") is None  # no password: no desk
    assert "no password (CLI only)" in run_cli(["users", "list"], capsys)[1]
    code, out, _ = run_cli(["users", "migrate"], capsys)
    assert code == 0 and "created 0 accounts" in out


def test_web_command_refuses_bad_tls_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(["web", "--certfile", str(tmp_path / "c.pem")], capsys)
    assert code == 2 and "--certfile and --keyfile go together" in err
    code, _, err = run_cli(
        ["web", "--certfile", str(tmp_path / "c.pem"), "--keyfile", str(tmp_path / "k.pem")],
        capsys,
    )
    assert code == 1 and "c.pem: no such file" in err and len(err.strip().splitlines()) == 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest) -> Iterator[object]:
    from queue_helpers import postgres_database

    if request.param == "sqlite":
        engine = store.open_engine()
        yield engine
        engine.dispose()
        return
    with postgres_database("apiflag_accounts") as url:
        engine = store.open_engine(url)
        yield engine
        engine.dispose()


def test_accounts_and_lockout_on_sqlite_and_postgres(any_engine) -> None:  # type: ignore[no-untyped-def]
    engine = any_engine
    accounts.add_account(engine, "mei", ("auditor", "analyst"), password=PASSWORD, actor="t")
    with pytest.raises(Exception, match="already exists"):
        accounts.add_account(engine, "mei", ("auditor",), password=PASSWORD, actor="t")
    ok = accounts.authenticate(engine, "mei", PASSWORD, client="c")
    assert ok is not None and ok.roles == ("auditor", "analyst")
    for _ in range(accounts.MAX_FAILURES):
        assert accounts.authenticate(engine, "mei", "not the password", client="c") is None
    locked = accounts.get_account(engine, "mei")
    assert locked is not None and locked.locked()
    assert accounts.authenticate(engine, "mei", PASSWORD, client="c") is None
    accounts.set_password(engine, "mei", PASSWORD, actor="t")  # an administrator unlocks
    assert accounts.authenticate(engine, "mei", PASSWORD, client="c") is not None
    actions = [e.action for e in read_events(engine, object="account:mei")]
    assert actions.count("auth.failure") == accounts.MAX_FAILURES + 1
    assert actions.count("auth.lock") == 1 and actions.count("auth.signin") == 2


def test_desk_signs_in_and_verifies_on_sqlite_and_postgres(any_engine) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from apiflag.web.app import create_app
    from web_helpers import csrf_of

    engine = any_engine
    accounts.add_account(engine, "sue", ("supervisor",), password=PASSWORD, actor="t")
    url = engine.url.render_as_string(hide_password=False)
    with TestClient(create_app(url, secret="s" * 40)) as client:
        form = client.get("/login")
        signed = client.post(
            "/login", data={"name": "sue", "password": PASSWORD, "csrf": csrf_of(form.text)}
        )
        assert signed.status_code == 200 and "No flags match" in signed.text
        assert "Chain intact" in client.get("/audit/verify").text
    assert [e.action for e in read_events(engine, action="auth")] == ["auth.signin"]


def test_demo_creates_its_account_and_says_how_to_open_the_desk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    from apiflag.orchestration.cli import DEMO_ACCOUNT, _demo_account
    from apiflag.privacy import accounts
    from apiflag.queue.store import open_engine

    _demo_account()
    out = capsys.readouterr().out
    assert "apiflag web" in out and "http://127.0.0.1:8000/" in out
    found = re.search(r"password (\S+) \(shown once", out)
    assert found, out
    engine = accounts.ready(open_engine())
    try:
        signed_in = accounts.authenticate(engine, DEMO_ACCOUNT, found.group(1), client="test")
        assert signed_in is not None and set(signed_in.roles) == set(accounts.ROLES)
    finally:
        engine.dispose()
    _demo_account()  # a second demo keeps the account and does not print a new password
    assert "shown once" not in capsys.readouterr().out
