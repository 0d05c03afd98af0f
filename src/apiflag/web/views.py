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
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
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


_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _flight_index(night: str, _stamp: float) -> tuple[pd.Series, dict[str, dict[str, Any]]]:
    """traveller_id -> flight_id, and flight_id -> {airport, origin, arrival}, for one night."""
    travellers = _read(night, "travellers", ["traveller_id", "flight_id"])
    flights = _read(
        night, "flights", ["flight_id", "arrival_airport", "scheduled_arrival", "departure_airport"]
    ).drop_duplicates("flight_id")
    by_traveller = pd.Series(
        travellers["flight_id"].to_numpy(), index=travellers["traveller_id"].astype(str).to_numpy()
    )
    by_traveller = by_traveller[~by_traveller.index.duplicated()]
    info = {
        str(row.flight_id): {
            "airport": getattr(row, "arrival_airport", None) or None,
            "origin": getattr(row, "departure_airport", None) or None,
            "arrival": _utc(getattr(row, "scheduled_arrival", None)),
        }
        for row in flights.itertuples(index=False)
    }
    return by_traveller, info


def _index(night: str) -> tuple[pd.Series, dict[str, dict[str, Any]]]:
    with _LOCK:  # one reader per night: concurrent first requests wait instead of re-reading
        return _flight_index(night, _stamp(night))


def _utc(value: Any) -> dt.datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.to_pydatetime().astimezone(dt.UTC)


def flight_info(night: str, traveller_id: str) -> dict[str, Any]:
    """Return ``{airport, origin, arrival}`` of a traveller's flight (None values when unknown)."""
    return flight_infos(night, [traveller_id])[0]


def flight_infos(night: str, traveller_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return :func:`flight_info` of each traveller, looked up together."""
    by_traveller, info = _index(night)
    unknown = {"airport": None, "origin": None, "arrival": None}
    flights = by_traveller.reindex(list(traveller_ids)).tolist() if len(by_traveller) else []
    return [
        info.get(str(f), unknown) if isinstance(f, str) else unknown
        for f in (flights or [None] * len(traveller_ids))
    ]


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
    infos: dict[str, dict[str, Any]] = {}
    for night in {i["night"] for i in items}:
        mine = [i["flag_id"] for i in items if i["night"] == night]
        found = flight_infos(night, [ids.get(f, "") for f in mine])
        infos.update(zip(mine, found, strict=True))
    out = []
    for item in items:
        info = infos[item["flag_id"]]
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


class _Sorted:
    """Values by key through a sorted array: each lookup is two binary searches."""

    def __init__(self, keys: Any, values: Any) -> None:
        k = np.asarray(pd.Series(keys, dtype=object).where(pd.notna(keys), "").astype(str))
        v = np.asarray(values, dtype=object)
        keep = k != ""
        order = np.argsort(k[keep], kind="stable")
        self.keys = k[keep][order]
        self.values = v[keep][order]

    def get(self, key: Any) -> Any:
        if not isinstance(key, str) or not key:
            return self.values[:0]
        lo = np.searchsorted(self.keys, key, "left")
        hi = np.searchsorted(self.keys, key, "right")
        return self.values[lo:hi]


@dataclass(frozen=True)
class _LinkIndex:
    """One night's travellers and the keys that link them (sorted once per night)."""

    columns: dict[str, Any]
    row: _Sorted
    booking: _Sorted
    document: _Sorted
    phones_of: _Sorted
    bookings_of_phone: _Sorted
    payers_of: _Sorted
    bookings_of_payer: _Sorted


def _objects(frame: pd.DataFrame, column: str) -> Any:
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[column].astype(object)
    return np.asarray(values.where(values.notna(), None), dtype=object)


@lru_cache(maxsize=4)
def _link_index(night: str, _stamp: float) -> _LinkIndex:
    travellers = _read(
        night,
        "travellers",
        ["traveller_id", "surname", "given_names", "flight_id", "booking_id", "document_number"],
    )
    cols = {
        c: _objects(travellers, c)
        for c in (
            "traveller_id",
            "surname",
            "given_names",
            "flight_id",
            "booking_id",
            "document_number",
        )
    }
    cols["traveller_id"] = np.asarray([str(t) for t in cols["traveller_id"]], dtype=object)
    rows = np.arange(len(travellers))
    contacts = _read(night, "booking_contacts", ["booking_id", "kind", "normalized"])
    if not contacts.empty:
        contacts = contacts[contacts["kind"].astype(str).str.contains("phone", case=False)]
    payments = _read(night, "payments", ["booking_id", "payer_name"])
    return _LinkIndex(
        columns=cols,
        row=_Sorted(cols["traveller_id"], rows),
        booking=_Sorted(cols["booking_id"], rows),
        document=_Sorted(cols["document_number"], rows),
        phones_of=_Sorted(_objects(contacts, "booking_id"), _objects(contacts, "normalized")),
        bookings_of_phone=_Sorted(
            _objects(contacts, "normalized"), _objects(contacts, "booking_id")
        ),
        payers_of=_Sorted(_objects(payments, "booking_id"), _objects(payments, "payer_name")),
        bookings_of_payer=_Sorted(
            _objects(payments, "payer_name"), _objects(payments, "booking_id")
        ),
    )


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
    with _LOCK:
        index = _link_index(night, _stamp(night))
    mine = index.row.get(traveller_id)
    if not len(mine):
        return []
    me = int(mine[0])
    booking = index.columns["booking_id"][me]
    links: dict[int, set[str]] = {}

    def add(rows: Any, kind: str) -> None:
        for r in rows:
            if int(r) != me:
                links.setdefault(int(r), set()).add(kind)

    add(index.booking.get(booking), "booking")
    for kind, mine_of, bookings_of in (
        ("phone", index.phones_of, index.bookings_of_phone),
        ("payer", index.payers_of, index.bookings_of_payer),
    ):
        for value in set(mine_of.get(booking)):
            for other in set(bookings_of.get(value)) - {booking}:
                add(index.booking.get(other), kind)
    add(index.document.get(index.columns["document_number"][me]), "document")
    c = index.columns
    out: list[dict[str, Any]] = [
        {
            "traveller_id": c["traveller_id"][r],
            "surname": c["surname"][r],
            "given_names": c["given_names"][r],
            "flight_id": c["flight_id"][r],
            "links": [k for k in LINK_KINDS if k in kinds],
        }
        for r, kinds in links.items()
    ]
    out.sort(key=lambda r: (-len(list(r["links"])), str(r["traveller_id"])))
    return out[:limit]


def _clean(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


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
