"""The review queue in SQL: flags, their explanations, every status change, and the audit log.

Decides how the queue is kept (SQLAlchemy Core, SQLite under ``$APIFLAG_HOME`` by default,
PostgreSQL when ``APIFLAG_DB_URL`` says so) and guarantees:

* **idempotent nights**: ``flag_id`` is deterministic, so saving a night again never duplicates
  an item; a flag still ``new`` is refreshed when its score changed, a flag someone has taken
  into review or decided is never touched;
* **one transaction per change**: a night's flags, contributions and audit events, or a
  decision and its audit event, are written together or not at all;
* **a recorded person decides**: states ``new -> in_review -> hearing | victim_support |
  cleared``; each change stores reason code, analyst and note in ``dispositions``; a decided
  flag is re-opened (back to ``in_review``) only explicitly, and that is audited too;
* **personal data in few, named columns**: ``PERSONAL_COLUMNS`` lists every column that holds
  it (for masking and retention); everything else is ids, scores, versions and codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from apiflag import config
from apiflag.audit import AUDIT_METADATA, append_event, audit_ready
from apiflag.db import make_engine, safe_url
from apiflag.errors import ApiflagError
from apiflag.provenance import combined_digest
from apiflag.queue.combine import CombineResult
from apiflag.queue.reasons import REVIEW, check_reason
from apiflag.records import Disposition, Flag

__all__ = [
    "DECIDED",
    "METADATA",
    "PERSONAL_COLUMNS",
    "STATUSES",
    "SaveReport",
    "contributions",
    "decide",
    "dispositions",
    "flags",
    "get_flag",
    "list_flags",
    "night_runs",
    "open_engine",
    "reopen",
    "save_night",
    "start_review",
]

STATUSES: tuple[str, ...] = ("new", "in_review", "hearing", "victim_support", "cleared")
DECIDED: frozenset[str] = frozenset({"hearing", "victim_support", "cleared"})
Double = Float(precision=53)

METADATA = MetaData()
flags = Table(
    "flags",
    METADATA,
    Column("flag_id", String(40), primary_key=True),
    Column("night", Date, nullable=False, index=True),
    Column("traveller_id", String(100), nullable=False),
    Column("track", String(24), nullable=False),
    Column("total", Double, nullable=False),
    Column("probability", Double, comment="fitted outcome probability; null without a champion"),
    Column("outcome_log_odds", Double),
    Column("match_probability", Double, comment="identity: is the traveller the case person"),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("rules_digest", String(100), nullable=False),
    Column("model_uri", String(300)),
    Column("model_version", String(50)),
    Column("matcher_version", String(50), nullable=False),
    Column("parser_version", String(50), nullable=False),
    # SHA-256 over every stage's code digest (migration 1; NULL on flags written before it)
    Column("code_digest", String(64)),
    Column("input_messages", Text, nullable=False, comment="JSON list of SHA-256"),
    Column("flight", String(16), nullable=False),
    # personal data: masked by retention, shown only through audited views
    Column("person_surname", String(200)),
    Column("person_given_names", String(200)),
    Column("person_date_of_birth", String(10)),
    Column("person_document_number", String(40)),
    # protected attributes, for the fairness monitor and statistics only
    Column("monitor_nationality", String(3)),
    Column("monitor_sex", String(1)),
    Column("monitor_age_band", String(8)),
    # the traveller's fields the feed could not be read in (JSON list of field names, no value)
    Column("degraded", Text),
    Column("masked", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
contributions = Table(
    "contributions",
    METADATA,
    Column("flag_id", String(40), ForeignKey("flags.flag_id"), primary_key=True),
    Column("ord", Integer, primary_key=True, autoincrement=False),
    Column("source", String(16), nullable=False),
    Column("column", String(16), comment="policy, outcome or identity; null before migration 1"),
    Column("source_id", String(200), nullable=False),
    Column("weight", Double, nullable=False),
    Column("sentence", Text, nullable=False),
    Column("observed", Text, comment="personal data"),
    Column("rationale", Text),
    Column("against", Text, nullable=False, comment="JSON list of exonerating conditions"),
)
dispositions = Table(
    "dispositions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flag_id", String(40), ForeignKey("flags.flag_id"), nullable=False, index=True),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("reason_code", String(50), nullable=False),
    Column("analyst", String(200), nullable=False),
    Column("note", Text, comment="free text: may hold personal data"),
    Column("at", DateTime(timezone=True), nullable=False),
)
night_runs = Table(
    "night_runs",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("night", Date, nullable=False, index=True),
    Column("run_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
    Column("queued", Integer, nullable=False),
    Column("overflow", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("rules_digest", String(100), nullable=False),
    Column("model_uri", String(300)),
    Column("model_version", String(50)),
    # migration 1: what the run used (NULL on runs recorded before it)
    Column("code_digest", String(64)),
    Column("code_digests", Text, comment="JSON {stage: code digest}"),
    Column("settings", Text, comment="JSON of the settings the run used"),
)
schema_migrations = Table(
    "schema_migrations",
    METADATA,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _add_columns(conn: Connection, table: Table, names: tuple[str, ...]) -> None:
    """Add ``names`` (as declared on ``table``) to an existing table that lacks them."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name in have:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        quoted = conn.dialect.identifier_preparer.quote(name)  # "column" is a reserved word
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {quoted} {kind}")


