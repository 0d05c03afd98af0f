"""What the desk's pages show, gathered from the project's own stores.

Every page reads through the functions the CLI uses (:func:`apiflag.queue.store.list_flags`,
:func:`apiflag.explain.explanation`, :func:`apiflag.audit.read_events`,
:func:`apiflag.privacy.stats.statistics`, :func:`apiflag.report.nightly.fairness_table`,
:func:`apiflag.model.registry.list_versions`) and redacts through
:func:`apiflag.privacy.roles.redact_for`. This module adds only what a page needs around them:
each flag's flight (arrival airport and time, from the night's warehouse), the travellers linked
to a flagged one by booking, phone, payer or document, the geometry of the charts, and paging.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from apiflag import config
from apiflag.queue import store

__all__ = [
    "PAGE_SIZE",
    "Page",
    "QueueFilters",
    "bars",
    "flight_info",
    "linked_travellers",
    "night_run",
    "paginate",
    "queue_rows",
]

PAGE_SIZE = 25


@dataclass(frozen=True)
class Page:
    """One page of a longer list."""

    items: list[Any]
    number: int
    pages: int
    total: int


def paginate(items: Sequence[Any], page: int, size: int = PAGE_SIZE) -> Page:
    """Return page ``page`` (1-based, clamped to the pages there are) of ``items``."""
    pages = max(1, math.ceil(len(items) / size))
    number = min(max(1, page), pages)
    start = (number - 1) * size
    return Page(list(items[start : start + size]), number, pages, len(items))


def _read(night: str, name: str, columns: list[str]) -> pd.DataFrame:
    path = config.warehouse_dir(night) / f"{name}.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    frame = pd.read_parquet(path)
    keep = [c for c in columns if c in frame.columns]
    return frame[keep]


def _stamp(night: str) -> float:
    path = config.warehouse_dir(night) / "travellers.parquet"
    return path.stat().st_mtime if path.is_file() else 0.0


@lru_cache(maxsize=8)
def _flights_of_night(night: str, _stamp: float) -> dict[str, dict[str, Any]]:
    travellers = _read(night, "travellers", ["traveller_id", "flight_id"])
    flights = _read(
        night, "flights", ["flight_id", "arrival_airport", "scheduled_arrival", "departure_airport"]
    ).drop_duplicates("flight_id")
    merged = travellers.merge(flights, on="flight_id", how="left")
    out: dict[str, dict[str, Any]] = {}
    for row in merged.itertuples(index=False):
        arrival = getattr(row, "scheduled_arrival", None)
        out[str(row.traveller_id)] = {
            "airport": getattr(row, "arrival_airport", None) or None,
            "origin": getattr(row, "departure_airport", None) or None,
            "arrival": _utc(arrival),
        }
    return out


def _utc(value: Any) -> dt.datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.to_pydatetime().astimezone(dt.UTC)


def flight_info(night: str, traveller_id: str) -> dict[str, Any]:
    """Return ``{airport, origin, arrival}`` of a traveller's flight (None values when unknown)."""
    known = _flights_of_night(night, _stamp(night))
    return known.get(traveller_id, {"airport": None, "origin": None, "arrival": None})


@dataclass(frozen=True)
class QueueFilters:
    """The queue page's filters (each None when not set)."""

    night: dt.date | None = None
    track: str | None = None
    status: str | None = None
    flight: str | None = None
    airport: str | None = None


def queue_rows(
    engine: Engine, filters: QueueFilters, *, actor: str, role: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Return the queue items the filters select, best priority first, each with its flight.

    The listing is audited by :func:`apiflag.queue.store.list_flags` (``queue.list``).
    Each item gains ``airport``, ``origin``, ``arrival`` (UTC) and ``landed``.
    """
    items = store.list_flags(
        engine,
        filters.night,
        filters.status,
        actor=actor,
        role=role,
        track=filters.track,
        flight=filters.flight,
    )
    ids = _traveller_ids(engine, [i["flag_id"] for i in items])
    out = []
    for item in items:
        info = flight_info(item["night"], ids.get(item["flag_id"], ""))
        if filters.airport and info["airport"] != filters.airport:
            continue
        arrival = info["arrival"]
        out.append({**item, **info, "landed": arrival is not None and arrival <= now})
    return out


def _traveller_ids(engine: Engine, flag_ids: list[str]) -> dict[str, str]:
    if not flag_ids:
        return {}
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(flag_ids), 500):
            chunk = flag_ids[start : start + 500]
            query = select(store.flags.c.flag_id, store.flags.c.traveller_id).where(
                store.flags.c.flag_id.in_(chunk)
            )
            out.update({r.flag_id: r.traveller_id for r in conn.execute(query)})
    return out


def night_run(engine: Engine, night: dt.date) -> dict[str, Any] | None:
    """Return the latest saved run of ``night`` (capacity, queued, overflow ...), or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(store.night_runs)
            .where(store.night_runs.c.night == night)
            .order_by(store.night_runs.c.id.desc())
            .limit(1)
        ).first()
    return dict(row._mapping) if row is not None else None


