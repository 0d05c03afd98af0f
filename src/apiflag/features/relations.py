"""Who travels with whom, and what shows they are related: evidence beyond the surname.

"Another surname" is no evidence that people are unrelated: in Korea, China, Taiwan, Hong Kong
and Vietnam a mother keeps her surname, Spanish and Portuguese double surnames are often written
one at a time, and in Indonesia and Myanmar many people have a single name. So the features here
never compare surnames, nationality or route (protected proxies). A relation between two
travellers of one booking is *shown* by what a hearing would accept:

* **a shared contact or address given for each of them** (PNR ``SSR DOCA`` residence address,
  ``SSR CTCM``/``CTCE`` per traveller), or the payer's phone given as the other's own contact
  (the payer relation);
* **history**: both were booked together on an earlier night in the history window (same names
  and birth dates);
* **returning together**: the booking's own itinerary has an earlier leg leaving an airport
  tonight's flights arrive at (the party left the country together on this booking and comes
  back; it was together since the booking was made).

The **companion of a minor** (``companion.*``) is the one deliberate exception to the principle
that age is protected: an adult booked with, or paying for, a minor who is not shown to be
related to them is evidence on the *examination* track (Palermo Protocol art. 3(c)-(d): a
child's movement arranged by an unrelated adult is trafficking whatever the means). It reads
the **companion's** minor status (:func:`apiflag.minors.minor_status`, the one minors decision),
never the examined traveller's own age as evidence: the columns are null for anyone not known to
be an adult, because the exception is about adults and a minor is only ever on the protection
track. Their use level is ``companion_of_minor``: the rule linter lets only examination-track
rules read them, and no model may (docs/ARCHITECTURE.md "Protected attributes").

The specification rows are in :mod:`apiflag.features.spec`; the name and contact normalisers
are :mod:`apiflag.features.common`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apiflag.features.common import _name_tokens, _norm_contact, _norm_contacts, _payer_parts
from apiflag.minors import minor_status

if TYPE_CHECKING:
    from apiflag.features.booking import BookingKeys
    from apiflag.features.tables import NightTables

__all__ = ["relation_features"]


def _person_key(surname: object, given: object, dob: object) -> Any:
    words = _name_tokens(surname) | _name_tokens(given)
    when = pd.Timestamp(dob) if dob is not None and not pd.isna(dob) else None
    return (words, when.date()) if words and when is not None else None


_DAY_PAIR = 1 << 20
"""Two birth dates (days since 1970, |days| < 2**19) as one int64: ``lo * 2**20 + hi``."""


def _days(values: pd.Series) -> np.ndarray:
    """Birth dates as int64 days since 1970 (a sentinel far outside any pair where unknown)."""
    days = pd.to_datetime(values, errors="coerce").to_numpy("datetime64[D]")
    out: np.ndarray = np.where(np.isnat(days), -(1 << 40), days.astype(np.int64))
    return out


def _day_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.minimum(a, b) * _DAY_PAIR + np.maximum(a, b)
    return out


def _pairs_before(past: Iterable[NightTables], wanted: set[int]) -> set[frozenset[Any]]:
    """Pairs of people (name words, birth date) booked together on the history nights.

    Only pairs whose two birth dates are a pair of ``wanted`` (:func:`_day_pairs` of the
    tonight's travellers that may be compared) can matter: the history bookings are paired
    vectorised on birth dates first, and names are read only for the pairs that remain.
    """
    pairs: set[frozenset[Any]] = set()
    wanted_arr = np.fromiter(wanted, np.int64, len(wanted))
    for h in past:
        t = h.travellers
        t = t.loc[t["booking_id"].notna().to_numpy(bool)]
        t = t.loc[t["booking_id"].duplicated(keep=False).to_numpy(bool)]
        m = pd.DataFrame({"b": t["booking_id"].to_numpy(), "d": _days(t["date_of_birth"])})
        m["r"] = np.arange(len(m))
        both = m.merge(m, on="b")
        both = both.loc[(both["r_x"] < both["r_y"]).to_numpy(bool)]
        code = _day_pairs(both["d_x"].to_numpy(np.int64), both["d_y"].to_numpy(np.int64))
        both = both.loc[np.isin(code, wanted_arr)]
        if not len(both):
            continue
        cols = [t[c].tolist() for c in ("booking_id", "surname", "given_names", "date_of_birth")]
        key: dict[int, Any] = {}
        for x, y in zip(both["r_x"].tolist(), both["r_y"].tolist(), strict=True):
            if not isinstance(cols[0][x], str):
                continue
            for r in (x, y):
                if r not in key:
                    key[r] = _person_key(cols[1][r], cols[2][r], cols[3][r])
            a, c = key[x], key[y]
            if a is not None and c is not None and a != c:
                pairs.add(frozenset((a, c)))
    return pairs


def _returning(tables: NightTables, tr: pd.DataFrame, bid: list[Any]) -> pd.Series:
    """Per traveller: the booking left one of tonight's arrival airports before this flight."""
    fl = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    arrival_airports = set(fl["arrival_airport"].dropna().astype(str))
    dep = dict(
        zip(fl.index, pd.to_datetime(fl["scheduled_departure"], errors="coerce"), strict=True)
    )
    it = tables.itinerary
    when = pd.to_datetime(it["scheduled_departure"], errors="coerce")
    ok = (when.notna() & it["departure_airport"].astype(str).isin(arrival_airports)).tolist()
    ns = when.to_numpy("datetime64[ns]").astype(np.int64).tolist()
    has_legs: set[object] = set()
    earliest: dict[object, int] = {}
    for b, good, t in zip(it["booking_id"].tolist(), ok, ns, strict=True):
        has_legs.add(b)
        if good and t < earliest.get(b, t + 1):
            earliest[b] = t
    out: list[bool | None] = []
    for b, f in zip(bid, tr["flight_id"].tolist(), strict=True):
        mine = dep.get(f)
        if b not in has_legs or mine is None or pd.isna(mine):
            out.append(None)
            continue
        first = earliest.get(b)
        out.append(first is not None and first < mine.value)
    return pd.Series(pd.array(out, dtype="boolean"))


def _contacts(
    tables: NightTables, tr: pd.DataFrame, payer_of: dict[int, set[object]]
) -> list[set[str]]:
    """Per traveller: the contacts given for them personally (and the payer's phone if they pay)."""
    c = tables.booking_contacts
    c = c.loc[c["pnr_traveller_id"].isin(tr["pnr_traveller_id"].dropna()).to_numpy(bool)]
    by_pnr: dict[object, set[str]] = defaultdict(set)
    norm = _norm_contacts(c["kind"].tolist(), c["value"].tolist(), c["normalized"].tolist())
    for p, k in zip(c["pnr_traveller_id"].tolist(), norm, strict=True):
        if k is not None and isinstance(p, str):
            by_pnr[p].add(k)
    pay = tables.payments
    wanted = {b for bs in payer_of.values() for b in bs}
    payer_phone: dict[object, str] = {}
    for b, ph in zip(pay["booking_id"], pay["payer_phone"], strict=True):
        if b not in wanted or b in payer_phone:
            continue
        k = _norm_contact("phone", ph, None)
        if k is not None:
            payer_phone[b] = k
    out: list[set[str]] = []
    for i, p in enumerate(tr["pnr_traveller_id"].tolist()):
        mine = set(by_pnr.get(p, set())) if isinstance(p, str) else set()
        for b in payer_of.get(i, set()):
            if b in payer_phone:
                mine.add(payer_phone[b])
        out.append(mine)
    return out


def _named_by(
    payer: str, by_word: dict[str, set[frozenset[str]]], by_sur: dict[frozenset[str], Any]
) -> list[int]:
    """The traveller rows a payer name names (at most two: more is no different from two)."""
    p_sur, p_all = _payer_parts(payer)
    words = _name_tokens(payer)
    named: list[int] = []
    for sur in {s for w in p_all for s in by_word.get(w, ())}:
        if not sur <= p_all or not (sur & p_sur or not p_sur) or not sur & words:
            continue
        no_given, by_given = by_sur[sur]
        rows = set(no_given).union(*(by_given.get(w, ()) for w in p_all - sur))
        named.extend(rows)
        if len(named) > 1:
            break
    return named


def _paid_bookings(tables: NightTables, tr: pd.DataFrame) -> dict[int, set[object]]:
    """Per traveller row: the bookings on this traveller's flight whose payer names them alone.

    A payer name that names two travellers of the night (on any flight) is a namesake, not a
    link. Travellers are indexed by their surname words and, within a surname, by given-name
    word, so a payer is compared only with the travellers it can name
    (:func:`apiflag.features.common._is_named`).
    """
    by_word: dict[str, set[frozenset[str]]] = defaultdict(set)
    by_sur: dict[frozenset[str], tuple[list[int], dict[str, list[int]]]] = {}
    for i, (s, g) in enumerate(
        zip(tr["surname"].tolist(), tr["given_names"].tolist(), strict=True)
    ):
        sur = _name_tokens(s)
        if not sur:
            continue
        if sur not in by_sur:
            by_sur[sur] = ([], defaultdict(list))
            for w in sur:
                by_word[w].add(sur)
        given = _name_tokens(g)
        if not given:
            by_sur[sur][0].append(i)
        for w in given:
            by_sur[sur][1][w].append(i)
    pay = tables.payments.dropna(subset=["payer_name"]).drop_duplicates("booking_id")
    flight_of = dict(zip(tables.bookings["booking_id"], tables.bookings["flight_id"], strict=True))
    out: dict[int, set[object]] = defaultdict(set)
    flights = tr["flight_id"].tolist()
    for b, payer in zip(pay["booking_id"].tolist(), pay["payer_name"].tolist(), strict=True):
        if not isinstance(payer, str):
            continue
        named = _named_by(payer, by_word, by_sur)
        if len(named) == 1 and flights[named[0]] == flight_of.get(b):
            out[named[0]].add(b)
    return out


def relation_features(
    tables: NightTables, past: Iterable[NightTables], keys: BookingKeys
) -> dict[str, Any]:
    """The relation and companion columns (``models/features.yaml``) of the night's travellers.

    Args:
        tables: the night's tables.
        past: the history nights within the window (only their travellers are read).
        keys: the night's travellers joined to their current bookings.
    """
    tr = keys.tr
    known = keys.known
    bid = [b if k else None for b, k in zip(keys.bid_list, known.tolist(), strict=True)]
    n = len(tr)
    pnr = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = pnr["date_of_birth"].reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    status, _ = minor_status(tr["date_of_birth"], tables.night, pnr_dob)
    status_l = status.tolist()
    paid = _paid_bookings(tables, tr)
    contacts = _contacts(tables, tr, paid)
    returning = _returning(tables, tr, bid)
    ret_l = returning.fillna(False).astype(bool).tolist()
    members: dict[object, list[int]] = defaultdict(list)
    for i, (b, k) in enumerate(zip(bid, known, strict=True)):
        if k:
            members[b].append(i)
    compared = [(i, j) for rows in members.values() if len(rows) > 1 for i in rows for j in rows]
    compared += [(i, j) for i, bs in paid.items() for b in bs for j in members.get(b, [])]
    days = _days(tr["date_of_birth"])
    pairable = sorted({i for pair in compared for i in pair})
    dob = pd.to_datetime(tr["date_of_birth"], errors="coerce").tolist()
    surnames, given = tr["surname"].tolist(), tr["given_names"].tolist()
    person: list[Any] = [None] * n
    for i in pairable:
        person[i] = _person_key(surnames[i], given[i], dob[i])
    x, y = np.array(compared, np.int64).reshape(-1, 2).T
    before = _pairs_before(past, set(_day_pairs(days[x], days[y]).tolist()))

    def shares(i: int, j: int) -> bool:
        return bool(contacts[i] & contacts[j])

    def before_together(i: int, j: int) -> bool:
        return (
            person[i] is not None
            and person[j] is not None
            and frozenset((person[i], person[j])) in before
        )

    shared_n: list[int | None] = [None] * n
    before_n: list[int | None] = [None] * n
    related_n: list[int | None] = [None] * n
    for rows in members.values():
        for i in rows:
            others = [j for j in rows if j != i]
            sh = [j for j in others if shares(i, j)]
            bf = [j for j in others if before_together(i, j)]
            shared_n[i], before_n[i] = len(sh), len(bf)
            related_n[i] = len(others) if ret_l[i] else len(set(sh) | set(bf))
    minors_n: list[int | None] = [None] * n
    unrelated_n: list[int | None] = [None] * n
    for i in range(n):
        if status_l[i] != "adult":
            continue
        own = set(members.get(bid[i], [])) if known[i] else set()
        paid_rows = {j for b in paid.get(i, set()) for j in members.get(b, [])}
        kids = [j for j in (own | paid_rows) - {i} if status_l[j] == "minor"]
        minors_n[i] = len(kids)
        unrelated_n[i] = sum(
            1
            for j in kids
            if not (shares(i, j) or before_together(i, j) or (j in own and ret_l[i]))
        )
    return {
        "booking.returning_together": returning,
        "traveller.companions_shared_contact": pd.array(shared_n, dtype="Int64"),
        "traveller.companions_travelled_before": pd.array(before_n, dtype="Int64"),
        "traveller.companions_related": pd.array(related_n, dtype="Int64"),
        "companion.minors": pd.array(minors_n, dtype="Int64"),
        "companion.unrelated_minors": pd.array(unrelated_n, dtype="Int64"),
    }
