"""Statistics without personal data: counts per track, rule, outcome and group.

``statistics(start, end)`` counts, over the nights ``start``..``end`` (inclusive):

- ``track``: queued flags per track;
- ``outcome``: queued flags per status (``new`` and ``in_review`` are still undecided);
- ``rule``: travellers each rule hit (``arrivals``) and queued flags it contributed to (``flags``);
- ``nationality``, ``sex``, ``age_band``: arrivals and queued flags per group (the fairness
  monitor's groups; the age band is taken at the arrival night, and for masked nights from the
  band recorded when the birth date was masked).

Nothing in the output names or singles out a person: only group labels and counts. Counts from
1 to 4 are shown as ``"<5"`` (small-cell suppression); zero stays 0. Suppression is per cell, so
a total printed elsewhere can still let a reader subtract; publish only these rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from apiflag import config
from apiflag.db import make_engine
from apiflag.settings import Settings, load_settings

__all__ = ["SMALL_CELL", "StatRow", "age_band_of", "render", "statistics", "suppress"]

SMALL_CELL = 5
DIMENSIONS = ("track", "outcome", "rule", "nationality", "sex", "age_band")


@dataclass(frozen=True)
class StatRow:
    """One count: a dimension, a value of it, arrivals and queued flags (None: not applicable)."""

    dimension: str
    value: str
    arrivals: int | None
    flags: int | None


def age_band_of(date_of_birth: Any, night: dt.date, settings: Settings | None = None) -> str:
    """Return the monitoring age band of someone born on ``date_of_birth`` on ``night``.

    Bands: the settings' ``age_bands`` (default ``0-11, 12-17, 18-24, 25-34, 35-49, 50-64,
    65+``), or ``unknown``; the same vocabulary as the feature table and the nightly report.
    """
    settings = settings or load_settings()
    if date_of_birth is None or (isinstance(date_of_birth, float) and math.isnan(date_of_birth)):
        return "unknown"
    try:
        born = pd.Timestamp(date_of_birth).date()
    except (ValueError, TypeError):
        return "unknown"
    age = night.year - born.year - ((night.month, night.day) < (born.month, born.day))
    return settings.age_band(age)


def _flags(start: str, end: str, db_url: str | None) -> pd.DataFrame:
    engine = make_engine(db_url or config.db_url(), what="queue database")
    try:
        if "flags" not in sa.inspect(engine).get_table_names():
            return pd.DataFrame(columns=["flag_id", "night", "traveller_id", "track", "status"])
        meta = sa.MetaData()
        flags = sa.Table("flags", meta, autoload_with=engine)
        cols = [
            flags.c[c]
            for c in ("flag_id", "night", "traveller_id", "track", "status")
            if c in flags.c
        ]
        with engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(sa.select(*cols)).mappings().all())
    finally:
        engine.dispose()
    if frame.empty:
        return pd.DataFrame(columns=["flag_id", "night", "traveller_id", "track", "status"])
    frame["night"] = frame["night"].map(lambda v: str(v)[:10])
    return frame[(frame["night"] >= start) & (frame["night"] <= end)]


def _night_frame(night: str, name: str, columns: list[str]) -> pd.DataFrame:
    path = config.warehouse_dir(night) / f"{name}.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    have = pq.read_schema(path).names
    return pq.read_table(path, columns=[c for c in columns if c in have]).to_pandas()


def _bands(night: str, travellers: pd.DataFrame) -> pd.Series:
    day = dt.date.fromisoformat(night)
    settings = load_settings()
    bands = travellers["date_of_birth"].map(lambda v: age_band_of(v, day, settings))
    sidecar = config.home() / "privacy" / f"night={night}" / "masked_dates.parquet"
    if sidecar.is_file():
        masked = pq.read_table(sidecar).to_pandas()
        masked = masked[(masked["table"] == "travellers") & (masked["column"] == "date_of_birth")]
        recorded = dict(zip(masked["row_key"], masked["age_band"], strict=True))
        from_sidecar = travellers["traveller_id"].map(recorded)
        bands = from_sidecar.where(from_sidecar.notna() & (from_sidecar != ""), bands)
    return bands


def _nights_between(start: dt.date, end: dt.date) -> list[str]:
    base = config.warehouse_dir()
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        if child.name.startswith("night="):
            night = child.name[len("night=") :]
            if start.isoformat() <= night <= end.isoformat():
                found.append(night)
    return sorted(found)


def statistics(start: dt.date, end: dt.date, db_url: str | None = None) -> list[StatRow]:
    """Count flags and arrivals per track, outcome, rule and group, without personal data.

    Args:
        start: first night counted.
        end: last night counted (inclusive).
        db_url: the queue database (default :func:`apiflag.config.db_url`).

    Returns:
        Unsuppressed rows, ordered by dimension then value; pass them through :func:`suppress`
        before showing them to anyone.
    """
    flags = _flags(start.isoformat(), end.isoformat(), db_url)
    flagged = set(flags["traveller_id"].astype(str)) if "traveller_id" in flags else set()
    rows: list[StatRow] = []
    for dimension, column in (("track", "track"), ("outcome", "status")):
        if column in flags:
            for value, n in sorted(Counter(flags[column].astype(str)).items()):
                rows.append(StatRow(dimension, value, None, n))
    groups: dict[str, Counter[str]] = {d: Counter() for d in ("nationality", "sex", "age_band")}
    group_flags: dict[str, Counter[str]] = {d: Counter() for d in groups}
    rule_hits: Counter[str] = Counter()
    rule_flags: Counter[str] = Counter()
    for night in _nights_between(start, end):
        travellers = _night_frame(
            night, "travellers", ["traveller_id", "nationality", "sex", "date_of_birth"]
        )
        if not travellers.empty:
            travellers = travellers.assign(age_band=_bands(night, travellers))
            is_flagged = travellers["traveller_id"].astype(str).isin(flagged)
            for dimension in groups:
                labels = travellers[dimension].fillna("unknown").astype(str)
                groups[dimension].update(labels)
                group_flags[dimension].update(labels[is_flagged])
        hits = _night_frame(night, "rule_hits", ["traveller_id", "rule_id", "rule_version"])
        if not hits.empty and "rule_id" in hits:
            pairs = hits[["traveller_id", "rule_id"]].drop_duplicates()
            rule_hits.update(pairs["rule_id"].astype(str))
            rule_flags.update(
                pairs.loc[pairs["traveller_id"].astype(str).isin(flagged), "rule_id"].astype(str)
            )
    for rule in sorted(rule_hits):
        rows.append(StatRow("rule", rule, rule_hits[rule], rule_flags.get(rule, 0)))
    for dimension, counts in groups.items():
        for value in sorted(counts):
            rows.append(StatRow(dimension, value, counts[value], group_flags[dimension][value]))
    return rows


def _cell(n: int | None, threshold: int) -> int | str | None:
    if n is None:
        return None
    return f"<{threshold}" if 0 < n < threshold else n


def suppress(rows: Iterable[StatRow], threshold: int = SMALL_CELL) -> list[dict[str, Any]]:
    """Return rows as dicts with every count from 1 to ``threshold - 1`` shown as ``"<threshold"``.

    Args:
        rows: rows from :func:`statistics`.
        threshold: the smallest count shown as a number (default 5).

    Returns:
        ``{dimension, value, arrivals, flags}`` dicts ready for JSON or CSV.
    """
    return [
        {
            "dimension": r.dimension,
            "value": r.value,
            "arrivals": _cell(r.arrivals, threshold),
            "flags": _cell(r.flags, threshold),
        }
        for r in rows
    ]


def render(rows: list[dict[str, Any]], fmt: str, start: dt.date, end: dt.date) -> str:
    """Render suppressed rows as ``json`` (with the period and the rule used) or ``csv``."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(
            out, fieldnames=["dimension", "value", "arrivals", "flags"], lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return out.getvalue()
    return json.dumps(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "suppression": f"counts from 1 to {SMALL_CELL - 1} are shown as <{SMALL_CELL}",
            "rows": rows,
        },
        indent=2,
    )
