"""The vectorised booking, party, payer and route features equal their first, row-by-row
implementations on random nights.

The ``_ref_*`` functions below are those first implementations (before issue 12's speed-up),
kept verbatim in their logic: dictionaries per booking, a Python loop per traveller, every
payer name parsed per row. Hypothesis draws the small nights of
``test_relations_reference`` (namesakes, payers naming two travellers, cash and card payments,
return legs, bookings without PNR travellers, superseded pushes) plus case matches and
history links on their routes; both implementations must agree exactly.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_relations_reference as rel
from apiflag.features.booking import (
    CARD_KNOWN_DIGITS,
    BookingKeys,
    _booking_facts,
    _booking_travel,
    _party_members,
    party_features,
    payer_features,
)
from apiflag.features.build import build_features
from apiflag.features.common import (
    COMPANY_WORDS,
    _bool,
    _is_named,
    _name_tokens,
    _norm_contact,
    _payer_parts,
    _ts,
)
from apiflag.features.route import Route, RouteLink, _route_case_links, _route_links, _routes
from apiflag.features.tables import NOT_READ, TABLE_COLUMNS, NightTables
from apiflag.features.traveller import traveller_features
from apiflag.settings import load_settings
from rules_helpers import NIGHT, matches_frame

# ----------------------------------------------------------------------------- the references

SEAT = re.compile(r"^0*(\d{1,3})([A-Z])$")


def _ref_booking_facts(t: NightTables) -> pd.DataFrame:
    """Per current booking: record locator, agency, cash, payer, one-way/stay, party."""
    b = t.bookings[["booking_id", "record_locator", "flight_id", "created", "agency_id"]].copy()
    b = b.dropna(subset=["booking_id"]).drop_duplicates("booking_id").reset_index(drop=True)
    b["n_travellers"] = pd.to_numeric(
        t.bookings.drop_duplicates("booking_id")
        .set_index("booking_id")["n_travellers"]
        .reindex(b["booking_id"])
        .to_numpy(),
        errors="coerce",
    )
    pay = t.payments
    if len(pay):
        form = pay["form"].astype(object).where(pay["form"].notna(), None)
        cash = (
            pd.Series([isinstance(f, str) and f.upper() == "CA" for f in form], index=pay.index)
            .groupby(pay["booking_id"].to_numpy())
            .any()
        )
        payer = pay.loc[pay["payer_name"].notna()].groupby("booking_id")["payer_name"].first()
        pphone = pay.loc[pay["payer_phone"].notna()].groupby("booking_id")["payer_phone"].first()
        card = pay.loc[pay["masked_card"].notna()].groupby("booking_id")["masked_card"].first()
        paid = set(pay["booking_id"].dropna())
    else:
        cash, payer, pphone, card, paid = (
            pd.Series(dtype=bool),
            pd.Series(dtype=object),
            pd.Series(dtype=object),
            pd.Series(dtype=object),
            set(),
        )
    ids = b["booking_id"].tolist()
    cash_d, payer_d = cash.to_dict(), payer.to_dict()
    pphone_d, card_d = pphone.to_dict(), card.to_dict()
    b["payment_cash"] = _bool(
        [bool(cash_d.get(x, False)) if x in paid else None for x in ids], b.index
    )
    b["payer_name"] = [payer_d.get(x) for x in ids]
    b["payer_phone"] = [pphone_d.get(x) for x in ids]
    b["payer_phone_key"] = [
        _norm_contact("phone", p, None) if isinstance(p, str) else None
        for p in b["payer_phone"].tolist()
    ]
    # who pays, for the switchboard test: the card if given, else the payer's name words
    cards = (
        pd.Series([card_d.get(x) or "" for x in ids], dtype=object)
        .astype(str)
        .str.upper()
        .str.replace(r"[^0-9X]", "", regex=True)
    )
    card_known = (cards.str.count(r"[0-9]") >= CARD_KNOWN_DIGITS).to_numpy(bool)
    keys: list[str | None] = []
    for c, known, name in zip(cards.tolist(), card_known, b["payer_name"].tolist(), strict=True):
        if known:  # last four alone is not one card
            keys.append("card:" + c)
        elif isinstance(name, str) and (words := _name_tokens(name)):
            keys.append("name:" + " ".join(sorted(words)))
        else:
            keys.append(None)
    b["payer_key"] = keys
    return b


def _ref_booking_travel(
    t: NightTables, booking_ids: pd.Series, arrivals: pd.Series
) -> pd.DataFrame:
    """one_way and stay_days for (booking_id, arrival time) pairs."""
    it = t.itinerary.loc[:, ["booking_id", "scheduled_departure"]].copy()
    it["dep"] = _ts(it["scheduled_departure"])
    has_it = set(it["booking_id"].dropna())
    q = pd.DataFrame({"booking_id": booking_ids.to_numpy(), "arr": _ts(arrivals).to_numpy()})
    q["row"] = np.arange(len(q))
    m = q.merge(it[["booking_id", "dep"]], on="booking_id", how="left")
    later = m.loc[m["dep"].notna() & m["arr"].notna() & (m["dep"] > m["arr"])]
    first_later = later.groupby("row")["dep"].min()
    known = q["booking_id"].isin(has_it).to_numpy(bool) & q["arr"].notna().to_numpy(bool)
    first = pd.Series(first_later.reindex(q["row"]).to_numpy(), dtype="datetime64[us]")
    arr = pd.Series(q["arr"].to_numpy(), dtype="datetime64[us]")
    has_later = first.notna().to_numpy(bool)
    one_way = pd.array(~has_later, dtype="boolean")
    one_way[~known] = pd.NA
    stay = ((first - arr) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan).copy()
    stay[~(known & has_later)] = np.nan
    return pd.DataFrame({"one_way": one_way, "stay_days": stay})


def _ref_per_booking(keys: BookingKeys, values: dict[Any, Any], default: Any, dtype: str) -> Any:
    """Each traveller's booking's value (``default`` when absent), null without a booking."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = list(values.values())
    table[-1] = default
    at = pd.Index(list(values.keys()), dtype=object).get_indexer(keys.bid.to_numpy(object))
    picked = table[np.where(at >= 0, at, len(values))]
    picked[~keys.known] = None
    return pd.array(picked, dtype=dtype)


