"""The audit log: append-only, SHA-256 hash-chained, in the queue database.

Decides what an audit event is and how the chain is checked:

* each event is ``(seq, time, actor, action, object, details, prev_hash, hash)``; ``hash`` is
  SHA-256 over the canonical JSON of ``{seq, time, actor, action, object, details}`` (sorted keys,
  no spaces, UTF-8) followed by ``prev_hash``; the first event's ``prev_hash`` is 64 zeros;
* events are only ever appended: ``seq`` is the primary key (a second writer that read the same
  head fails instead of forking the chain), appends take a write lock first (``BEGIN IMMEDIATE``
  on SQLite, a transaction-scoped advisory lock on PostgreSQL), and database triggers refuse
  ``UPDATE`` and ``DELETE`` on the table;
* :func:`verify` walks the chain and names the first event whose sequence, link or content does
  not add up. (Removing the newest events leaves a shorter valid chain: the nightly report prints
  the head hash so an outside copy can anchor it.)

Details must not carry personal data: log ids and counts, never names (they are kept after the
personal data is masked). Callers log: every queue insert, every view of a flag's personal data,
every decision, model promotion, retention action and re-identification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time as _time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DDL,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from apiflag.records import AuditEvent

__all__ = [
    "AUDIT_METADATA",
    "GENESIS",
    "ChainCheck",
    "append_event",
    "audit_events",
    "audit_ready",
    "check_chain",
    "count_events",
    "event_hash",
    "read_events",
    "verify",
]

GENESIS = "0" * 64
_LOCK_KEY = 0x61706966  # "apif": advisory lock id for appends on PostgreSQL

AUDIT_METADATA = MetaData()
audit_events = Table(
    "audit_events",
    AUDIT_METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("object", String(300), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

event.listen(
    audit_events,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    audit_events,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    audit_events,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql; "
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    ).execute_if(dialect="postgresql"),
)

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def audit_ready(engine: Engine) -> None:
    """Note that ``engine``'s database already has the audit table (skips the check per event)."""
    _ready.add(engine)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    seq: int,
    time: str,
    actor: str,
    action: str,
    object: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """Return the SHA-256 hex digest that chains one event to the previous one.

    Args:
        seq: the event's sequence number (1 for the first).
        time: the event time exactly as stored (ISO 8601, UTC).
        actor: who acted.
        action: what was done (``queue.insert``, ``flag.view``, ``queue.decide`` ...).
        object: what it was done to (a flag id, a model version, a night).
        details: JSON-serialisable details.
        prev_hash: the previous event's hash (``GENESIS`` for the first).

    Returns:
        64 lower-case hex characters.
    """
    body = _canonical(
        {
            "seq": seq,
            "time": time,
            "actor": actor,
            "action": action,
            "object": object,
            "details": details,
        }
    )
    return hashlib.sha256((body + prev_hash).encode("utf-8")).hexdigest()


def _ensure(engine: Engine) -> None:
    if engine in _ready:
        return
    AUDIT_METADATA.create_all(engine, checkfirst=True)
    _ready.add(engine)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def _append(
    conn: Connection,
    actor: str,
    action: str,
    object: str,
    details: Mapping[str, Any],
    when: dt.datetime | None,
) -> AuditEvent:
    _lock(conn)
    head = conn.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    seq = 1 if head is None else int(head.seq) + 1
    prev = GENESIS if head is None else str(head.hash)
    moment = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = moment.isoformat(timespec="microseconds")
    clean = json.loads(_canonical(dict(details)))
    digest = event_hash(seq, stamp, actor, action, object, clean, prev)
    conn.execute(
        audit_events.insert().values(
            seq=seq,
            time=stamp,
            actor=actor,
            action=action,
            object=object,
            details=_canonical(clean),
            prev_hash=prev,
            hash=digest,
        )
    )
    return AuditEvent(
        seq=seq,
        time=moment,
        actor=actor,
        action=action,
        object=object,
        details=clean,
        prev_hash=prev,
        hash=digest,
    )


