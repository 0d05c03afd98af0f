"""The one way apiflag opens a SQL database (queue, audit, privacy vault, case database).

Every SQLite connection gets the pragmas the stores rely on:

* ``foreign_keys=ON``: contributions and dispositions cannot outlive their flag;
* ``busy_timeout=30000``: a second process waits for the lock instead of failing at once;
* ``secure_delete=ON``: masked or deleted personal data does not linger in free pages.

With ``write_lock`` (the queue database, whose audit chain must not fork) a SQLite transaction
takes the write lock when it begins (``BEGIN IMMEDIATE``), so two writers queue up. PostgreSQL
gets ``pool_pre_ping``; its audit chain is serialised by an advisory lock (:mod:`apiflag.audit`).
MLflow's store is MLflow's own business and is not opened here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event

from apiflag.errors import ApiflagError

__all__ = ["SQLITE_PRAGMAS", "make_engine", "safe_url"]

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("foreign_keys", "ON"),
    ("busy_timeout", "30000"),
    ("secure_delete", "ON"),
)


def safe_url(url: str) -> str:
    """Return ``url`` without its password (for messages)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def make_engine(url: str, *, write_lock: bool = False, what: str = "database") -> Engine:
    """Return an engine on ``url`` with apiflag's connection settings.

    Args:
        url: a SQLAlchemy URL.
        write_lock: SQLite only: begin every transaction with ``BEGIN IMMEDIATE``.
        what: the database's name in error messages (``queue database``, ``case database``).

    Raises:
        ApiflagError: the URL is not usable (one line, password hidden).
    """
    try:
        if not url.startswith("sqlite"):
            return sa.create_engine(url, pool_pre_ping=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ApiflagError(f"{what}: invalid URL {safe_url(url)!r}: {exc}") from exc

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        if write_lock:
            dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for name, value in SQLITE_PRAGMAS:
            cur.execute(f"PRAGMA {name}={value}")
        cur.close()

    if write_lock:

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