def _migration_1(conn: Connection) -> None:
    _add_columns(conn, flags, ("code_digest",))
    _add_columns(conn, night_runs, ("code_digest", "code_digests", "settings"))


def _migration_2(conn: Connection) -> None:
    _add_columns(conn, flags, ("outcome_log_odds", "match_probability"))
    _add_columns(conn, contributions, ("column",))
    if conn.dialect.name != "sqlite":  # SQLite: rebuilt by _relax_sqlite before the transaction
        conn.exec_driver_sql("ALTER TABLE flags ALTER COLUMN probability DROP NOT NULL")


def _relax_sqlite(engine: Engine) -> None:
    """Rebuild SQLite's ``flags`` to the declared table when its ``probability`` is NOT NULL.

    SQLite cannot relax a constraint in place; this is its documented recipe (foreign keys
    off, new table, copy every row, drop, rename, indexes, foreign-key check) in one
    transaction, with the columns both tables have copied and the new ones left null.
    """
    if engine.dialect.name != "sqlite":
        return
    insp = inspect(engine)
    if "flags" not in insp.get_table_names():
        return
    old = {c["name"]: c["nullable"] for c in insp.get_columns("flags")}
    if old.get("probability", True):
        return
    cols = ", ".join(f'"{c.name}"' for c in flags.columns if c.name in old)
    create = str(CreateTable(flags).compile(engine)).replace(
        "CREATE TABLE flags ", "CREATE TABLE flags__new ", 1
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(create)
            cur.execute(f"INSERT INTO flags__new ({cols}) SELECT {cols} FROM flags")
            cur.execute("DROP TABLE flags")
            cur.execute("ALTER TABLE flags__new RENAME TO flags")
            for index in flags.indexes:
                cur.execute(str(CreateIndex(index).compile(engine)))
            if cur.execute("PRAGMA foreign_key_check").fetchall():
                raise ApiflagError("queue database: foreign key check failed rebuilding flags")
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    finally:
        raw.close()


def _migration_3(conn: Connection) -> None:
    # migration 2 rebuilds an SQLite ``flags`` from today's declaration, which has it already
    if "degraded" not in {c["name"] for c in inspect(conn).get_columns("flags")}:
        conn.exec_driver_sql("ALTER TABLE flags ADD COLUMN degraded TEXT")


#: Versioned changes to a queue database written by an earlier build, applied in order once.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "content-derived code digests on flags; settings and digests on night_runs", _migration_1),
    (
        2,
        "evidence contract: nullable probability, outcome log-odds and match probability on "
        "flags, the explanation column of contributions",
        _migration_2,
    ),
    (3, "the fields each flagged traveller's feed could not be read in", _migration_3),
)

PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "flags": (
        "person_surname",
        "person_given_names",
        "person_date_of_birth",
        "person_document_number",
    ),
    "contributions": ("sentence", "observed"),  # identity rows name both sides
    "dispositions": ("note",),
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_engine(url: str | None = None) -> Engine:
    """Open the queue database and create its tables when missing.

    SQLite connections take the write lock when a transaction begins (``BEGIN IMMEDIATE``),
    so two processes appending to the audit chain queue up instead of forking it.

    Args:
        url: a SQLAlchemy URL; default :func:`apiflag.config.db_url`.

    Returns:
        An engine with the ``flags``, ``contributions``, ``dispositions``, ``night_runs`` and
        ``audit_events`` tables present.

    Raises:
        ApiflagError: the URL is invalid or the database cannot be reached.
    """
    target = url or config.db_url()
    engine = make_engine(target, write_lock=True, what="queue database")
    try:
        migrate(engine)
        audit_ready(engine)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).splitlines() or [""])[0]
        raise ApiflagError(
            f"queue database {safe_url(target)}: {type(cause).__name__}: {first}"
        ) from exc
    return engine