def _ref_unrelated_minors(
    b_ids: np.ndarray,
    adult: np.ndarray,
    minor: np.ndarray,
    surs: list[frozenset[str]],
    adults: dict[Any, int],
) -> dict[Any, int]:
    """Per booking with an adult: its minors sharing no surname word with any of its adults."""
    with_minor = set(b_ids[minor].tolist())
    adult_sur: dict[Any, set[str]] = defaultdict(set)
    for i in np.flatnonzero(adult):
        if b_ids[i] in with_minor:
            adult_sur[b_ids[i]] |= surs[i]
    out = dict.fromkeys(adults, 0)
    for i in np.flatnonzero(minor):
        b = b_ids[i]
        if adults.get(b) and not (surs[i] & adult_sur.get(b, set())):
            out[b] += 1
    return out


def _ref_party_features(
    tables: NightTables, keys: BookingKeys, dob: pd.Series, age: pd.Series, night: pd.Timestamp
) -> dict[str, Any]:
    """Party size, adults, minors, unrelated minors, the payer against the party, seating."""
    out: dict[str, Any] = {}
    facts = keys.facts
    members = _party_members(tables, keys, dob, age, night)
    b_ids = members["booking_id"].to_numpy(object)
    adult = members["adult"].astype("boolean").fillna(False).to_numpy(bool)
    minor = members["minor"].astype("boolean").fillna(False).to_numpy(bool)
    surs = members["sur"].tolist()
    names = members["names"].tolist()
    codes, uniques = pd.factorize(b_ids, use_na_sentinel=True)
    found = codes >= 0
    bookings = np.asarray(uniques, dtype=object).tolist()
    n_b = len(bookings)
    size = dict(zip(bookings, np.bincount(codes[found], minlength=n_b).tolist(), strict=True))
    adults = dict(
        zip(bookings, np.bincount(codes[found & adult], minlength=n_b).tolist(), strict=True)
    )
    minors = dict(
        zip(bookings, np.bincount(codes[found & minor], minlength=n_b).tolist(), strict=True)
    )
    unrelated = _ref_unrelated_minors(b_ids, adult, minor, surs, adults)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_b + 1))
    at = {b: order[starts[j] : starts[j + 1]] for j, b in enumerate(bookings)}
    payer_trav: dict[object, bool | None] = {}
    payer_company: dict[object, bool | None] = {}
    payer_unrelated: dict[object, int | None] = {}
    for b_id, payer in zip(facts.index.tolist(), facts["payer_name"].tolist(), strict=True):
        if not isinstance(payer, str) or not payer.strip():
            payer_trav[b_id] = payer_company[b_id] = payer_unrelated[b_id] = None
            continue
        p_sur, p_all = _payer_parts(payer)
        rows = at.get(b_id, ())
        payer_company[b_id] = bool(_name_tokens(payer) & COMPANY_WORDS)
        payer_unrelated[b_id] = sum(1 for i in rows if not (surs[i] & p_sur))
        payer_trav[b_id] = any(_is_named(p_sur, p_all, *names[i]) for i in rows)
    idx = keys.tr.index
    out["booking.payer_is_company"] = _bool(
        _ref_per_booking(keys, payer_company, None, "object"), idx
    )
    out["booking.party_unrelated_to_payer"] = _ref_per_booking(keys, payer_unrelated, None, "Int64")
    n_trav = {
        b: int(n)
        for b, n in zip(facts.index.tolist(), facts["n_travellers"].tolist(), strict=True)
        if n is not None and not (isinstance(n, float) and np.isnan(n))
    }
    out["booking.party_size"] = pd.array(
        [
            size.get(b, n_trav.get(b)) if k else None
            for b, k in zip(keys.bid_list, keys.known, strict=True)
        ],
        dtype="Int64",
    )
    out["booking.adults_in_party"] = _ref_per_booking(keys, adults, 0, "Int64")
    out["booking.minors_in_party"] = _ref_per_booking(keys, minors, 0, "Int64")
    out["booking.unrelated_minors_with_adult"] = _ref_per_booking(keys, unrelated, 0, "Int64")
    out["booking.party_seated_apart"] = _ref_seated_apart(keys.tr, keys.known)
    out["booking.payer_travelling"] = _bool(_ref_per_booking(keys, payer_trav, None, "object"), idx)
    return out


