"""Retention: mask every store after the masking period, delete everything after the maximum.

``apply_retention(as_of)`` decides, night by night (a night is the local arrival date):

- **deleted** (older than ``max_years``): the warehouse partition, its masked-date sidecar, the
  queue rows of its flags (every table with a ``flag_id``), its vault rows and holds, its reports,
  its raw messages and their tombstones, and its input folders under ``$APIFLAG_HOME/world``. The
  audit log keeps its events (they carry ids and counts, never values) so the chain still verifies.
- **masked** (older than ``masking_days``): names, contacts, addresses, payment details,
  frequent-flyer numbers, document numbers, record locators, seats and birth dates become keyed
  pseudonyms (:func:`apiflag.privacy.keys.pseudonym`) in the warehouse Parquet and stage outputs
  (rewritten atomically, each column keeping its type: dates become null and their pseudonyms
  go to ``$APIFLAG_HOME/privacy/night=<D>/masked_dates.parquet``), in the queue database (flag
  rows and every row hanging off them; explanation ``observed`` values and notes are emptied),
  in reports, in MLflow artifacts and in every other text or Parquet file under the home. Raw
  messages are deleted and replaced by a tombstone ``<sha>.masked`` (hash, size, night: no
  content), so reconciliation by SHA-256 still adds up. The originals go first, encrypted, to
  the vault (:mod:`apiflag.privacy.store`); no plain copy survives anywhere else.
- **held**: a flag decided ``hearing`` or ``victim_support`` that carries a case reference
  (``apiflag retention hold``) keeps its traveller's rows readable until the case is closed; the
  next run after closing masks them. Holds postpone masking, never deletion: at the maximum the
  case's own file, kept by the authority that opened it, is the record (EU PNR Directive
  Art. 12(4)).

Every night masked or deleted is one audit event with counts per store. Re-running is safe: a
pseudonym is never masked twice, and a masked night without holds is not read again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from apiflag import atomic, config
from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.privacy import store
from apiflag.privacy.keys import is_pseudonym
from apiflag.privacy.masking import (
    SHORT,
    MaskedFrame,
    PersonalDictionary,
    collect,
    mask_frame,
)
from apiflag.privacy.policy import (
    REDACT,
    WAREHOUSE_COLUMNS,
    RetentionSettings,
    kind_by_name,
    load_settings,
    sweepable,
)
from apiflag.privacy.stats import age_band_of
from apiflag.settings import Settings
from apiflag.settings import load_settings as load_app_settings

__all__ = ["HELD_STATUSES", "RetentionReport", "apply_retention", "close_case", "place_hold"]

HELD_STATUSES = frozenset({"hearing", "victim_support"})
AUDIT_TABLES = frozenset({"audit_events", "audit_log", "audit"})
TEXT_SUFFIXES = frozenset(
    {
        ".json",
        ".jsonl",
        ".csv",
        ".tsv",
        ".txt",
        ".md",
        ".html",
        ".htm",
        ".yaml",
        ".yml",
        ".log",
        ".svg",
        ".xml",
        ".edi",
    }
)
_NIGHT_IN_PATH = __import__("re").compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass
class RetentionReport:
    """What one retention run did: the cut-off nights, and counts per store (never values).

    Attributes:
        as_of: the date the periods are measured from.
        masking_days: the masking period used.
        max_years: the maximum period used.
        mask_before: nights before this date are masked.
        delete_before: nights before this date are deleted.
        nights_masked: nights masked by this run.
        nights_deleted: nights deleted by this run.
        held_travellers: travellers kept readable for an open case.
        counts: store -> number of cells, rows or files changed.
    """

    as_of: dt.date
    masking_days: int
    max_years: int
    mask_before: dt.date
    delete_before: dt.date
    nights_masked: list[str] = field(default_factory=list)
    nights_deleted: list[str] = field(default_factory=list)
    held_travellers: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        """Add per-store counts of one night to the totals."""
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        data = asdict(self)
        for key in ("as_of", "mask_before", "delete_before"):
            data[key] = data[key].isoformat()
        return data


# --------------------------------------------------------------------------- audit and queue


def _audit(engine: Engine, actor: str, action: str, obj: str, details: dict[str, Any]) -> None:
    append_event(engine, actor, action, obj, details)


def _queue_tables(engine: Engine) -> dict[str, sa.Table]:
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


def _night_tables(engine: Engine) -> list[sa.Table]:
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


def _flags(conn: Connection, tables: dict[str, sa.Table]) -> pd.DataFrame:
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
        flags = _flags(conn, _queue_tables(engine))
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
    _audit(engine, actor, "retention.hold", f"flag:{flag_id}", {"case_ref": case_ref})


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
    _audit(engine, actor, "retention.close_case", f"case:{case_ref}", {"holds_closed": closed})
    return closed


# --------------------------------------------------------------------------- helpers


def _night_of(path: Path) -> str | None:
    for part in reversed(path.parts):
        m = _NIGHT_IN_PATH.search(part)
        if m:
            return m.group(1)
    return None


def _privacy_dir(night: str) -> Path:
    return config.home() / "privacy" / f"night={night}"


def _read_parquet(path: Path) -> tuple[pa.Table, pd.DataFrame]:
    table = pq.read_table(path)
    return table, table.to_pandas()


def _date_columns(schema: pa.Schema) -> frozenset[str]:
    return frozenset(
        f.name for f in schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)
    )


def _write_masked(path: Path, original: pa.Table, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, schema=original.schema, preserve_index=False)
    metadata = original.schema.metadata
    atomic.write_parquet(path, table.replace_schema_metadata(metadata), compression="zstd")


def _row_keys(table: str, frame: pd.DataFrame) -> list[str]:
    """Return, per row, the key that finds it again (``owner_id/seq`` for documents)."""
    if table == "documents" and "owner_id" in frame.columns:
        seq = frame["seq"].tolist() if "seq" in frame.columns else list(range(len(frame)))
        return [f"{o}/{q}" for o, q in zip(frame["owner_id"].tolist(), seq, strict=True)]
    for column in ("traveller_id", "pnr_traveller_id", "booking_id"):
        if column in frame.columns:
            return [str(v) for v in frame[column].tolist()]
    return [str(i) for i in range(len(frame))]


@dataclass
class _Held:
    travellers: set[str] = field(default_factory=set)
    pnr_travellers: set[str] = field(default_factory=set)
    bookings: set[str] = field(default_factory=set)

    def keep(self, table: str, frame: pd.DataFrame) -> pd.Series | None:
        if not self.travellers:
            return None

        def isin(column: str, values: set[str]) -> pd.Series:
            if column not in frame.columns:
                return pd.Series(False, index=frame.index)
            return frame[column].isin(values).fillna(False).astype(bool)

        if table == "documents":
            return isin("owner_id", self.travellers | self.pnr_travellers)
        if table == "pnr_travellers":
            return isin("pnr_traveller_id", self.pnr_travellers)
        if table == "booking_contacts":
            booking_level = (
                frame["pnr_traveller_id"].isna()
                if "pnr_traveller_id" in frame.columns
                else pd.Series(True, index=frame.index)
            )
            return isin("pnr_traveller_id", self.pnr_travellers) | (
                booking_level & isin("booking_id", self.bookings)
            )
        if table in {"bookings", "payments"}:
            return isin("booking_id", self.bookings)
        if "traveller_id" in frame.columns:
            return isin("traveller_id", self.travellers)
        return None


# --------------------------------------------------------------------------- one night


@dataclass
class _NightMasker:
    night: str
    held: _Held
    dictionary: PersonalDictionary = field(default_factory=PersonalDictionary)
    held_values: PersonalDictionary = field(default_factory=PersonalDictionary)
    counts: dict[str, int] = field(default_factory=dict)
    dates: list[dict[str, str]] = field(default_factory=list)
    settings: Settings = field(default_factory=load_app_settings)

    def count(self, key: str, n: int) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def build_dictionary(self, folder: Path) -> None:
        travellers = folder / "travellers.parquet"
        if travellers.is_file() and self.held.travellers:
            frame = pq.read_table(travellers).to_pandas()
            held = frame[frame["traveller_id"].isin(self.held.travellers)]
            for column, target in (
                ("pnr_traveller_id", self.held.pnr_travellers),
                ("booking_id", self.held.bookings),
            ):
                if column in held.columns:
                    target.update(str(v) for v in held[column].dropna())
        for table in WAREHOUSE_COLUMNS:
            path = folder / f"{table}.parquet"
            if not path.is_file():
                continue
            frame = pq.read_table(path).to_pandas()
            keep = self.held.keep(table, frame)
            if keep is not None and keep.any():
                collect(table, frame[keep], self.held_values)
                frame = frame[~keep]
            collect(table, frame, self.dictionary)

    def mask_parquet(
        self, path: Path, table: str, dictionary: PersonalDictionary, scoped: bool
    ) -> int:
        original, frame = _read_parquet(path)
        if frame.empty:
            return 0
        keep = self.held.keep(table, frame) if scoped else None
        result: MaskedFrame = mask_frame(
            table, frame, dictionary, keep=keep, date_columns=_date_columns(original.schema)
        )
        if not result.changed:
            return 0
        if result.dates:
            keys = _row_keys(table, frame)
            columns = {column: frame[column].tolist() for column in {c for _, c, _ in result.dates}}
            for position, column, token in result.dates:
                band = ""
                if column == "date_of_birth" and self.night:
                    band = _age_band(columns[column][position], self.night, self.settings)
                self.dates.append(
                    {
                        "table": table,
                        "row_key": keys[position],
                        "column": column,
                        "pseudonym": token,
                        "age_band": band,
                    }
                )
        _write_masked(path, original, result.frame)
        return result.changed

    def write_dates(self) -> None:
        if not self.dates:
            return
        folder = _privacy_dir(self.night)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "masked_dates.parquet"
        frame = pd.DataFrame(self.dates)
        if path.is_file():
            frame = pd.concat([pq.read_table(path).to_pandas(), frame], ignore_index=True)
        frame = frame.drop_duplicates(["table", "row_key", "column"], keep="first")
        atomic.write_parquet(path, frame)


def _age_band(value: Any, night: str, settings: Settings) -> str:
    return age_band_of(value, dt.date.fromisoformat(night), settings)


# --------------------------------------------------------------------------- stores


def _archive_shas(folder: Path) -> set[str]:
    shas: set[str] = set()
    for path in folder.glob("*.parquet"):
        schema = pq.read_schema(path)
        if "message_sha256" in schema.names:
            column = pq.read_table(path, columns=["message_sha256"]).column("message_sha256")
            shas.update(str(v) for v in column.to_pylist() if v)
    return shas


def _arrivals_log(night: str) -> Path:
    return config.archive_dir() / "arrivals" / f"night={night}.jsonl"


def _arrival_shas(night: str) -> set[str]:
    """Return the SHA-256 of every message that arrived for ``night`` (ingest's arrivals log)."""
    path = _arrivals_log(night)
    shas: set[str] = set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                sha = json.loads(line).get("sha256")
                if isinstance(sha, str):
                    shas.add(sha)
    return shas


def _live_shas(mask_before: str) -> set[str]:
    """Return messages that also arrived for a night that stays readable (identical resends)."""
    folder = config.archive_dir() / "arrivals"
    shas: set[str] = set()
    if folder.is_dir():
        for path in folder.glob("night=*.jsonl"):
            if path.stem[len("night=") :] >= mask_before:
                shas.update(_arrival_shas(path.stem[len("night=") :]))
    return shas


def _archive_path(sha: str) -> Path:
    return config.archive_dir() / sha[:2] / sha


def _mask_archive(shas: Iterable[str], night: str) -> int:
    removed = 0
    for sha in sorted(shas):
        path = _archive_path(sha)
        if not path.is_file():
            continue
        tomb = {
            "sha256": sha,
            "bytes": path.stat().st_size,
            "night": night,
            "masked_at": store.now().isoformat(timespec="seconds"),
            "reason": "retention: raw message deleted after the masking period",
        }
        atomic.write_bytes(path.with_name(f"{sha}.masked"), json.dumps(tomb).encode())
        path.unlink()
        removed += 1
    return removed


def _delete_archive(shas: Iterable[str]) -> int:
    removed = 0
    for sha in shas:
        for path in (_archive_path(sha), _archive_path(sha).with_name(f"{sha}.masked")):
            if path.is_file():
                path.unlink()
                removed += 1
    return removed


def _excluded(path: Path, home: Path) -> bool:
    rel = path.relative_to(home).parts
    if not rel:
        return True
    top = rel[0]
    if top in {"secrets", "archive", "warehouse", "privacy"}:
        return True
    if any("casedb" in part for part in rel):  # the case database is not passenger data
        return True
    return path.name.startswith(".")


def _is_db(path: Path) -> bool:
    if path.suffix in {".db", ".sqlite", ".sqlite3"}:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _sweep_csv(
    path: Path, nights: dict[str, PersonalDictionary], unscoped: PersonalDictionary
) -> int:
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows:
        return 0
    header = rows[0]
    night_col = header.index("night") if "night" in header else None
    kinds = [kind_by_name(h) for h in header]
    changed = 0
    for row in rows[1:]:
        if night_col is not None:
            night = row[night_col][:10] if night_col < len(row) else ""
            if night not in nights:
                continue
            dictionary = nights[night]
        else:
            dictionary = unscoped
        for i, value in enumerate(row):
            if not value or is_pseudonym(value) or i == night_col:
                continue
            kind = kinds[i] if i < len(kinds) else None
            if kind in {"dob", "date"} and night_col is not None:
                dictionary.add(kind, value)
                row[i] = ""
                changed += 1
            elif kind == REDACT and night_col is not None:
                row[i] = ""
                changed += 1
            elif kind is not None and night_col is not None:
                row[i] = dictionary.add(kind, value) or value
                changed += 1
            elif sweepable(header[i] if i < len(header) else ""):
                new, n = dictionary.mask_text(value)
                if n:
                    row[i] = new
                    changed += n
    if changed:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        atomic.write_bytes(path, out.getvalue().encode("utf-8"))
    return changed


def _sweep_file(path: Path, dictionary: PersonalDictionary) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return 0
    new, n = dictionary.sweep(text)
    if n:
        atomic.write_bytes(path, new.encode("utf-8"))
    return n


def _sweep_files(
    nights: dict[str, PersonalDictionary],
    unscoped: PersonalDictionary,
    masker_for: dict[str, _NightMasker],
) -> dict[str, dict[str, int]]:
    """Sweep every other file under the home: reports, MLflow artifacts, world CSVs.

    Returns night (``""`` when the file belongs to no masked night) -> store -> count.
    """
    home = config.home()
    counts: dict[str, dict[str, int]] = {}
    if not len(unscoped) and not nights:
        return counts
    scoped = {
        night: dictionary.without(masker_for[night].held_values.entries)
        for night, dictionary in nights.items()
    }
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if _excluded(path, home) or _is_db(path):
            continue
        rel = path.relative_to(home)
        store_name = {
            "reports": "reports",
            "mlartifacts": "mlflow_artifacts",
            "world": "world",
        }.get(rel.parts[0], "other_files")
        night = _night_of(rel) if rel.parts[0] in {"reports", "world"} else None
        if night is not None and night not in nights and path.suffix not in {".csv", ".tsv"}:
            continue  # a live night's report: masked when its own night is
        dictionary = scoped[night] if night in scoped else unscoped
        if path.suffix == ".parquet":
            masker = masker_for.get(night or "") or _NightMasker(night or "", _Held())
            n = masker.mask_parquet(path, path.stem, dictionary, scoped=False)
        elif path.suffix in {".csv", ".tsv"}:
            n = _sweep_csv(path, scoped, dictionary)
        elif path.suffix in TEXT_SUFFIXES or not path.suffix:
            n = _sweep_file(path, dictionary)
        else:
            n = 0
        if n:
            bucket = counts.setdefault(night if night in nights else "", {})
            bucket[store_name] = bucket.get(store_name, 0) + n
    return counts


def _mask_queue(
    conn: Connection,
    tables: dict[str, sa.Table],
    flag_ids: list[str],
    dictionary: PersonalDictionary,
) -> int:
    changed = 0
    if not flag_ids:
        return 0
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


def _delete_queue(conn: Connection, tables: dict[str, sa.Table], flag_ids: list[str]) -> int:
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


# --------------------------------------------------------------------------- the run


def _known_nights(conn: Connection, flags: pd.DataFrame) -> set[str]:
    found: set[str] = set(str(n) for n in flags["night"])
    base = config.warehouse_dir()
    if base.is_dir():
        found.update(p.name[len("night=") :] for p in base.iterdir() if p.name.startswith("night="))
    priv = config.home() / "privacy"
    if priv.is_dir():
        found.update(p.name[len("night=") :] for p in priv.iterdir() if p.name.startswith("night="))
    found.update(conn.execute(sa.select(store.vault.c.night).distinct()).scalars())
    for folder in (config.world_dir() / "nights", config.world_dir() / "history" / "nights"):
        if folder.is_dir():
            found.update(p.name for p in folder.iterdir() if p.is_dir())
    arrivals = config.archive_dir() / "arrivals"
    if arrivals.is_dir():
        found.update(p.stem[len("night=") :] for p in arrivals.glob("night=*.jsonl"))
    valid = set()
    for night in found:
        try:
            valid.add(dt.date.fromisoformat(night).isoformat())
        except ValueError:
            continue
    return valid


def apply_retention(
    as_of: dt.date | None = None,
    settings: RetentionSettings | None = None,
    *,
    actor: str = "retention",
    db_url: str | None = None,
) -> RetentionReport:
    """Mask every store for nights past the masking period; delete nights past the maximum.

    Call it once a night (the ``retention`` flow does); it is idempotent.

    Args:
        as_of: the date the periods are measured from (default: today in the settings' time
            zone, the calendar that names the nights).
        settings: the periods (default :func:`apiflag.privacy.policy.load_settings`).
        actor: who runs it, as recorded in the audit log.
        db_url: the queue database (default :func:`apiflag.config.db_url`).

    Returns:
        What was masked and deleted, with counts per store.
    """
    as_of = as_of or load_app_settings().today()
    settings = settings or load_settings()
    mask_before = settings.mask_before(as_of).isoformat()
    delete_before = settings.delete_before(as_of).isoformat()
    report = RetentionReport(
        as_of,
        settings.masking_days,
        settings.max_years,
        settings.mask_before(as_of),
        settings.delete_before(as_of),
    )
    engine = store.engine(db_url)
    tables = _queue_tables(engine)
    with engine.connect() as conn:
        flags = _flags(conn, tables)
        holds = store.open_holds(conn)
        ledger = store.night_states(conn)
        known = _known_nights(conn, flags)
    held_flags = (
        flags[
            flags["flag_id"].isin(holds)
            & flags.get("status", pd.Series(dtype=str)).isin(HELD_STATUSES)
        ]
        if not flags.empty
        else flags
    )

    for night in sorted(n for n in known if n < delete_before):
        if (
            ledger.get(night, ("", 0))[0] == "deleted"
            and not (config.warehouse_dir(night)).exists()
        ):
            continue
        counts = _delete_night(engine, tables, flags, night)
        report.nights_deleted.append(night)
        report.add(counts)
        _audit(engine, actor, "retention.delete", f"night:{night}", counts)

    night_dicts: dict[str, PersonalDictionary] = {}
    maskers: dict[str, _NightMasker] = {}
    live_shas: set[str] | None = None
    for night in sorted(n for n in known if delete_before <= n < mask_before):
        state, held_before = ledger.get(night, ("", 0))
        if state == "masked" and held_before == 0:
            continue
        night_held = (
            held_flags[held_flags["night"] == night] if not held_flags.empty else held_flags
        )
        held = _Held(travellers=set(str(t) for t in night_held.get("traveller_id", [])))
        masker = _NightMasker(night, held)
        folder = config.warehouse_dir(night)
        if folder.is_dir():
            masker.build_dictionary(folder)
        # 1. the originals go to the vault before any plain copy is destroyed
        with engine.begin() as conn:
            masker.count("vault", store.store_originals(conn, night, masker.dictionary.originals()))
        # 2. the warehouse partition: policy tables first, then every stage output
        shas = _arrival_shas(night)
        if folder.is_dir():
            shas |= _archive_shas(folder)
            order = sorted(
                folder.rglob("*.parquet"), key=lambda p: (p.stem not in WAREHOUSE_COLUMNS, p.name)
            )
            for path in order:
                masker.count(
                    "warehouse",
                    masker.mask_parquet(path, path.stem, masker.dictionary, scoped=True),
                )
            masker.write_dates()
            masker.count("warehouse", _mask_night_files(folder, masker))
        # 3. raw messages: deleted, a tombstone (hash, size, night) kept for reconciliation
        if live_shas is None:
            live_shas = _live_shas(mask_before)
        masker.count("archive", _mask_archive(shas - live_shas, night))
        # 4. queue rows of the night's flags that are not held
        night_flags = (
            flags[
                (flags["night"] == night)
                & ~flags["flag_id"].isin(
                    set(night_held["flag_id"]) if not night_held.empty else set()
                )
            ]
            if not flags.empty
            else flags
        )
        with engine.begin() as conn:
            masker.count(
                "queue",
                _mask_queue(
                    conn,
                    tables,
                    [str(f) for f in night_flags.get("flag_id", [])],
                    masker.dictionary,
                ),
            )
            # originals first seen in the queue rows
            masker.count("vault", store.store_originals(conn, night, masker.dictionary.originals()))
        # 5. input folders of the synthetic world / gateway drop under the home
        masker.count("world", _delete_inputs(night))
        night_dicts[night] = masker.dictionary
        maskers[night] = masker
        report.nights_masked.append(night)
        report.held_travellers += len(held.travellers)

    # 6. everything else under the home, with the values masked tonight
    unscoped = PersonalDictionary()
    held_keys: set[str] = set()
    for masker in maskers.values():
        unscoped.merge(masker.dictionary)
        held_keys.update(masker.held_values.entries)
    # outside its own night a birth date is not searched for (it is also some night's date),
    # nor a value of under four characters (a surname PAK is also Pakistan's country code)
    outside = unscoped.without(held_keys).without_kinds({"dob"})
    outside = outside.without([k for k in outside.entries if len(k) < SHORT])
    file_counts = _sweep_files(night_dicts, outside, maskers)
    with engine.begin() as conn:
        for night, masker in maskers.items():
            masker.count("vault", store.store_originals(conn, night, masker.dictionary.originals()))
    for night, masker in maskers.items():
        for key, value in file_counts.pop(night, {}).items():
            masker.count(key, value)
        report.add(masker.counts)
        details: dict[str, Any] = dict(sorted(masker.counts.items()))
        details["held_travellers"] = len(masker.held.travellers)
        with engine.begin() as conn:
            store.set_night_state(conn, night, "masked", held=len(masker.held.travellers))
            append_event(conn, actor, "retention.mask", f"night:{night}", details)
    other = file_counts.pop("", {})
    if other:
        report.add(other)
        _audit(engine, actor, "retention.sweep", "home", dict(sorted(other.items())))
    return report


def _mask_night_files(folder: Path, masker: _NightMasker) -> int:
    """Delete raw copies (quarantined messages) in a partition; sweep its other text files."""
    changed = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".parquet"):
        rel = path.relative_to(folder)
        if rel.parts[0] == "quarantine" or path.suffix == ".edi":
            path.unlink()
            changed += 1
        elif path.suffix in TEXT_SUFFIXES:
            changed += _sweep_file(path, masker.dictionary)
    return changed