def append_event(
    bind: Engine | Connection,
    actor: str,
    action: str,
    object: str,
    details: Mapping[str, Any] | None = None,
    *,
    when: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain.

    Pass a :class:`~sqlalchemy.Connection` inside your own transaction to make the event part
    of the change it records (the event is then written or rolled back with it); pass an
    :class:`~sqlalchemy.Engine` to append in a transaction of its own.

    Args:
        bind: an engine (see :func:`apiflag.queue.store.open_engine`) or a connection in a
            transaction.
        actor: who acted (an analyst, an approver, ``apiflag-nightly``).
        action: dotted verb, e.g. ``queue.insert``, ``flag.view``, ``queue.decide``,
            ``model.promote``, ``retention.mask``, ``privacy.reidentify``.
        object: the id acted on.
        details: ids and counts as JSON (no personal data).
        when: the event time (default now, UTC).

    Returns:
        The stored :class:`~apiflag.records.AuditEvent`.

    Raises:
        ValueError: ``actor`` or ``action`` is empty, or details are not JSON-serialisable.
    """
    if not actor or not action:
        raise ValueError("audit: actor and action must not be empty")
    payload = dict(details or {})
    try:
        _canonical(payload)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit: details are not JSON: {exc}") from exc
    if isinstance(bind, Connection):
        if bind.engine not in _ready:
            AUDIT_METADATA.create_all(bind, checkfirst=True)
        return _append(bind, actor, action, object, payload, when)
    _ensure(bind)
    for attempt in range(20):
        try:
            with bind.begin() as conn:
                return _append(conn, actor, action, object, payload, when)
        except (IntegrityError, OperationalError):
            # another writer took the same seq (or held the lock): read the new head and retry
            if attempt == 19:
                raise
            _time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ChainCheck:
    """The result of walking the chain.

    Attributes:
        checked: events read.
        broken_seq: the first event that does not add up, or None.
        reason: why it does not (empty when intact).
        head_seq: the last event's seq (0 for an empty log).
        head_hash: the last event's hash (``GENESIS`` for an empty log).
        broken_action: the broken event's action, for the message.
        broken_object: the broken event's object.
    """

    checked: int
    broken_seq: int | None
    reason: str
    head_seq: int
    head_hash: str
    broken_action: str = ""
    broken_object: str = ""


def check_chain(bind: Engine | Connection) -> ChainCheck:
    """Walk the whole chain in order and report the first broken event.

    Args:
        bind: an engine or connection on the queue database.

    Returns:
        A :class:`ChainCheck`.
    """
    if isinstance(bind, Engine):
        _ensure(bind)
        with bind.connect() as conn:
            return _walk(conn)
    return _walk(bind)


def _walk(conn: Connection) -> ChainCheck:
    prev = GENESIS
    expected = 1
    checked = 0
    result = conn.execution_options(yield_per=2000).execute(
        select(audit_events).order_by(audit_events.c.seq)
    )
    for row in result:
        checked += 1

        def broken(reason: str, row: Any = row, checked: int = checked) -> ChainCheck:
            return ChainCheck(
                checked, int(row.seq), reason, int(row.seq), str(row.hash), row.action, row.object
            )

        if row.seq != expected:
            return broken(f"sequence jumps from {expected - 1} to {row.seq} (events removed)")
        if row.prev_hash != prev:
            return broken("prev_hash does not match the previous event's hash")
        try:
            details = json.loads(row.details)
        except ValueError:
            return broken("details are not valid JSON")
        digest = event_hash(
            row.seq, row.time, row.actor, row.action, row.object, details, row.prev_hash
        )
        if digest != row.hash:
            return broken("hash does not match the event's content")
        prev = str(row.hash)
        expected += 1
    return ChainCheck(checked, None, "", expected - 1, prev)


def _filtered(query: Any, object: str | None, action: str | None) -> Any:
    if object is not None:
        query = query.where(audit_events.c.object == object)
    if action is not None:
        query = query.where(
            (audit_events.c.action == action)
            | audit_events.c.action.startswith(f"{action}.", autoescape=True)
        )
    return query


def count_events(
    bind: Engine | Connection, *, object: str | None = None, action: str | None = None
) -> int:
    """Return how many events :func:`read_events` would return without a limit."""
    query = _filtered(select(func.count()).select_from(audit_events), object, action)
    if isinstance(bind, Engine):
        _ensure(bind)
        with bind.connect() as conn:
            return int(conn.execute(query).scalar_one())
    return int(bind.execute(query).scalar_one())


def read_events(
    bind: Engine | Connection,
    *,
    object: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Return events in chain order, optionally only one object's or one action's.

    Args:
        bind: an engine or connection on the queue database.
        object: only events about this id (a flag, a night, a model version).
        action: only this action, or actions starting with it followed by a dot
            (``queue`` matches ``queue.decide``).
        limit: only the newest ``limit`` events (still returned oldest first).

    Returns:
        The events as :class:`~apiflag.records.AuditEvent` records.
    """
    query = _filtered(select(audit_events), object, action)
    query = query.order_by(audit_events.c.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    if isinstance(bind, Engine):
        _ensure(bind)
        with bind.connect() as conn:
            rows = conn.execute(query).all()
    else:
        rows = bind.execute(query).all()
    return [
        AuditEvent(
            seq=r.seq,
            time=dt.datetime.fromisoformat(r.time),
            actor=r.actor,
            action=r.action,
            object=r.object,
            details=json.loads(r.details),
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in reversed(rows)
    ]


def verify(bind: Engine | Connection) -> int | None:
    """Return the seq of the first broken event, or None when the chain is intact.

    Args:
        bind: an engine or connection on the queue database.

    Returns:
        The first broken event's seq, or None.
    """
    return check_chain(bind).broken_seq