def _ref_payer_features(keys: BookingKeys) -> dict[str, Any]:
    """Whether a payer is named, shares this traveller's surname, or is this traveller."""
    out: dict[str, Any] = {}
    tr, idx = keys.tr, keys.tr.index
    payer_names = keys.facts["payer_name"].reindex(keys.bid).reset_index(drop=True)
    out["booking.payer_known"] = _bool(
        (
            (isinstance(p, str) and bool(p.strip())) if k else None
            for p, k in zip(payer_names, keys.known, strict=True)
        ),
        idx,
    )
    same: list[bool | None] = []
    is_payer: list[bool | None] = []
    for p, s, g in zip(
        payer_names.tolist(), tr["surname"].tolist(), tr["given_names"].tolist(), strict=True
    ):
        if not isinstance(p, str) or not p.strip():
            same.append(None)
            is_payer.append(None)
        else:
            p_sur, p_all = _payer_parts(p)
            sur, given = _name_tokens(s), _name_tokens(g)
            # an organisation is nobody's relative: CHAN HUMAN RESOURCES CO paying for a CHAN
            same.append(bool(p_sur & sur) and not (p_all & COMPANY_WORDS))
            is_payer.append(_is_named(p_sur, p_all, sur, given))
    out["booking.payer_same_surname"] = _bool(same, idx)
    out["traveller.is_payer"] = _bool(is_payer, idx)
    return out


