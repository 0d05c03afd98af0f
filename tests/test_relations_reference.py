"""The fast relation features equal a slow, obvious reference on random nights with history.

:func:`_reference` is the first (quadratic) implementation of
:func:`apiflag.features.relations.relation_features`, kept here verbatim in its logic: every
payer name compared with every traveller of a surname word, every history traveller's person
key computed. Hypothesis draws small nights full of namesakes (common surnames, payers naming
two travellers, travellers on another flight than their booking's), shared contacts, returning
legs, minors and history nights re-booking some of tonight's people; both must agree exactly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiflag.features.booking import BookingKeys
from apiflag.features.common import _is_named, _name_tokens, _norm_contact, _payer_parts
from apiflag.features.relations import relation_features
from apiflag.features.tables import NightTables
from apiflag.minors import minor_status
from rules_helpers import NIGHT, NightBuilder, years_ago

# ----------------------------------------------------------------------------- the reference


def _key(surname: object, given: object, dob: object) -> Any:
    words = _name_tokens(surname) | _name_tokens(given)
    when = pd.Timestamp(dob) if dob is not None and not pd.isna(dob) else None
    return (words, when.date()) if words and when is not None else None


def _ref_pairs(past: list[NightTables]) -> set[frozenset[Any]]:
    pairs: set[frozenset[Any]] = set()
    for h in past:
        t = h.travellers
        groups: dict[object, list[Any]] = defaultdict(list)
        for b, s, g, d in zip(
            t["booking_id"], t["surname"], t["given_names"], t["date_of_birth"], strict=True
        ):
            key = _key(s, g, d)
            if key is not None and isinstance(b, str):
                groups[b].append(key)
        for members in groups.values():
            for i, a in enumerate(members):
                for c in members[i + 1 :]:
                    if a != c:
                        pairs.add(frozenset((a, c)))
    return pairs


def _ref_returning(tables: NightTables, tr: pd.DataFrame, bid: list[Any]) -> list[bool | None]:
    fl = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    arrival_airports = set(fl["arrival_airport"].dropna().astype(str))
    dep = pd.to_datetime(fl["scheduled_departure"], errors="coerce")
    it = tables.itinerary
    out: list[bool | None] = []
    for b, f in zip(bid, tr["flight_id"].tolist(), strict=True):
        legs = it.loc[it["booking_id"] == b]
        when = dep[f] if f in dep.index else None
        if b is None or not len(legs) or when is None or pd.isna(when):
            out.append(None)
            continue
        out.append(
            any(
                pd.notna(d) and pd.Timestamp(d) < when and str(a) in arrival_airports
                for d, a in zip(
                    pd.to_datetime(legs["scheduled_departure"], errors="coerce"),
                    legs["departure_airport"],
                    strict=True,
                )
            )
        )
    return out


def _ref_paid(tables: NightTables, tr: pd.DataFrame) -> dict[int, set[object]]:
    pay = tables.payments.dropna(subset=["payer_name"]).drop_duplicates("booking_id")
    flight_of = dict(zip(tables.bookings["booking_id"], tables.bookings["flight_id"], strict=True))
    out: dict[int, set[object]] = defaultdict(set)
    for b, payer in zip(pay["booking_id"], pay["payer_name"], strict=True):
        if not isinstance(payer, str):
            continue
        named = [
            i
            for i in range(len(tr))
            if _name_tokens(tr["surname"][i]) & _name_tokens(payer)
            and _is_named(
                *_payer_parts(payer),
                _name_tokens(tr["surname"][i]),
                _name_tokens(tr["given_names"][i]),
            )
        ]
        if len(named) == 1 and tr["flight_id"][named[0]] == flight_of.get(b):
            out[named[0]].add(b)
    return out


def _ref_contacts(tables: NightTables, tr: pd.DataFrame, paid: dict[int, set[object]]) -> list[Any]:
    c, pay = tables.booking_contacts, tables.payments
    out = []
    for i, p in enumerate(tr["pnr_traveller_id"].tolist()):
        mine = {
            k
            for q, kind, v, n in zip(
                c["pnr_traveller_id"], c["kind"], c["value"], c["normalized"], strict=True
            )
            if isinstance(p, str) and q == p and (k := _norm_contact(kind, v, n)) is not None
        }
        for b in paid.get(i, set()):
            phones = [
                k
                for pb, ph in zip(pay["booking_id"], pay["payer_phone"], strict=True)
                if pb == b and (k := _norm_contact("phone", ph, None)) is not None
            ]
            if phones:
                mine.add(phones[0])
        out.append(mine)
    return out


def _reference(tables: NightTables, past: list[NightTables]) -> dict[str, list[Any]]:
    """The relation columns computed the slow, obvious way (plain lists, None for null)."""
    keys = BookingKeys.of(tables)
    tr = keys.tr
    bid = [b if k else None for b, k in zip(keys.bid_list, keys.known, strict=True)]
    n = len(tr)
    pnr = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = pnr["date_of_birth"].reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    status = minor_status(tr["date_of_birth"], tables.night, pnr_dob)[0].tolist()
    paid = _ref_paid(tables, tr)
    contacts = _ref_contacts(tables, tr, paid)
    person = [
        _key(tr["surname"][i], tr["given_names"][i], tr["date_of_birth"][i]) for i in range(n)
    ]
    returning = _ref_returning(tables, tr, bid)
    before = _ref_pairs(past)
    members = {b: [i for i in range(n) if bid[i] == b] for b in set(bid) if b is not None}

    def related(i: int, j: int) -> tuple[bool, bool]:
        shared = bool(contacts[i] & contacts[j])
        pair = person[i] is not None and person[j] is not None
        return shared, pair and frozenset((person[i], person[j])) in before

    out: dict[str, list[Any]] = {c: [None] * n for c in COLUMNS[1:]}
    for i in range(n):
        own = members.get(bid[i], []) if bid[i] is not None else []
        if own:
            rel = [related(i, j) for j in own if j != i]
            out["traveller.companions_shared_contact"][i] = sum(s for s, _ in rel)
            out["traveller.companions_travelled_before"][i] = sum(b for _, b in rel)
            out["traveller.companions_related"][i] = (
                len(rel) if returning[i] else sum(s or b for s, b in rel)
            )
        if status[i] == "adult":
            paid_rows = {j for b in paid.get(i, set()) for j in members.get(b, [])}
            kids = [j for j in set(own) | paid_rows if j != i and status[j] == "minor"]
            out["companion.minors"][i] = len(kids)
            out["companion.unrelated_minors"][i] = sum(
                1 for j in kids if not (any(related(i, j)) or (j in own and returning[i]))
            )
    return {"booking.returning_together": returning, **out}


COLUMNS = (
    "booking.returning_together",
    "traveller.companions_shared_contact",
    "traveller.companions_travelled_before",
    "traveller.companions_related",
    "companion.minors",
    "companion.unrelated_minors",
)

# ----------------------------------------------------------------------------- random nights

SURNAMES = ("KIM", "NGUYEN", "GARCIA LOPEZ", "GARCIA", "")
GIVEN = ("JIYEON", "ANA", "ANA MARIA", "")
AGES = (3, 9, 15, 17.9, 18.2, 30, 41, 70)
PAYERS = (
    "{s}/{g}",
    "{s} {g}",
    "{g} {s}",
    "MR {g} {s}",
    "{s}",
    "RIVERSIDE HIGH SCHOOL",
    "{s}/{g}/{s2}",
)
CONTACTS = (("address", "R/KOR/12 MAIN ST/SEOUL"), ("phone", "+82 10 1234 5678"))


@st.composite
def nights(draw: st.DrawFn) -> tuple[NightTables, list[NightTables]]:
    """A night of a few flights and bookings full of namesakes, and 0-2 history nights."""
    nb = NightBuilder()
    nb.flight("F2", route=("NRT", "ICN"))
    people = [
        (draw(st.sampled_from(SURNAMES)), draw(st.sampled_from(GIVEN)), draw(st.sampled_from(AGES)))
        for _ in range(draw(st.integers(0, 10)))
    ]
    bookings = []
    for k in range(draw(st.integers(1, 5))):
        s, g, _ = draw(st.sampled_from(people)) if people else ("KIM", "ANA", 0)
        s2 = draw(st.sampled_from(SURNAMES))
        payer = draw(st.sampled_from((*PAYERS, None)))
        flight = draw(st.sampled_from(["F1", "F2"]))
        b = nb.booking(
            f"LOC{k:03d}",
            flight_id=flight,
            payer=payer.format(s=s, g=g, s2=s2) if payer else None,
            payer_phone=draw(st.sampled_from([None, "+82 10 1234 5678", "+81 3 1111 2222"])),
            cash=draw(st.sampled_from([False, True, True, None])),
            return_after_days=draw(st.sampled_from([None, 10])),
            superseded=draw(st.booleans()) and k == 4,
        )
        if draw(st.booleans()):  # an earlier leg leaving an airport tonight's flights reach
            dep = pd.Timestamp(NIGHT) - pd.Timedelta(days=draw(st.sampled_from([-2, 10, 10])))
            nb.rows["itinerary"].append(
                {
                    "booking_id": b,
                    "leg_seq": 0,
                    "departure_airport": draw(st.sampled_from(["NRT", "ICN", "BKK"])),
                    "arrival_airport": "MNL",
                    "scheduled_departure": dep,
                    "scheduled_arrival": dep + pd.Timedelta(hours=5),
                }
            )
        paid = [p for p in nb.rows["payments"] if p["booking_id"] == b]
        if paid and draw(st.booleans()):  # a second payment of the booking
            nb.rows["payments"].append({**paid[0], "payer_name": "DOE/JOHN"})
        bookings.append((b, flight))
    together: dict[str, list[tuple[str, str, float]]] = {}
    for s, g, age in people:
        booking = draw(st.sampled_from(bookings)) if bookings and draw(st.integers(0, 5)) else None
        flight = booking[1] if booking else "F1"
        if draw(st.integers(0, 5)) == 0:
            flight = draw(st.sampled_from(["F1", "F2", "F9"]))  # F9: no such flight
        nb.traveller(
            s,
            g,
            None if draw(st.integers(0, 9)) == 0 else years_ago(age),
            booking_id=booking[0] if booking else None,
            flight_id=flight,
            in_pnr=draw(st.integers(0, 5)) > 0,
        )
        if booking:
            together.setdefault(booking[0], []).append((s, g, age))
        pnr = nb.rows["travellers"][-1]["pnr_traveller_id"]
        for kind, value in draw(st.lists(st.sampled_from(CONTACTS), max_size=2)):
            stored = "821012345678" if kind == "phone" and draw(st.booleans()) else None
            nb.rows["booking_contacts"].append(
                {
                    "booking_id": booking[0] if booking else None,
                    "pnr_traveller_id": pnr,
                    "kind": kind,
                    "value": value,
                    "normalized": stored,
                    "source": "DOCA",
                }
            )
    past = []
    for days in draw(st.lists(st.sampled_from([3, 12, 29]), max_size=2, unique=True)):
        before = NightBuilder(str((pd.Timestamp(NIGHT) - pd.Timedelta(days=days)).date()))
        groups = [g for g in together.values() if draw(st.booleans())]  # booked together before
        groups += [draw(st.lists(st.sampled_from(people), max_size=4)) for _ in range(2) if people]
        for k, group in enumerate(groups):
            hb = before.booking(f"OLD{k:03d}")
            for s, g, age in group:
                if draw(st.integers(0, 4)) == 0:  # someone else born the same day
                    s = draw(st.sampled_from(SURNAMES))
                before.traveller(s, g, years_ago(age), booking_id=hb if k != 1 else None)
        past.append(before.tables())
    return nb.tables(), past


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights())
def test_relation_features_equal_the_slow_reference(night: tuple[NightTables, list[NightTables]]):
    tables, past = night
    fast = relation_features(tables, past, BookingKeys.of(tables))
    slow = _reference(tables, past)
    assert set(fast) == set(COLUMNS)
    for column in COLUMNS:
        got = [None if pd.isna(v) else v for v in pd.array(fast[column]).tolist()]
        assert got == slow[column], column


def test_the_reference_sees_what_the_features_exist_for() -> None:
    """The reference itself is right on a hand-made night (so agreeing with it means something)."""
    nb = NightBuilder()
    b = nb.booking("FAM001", payer="KIM/JIYEON", return_after_days=None)
    nb.traveller("KIM", "JIYEON", years_ago(38), booking_id=b)
    nb.traveller("PARK", "MINJUN", years_ago(9), booking_id=b, sex="M")
    other = nb.booking("KID001", payer="KIM/JIYEON", return_after_days=None)
    nb.traveller("REYES", "ANA", years_ago(14), booking_id=other)
    before = NightBuilder(str((pd.Timestamp(NIGHT) - pd.Timedelta(days=12)).date()))
    hb = before.booking("FAM000")
    before.traveller("KIM", "JIYEON", years_ago(38), booking_id=hb)
    before.traveller("PARK", "MINJUN", years_ago(9), booking_id=hb, sex="M")
    ref = _reference(nb.tables(), [before.tables()])
    assert ref["traveller.companions_travelled_before"] == [1, 1, 0]
    assert ref["companion.minors"] == [2, None, None]
    assert ref["companion.unrelated_minors"] == [1, None, None]
