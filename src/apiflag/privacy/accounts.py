"""Local accounts: who may sign in to the review desk, in which roles, and who runs the CLI.

Decides how people are identified once accounts exist:

* an account is a name, one or more roles (:data:`apiflag.privacy.roles.ROLES`, the first is
  the default), an Argon2id password hash (none until ``apiflag users passwd`` sets one: such an
  account can use the CLI but not sign in), the operating-system login mapped to it, and whether
  it is disabled; the table ``accounts`` lives in the queue database (SQLite or PostgreSQL, like
  the queue);
* **sign-in** (:func:`authenticate`) checks the password, counts failures and locks the
  account for :data:`LOCK_MINUTES` after :data:`MAX_FAILURES` failures in a row; every success,
  failure and lock is an audit event (no password, no personal data);
* **the CLI** acts as the account whose ``login`` is the operating-system login running it
  (:func:`cli_account`); while the database holds no account at all the older ``roles:``
  mapping of ``config.yaml`` (or none) still applies, and :func:`apiflag.privacy.roles.migrate_from_config` turns that
  mapping into accounts (``apiflag users migrate``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import pwd
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine

from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.privacy.policy import ROLES

__all__ = [
    "LOCK_MINUTES",
    "MAX_FAILURES",
    "MIN_PASSWORD",
    "Account",
    "add_account",
    "any_accounts",
    "authenticate",
    "cli_account",
    "disable_account",
    "get_account",
    "list_accounts",
    "ready",
    "set_password",
]

MAX_FAILURES = 5
"""Failed sign-ins in a row that lock an account."""
LOCK_MINUTES = 15
"""How long a locked account stays locked."""
MIN_PASSWORD = 12
"""The shortest password accepted."""

metadata = sa.MetaData()
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("login", sa.String(100), unique=True, nullable=True),
    sa.Column("roles", sa.String(200), nullable=False, comment="comma-separated, first default"),
    sa.Column("password_hash", sa.String(300), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Account:
    """One account as stored (never the hash)."""

    name: str
    roles: tuple[str, ...]
    login: str | None
    disabled: bool
    has_password: bool
    locked_until: dt.datetime | None
    password_set_at: dt.datetime | None

    def locked(self, now: dt.datetime | None = None) -> bool:
        """Return whether the account is locked at ``now`` (default: now)."""
        return self.locked_until is not None and _utc(self.locked_until) > (now or _now())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def ready(engine: Engine) -> Engine:
    """Create the ``accounts`` table when missing and return ``engine``."""
    metadata.create_all(engine, checkfirst=True)
    return engine


def _check_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    if not roles:
        raise ApiflagError("an account needs at least one role (--role ROLE)")
    for role in roles:
        if role not in ROLES:
            raise ApiflagError(f"role {role!r}: unknown (roles: {', '.join(ROLES)})")
    return tuple(dict.fromkeys(roles))


def _check_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean or len(clean) > 100 or any(c in clean for c in ",<>\"'&/ \t"):
        raise ApiflagError(
            f"account name {name!r}: use 1-100 letters, digits, dots, dashes or underscores"
        )
    return clean


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ApiflagError(f"password: at least {MIN_PASSWORD} characters, please")
    return password


def _account(row: sa.Row) -> Account:
    return Account(
        name=row.name,
        roles=tuple(r for r in str(row.roles).split(",") if r),
        login=row.login,
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
        locked_until=_utc(row.locked_until) if row.locked_until is not None else None,
        password_set_at=_utc(row.password_set_at) if row.password_set_at is not None else None,
    )


def any_accounts(engine: Engine) -> bool:
    """Return whether the database holds at least one account."""
    with ready(engine).connect() as conn:
        return conn.execute(sa.select(accounts.c.name).limit(1)).first() is not None


def get_account(engine: Engine, name: str) -> Account | None:
    """Return the account called ``name``, or None."""
    with ready(engine).connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
    return _account(row) if row is not None else None


def list_accounts(engine: Engine) -> list[Account]:
    """Return every account, by name."""
    with ready(engine).connect() as conn:
        return [_account(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.name))]


def add_account(
    engine: Engine,
    name: str,
    roles: tuple[str, ...],
    *,
    password: str | None = None,
    login: str | None = None,
    actor: str,
) -> Account:
    """Create an account (audited as ``account.add``).

    Args:
        engine: the queue database.
        name: the account name (also the analyst name recorded with decisions).
        roles: one or more roles, the first the default.
        password: the password (None: the account cannot sign in until one is set).
        login: the operating-system login the CLI maps to this account.
        actor: who creates it.

    Returns:
        The new account.

    Raises:
        ApiflagError: bad name, role or password, or the name or login is taken.
    """
    clean = _check_name(name)
    checked = _check_roles(roles)
    digest = _HASHER.hash(_check_password(password)) if password is not None else None
    now = _now()
    with ready(engine).begin() as conn:
        if conn.execute(sa.select(accounts.c.name).where(accounts.c.name == clean)).first():
            raise ApiflagError(f"account {clean}: already exists (apiflag users list)")
        if (
            login
            and conn.execute(sa.select(accounts.c.name).where(accounts.c.login == login)).first()
        ):
            raise ApiflagError(f"login {login}: already mapped to another account")
        conn.execute(
            accounts.insert().values(
                name=clean,
                login=login or None,
                roles=",".join(checked),
                password_hash=digest,
                disabled=False,
                failures=0,
                password_set_at=now if digest else None,
                created_at=now,
            )
        )
        append_event(conn, actor, "account.add", f"account:{clean}", {"roles": list(checked)})
    account = get_account(engine, clean)
    assert account is not None
    return account


def set_password(engine: Engine, name: str, password: str, *, actor: str) -> None:
    """Set an account's password, clear its failures and lock (audited ``account.passwd``).

    Raises:
        ApiflagError: no such account, or the password is too short.
    """
    digest = _HASHER.hash(_check_password(password))
    with ready(engine).begin() as conn:
        done = conn.execute(
            sa.update(accounts)
            .where(accounts.c.name == name)
            .values(password_hash=digest, failures=0, locked_until=None, password_set_at=_now())
        )
        if done.rowcount != 1:
            raise ApiflagError(f"account {name}: no such account (apiflag users list)")
        append_event(conn, actor, "account.passwd", f"account:{name}", {})


def disable_account(engine: Engine, name: str, *, actor: str) -> None:
    """Disable an account: it can neither sign in nor keep a session (audited).

    Raises:
        ApiflagError: no such account.
    """
    with ready(engine).begin() as conn:
        done = conn.execute(
            sa.update(accounts).where(accounts.c.name == name).values(disabled=True)
        )
        if done.rowcount != 1:
            raise ApiflagError(f"account {name}: no such account (apiflag users list)")
        append_event(conn, actor, "account.disable", f"account:{name}", {})


def authenticate(engine: Engine, name: str, password: str, *, client: str) -> Account | None:
    """Check a sign-in; count failures, lock after :data:`MAX_FAILURES`, audit every outcome.

    Args:
        engine: the queue database.
        name: the account name typed.
        password: the password typed.
        client: where the request came from (an address), recorded with the event.

    Returns:
        The account on success, None on any failure (unknown name, wrong password, disabled,
        locked, no password set): the caller tells the person no more than that.
    """
    now = _now()
    with ready(engine).begin() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
        if row is None:
            # the typed name may be a mistyped password: never logged
            append_event(
                conn, "anonymous", "auth.failure", "account:?", {"why": "unknown", "client": client}
            )
            return None
        account = _account(row)
        why = None
        if account.disabled:
            why = "disabled"
        elif account.locked(now):
            why = "locked"
        elif row.password_hash is None:
            why = "no_password"
        else:
            try:
                _HASHER.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                why = "password"
        if why is None:
            conn.execute(
                sa.update(accounts)
                .where(accounts.c.name == name)
                .values(failures=0, locked_until=None)
            )
            append_event(conn, name, "auth.signin", f"account:{name}", {"client": client})
            return account
        failures = int(row.failures or 0) + (1 if why == "password" else 0)
        values: dict[str, object] = {"failures": failures}
        if why == "password" and failures >= MAX_FAILURES:
            values["locked_until"] = now + dt.timedelta(minutes=LOCK_MINUTES)
            values["failures"] = 0
        conn.execute(sa.update(accounts).where(accounts.c.name == name).values(**values))
        append_event(
            conn,
            name,
            "auth.failure",
            f"account:{name}",
            {"why": why, "client": client, "failures": failures},
        )
        if "locked_until" in values:
            append_event(
                conn,
                name,
                "auth.lock",
                f"account:{name}",
                {"minutes": LOCK_MINUTES, "client": client},
            )
    return None


def os_login() -> str:
    """Return the operating-system login running this process."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, OSError):
        return getpass.getuser()


def cli_account(engine: Engine) -> Account | None:
    """Return the account the CLI acts as, or None while the database holds no account.

    The account is the one mapped to the operating-system login. ``APIFLAG_USER``, when set,
    must name that same account.

    Raises:
        ApiflagError: accounts exist but none is mapped to this login, it is disabled, or
            ``APIFLAG_USER`` names another account.
    """
    if not any_accounts(engine):
        return None
    login = os_login()
    with ready(engine).connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.login == login)).first()
    if row is None:
        raise ApiflagError(
            f"login {login}: no account is mapped to it "
            "(apiflag users add NAME --role ROLE --login LOGIN)"
        )
    account = _account(row)
    if account.disabled:
        raise ApiflagError(f"account {account.name}: disabled")
    claimed = os.environ.get("APIFLAG_USER", "").strip()
    if claimed and claimed != account.name:
        raise ApiflagError(
            f"APIFLAG_USER={claimed}: login {login} is account {account.name}; "
            "you cannot act as another account"
        )
    return account