def migrate(engine: Engine) -> list[int]:
    """Create missing tables and apply the :data:`MIGRATIONS` an existing database lacks.

    A new database gets every table as declared and each migration is only recorded; a
    database written by an earlier build is changed by each migration it has not had, in
    order, in one transaction, and each is recorded in ``schema_migrations``.

    Returns:
        The versions applied to an existing database now (empty for a new or current one).
    """
    applied: list[int] = []
    _relax_sqlite(engine)  # part of migration 2, which SQLite cannot do inside a transaction
    with engine.begin() as conn:
        existed = "flags" in inspect(conn).get_table_names()
        METADATA.create_all(conn, checkfirst=True)
        AUDIT_METADATA.create_all(conn, checkfirst=True)
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
        for version, name, step in MIGRATIONS:
            if version in done:
                continue
            if existed:
                step(conn)
                applied.append(version)
            conn.execute(
                schema_migrations.insert().values(version=version, name=name, applied_at=_now())
            )
    return applied


@dataclass(frozen=True)
class SaveReport:
    """What saving a night did.

    Attributes:
        night: the night.
        inserted: new flags.
        updated: flags still ``new`` whose score, priority or explanation changed.
        unchanged: flags already stored exactly so.
        kept: flags left alone because someone took them into review or decided them.
        overflow: flagged travellers that capacity kept out.
    """

    night: dt.date
    inserted: int
    updated: int
    unchanged: int
    kept: int
    overflow: int


_COMPARED = ("track", "total", "probability", "outcome_log_odds", "match_probability",
             "priority", "rules_digest", "model_uri", "model_version", "code_digest",
             "input_messages")  # fmt: skip


def save_night(
    engine: Engine,
    result: CombineResult,
    *,
    actor: str = "apiflag-nightly",
    settings: Mapping[str, Any] | None = None,
) -> SaveReport:
    """Store a combined night's queued flags in one transaction, idempotently.

    Args:
        engine: from :func:`open_engine`.
        result: the output of :func:`apiflag.queue.combine.combine`.
        actor: who is saving (the flow's name), for the audit log.
        settings: the settings the run used (:meth:`apiflag.settings.Settings.record`),
            recorded in ``night_runs``.

    Returns:
        A :class:`SaveReport`.
    """
    people = result.people.set_index("flag_id") if len(result.people) else None
    rows_by = (
        {k: g for k, g in result.contributions.groupby("flag_id")}
        if len(result.contributions)
        else {}
    )
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "kept": 0}
    now = _now()
    with engine.begin() as conn:
        for flag in result.flags:
            person = people.loc[flag.flag_id] if people is not None else None
            values = _flag_values(flag, person)
            contrib = _contribution_rows(flag.flag_id, rows_by[flag.flag_id])
            counts[_save_flag(conn, actor, flag, values, contrib, now)] += 1
        inserted, updated, unchanged, kept = (counts[k] for k in counts)
        conn.execute(
            night_runs.insert().values(
                night=result.night,
                run_at=now,
                capacity=result.capacity,
                flagged=int(result.travellers["flagged"].sum()),
                queued=len(result.flags),
                overflow=result.overflow,
                inserted=inserted,
                updated=updated,
                kept=kept,
                rules_digest=result.rules_digest,
                model_uri=result.model_uri,
                model_version=result.model_version,
                code_digest=combined_digest(result.code_digests) if result.code_digests else None,
                code_digests=json.dumps(result.code_digests, sort_keys=True),
                settings=None if settings is None else json.dumps(dict(settings), sort_keys=True),
            )
        )
        append_event(
            conn,
            actor,
            "queue.night",
            result.night.isoformat(),
            {
                "queued": len(result.flags),
                "overflow": result.overflow,
                "inserted": inserted,
                "updated": updated,
                "unchanged": unchanged,
                "kept": kept,
            },
        )
    return SaveReport(result.night, inserted, updated, unchanged, kept, result.overflow)


