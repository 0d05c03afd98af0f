"""The queue database's side of retention: flags by night, holds, masking and deleting rows.

Retention is the one writer besides :mod:`apiflag.queue.store` that updates queue rows: it masks
the personal columns of a masked night's flags and every row hanging off them, and deletes the
rows of a deleted night. It never touches the audit log.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.privacy import store
from apiflag.privacy.keys import is_pseudonym
from apiflag.privacy.masking import PersonalDictionary, quoted_values
from apiflag.privacy.policy import REDACT, kind_by_name, sweepable

__all__ = [
    "AUDIT_TABLES",
    "HELD_STATUSES",
    "audit",
    "close_case",
    "delete_queue",
    "flags_frame",
    "mask_queue",
    "night_tables",
    "place_hold",
    "queue_tables",
]

HELD_STATUSES = frozenset({"hearing", "victim_support"})
"""Decisions whose traveller may be held readable for an open case."""
AUDIT_TABLES = frozenset({"audit_events", "audit_log", "audit"})
"""Tables retention never changes."""


def audit(engine: Engine, actor: str, action: str, obj: str, details: dict[str, Any]) -> None:
    """Append one retention event to the audit chain (ids and counts only)."""
    append_event(engine, actor, action, obj, details)


def queue_tables(engine: Engine) -> dict[str, sa.Table]:
    """Reflect the queue engineer's tables that hang off a flag (never the audit log)."""
    meta = sa.MetaData()
    names = [
        n
        for n in sa.inspect(engine).get_table_names()
        if n not in AUDIT_TABLES and n not in store.PRIVACY_TABLES
    ]
    if not names:
        return {}
    meta.reflect(engine, only=names)
    return {name: table for name, table in meta.tables.items() if "flag_id" in table.c}


def night_tables(engine: Engine) -> list[sa.Table]:
    """Reflect queue tables keyed by night alone (``night_runs``): deleted with their night."""
    meta = sa.MetaData()
    names = [
        n
        for n in sa.inspect(engine).get_table_names()
        if n not in AUDIT_TABLES and n not in store.PRIVACY_TABLES
    ]
    if names:
        meta.reflect(engine, only=names)
    return [t for t in meta.tables.values() if "night" in t.c and "flag_id" not in t.c]


def flags_frame(conn: Connection, tables: dict[str, sa.Table]) -> pd.DataFrame:
    """Return ``flag_id, night, traveller_id, status`` of every flag (night as ISO text)."""
    flags = tables.get("flags")
    if flags is None or "night" not in flags.c:
        return pd.DataFrame(columns=["flag_id", "night", "traveller_id", "status"])
    cols = [flags.c[c] for c in ("flag_id", "night", "traveller_id", "status") if c in flags.c]
    frame = pd.DataFrame(conn.execute(sa.select(*cols)).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["flag_id", "night", "traveller_id", "status"])
    frame["night"] = frame["night"].map(lambda v: str(v)[:10])
    return frame


def place_hold(flag_id: str, case_ref: str, actor: str, db_url: str | None = None) -> None:
    """Keep a decided flag's traveller unmasked until the case ``case_ref`` is closed.

    Args:
        flag_id: a flag decided ``hearing`` or ``victim_support``.
        case_ref: the case reference of the authority handling it.
        actor: who placed the hold (recorded in the audit log).
        db_url: the queue database (default :func:`apiflag.config.db_url`).

    Raises:
        ApiflagError: the flag is unknown, not decided hearing or victim_support, or the case
            reference is empty.
    """
    if not case_ref.strip():
        raise ApiflagError(f"flag {flag_id}: a hold needs a case reference")
    engine = store.engine(db_url)
    with engine.begin() as conn:
        flags = flags_frame(conn, queue_tables(engine))
        row = flags[flags["flag_id"] == flag_id]
        if row.empty:
            raise ApiflagError(f"flag {flag_id}: no such flag in {engine.url.render_as_string()}")
        status = str(row.iloc[0].get("status", ""))
        if status not in HELD_STATUSES:
            raise ApiflagError(
                f"flag {flag_id}: status {status!r}: only flags decided hearing or "
                "victim_support can be held for a case"
            )
        conn.execute(store.holds.delete().where(store.holds.c.flag_id == flag_id))
        conn.execute(
            store.holds.insert().values(
                flag_id=flag_id, case_ref=case_ref, placed_by=actor, placed_at=store.now()
            )
        )
    audit(engine, actor, "retention.hold", f"flag:{flag_id}", {"case_ref": case_ref})


