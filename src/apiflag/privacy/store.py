"""The privacy tables in the queue database: the vault, case holds and the retention ledger.

- ``privacy_vault(night, bucket, entries, ciphertext)``: the original of every value masked on
  a night, keyed by its pseudonym, Fernet-encrypted with the vault key
  (``$APIFLAG_HOME/secrets/vault.key``) in 256 buckets per night. Rows are deleted with their
  night at the maximum period. This is the only place an original survives masking, and only
  the vault key opens it.
- ``privacy_holds(flag_id, case_ref, placed_by, placed_at, closed_at)``: a flag decided
  ``hearing`` or ``victim_support`` that carries a case reference stays unmasked until its case is
  closed.
- ``privacy_nights(night, state, at, held)``: which nights are masked or deleted, and how many
  held travellers a masked night still keeps readable.

All three live beside the queue (``apiflag.config.db_url()``: SQLite by default, PostgreSQL when
``APIFLAG_DB_URL`` says so) so that one transaction can mask queue rows and write the vault.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Connection, Engine

from apiflag import config
from apiflag.db import make_engine
from apiflag.errors import ApiflagError
from apiflag.privacy.keys import secrets_dir, vault_cipher

metadata = sa.MetaData()

vault = sa.Table(
    "privacy_vault",
    metadata,
    sa.Column("night", sa.String(10), primary_key=True),
    sa.Column("bucket", sa.String(2), primary_key=True),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),
)

holds = sa.Table(
    "privacy_holds",
    metadata,
    sa.Column("flag_id", sa.String(128), primary_key=True),
    sa.Column("case_ref", sa.String(128), nullable=False),
    sa.Column("placed_by", sa.String(128), nullable=False),
    sa.Column("placed_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime, nullable=True),
)

nights = sa.Table(
    "privacy_nights",
    metadata,
    sa.Column("night", sa.String(10), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # masked | deleted
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("held", sa.Integer, nullable=False, default=0),
)

PRIVACY_TABLES = frozenset({"privacy_vault", "privacy_holds", "privacy_nights"})


def engine(url: str | None = None) -> Engine:
    """Return an engine on the queue database with the privacy tables created."""
    eng = make_engine(url or config.db_url(), what="queue database")
    metadata.create_all(eng)
    return eng


def now() -> dt.datetime:
    """Return the current UTC time without a zone (as every apiflag table stores it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def bucket_of(ref: str) -> str:
    """Return the vault bucket of a pseudonym: its last two hex digits (256 per night)."""
    return ref[-2:]


def _decrypt(text: str, night: str) -> dict[str, list[str]]:
    try:
        data: dict[str, list[str]] = json.loads(vault_cipher().decrypt(text.encode()))
    except InvalidToken:
        raise ApiflagError(
            f"vault: {secrets_dir() / 'vault.key'} does not open the vault of night {night} "
            "(the key was replaced or lost: these originals cannot be recovered without it)"
        ) from None
    return data


def store_originals(conn: Connection, night: str, originals: dict[str, tuple[str, str]]) -> int:
    """Encrypt and keep the originals of one night's pseudonyms that the vault lacks.

    Originals are kept in 256 buckets per night (by the pseudonym's last two hex digits), each
    one Fernet token over a JSON map ``pseudonym -> [kind, original]``: a night of 200,000
    arrivals costs 256 encryptions, and opening one value decrypts one bucket.

    Args:
        conn: a connection inside the caller's transaction.
        night: the arrival night (``YYYY-MM-DD``).
        originals: pseudonym -> (kind, original value).

    Returns:
        How many originals were added.
    """
    by_bucket: dict[str, dict[str, tuple[str, str]]] = {}
    for ref, entry in originals.items():
        by_bucket.setdefault(bucket_of(ref), {})[ref] = entry
    if not by_bucket:
        return 0
    existing = {
        bucket: text
        for bucket, text in conn.execute(
            sa.select(vault.c.bucket, vault.c.ciphertext).where(
                vault.c.night == night, vault.c.bucket.in_(sorted(by_bucket))
            )
        )
    }
    cipher = vault_cipher()
    added = 0
    for bucket, entries in sorted(by_bucket.items()):
        data = _decrypt(existing[bucket], night) if bucket in existing else {}
        new = {
            ref: [kind, original] for ref, (kind, original) in entries.items() if ref not in data
        }
        if not new:
            continue
        data.update(new)
        added += len(new)
        token = cipher.encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()
        if bucket in existing:
            conn.execute(
                vault.update()
                .where(vault.c.night == night, vault.c.bucket == bucket)
                .values(ciphertext=token, entries=len(data))
            )
        else:
            conn.execute(
                vault.insert().values(
                    night=night, bucket=bucket, entries=len(data), ciphertext=token
                )
            )
    return added


def open_vault(conn: Connection, night: str, refs: Iterable[str]) -> dict[str, str]:
    """Return pseudonym -> original for the given pseudonyms of one night (those in the vault).

    Raises:
        ApiflagError: the vault key does not open the night's vault.
    """
    wanted = set(refs)
    if not wanted:
        return {}
    rows = conn.execute(
        sa.select(vault.c.ciphertext).where(
            vault.c.night == night, vault.c.bucket.in_(sorted({bucket_of(r) for r in wanted}))
        )
    ).scalars()
    found: dict[str, str] = {}
    for text in rows:
        for ref, (_kind, original) in _decrypt(text, night).items():
            if ref in wanted:
                found[ref] = original
    return found


def open_holds(conn: Connection) -> dict[str, str]:
    """Return flag_id -> case reference of every hold whose case is still open."""
    rows = conn.execute(
        sa.select(holds.c.flag_id, holds.c.case_ref).where(holds.c.closed_at.is_(None))
    )
    return {flag_id: case_ref for flag_id, case_ref in rows}


def night_states(conn: Connection) -> dict[str, tuple[str, int]]:
    """Return night -> (state, held travellers) from the retention ledger."""
    rows = conn.execute(sa.select(nights.c.night, nights.c.state, nights.c.held))
    return {night: (state, held) for night, state, held in rows}


def set_night_state(conn: Connection, night: str, state: str, held: int = 0) -> None:
    """Record that ``night`` is now ``state`` (masked or deleted)."""
    conn.execute(nights.delete().where(nights.c.night == night))
    conn.execute(nights.insert().values(night=night, state=state, at=now(), held=held))