def _flag_values(flag: Flag, person: Any) -> dict[str, Any]:
    """The ``flags`` row of a queued flag (``person``: its traveller's row, or None)."""

    def text(column: str) -> str | None:
        return _text(person[column]) if person is not None else None

    return {
        "flag_id": flag.flag_id,
        "night": flag.night,
        "traveller_id": flag.traveller_id,
        "track": flag.track,
        "total": flag.total,
        "probability": flag.probability,
        "outcome_log_odds": flag.outcome_log_odds,
        "match_probability": flag.match_probability,
        "priority": flag.priority,
        "rules_digest": flag.rules_digest,
        "model_uri": flag.model_uri,
        "model_version": flag.model_version,
        "matcher_version": flag.matcher_version,
        "parser_version": flag.parser_version,
        "code_digest": flag.code_digest,
        "input_messages": json.dumps(list(flag.input_messages)),
        "flight": _text(person["flight"]) if person is not None else "",
        "person_surname": text("surname"),
        "person_given_names": text("given_names"),
        "person_date_of_birth": text("date_of_birth"),
        "person_document_number": text("document_number"),
        "monitor_nationality": text("nationality"),
        "monitor_sex": text("sex"),
        "monitor_age_band": text("age_band"),
        "degraded": _text(person.get("degraded")) if person is not None else None,
    }


def _contribution_rows(flag_id: str, rows: Any) -> list[dict[str, Any]]:
    """The ``contributions`` rows of one flag from its explanation frame."""
    return [
        {
            "flag_id": flag_id,
            "ord": int(r["order"]),
            "source": r["source"],
            "column": r["column"],
            "source_id": r["source_id"],
            "weight": float(r["weight"]),
            "sentence": r["sentence"],
            "observed": _text(r["observed"]),
            "rationale": _text(r["rationale"]),
            "against": r["against"] or "[]",
        }
        for r in rows.to_dict("records")
    ]


def _save_flag(
    conn: Connection,
    actor: str,
    flag: Flag,
    values: dict[str, Any],
    contrib: list[dict[str, Any]],
    now: dt.datetime,
) -> str:
    """Insert, refresh or keep one flag; say which (``inserted``, ``updated``, ...).

    A flag someone has taken into review or decided is never touched (``kept``).
    """
    old = conn.execute(select(flags).where(flags.c.flag_id == flag.flag_id)).first()
    summary = {
        "night": flag.night.isoformat(),
        "track": flag.track,
        "priority": flag.priority,
        "probability": None if flag.probability is None else round(flag.probability, 6),
        "policy_score": round(flag.total, 6),
        "rules_digest": flag.rules_digest,
        "model_version": flag.model_version,
    }
    if old is None:
        conn.execute(
            flags.insert().values(
                **values, status="new", masked=False, created_at=now, updated_at=now
            )
        )
        conn.execute(contributions.insert(), contrib)
        append_event(conn, actor, "queue.insert", flag.flag_id, summary)
        return "inserted"
    if old.status != "new":
        return "kept"
    if all(_same(getattr(old, c), values[c]) for c in _COMPARED) and _same_rows(
        conn, flag.flag_id, contrib
    ):
        return "unchanged"
    # only while still new: an analyst may have taken it since we read it
    changed = conn.execute(
        update(flags)
        .where(flags.c.flag_id == flag.flag_id, flags.c.status == "new")
        .values(**values, updated_at=now)
    )
    if changed.rowcount != 1:
        return "kept"
    conn.execute(delete(contributions).where(contributions.c.flag_id == flag.flag_id))
    conn.execute(contributions.insert(), contrib)
    append_event(conn, actor, "queue.update", flag.flag_id, summary)
    return "updated"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    return (a if a is not None else None) == (b if b is not None else None)


def _same_rows(conn: Connection, flag_id: str, rows: list[dict[str, Any]]) -> bool:
    stored = [
        dict(r._mapping)
        for r in conn.execute(
            select(contributions)
            .where(contributions.c.flag_id == flag_id)
            .order_by(contributions.c.ord)
        )
    ]
    return stored == rows


@contextmanager
def _flag_row(engine: Engine, flag_id: str) -> Iterator[tuple[Connection, Any]]:
    with engine.begin() as conn:
        row = conn.execute(select(flags).where(flags.c.flag_id == flag_id)).first()
        if row is None:
            raise ApiflagError(f"no flag {flag_id!r} (see `apiflag queue list`)")
        yield conn, row