def _delete_inputs(night: str) -> int:
    removed = 0
    for folder in (
        config.world_dir() / "nights" / night,
        config.world_dir() / "history" / "nights" / night,
    ):
        if folder.is_dir():
            removed += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
    return removed


def _delete_night(
    engine: Engine, tables: dict[str, sa.Table], flags: pd.DataFrame, night: str
) -> dict[str, int]:
    counts: dict[str, int] = {}
    folder = config.warehouse_dir(night)
    shas = _arrival_shas(night)
    if folder.is_dir():
        shas |= _archive_shas(folder)
    counts["archive"] = _delete_archive(shas)
    if _arrivals_log(night).is_file():
        _arrivals_log(night).unlink()
        counts["archive"] += 1
    if folder.is_dir():
        counts["warehouse_files"] = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
    priv = _privacy_dir(night)
    if priv.is_dir():
        shutil.rmtree(priv)
    night_flags = (
        [str(f) for f in flags.loc[flags["night"] == night, "flag_id"]] if not flags.empty else []
    )
    with engine.begin() as conn:
        counts["queue_rows"] = _delete_queue(conn, tables, night_flags)
        for table in _night_tables(engine):
            day = dt.date.fromisoformat(night)
            value: Any = day if isinstance(table.c.night.type, sa.Date) else night
            deleted = conn.execute(table.delete().where(table.c.night == value)).rowcount
            counts["queue_rows"] += int(deleted or 0)
        counts["vault_rows"] = int(
            conn.execute(store.vault.delete().where(store.vault.c.night == night)).rowcount or 0
        )
        store.set_night_state(conn, night, "deleted")
    reports = config.reports_dir()
    if reports.is_dir():
        for path in sorted(reports.rglob("*")):
            if path.is_file() and _night_of(path.relative_to(reports)) == night:
                path.unlink()
                counts["reports"] = counts.get("reports", 0) + 1
    counts["world"] = _delete_inputs(night)
    return {k: v for k, v in counts.items() if v}
