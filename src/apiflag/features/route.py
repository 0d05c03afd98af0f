"""Route feature: cases linked to other travellers or bookings on the same route."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from apiflag.features.tables import NightTables

ROUTE_MATCH_MIN_PROBABILITY = 0.5

Route = tuple[object, object]
RouteLink = tuple[Route, str, str]
"""(route (departure, arrival airport), case id, source ``<night>/t/<traveller>`` or ``/b/``)."""


def _routes(t: NightTables) -> dict[object, Route]:
    """Each flight's route (departure airport, arrival airport)."""
    fl = t.flights.drop_duplicates("flight_id").set_index("flight_id")
    return {
        f: (d, a)
        for f, d, a in zip(fl.index, fl["departure_airport"], fl["arrival_airport"], strict=True)
    }


def _route_links(
    t: NightTables, mm: pd.DataFrame | None, im: pd.DataFrame | None
) -> list[RouteLink]:
    """The case links of one night: matched travellers and bookings, by route."""
    links: list[RouteLink] = []
    route = _routes(t)
    if mm is not None:
        matched = set(mm["traveller_id"].dropna())
        t_route = {
            tid: route.get(f)
            for tid, f in zip(t.travellers["traveller_id"], t.travellers["flight_id"], strict=True)
            if tid in matched
        }
        p = pd.to_numeric(mm["probability"], errors="coerce").fillna(0.0)
        for tid, case in zip(
            mm["traveller_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
            mm["case_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
            strict=True,
        ):
            if (r := t_route.get(tid)) is not None and isinstance(case, str):
                links.append((r, case, f"{t.night}/t/{tid}"))
    if im is not None:
        b_route = {
            b: route.get(f)
            for b, f in zip(t.bookings["booking_id"], t.bookings["flight_id"], strict=True)
        }
        for b, case in zip(im["booking_id"], im["case_id"], strict=True):
            if (r := b_route.get(b)) is not None and isinstance(case, str):
                links.append((r, case, f"{t.night}/b/{b}"))
    return links


def _route_case_links(
    tables: NightTables,
    history_links: list[RouteLink],
    history_with_matches: bool,
    matches: pd.DataFrame | None,
    idm: pd.DataFrame | None,
    tr: pd.DataFrame,
    bid: pd.Series,
) -> pd.Series:
    """Distinct cases linked to other travellers or bookings on each traveller's route."""
    if matches is None and idm is None and not history_with_matches:
        return pd.Series(pd.array([None] * len(tr), dtype="Int64"))
    links = _route_links(tables, matches, idm) + history_links
    sources: dict[Route, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r, case, src in links:
        sources[r][case].add(src)
    # a traveller counts every case of the route but those whose sources are all their own
    # (this traveller, this booking, tonight): only cases with one or two of tonight's sources
    t_mark, b_mark = f"{tables.night}/t/", f"{tables.night}/b/"
    n_cases = {r: len(cases) for r, cases in sources.items()}
    own: dict[tuple[Route, str, str], int] = defaultdict(int)  # (route, traveller src, booking src)
    for r, cases in sources.items():
        for srcs in cases.values():
            t_src = [x for x in srcs if x.startswith(t_mark)]
            b_src = [x for x in srcs if x.startswith(b_mark)]
            if len(srcs) <= 2 and len(t_src) <= 1 and len(b_src) <= 1:
                if len(t_src) + len(b_src) == len(srcs):
                    own[(r, t_src[0] if t_src else "", b_src[0] if b_src else "")] += 1
    mine = {r for r, _, _ in own}
    route = _routes(tables)
    counts: list[int | None] = []
    for tid, f, b in zip(tr["traveller_id"], tr["flight_id"], bid, strict=True):
        here = route.get(f)
        if here is None:
            counts.append(None)
        elif here not in mine:
            counts.append(n_cases.get(here, 0))
        else:
            t, b_ = f"{t_mark}{tid}", f"{b_mark}{b}"
            excluded = own.get((here, t, ""), 0) + own.get((here, "", b_), 0)
            counts.append(n_cases[here] - excluded - own.get((here, t, b_), 0))
    return pd.Series(pd.array(counts, dtype="Int64"))