def _change(
    conn: Connection,
    row: Any,
    to_status: str,
    reason: str,
    analyst: str,
    note: str | None,
    action: str,
) -> dt.datetime:
    at = _now()
    moved = conn.execute(
        update(flags)
        .where(flags.c.flag_id == row.flag_id, flags.c.status == row.status)
        .values(status=to_status, updated_at=at)
    )
    if moved.rowcount != 1:
        raise ApiflagError(
            f"flag {row.flag_id} changed while you were deciding (it is no longer {row.status}); "
            "look at it again"
        )
    conn.execute(
        dispositions.insert().values(
            flag_id=row.flag_id,
            from_status=row.status,
            to_status=to_status,
            reason_code=reason,
            analyst=analyst,
            note=note,
            at=at,
        )
    )
    append_event(
        conn,
        analyst,
        action,
        row.flag_id,
        {"from": row.status, "to": to_status, "reason": reason, "note_given": bool(note)},
        when=at,
    )
    return at


def _analyst(analyst: str) -> str:
    name = (analyst or "").strip()
    if not name:
        raise ApiflagError("an analyst name is required (--analyst NAME)")
    return name


def decide(
    engine: Engine,
    flag_id: str,
    outcome: str,
    reason: str,
    analyst: str,
    note: str | None = None,
) -> Disposition:
    """Record a human decision on a flag that is ``new`` or ``in_review``.

    Args:
        engine: from :func:`open_engine`.
        flag_id: the flag.
        outcome: ``hearing``, ``victim_support`` or ``cleared``.
        reason: a reason code of that outcome (:data:`apiflag.queue.reasons.REASONS`).
        analyst: who decides.
        note: free text (may hold personal data; masked by retention).

    Returns:
        The recorded :class:`~apiflag.records.Disposition`.

    Raises:
        ApiflagError: unknown outcome or reason (listing the allowed values), no such flag,
            or the flag is already decided (re-open it first).
    """
    check_reason(outcome, reason)
    who = _analyst(analyst)
    with _flag_row(engine, flag_id) as (conn, row):
        if row.status in DECIDED:
            raise ApiflagError(
                f"flag {flag_id} is already decided ({row.status}); "
                "re-open it first (`apiflag queue reopen`)"
            )
        at = _change(conn, row, outcome, reason, who, note, "queue.decide")
    return Disposition(
        flag_id=flag_id,
        outcome=outcome,
        reason_code=reason,
        analyst=who,
        note=note,
        decided_at=at,
    )


def reopen(
    engine: Engine, flag_id: str, reason: str, analyst: str, note: str | None = None
) -> Disposition:
    """Re-open a decided flag (back to ``in_review``); the earlier decision stays in the history.

    Args:
        engine: from :func:`open_engine`.
        flag_id: the flag.
        reason: a code of :data:`apiflag.queue.reasons.REOPEN`.
        analyst: who re-opens.
        note: why, in words.

    Returns:
        The recorded change (``outcome`` repeats the decision being re-opened).

    Raises:
        ApiflagError: unknown reason, no such flag, or the flag is not decided.
    """
    check_reason("reopen", reason)
    who = _analyst(analyst)
    with _flag_row(engine, flag_id) as (conn, row):
        if row.status not in DECIDED:
            raise ApiflagError(f"flag {flag_id} is {row.status}, not decided: nothing to re-open")
        previous = row.status
        at = _change(conn, row, "in_review", reason, who, note, "queue.reopen")
    return Disposition(
        flag_id=flag_id,
        outcome=previous,
        reason_code=reason,
        analyst=who,
        note=note,
        decided_at=at,
    )


def start_review(engine: Engine, flag_id: str, analyst: str) -> None:
    """Mark a ``new`` flag as taken into review by ``analyst`` (a rerun then leaves it alone).

    Raises:
        ApiflagError: no such flag, or it is not ``new``.
    """
    who = _analyst(analyst)
    with _flag_row(engine, flag_id) as (conn, row):
        if row.status != "new":
            raise ApiflagError(f"flag {flag_id} is {row.status}, not new")
        _change(conn, row, "in_review", next(iter(REVIEW)), who, None, "queue.review")


