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

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apiflag.features.common import (
    _name_tokens,
    _norm_contact,
    _norm_contacts,
    _payer_parts,
    _token_column,
)
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
    dep = pd.to_datetime(fl["scheduled_departure"], errors="coerce")
    it = tables.itinerary
    when = pd.to_datetime(it["scheduled_departure"], errors="coerce")
    good = (when.notna() & it["departure_airport"].astype(str).isin(arrival_airports)).to_numpy(
        bool
    )
    legs = pd.Index(it["booking_id"].dropna().unique())
    when_ns = when.to_numpy("datetime64[ns]")
    earliest = pd.Series(when_ns[good]).groupby(it["booking_id"].to_numpy(object)[good]).min()
    b = pd.Series(bid, dtype=object)
    has_legs = b.isin(legs).to_numpy(bool)
    mine = dep.reindex(tr["flight_id"].to_numpy(object)).to_numpy("datetime64[ns]")
    first = earliest.reindex(b.to_numpy()).to_numpy("datetime64[ns]")
    result = ~np.isnat(first) & (first < mine)
    unknown = ~has_legs | np.isnat(mine)
    return pd.Series(pd.arrays.BooleanArray(result & ~unknown, unknown))


def _contacts(
    tables: NightTables,
    tr: pd.DataFrame,
    payer_of: dict[int, set[object]],
    contact_keys: list[str | None] | None = None,
) -> dict[int, set[str]]:
    """Per traveller row: the contacts given for them personally (the payer's phone if they pay).

    Rows without a contact are absent.
    """
    c = tables.booking_contacts
    personal = c["pnr_traveller_id"].isin(tr["pnr_traveller_id"].dropna()).to_numpy(bool)
    c = c.loc[personal]
    by_pnr: dict[object, set[str]] = defaultdict(set)
    if contact_keys is None:
        norm = _norm_contacts(c["kind"].tolist(), c["value"].tolist(), c["normalized"].tolist())
    else:
        norm = [k for k, p in zip(contact_keys, personal.tolist(), strict=True) if p]
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
    out: dict[int, set[str]] = {}
    for i, p in enumerate(tr["pnr_traveller_id"].tolist()):
        if isinstance(p, str) and p in by_pnr:
            out[i] = by_pnr[p]  # shared, never changed: a payer's phone makes a new set
    for i, bs in payer_of.items():
        phones = {payer_phone[b] for b in bs if b in payer_phone}
        if phones:
            out[i] = out.get(i, set()) | phones
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
        lists = [no_given, *(by_given.get(w, ()) for w in p_all - sur)]
        longest = max(lists, key=len)
        # each list holds distinct rows: one of two or more is already two rows named
        rows = longest[:2] if len(longest) > 1 else set().union(*lists)
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
    surnames, given_names = _token_column(tr["surname"]), _token_column(tr["given_names"])
    for i, (sur, given) in enumerate(zip(surnames, given_names, strict=True)):
        if not sur:
            continue
        if sur not in by_sur:
            by_sur[sur] = ([], defaultdict(list))
            for w in sur:
                by_word[w].add(sur)
        if not given:
            by_sur[sur][0].append(i)
        for w in given:
            by_sur[sur][1][w].append(i)
    pay = tables.payments.dropna(subset=["payer_name"]).drop_duplicates("booking_id")
    flight_of = dict(zip(tables.bookings["booking_id"], tables.bookings["flight_id"], strict=True))
    out: dict[int, set[object]] = defaultdict(set)
    flights = tr["flight_id"].tolist()
    named_by: dict[str, list[int]] = {}  # many bookings share a payer name
    for b, payer in zip(pay["booking_id"].tolist(), pay["payer_name"].tolist(), strict=True):
        if not isinstance(payer, str):
            continue
        if (named := named_by.get(payer)) is None:
            named = named_by[payer] = _named_by(payer, by_word, by_sur)
        if len(named) == 1 and flights[named[0]] == flight_of.get(b):
            out[named[0]].add(b)
    return out


