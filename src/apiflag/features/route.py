"""Route feature: cases linked to other travellers or bookings on the same route."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from apiflag.features.tables import NightTables

ROUTE_MATCH_MIN_PROBABILITY = 0.5


def _route_case_links(
    tables: NightTables,
    past: list[NightTables],
    matches: pd.DataFrame | None,
    idm: pd.DataFrame | None,
    tr: pd.DataFrame,
    bid: pd.Series,
) -> pd.Series:
    """Distinct cases linked to other travellers or bookings on each traveller's route."""
    if (
        matches is None
        and idm is None
        and not any(h.matches is not None or h.identifier_matches is not None for h in past)
    ):
        return pd.Series(pd.array([None] * len(tr), dtype="Int64"))
    links: list[tuple[tuple[object, object], str, str]] = []  # (route, case, source)

    def collect(t: NightTables, mm: pd.DataFrame | None, im: pd.DataFrame | None) -> None:
        fl = t.flights.drop_duplicates("flight_id").set_index("flight_id")
        route = {
            f: (d, a)
            for f, d, a in zip(
                fl.index, fl["departure_airport"], fl["arrival_airport"], strict=True
            )
        }
        t_route = {
            tid: route.get(f)
            for tid, f in zip(t.travellers["traveller_id"], t.travellers["flight_id"], strict=True)
        }
        b_route = {
            b: route.get(f)
            for b, f in zip(t.bookings["booking_id"], t.bookings["flight_id"], strict=True)
        }
        if mm is not None:
            p = pd.to_numeric(mm["probability"], errors="coerce").fillna(0.0)
            for tid, case in zip(
                mm["traveller_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
                mm["case_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
                strict=True,
            ):
                if (r := t_route.get(tid)) is not None and isinstance(case, str):
                    links.append((r, case, f"{t.night}/t/{tid}"))
        if im is not None:
            for b, case in zip(im["booking_id"], im["case_id"], strict=True):
                if (r := b_route.get(b)) is not None and isinstance(case, str):
                    links.append((r, case, f"{t.night}/b/{b}"))

    collect(tables, matches, idm)
    for h in past:
        collect(h, h.matches, h.identifier_matches)
    sources: dict[tuple[object, object], dict[str, set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for r, case, src in links:
        sources[r][case].add(src)
    fl = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    route = {
        f: (d, a)
        for f, d, a in zip(fl.index, fl["departure_airport"], fl["arrival_airport"], strict=True)
    }
    counts: list[int | None] = []
    for tid, f, b in zip(tr["traveller_id"], tr["flight_id"], bid, strict=True):
        here = route.get(f)
        if here is None:
            counts.append(None)
            continue
        own = {f"{tables.night}/t/{tid}", f"{tables.night}/b/{b}"}
        counts.append(sum(1 for srcs in sources.get(here, {}).values() if srcs - own))
    return pd.Series(pd.array(counts, dtype="Int64"))
