"""The retention run: which nights are deleted and which masked, store by store, and the report."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from apiflag import config
from apiflag.audit import append_event
from apiflag.privacy import store
from apiflag.privacy.masking import SHORT, PersonalDictionary
from apiflag.privacy.policy import WAREHOUSE_COLUMNS, RetentionSettings, load_settings
from apiflag.privacy.retention.archive import (
    archive_shas,
    arrival_shas,
    arrivals_log,
    delete_archive,
    live_shas,
    mask_archive,
)
from apiflag.privacy.retention.night import Held, NightMasker, privacy_dir
from apiflag.privacy.retention.queue import (
    HELD_STATUSES,
    audit,
    delete_queue,
    flags_frame,
    mask_queue,
    night_tables,
    queue_tables,
)
from apiflag.privacy.retention.sweep import mask_night_files, night_of, sweep_files
from apiflag.settings import load_settings as load_app_settings

__all__ = ["RetentionReport", "apply_retention"]


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


def _held_flags(flags: pd.DataFrame, holds: Any) -> pd.DataFrame:
    if flags.empty:
        return flags
    status = flags.get("status", pd.Series(dtype=str))
    return flags[flags["flag_id"].isin(holds) & status.isin(HELD_STATUSES)]


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
    tables = queue_tables(engine)
    with engine.connect() as conn:
        flags = flags_frame(conn, tables)
        holds = store.open_holds(conn)
        ledger = store.night_states(conn)
        known = _known_nights(conn, flags)
    held_flags = _held_flags(flags, holds)

    for night in sorted(n for n in known if n < delete_before):
        if (
            ledger.get(night, ("", 0))[0] == "deleted"
            and not (config.warehouse_dir(night)).exists()
        ):
            continue
        counts = _delete_night(engine, tables, flags, night)
        report.nights_deleted.append(night)
        report.add(counts)
        audit(engine, actor, "retention.delete", f"night:{night}", counts)

    maskers: dict[str, NightMasker] = {}
    live: list[set[str]] = []  # read once, when the first night is masked
    for night in sorted(n for n in known if delete_before <= n < mask_before):
        state, held_before = ledger.get(night, ("", 0))
        if state == "masked" and held_before == 0:
            continue
        if not live:
            live.append(live_shas(mask_before))
        maskers[night] = _mask_night(engine, tables, flags, held_flags, night, live[0])
        report.nights_masked.append(night)
        report.held_travellers += len(maskers[night].held.travellers)
    _sweep_home(engine, actor, maskers, report)
    return report


def _mask_night(
    engine: Engine,
    tables: dict[str, sa.Table],
    flags: pd.DataFrame,
    held_flags: pd.DataFrame,
    night: str,
    live: set[str],
) -> NightMasker:
    """Mask one night in the warehouse, the archive, the queue and the input folders."""
    night_held = held_flags[held_flags["night"] == night] if not held_flags.empty else held_flags
    held = Held(travellers=set(str(t) for t in night_held.get("traveller_id", [])))
    masker = NightMasker(night, held)
    folder = config.warehouse_dir(night)
    if folder.is_dir():
        masker.build_dictionary(folder)
    # 1. the originals go to the vault before any plain copy is destroyed
    with engine.begin() as conn:
        masker.count("vault", store.store_originals(conn, night, masker.dictionary.originals()))
    # 2. the warehouse partition: policy tables first, then every stage output
    shas = arrival_shas(night)
    if folder.is_dir():
        shas |= archive_shas(folder)
        order = sorted(
            folder.rglob("*.parquet"), key=lambda p: (p.stem not in WAREHOUSE_COLUMNS, p.name)
        )
        for path in order:
            masker.count(
                "warehouse",
                masker.mask_parquet(path, path.stem, masker.dictionary, scoped=True),
            )
        masker.write_dates()
        masker.count("warehouse", mask_night_files(folder, masker))
    # 3. raw messages: deleted, a tombstone (hash, size, night) kept for reconciliation
    masker.count("archive", mask_archive(shas - live, night))
    # 4. queue rows of the night's flags that are not held
    night_flags = (
        flags[
            (flags["night"] == night)
            & ~flags["flag_id"].isin(set(night_held["flag_id"]) if not night_held.empty else set())
        ]
        if not flags.empty
        else flags
    )
    with engine.begin() as conn:
        masker.count(
            "queue",
            mask_queue(
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
    return masker


def _sweep_home(
    engine: Engine, actor: str, maskers: dict[str, NightMasker], report: RetentionReport
) -> None:
    """Sweep everything else under the home with the values masked tonight; record each night."""
    unscoped = PersonalDictionary()
    held_keys: set[str] = set()
    for masker in maskers.values():
        unscoped.merge(masker.dictionary)
        held_keys.update(masker.held_values.entries)
    # outside its own night a birth date is not searched for (it is also some night's date),
    # nor a value of under four characters (a surname PAK is also Pakistan's country code)
    outside = unscoped.without(held_keys).without_kinds({"dob"})
    outside = outside.without([k for k in outside.entries if len(k) < SHORT])
    night_dicts = {night: masker.dictionary for night, masker in maskers.items()}
    file_counts = sweep_files(night_dicts, outside, maskers)
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
        audit(engine, actor, "retention.sweep", "home", dict(sorted(other.items())))


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
    shas = arrival_shas(night)
    if folder.is_dir():
        shas |= archive_shas(folder)
    counts["archive"] = delete_archive(shas)
    if arrivals_log(night).is_file():
        arrivals_log(night).unlink()
        counts["archive"] += 1
    if folder.is_dir():
        counts["warehouse_files"] = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
    priv = privacy_dir(night)
    if priv.is_dir():
        shutil.rmtree(priv)
    night_flags = (
        [str(f) for f in flags.loc[flags["night"] == night, "flag_id"]] if not flags.empty else []
    )
    with engine.begin() as conn:
        counts["queue_rows"] = delete_queue(conn, tables, night_flags)
        for table in night_tables(engine):
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
            if path.is_file() and night_of(path.relative_to(reports)) == night:
                path.unlink()
                counts["reports"] = counts.get("reports", 0) + 1
    counts["world"] = _delete_inputs(night)
    return {k: v for k, v in counts.items() if v}