def _booking_pairs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j), i != j, of rows with the same code (code -1: no group)."""
    rows = np.flatnonzero(codes >= 0)
    order = rows[np.argsort(codes[rows], kind="stable")]
    sizes = np.bincount(codes[rows]) if len(rows) else np.zeros(0, np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(sizes) else sizes
    group = codes[order]
    rep = sizes[group]
    first = np.repeat(np.arange(len(order)), rep)
    offset = np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep)
    i, j = order[first], order[np.repeat(starts[group], rep) + offset]
    keep = i != j
    return i[keep], j[keep]


def _paid_pairs(
    paid: dict[int, set[object]], codes: np.ndarray, bookings: pd.Index
) -> tuple[np.ndarray, np.ndarray]:
    """(payer row, member row) for every member of each booking a traveller pays for.

    ``codes`` are the rows' booking codes in ``bookings`` (-1: no current booking).
    """
    payer_rows = np.fromiter((i for i, bs in paid.items() for _ in bs), np.int64)
    booked = bookings.get_indexer([b for bs in paid.values() for b in bs])
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, booked, "left")
    counts = np.where(booked >= 0, np.searchsorted(sorted_codes, booked, "right") - starts, 0)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(payer_rows, counts), order[np.repeat(starts, counts) + offset]


def _pair_evidence(
    i: np.ndarray,
    j: np.ndarray,
    tr: pd.DataFrame,
    contacts: dict[int, set[str]],
    before: set[frozenset[Any]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of rows: (a contact given for both, booked together on a history night).

    Only pairs where both have contacts are compared on contacts, and only pairs whose two
    birth dates are those of a pair in ``before`` on person keys (names read for those alone).
    """
    shared = np.zeros(len(i), dtype=bool)
    has = np.zeros(len(tr), dtype=bool)
    has[list(contacts)] = True
    cand = np.flatnonzero(has[i] & has[j])
    shared[cand] = [
        bool(contacts[a] & contacts[b])
        for a, b in zip(i[cand].tolist(), j[cand].tolist(), strict=True)
    ]
    together = np.zeros(len(i), dtype=bool)
    if not before:
        return shared, together
    epoch = dt.date(1970, 1, 1)
    first, second = (
        np.array([(key[1] - epoch).days for key in keys], dtype=np.int64)
        for keys in zip(*(tuple(p) for p in before), strict=True)
    )
    codes = _day_pairs(first, second)
    days = _days(tr["date_of_birth"])
    cand = np.flatnonzero(np.isin(_day_pairs(days[i], days[j]), codes))
    person: dict[int, Any] = {}
    surnames, given, dob = (tr[c].tolist() for c in ("surname", "given_names", "date_of_birth"))
    for n, a, b in zip(cand.tolist(), i[cand].tolist(), j[cand].tolist(), strict=True):
        for r in (a, b):
            if r not in person:
                person[r] = _person_key(surnames[r], given[r], dob[r])
        if person[a] is not None and person[b] is not None:
            together[n] = frozenset((person[a], person[b])) in before
    return shared, together


def _counts(rows: np.ndarray, n: int, defined: np.ndarray) -> pd.arrays.IntegerArray:
    """How often each of ``n`` rows occurs in ``rows``; null where not ``defined``."""
    return pd.arrays.IntegerArray(np.bincount(rows, minlength=n).astype(np.int64), ~defined)


def relation_features(
    tables: NightTables,
    past: Iterable[NightTables],
    keys: BookingKeys,
    contact_keys: list[str | None] | None = None,
) -> dict[str, Any]:
    """The relation and companion columns (``models/features.yaml``) of the night's travellers.

    Args:
        tables: the night's tables.
        past: the history nights within the window (only their travellers are read).
        keys: the night's travellers joined to their current bookings.
        contact_keys: the normalised key of each of the night's ``booking_contacts`` rows
            (:func:`apiflag.features.contacts.contact_keys_of`) when already computed.
    """
    tr = keys.tr
    known = keys.known
    bid = [b if k else None for b, k in zip(keys.bid_list, known.tolist(), strict=True)]
    n = len(tr)
    pnr = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = pnr["date_of_birth"].reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    status = minor_status(tr["date_of_birth"], tables.night, pnr_dob)[0].to_numpy(object)
    paid = _paid_bookings(tables, tr)
    contacts = _contacts(tables, tr, paid, contact_keys)
    returning = _returning(tables, tr, bid)
    ret = returning.fillna(False).to_numpy(bool)
    codes, uniques = pd.factorize(np.asarray(bid, dtype=object), use_na_sentinel=True)
    # every pair compared: the same booking, and a payer with each member of what they pay for
    si, sj = _booking_pairs(codes)
    pi, pj = _paid_pairs(paid, codes, pd.Index(uniques, dtype=object))
    pair = pd.unique(np.concatenate([si, pi]).astype(np.int64) * n + np.concatenate([sj, pj]))
    i, j = pair // max(n, 1), pair % max(n, 1)
    i, j = i[i != j], j[i != j]
    same = (codes[i] == codes[j]) & (codes[i] >= 0)
    days = _days(tr["date_of_birth"])
    before = _pairs_before(past, set(_day_pairs(days[i], days[j]).tolist()))
    shares, together = _pair_evidence(i, j, tr, contacts, before)
    related = shares | together
    others = np.bincount(i[same], minlength=n)
    kid = (status[i] == "adult") & (status[j] == "minor")
    adult = status == "adult"
    return {
        "booking.returning_together": returning,
        "traveller.companions_shared_contact": _counts(i[same & shares], n, known),
        "traveller.companions_travelled_before": _counts(i[same & together], n, known),
        "traveller.companions_related": pd.arrays.IntegerArray(
            np.where(ret, others, np.bincount(i[same & related], minlength=n)).astype(np.int64),
            ~known,
        ),
        "companion.minors": _counts(i[kid], n, adult),
        "companion.unrelated_minors": _counts(i[kid & ~(related | (same & ret[i]))], n, adult),
    }