def list_flags(
    engine: Engine,
    night: dt.date | None = None,
    status: str | None = None,
    *,
    actor: str | None = None,
    role: str | None = None,
    track: str | None = None,
    flight: str | None = None,
) -> list[dict[str, Any]]:
    """Return queue items, best priority first (night, then priority).

    Args:
        engine: from :func:`open_engine`.
        night: only this night.
        status: only this status.
        actor: when given, the listing (which shows names) is recorded in the audit log.
        role: the role the actor acts in, recorded with the listing.
        track: only this track.
        flight: only this flight (carrier and number, e.g. ``PR428``).

    Returns:
        Items ``{flag_id, night, track, priority, policy_score, probability (None without a
        champion model), match_probability (identity; None without a case match), status,
        traveller: {surname, given_names, flight}}``.

    Raises:
        ApiflagError: unknown status.
    """
    if status is not None and status not in STATUSES:
        raise ApiflagError(f"unknown status {status!r}: allowed are {', '.join(STATUSES)}")
    query = select(flags).order_by(flags.c.night.desc(), flags.c.priority, flags.c.flag_id)
    if night is not None:
        query = query.where(flags.c.night == night)
    if status is not None:
        query = query.where(flags.c.status == status)
    if track is not None:
        query = query.where(flags.c.track == track)
    if flight is not None:
        query = query.where(flags.c.flight == flight)
    with engine.begin() as conn:
        items = [
            {
                "flag_id": r.flag_id,
                "night": r.night.isoformat(),
                "track": r.track,
                "priority": r.priority,
                "policy_score": r.total,
                "probability": r.probability,
                "match_probability": r.match_probability,
                "model_version": r.model_version,
                "status": r.status,
                "traveller": {
                    "surname": r.person_surname,
                    "given_names": r.person_given_names,
                    "flight": r.flight,
                },
            }
            for r in conn.execute(query)
        ]
        if actor:
            append_event(
                conn,
                actor,
                "queue.list",
                "queue",
                {
                    "night": night.isoformat() if night else None,
                    "status": status,
                    "track": track,
                    "flight": flight,
                    "items": len(items),
                    "role": role,
                },
            )
    return items


def get_flag(
    engine: Engine,
    flag_id: str,
    *,
    actor: str,
    action: str = "flag.view",
    role: str | None = None,
) -> dict[str, Any]:
    """Return one flag with its person, contributions and history, and audit the view.

    Args:
        engine: from :func:`open_engine`.
        flag_id: the flag.
        actor: who is looking (recorded: this is a view of personal data).
        action: the audit action (``flag.view`` for ``queue show``, ``flag.explain``).
        role: the role the actor acts in, recorded with the view.

    Returns:
        ``{flag: {...}, traveller: {...}, contributions: [...], history: [...]}``.

    Raises:
        ApiflagError: no such flag.
    """
    with _flag_row(engine, flag_id) as (conn, row):
        contrib = [
            dict(r._mapping)
            for r in conn.execute(
                select(contributions)
                .where(contributions.c.flag_id == flag_id)
                .order_by(contributions.c.ord)
            )
        ]
        history = [
            {
                "from": r.from_status,
                "to": r.to_status,
                "reason": r.reason_code,
                "analyst": r.analyst,
                "note": r.note,
                "at": _iso(r.at),
            }
            for r in conn.execute(
                select(dispositions)
                .where(dispositions.c.flag_id == flag_id)
                .order_by(dispositions.c.id)
            )
        ]
        append_event(conn, actor, action, flag_id, {"night": row.night.isoformat(), "role": role})
    return {
        "flag": {
            "flag_id": row.flag_id,
            "night": row.night.isoformat(),
            "traveller_id": row.traveller_id,
            "track": row.track,
            "total": row.total,
            "probability": row.probability,
            "outcome_log_odds": row.outcome_log_odds,
            "match_probability": row.match_probability,
            "priority": row.priority,
            "status": row.status,
            "rules_digest": row.rules_digest,
            "model_uri": row.model_uri,
            "model_version": row.model_version,
            "matcher_version": row.matcher_version,
            "parser_version": row.parser_version,
            "code_digest": row.code_digest,
            "input_messages": json.loads(row.input_messages),
            "masked": bool(row.masked),
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        },
        "traveller": {
            "surname": row.person_surname,
            "given_names": row.person_given_names,
            "date_of_birth": row.person_date_of_birth,
            "document_number": row.person_document_number,
            "flight": row.flight,
            "degraded": json.loads(row.degraded or "[]"),
        },
        "contributions": contrib,
        "history": history,
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()