LINK_KINDS = ("booking", "phone", "payer", "document")


def linked_travellers(night: str, traveller_id: str, limit: int = 12) -> list[dict[str, Any]]:
    """Return the night's other travellers sharing a booking, phone, payer or document.

    Args:
        night: the night (``YYYY-MM-DD``).
        traveller_id: the flagged traveller.
        limit: at most this many, the most strongly linked first.

    Returns:
        ``{traveller_id, surname, given_names, flight_id, links: [kind, ...]}`` (personal data:
        pass through :func:`apiflag.privacy.roles.redact_for`).
    """
    travellers = _link_columns(night, _stamp(night))
    if travellers.empty:
        return []
    me = travellers[travellers["traveller_id"] == traveller_id]
    if me.empty:
        return []
    links: dict[str, set[str]] = {}

    def add(ids: Any, kind: str) -> None:
        for other in ids:
            if str(other) != traveller_id:
                links.setdefault(str(other), set()).add(kind)

    booking = me.iloc[0]["booking_id"]
    document = me.iloc[0]["document_number"]
    if isinstance(booking, str) and booking:
        add(travellers.loc[travellers["booking_id"] == booking, "traveller_id"], "booking")
    if isinstance(document, str) and document:
        add(travellers.loc[travellers["document_number"] == document, "traveller_id"], "document")
    for kind, bookings in _shared_bookings(night, booking).items():
        add(travellers.loc[travellers["booking_id"].isin(bookings), "traveller_id"], kind)
    rows = travellers.set_index("traveller_id")
    out: list[dict[str, Any]] = [
        {
            "traveller_id": tid,
            "surname": _clean(rows.at[tid, "surname"]) if tid in rows.index else None,
            "given_names": _clean(rows.at[tid, "given_names"]) if tid in rows.index else None,
            "flight_id": _clean(rows.at[tid, "flight_id"]) if tid in rows.index else None,
            "links": [k for k in LINK_KINDS if k in kinds],
        }
        for tid, kinds in links.items()
    ]
    out.sort(key=lambda r: (-len(list(r["links"])), str(r["traveller_id"])))
    return out[:limit]


@lru_cache(maxsize=4)
def _link_columns(night: str, _stamp: float) -> pd.DataFrame:
    """The night's travellers, only the columns links need (cached per night and file version)."""
    travellers = _read(
        night,
        "travellers",
        ["traveller_id", "surname", "given_names", "flight_id", "booking_id", "document_number"],
    )
    return travellers.astype({"traveller_id": str}) if not travellers.empty else travellers


def _clean(value: Any) -> Any:
    if isinstance(value, pd.Series):
        value = value.iloc[0]
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _shared_bookings(night: str, booking: Any) -> dict[str, set[str]]:
    """Return kind -> other bookings sharing the booking's phone (``phone``) or payer (``payer``)."""
    if not isinstance(booking, str) or not booking:
        return {}
    out: dict[str, set[str]] = {}
    contacts = _read(night, "booking_contacts", ["booking_id", "kind", "normalized"])
    if not contacts.empty:
        phones = contacts[contacts["kind"].astype(str).str.contains("phone", case=False)]
        mine = set(phones.loc[phones["booking_id"] == booking, "normalized"].dropna())
        if mine:
            out["phone"] = set(phones.loc[phones["normalized"].isin(mine), "booking_id"]) - {
                booking
            }
    payments = _read(night, "payments", ["booking_id", "payer_name"])
    if not payments.empty:
        mine = set(payments.loc[payments["booking_id"] == booking, "payer_name"].dropna())
        mine.discard("")
        if mine:
            out["payer"] = set(payments.loc[payments["payer_name"].isin(mine), "booking_id"]) - {
                booking
            }
    return out


