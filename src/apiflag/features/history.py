"""The history window: the earlier nights that feed shared contacts, identities and route links."""

from __future__ import annotations

import datetime as dt

from apiflag.features.tables import NightTables


def _history_window(night: str, history: list[NightTables] | None, days: int) -> list[NightTables]:
    if not history:
        return []
    end = dt.date.fromisoformat(night)
    start = end - dt.timedelta(days=days)
    return [h for h in history if start <= dt.date.fromisoformat(h.night) < end]
