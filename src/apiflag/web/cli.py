"""``apiflag web`` (serve the review desk) and ``apiflag users`` (its accounts).

``users add/passwd`` read the password from standard input with ``--password-stdin`` (scripts)
or prompt for it twice without echo (a person). Every account change is an audit event under
the account running the command (or the login, before any account exists).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import Engine

from apiflag.errors import ApiflagError, UsageError

if TYPE_CHECKING:
    from apiflag.privacy.accounts import Account

__all__ = ["users", "web"]


def _engine() -> Engine:
    from apiflag.privacy import accounts
    from apiflag.queue import store

    return accounts.ready(store.open_engine())


def _mine() -> Account | None:
    """Return this login's account, or None when it has none (or no account exists yet)."""
    from apiflag.privacy.roles import cli_account

    try:
        return cli_account()
    except ApiflagError:
        return None


def _actor() -> str:
    from apiflag.privacy.accounts import os_login

    account = _mine()
    return account.name if account is not None else os_login()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise UsageError("--password-stdin: standard input held no password")
        return value
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password: pipe it with --password-stdin")
    first = click.prompt("Password", hide_input=True)
    if click.prompt("Again", hide_input=True) != first:
        raise ApiflagError("the two passwords differ")
    return str(first)


def _require_admin() -> None:
    """Refuse unless this is the service account (owner of the home) or a supervisor's login."""
    import os

    from apiflag import config

    account = _mine()
    if account is not None and "supervisor" in account.roles:
        return
    home = config.home()
    if home.exists() and home.stat().st_uid == os.getuid():
        if account is None:
            return
    who = f"account {account.name}" if account is not None else "this login"
    raise ApiflagError(f"{who}: only a supervisor or the owner of {home} manages accounts")


@click.group()
def users() -> None:
    """Accounts of the review desk: add, set a password, disable, list, migrate."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeat for more).")
@click.option("--login", default=None, help="The operating-system login the CLI maps to it.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="CLI only: no desk sign-in until passwd.")
def add_command(
    name: str, roles: tuple[str, ...], login: str | None, password_stdin: bool, no_password: bool
) -> None:
    """Create an account with one or more roles (the first is the default)."""
    from apiflag.privacy.accounts import add_account

    _require_admin()
    password = None if no_password else _password(password_stdin)
    account = add_account(_engine(), name, roles, password=password, login=login, actor=_actor())
    click.echo(f"account {account.name}: {', '.join(account.roles)}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def passwd_command(name: str, password_stdin: bool) -> None:
    """Set an account's password (clears its lock)."""
    from apiflag.privacy.accounts import set_password

    account = _mine()
    if account is None or account.name != name:
        _require_admin()
    set_password(_engine(), name, _password(password_stdin), actor=_actor())
    click.echo(f"account {name}: password set")


@users.command("disable")
@click.argument("name")
def disable_command(name: str) -> None:
    """Disable an account: no sign-in, and its open sessions end."""
    from apiflag.privacy.accounts import disable_account

    _require_admin()
    disable_account(_engine(), name, actor=_actor())
    click.echo(f"account {name}: disabled")


@users.command("list")
def list_command() -> None:
    """List accounts: name, roles, login, state."""
    from apiflag.privacy.accounts import list_accounts

    rows = list_accounts(_engine())
    if not rows:
        click.echo("no accounts (apiflag users add NAME --role ROLE)")
        return
    click.echo(f"{'name':20} {'roles':32} {'login':14} state")
    for a in rows:
        state = (
            "disabled"
            if a.disabled
            else "locked"
            if a.locked()
            else "active"
            if a.has_password
            else "no password (CLI only)"
        )
        click.echo(f"{a.name:20} {','.join(a.roles):32} {a.login or '-':14} {state}")


@users.command("migrate")
def migrate_command() -> None:
    """Create accounts (without passwords) from config.yaml's roles: mapping."""
    from apiflag.privacy.roles import migrate_from_config

    _require_admin()
    created = migrate_from_config(_engine(), actor=_actor())
    click.echo(f"created {len(created)} accounts" + (f": {', '.join(created)}" if created else ""))


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--certfile", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--keyfile", type=click.Path(dir_okay=False, path_type=Path), default=None)
def web(host: str, port: int, certfile: Path | None, keyfile: Path | None) -> None:
    """Serve the review desk (HTTPS with --certfile/--keyfile, or behind a TLS proxy)."""
    import uvicorn

    from apiflag.web.app import create_app

    if (certfile is None) != (keyfile is None):
        raise UsageError("--certfile and --keyfile go together")
    for path in (certfile, keyfile):
        if path is not None and not path.is_file():
            raise ApiflagError(f"{path}: no such file")
    app = create_app()
    scheme = "https" if certfile else "http"
    click.echo(f"review desk on {scheme}://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