def bars(rows: Sequence[dict[str, Any]], width: float = 260.0) -> list[dict[str, Any]]:
    """Return the geometry of a horizontal bar chart of contributions around a zero line.

    Each row gains ``x`` and ``w`` (pixels inside ``width``, zero in the middle) and ``y``.
    """
    biggest = max((abs(float(r["weight"])) for r in rows), default=0.0) or 1.0
    half = width / 2
    out = []
    for i, r in enumerate(rows):
        w = abs(float(r["weight"])) / biggest * half
        x = half if float(r["weight"]) >= 0 else half - w
        out.append({**r, "x": round(x, 1), "w": round(max(w, 1.0), 1), "y": i * 22})
    return out


def report_path(night: str) -> Path | None:
    """Return the nightly report of ``night`` when it exists."""
    path = config.reports_dir() / f"{night}.html"
    return path if path.is_file() else None


def report_nights() -> list[str]:
    """Return the nights that have a report, newest first."""
    folder = config.reports_dir()
    if not folder.is_dir():
        return []
    return sorted((p.stem for p in folder.glob("*.html")), reverse=True)


def graph(linked: Sequence[dict[str, Any]], size: int = 300) -> dict[str, Any]:
    """Return node positions for the small link graph: the flagged traveller in the middle.

    Returns:
        ``{size, cx, cy, nodes: [{x, y, label, links, traveller_id}]}``.
    """
    centre = size / 2
    radius = size / 2 - 40
    nodes = []
    for i, row in enumerate(linked):
        angle = 2 * math.pi * i / max(1, len(linked)) - math.pi / 2
        label = row.get("surname") or row.get("traveller_id") or "?"
        nodes.append(
            {
                "x": round(centre + radius * math.cos(angle), 1),
                "y": round(centre + radius * math.sin(angle), 1),
                "label": str(label)[:14],
                "links": ", ".join(row.get("links", [])),
                "traveller_id": row.get("traveller_id"),
            }
        )
    return {"size": size, "cx": centre, "cy": centre, "nodes": nodes}


def fairness(night: str) -> list[Any]:
    """Return :func:`apiflag.report.nightly.fairness_table` of the night's combined scores."""
    from apiflag.report.nightly import fairness_table

    path = config.warehouse_dir(night) / "combined.parquet"
    if not path.is_file():
        return []
    return fairness_table(pd.read_parquet(path))


def fairness_charts(rows: Sequence[Any], width: float = 300.0) -> list[dict[str, Any]]:
    """Return one bar chart per protected attribute: flag rate per group, overall rate marked.

    Returns:
        ``[{attribute, height, overall_x, bars: [{group, y, w, rate, ratio, small, over}]}]``.
    """
    charts = []
    for attribute in dict.fromkeys(r.attribute for r in rows):
        group = [r for r in rows if r.attribute == attribute][:15]
        biggest = max((r.rate for r in group), default=0.0) or 1.0
        total_arrivals = sum(r.arrivals for r in rows if r.attribute == attribute)
        total_flagged = sum(r.flagged for r in rows if r.attribute == attribute)
        overall = total_flagged / total_arrivals if total_arrivals else 0.0
        charts.append(
            {
                "attribute": attribute,
                "height": len(group) * 22 + 10,
                "overall": overall,
                "overall_x": round(min(overall / biggest, 1.0) * width, 1),
                "bars": [
                    {
                        "group": r.group,
                        "y": i * 22,
                        "w": round(max(r.rate / biggest * width, 1.0), 1),
                        "rate": r.rate,
                        "ratio": r.ratio,
                        "small": r.small,
                        "over": r.over_twice,
                    }
                    for i, r in enumerate(group)
                ],
            }
        )
    return charts


def model_card(run_id: str) -> dict[str, Any] | None:
    """Return a registered run's model card as HTML and its plots as data URIs.

    The card's markdown is escaped before it is rendered, so nothing in it becomes markup.
    """
    import base64
    import html
    import tempfile

    import markdown
    from mlflow.exceptions import MlflowException

    from apiflag.model.registry import mlflow_client

    client = mlflow_client()
    try:
        names = [a.path for a in client.list_artifacts(run_id)]
        with tempfile.TemporaryDirectory() as tmp:
            text = ""
            if "model_card.md" in names:
                card = Path(client.download_artifacts(run_id, "model_card.md", tmp))
                text = card.read_text(encoding="utf-8")
            plots = []
            for name in sorted(n for n in names if n.endswith(".png")):
                data = Path(client.download_artifacts(run_id, name, tmp)).read_bytes()
                plots.append((name, "data:image/png;base64," + base64.b64encode(data).decode()))
    except (MlflowException, OSError):
        return None
    body = markdown.markdown(html.escape(text, quote=False), extensions=["tables"])
    return {"html": body, "plots": plots}