def _ref_route_case_links(
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
    route = _routes(tables)
    counts: list[int | None] = []
    for tid, f, b in zip(tr["traveller_id"], tr["flight_id"], bid, strict=True):
        here = route.get(f)
        if here is None:
            counts.append(None)
            continue
        own = {f"{tables.night}/t/{tid}", f"{tables.night}/b/{b}"}
        counts.append(sum(1 for srcs in sources.get(here, {}).values() if srcs - own))
    return pd.Series(pd.array(counts, dtype="Int64"))


def _ref_seated_apart(tr: pd.DataFrame, known: np.ndarray) -> pd.Series:
    """Per traveller: the booking's seated travellers on this flight share no row."""
    rows: dict[tuple[object, object], list[str]] = defaultdict(list)
    keys = list(zip(tr["booking_id"].tolist(), tr["flight_id"].tolist(), strict=True))
    for key, k, seat in zip(keys, known, tr["seat"].tolist(), strict=True):
        m = SEAT.match(seat.strip().upper()) if k and isinstance(seat, str) else None
        if m:
            rows[key].append(m.group(1))
    apart = {key: len(r) == len(set(r)) for key, r in rows.items() if len(r) >= 2}
    return pd.Series(
        pd.array(
            [apart.get(key) if k else None for key, k in zip(keys, known, strict=True)],
            dtype="boolean",
        )
    )


# ----------------------------------------------------------------------------- comparisons


def _plain(values: Any) -> list[Any]:
    """Values as plain Python objects, every kind of null as None."""
    return [
        None if v is None or (not isinstance(v, frozenset) and pd.isna(v)) else v
        for v in (values.tolist() if hasattr(values, "tolist") else list(values))
    ]


def _same(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    assert set(fast) == set(slow)
    for name in slow:
        assert _plain(pd.Series(fast[name])) == _plain(pd.Series(slow[name])), name


@st.composite
def nights_with_matches(draw: st.DrawFn) -> tuple[NightTables, list[NightTables], Any, Any]:
    """A random night (and history) with case matches of some travellers and bookings."""
    tables, past = draw(rel.nights())
    seats = ["12A", "12B", " 012c", "14A", "7", None]  # rows 12, 12, 12, 14; "7": no seat
    travellers = tables.travellers.assign(
        seat=[draw(st.sampled_from(seats)) for _ in range(len(tables.travellers))]
    )
    tables = dataclasses.replace(tables, travellers=travellers)
    cases = ["C1", "C2", "C3"]
    tids = tables.travellers["traveller_id"].tolist()
    rows = [
        {
            "traveller_id": t,
            "person_id": "P",
            "case_id": draw(st.sampled_from(cases)),
            "role": "victim",
            "probability": draw(st.sampled_from([0.3, 0.5, 0.9])),
            "protection_only": False,
        }
        for t in tids
        if draw(st.integers(0, 2)) == 0
    ]
    bids = tables.bookings["booking_id"].tolist()
    idm = pd.DataFrame(
        {
            "booking_id": [b for b in bids if draw(st.booleans())],
        }
    )
    idm["case_id"] = [draw(st.sampled_from(cases)) for _ in range(len(idm))]
    use = draw(st.integers(0, 3))
    return tables, past, matches_frame(rows) if use != 1 else None, idm if use != 2 else None


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(nights_with_matches())
def test_booking_facts_and_travel_equal_the_row_by_row_reference(night: Any) -> None:
    tables, _, _, _ = night
    fast, slow = _booking_facts(tables), _ref_booking_facts(tables)
    assert list(fast.columns) == list(slow.columns)
    for column in slow.columns:
        assert _plain(fast[column]) == _plain(slow[column]), column
    ids = pd.Series([*slow["booking_id"].tolist(), None, "NO-SUCH"], dtype=object)
    arrivals = pd.Series([pd.Timestamp(NIGHT) + pd.Timedelta(hours=h) for h in range(len(ids))])
    arrivals.iloc[0] = pd.NaT
    fast_t, slow_t = (
        _booking_travel(tables, ids, arrivals),
        _ref_booking_travel(tables, ids, arrivals),
    )
    for column in ("one_way", "stay_days"):
        assert _plain(fast_t[column]) == _plain(slow_t[column]), column


@SETTINGS
@given(nights_with_matches())
def test_party_and_payer_features_equal_the_row_by_row_reference(night: Any) -> None:
    tables, _, _, _ = night
    keys = BookingKeys.of(tables)
    when = pd.Timestamp(tables.night)
    _, dob, age = traveller_features(tables, keys.tr, when, load_settings())
    _same(
        party_features(tables, keys, dob, age, when),
        _ref_party_features(tables, keys, dob, age, when),
    )
    _same(payer_features(keys), _ref_payer_features(keys))


@SETTINGS
@given(nights_with_matches(), st.data())
def test_route_case_links_equal_the_row_by_row_reference(night: Any, data: st.DataObject) -> None:
    tables, past, matches, idm = night
    keys = BookingKeys.of(tables)
    history = [link for h in past for link in _route_links(h, h.matches, h.identifier_matches)]
    # links of other nights on tonight's routes, and copies of tonight's own sources
    routes: list[Route] = list(_routes(tables).values())
    own = [f"{tables.night}/t/{t}" for t in keys.tr["traveller_id"]]
    own += [f"{tables.night}/b/{b}" for b in keys.bid_list]
    for _ in range(data.draw(st.integers(0, 6))) if routes else ():
        source = data.draw(st.sampled_from([*own, "2026-11-01/t/T9", "2026-11-02/b/B9"]))
        history.append(
            (data.draw(st.sampled_from(routes)), data.draw(st.sampled_from(["C1", "C4"])), source)
        )
    with_matches = data.draw(st.booleans())
    args = (tables, history, with_matches, matches, idm, keys.tr, keys.bid)
    assert _plain(_route_case_links(*args)) == _plain(_ref_route_case_links(*args))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights_with_matches())
def test_the_columns_left_on_disk_are_read_by_no_feature(night: Any) -> None:
    """The nightly stage reads only FEATURE_COLUMNS: every feature is the same without the rest."""
    tables, past, matches, _ = night
    full = build_features(tables, past, matches, None, settings=load_settings())
    frames = {
        name: getattr(tables, name).drop(columns=sorted(NOT_READ[name])) for name in TABLE_COLUMNS
    }
    assert any(getattr(tables, name)[sorted(NOT_READ[name])].notna().any().any() for name in frames)
    thin = NightTables.from_frames(tables.night, **frames)
    pd.testing.assert_frame_equal(
        build_features(thin, past, matches, None, settings=load_settings()), full
    )