def close_case(case_ref: str, actor: str, db_url: str | None = None) -> int:
    """Close every hold of ``case_ref``; the next retention run masks their travellers.

    Args:
        case_ref: the case reference.
        actor: who closed it (recorded in the audit log).
        db_url: the queue database.

    Returns:
        How many holds were closed.

    Raises:
        ApiflagError: no open hold carries this case reference.
    """
    engine = store.engine(db_url)
    with engine.begin() as conn:
        result = conn.execute(
            store.holds.update()
            .where(store.holds.c.case_ref == case_ref, store.holds.c.closed_at.is_(None))
            .values(closed_at=store.now())
        )
        closed = int(result.rowcount or 0)
    if not closed:
        raise ApiflagError(f"case {case_ref}: no open hold carries this case reference")
    audit(engine, actor, "retention.close_case", f"case:{case_ref}", {"holds_closed": closed})
    return closed


def mask_queue(
    conn: Connection,
    tables: dict[str, sa.Table],
    flag_ids: list[str],
    dictionary: PersonalDictionary,
) -> int:
    """Mask the personal and free-text columns of the flags' rows in every table; return cells."""
    changed = 0
    if not flag_ids:
        return 0
    _collect_quoted(conn, tables, flag_ids, dictionary)
    for table in tables.values():
        text_cols = [
            c
            for c in table.c
            if isinstance(c.type, sa.String | sa.Text) and not c.primary_key and c.name != "flag_id"
        ]
        if "masked" in table.c:
            pk_and_flag = [table.c.masked]
        else:
            pk_and_flag = []
        if not text_cols:
            continue
        pk = list(table.primary_key.columns) or [table.c.flag_id]
        for start in range(0, len(flag_ids), 500):
            chunk = flag_ids[start : start + 500]
            rows = (
                conn.execute(
                    sa.select(*pk, *text_cols, *pk_and_flag).where(table.c.flag_id.in_(chunk))
                )
                .mappings()
                .all()
            )
            for row in rows:
                updates: dict[str, Any] = {}
                for column in text_cols:
                    value = row[column.name]
                    if not isinstance(value, str) or not value or is_pseudonym(value):
                        continue
                    kind = kind_by_name(column.name)
                    length = getattr(column.type, "length", None) or 10**6
                    if kind == REDACT or kind in {"dob", "date"}:
                        if kind != REDACT:
                            dictionary.add(kind, value)
                        updates[column.name] = None if column.nullable else ""
                    elif kind is not None:
                        token = dictionary.add(kind, value)
                        fits = token is not None and len(token) <= length
                        updates[column.name] = token if fits else None
                    elif sweepable(column.name):
                        new, n = dictionary.mask_text(value)
                        if n:
                            updates[column.name] = new
                if updates and "masked" in table.c and isinstance(table.c.masked.type, sa.Boolean):
                    updates["masked"] = True
                if updates:
                    where = [c == row[c.name] for c in pk]
                    if not table.primary_key.columns:
                        where += [table.c[k] == row[k] for k in updates]
                    conn.execute(table.update().where(*where).values(**updates))
                    changed += len(updates)
    return changed


def _collect_quoted(
    conn: Connection,
    tables: dict[str, sa.Table],
    flag_ids: list[str],
    dictionary: PersonalDictionary,
) -> None:
    """Add the values the flags' identity explanations quote (before any sentence is swept)."""
    for table in tables.values():
        if not {"sentence", "observed", "source_id"} <= set(table.c.keys()):
            continue
        for start in range(0, len(flag_ids), 500):
            chunk = flag_ids[start : start + 500]
            query = sa.select(table.c.source_id, table.c.observed).where(table.c.flag_id.in_(chunk))
            for source_id, observed in conn.execute(query):
                for kind, value in quoted_values(source_id, observed):
                    dictionary.add(kind, value)


def delete_queue(conn: Connection, tables: dict[str, sa.Table], flag_ids: list[str]) -> int:
    """Delete the flags' rows in every table (children first) and their holds; return rows."""
    deleted = 0
    meta_order = sorted(tables.values(), key=lambda t: t.name == "flags")  # children first
    for table in meta_order:
        for start in range(0, len(flag_ids), 500):
            chunk = flag_ids[start : start + 500]
            deleted += int(
                conn.execute(table.delete().where(table.c.flag_id.in_(chunk))).rowcount or 0
            )
    conn.execute(store.holds.delete().where(store.holds.c.flag_id.in_(flag_ids)))
    return deleted
