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

import pandas as pd

from apiflag.features.common import _is_named, _name_tokens, _norm_contact, _payer_parts
from apiflag.minors import minor_status

if TYPE_CHECKING:
    from apiflag.features.booking import BookingKeys
    from apiflag.features.tables import NightTables

__all__ = ["relation_features"]


def _person_key(surname: object, given: object, dob: object) -> Any:
    words = _name_tokens(surname) | _name_tokens(given)
    when = pd.Timestamp(dob) if dob is not None and not pd.isna(dob) else None
    return (words, when.date()) if words and when is not None else None


def _pairs_before(past: Iterable[NightTables], birth_dates: set[Any]) -> set[frozenset[Any]]:
    """Pairs of people (name words, birth date) booked together on the history nights.

    Only history travellers born on one of ``birth_dates`` (tonight's travellers in bookings of
    two or more) can pair with tonight's: the others are skipped before any name is read.
    """
    pairs: set[frozenset[Any]] = set()
    for h in past:
        t = h.travellers
        dob = pd.to_datetime(t["date_of_birth"], errors="coerce").dt.date
        t = t.loc[(dob.isin(birth_dates) & t["booking_id"].notna()).to_numpy(bool)]
        t = t.loc[t["booking_id"].duplicated(keep=False).to_numpy(bool)]
        groups: dict[object, list[Any]] = defaultdict(list)
        for b, s, g, d in zip(
            t["booking_id"], t["surname"], t["given_names"], t["date_of_birth"], strict=True
        ):
            key = _person_key(s, g, d)
            if key is not None and isinstance(b, str):
                groups[b].append(key)
        for members in groups.values():
            for i, a in enumerate(members):
                for c in members[i + 1 :]:
                    if a != c:
                        pairs.add(frozenset((a, c)))
    return pairs


def _returning(tables: NightTables, tr: pd.DataFrame, bid: pd.Series) -> pd.Series:
    """Per traveller: the booking left one of tonight's arrival airports before this flight."""
    fl = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    arrival_airports = set(fl["arrival_airport"].dropna().astype(str))
    dep = pd.to_datetime(fl["scheduled_departure"], errors="coerce")
    it = tables.itinerary
    legs: dict[object, list[tuple[pd.Timestamp, str]]] = defaultdict(list)
    for b, a, d in zip(
        it["booking_id"],
        it["departure_airport"],
        pd.to_datetime(it["scheduled_departure"], errors="coerce"),
        strict=True,
    ):
        legs[b].append((d, str(a)))
    out: list[bool | None] = []
    for b, f in zip(bid.tolist(), tr["flight_id"].tolist(), strict=True):
        mine = legs.get(b)
        when = dep.get(f) if f in dep.index else None
        if not mine or when is None or pd.isna(when):
            out.append(None)
            continue
        out.append(any(pd.notna(d) and d < when and a in arrival_airports for d, a in mine))
    return pd.Series(pd.array(out, dtype="boolean"))


def _contacts(
    tables: NightTables, tr: pd.DataFrame, payer_of: dict[int, set[object]]
) -> list[set[str]]:
    """Per traveller: the contacts given for them personally (and the payer's phone if they pay)."""
    c = tables.booking_contacts
    by_pnr: dict[object, set[str]] = defaultdict(set)
    for p, kind, value, norm in zip(
        c["pnr_traveller_id"], c["kind"], c["value"], c["normalized"], strict=True
    ):
        k = _norm_contact(kind, value, norm)
        if k is not None and isinstance(p, str):
            by_pnr[p].add(k)
    pay = tables.payments
    payer_phone: dict[object, str] = {}
    for b, ph in zip(pay["booking_id"], pay["payer_phone"], strict=True):
        k = _norm_contact("phone", ph, None)
        if k is not None:
            payer_phone.setdefault(b, k)
    out: list[set[str]] = []
    for i, p in enumerate(tr["pnr_traveller_id"].tolist()):
        mine = set(by_pnr.get(p, set())) if isinstance(p, str) else set()
        for b in payer_of.get(i, set()):
            if b in payer_phone:
                mine.add(payer_phone[b])
        out.append(mine)
    return out


def _paid_bookings(tables: NightTables, tr: pd.DataFrame) -> dict[int, set[object]]:
    """Per traveller row: the bookings on this traveller's flight whose payer names them alone.

    A payer name that names two travellers of the night is a namesake, not a link.
    """
    by_word: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(tr["surname"].tolist()):
        for w in _name_tokens(s):
            by_word[w].append(i)
    pay = tables.payments.dropna(subset=["payer_name"]).drop_duplicates("booking_id")
    flight_of = dict(zip(tables.bookings["booking_id"], tables.bookings["flight_id"], strict=True))
    out: dict[int, set[object]] = defaultdict(set)
    surnames, given = tr["surname"].tolist(), tr["given_names"].tolist()
    flights = tr["flight_id"].tolist()
    for b, payer in zip(pay["booking_id"], pay["payer_name"], strict=True):
        if not isinstance(payer, str):
            continue
        named = [
            i
            for i in {i for w in _name_tokens(payer) for i in by_word.get(w, [])}
            if _is_named(*_payer_parts(payer), _name_tokens(surnames[i]), _name_tokens(given[i]))
        ]
        if len(named) == 1 and flights[named[0]] == flight_of.get(b):
            out[named[0]].add(b)
    return out


def relation_features(
    tables: NightTables, past: Iterable[NightTables], keys: BookingKeys
) -> dict[str, Any]:
    """The relation and companion columns (``models/features.yaml``) of the night's travellers.

    Args:
        tables: the night's tables.
        past: the history nights within the window.
        keys: the night's travellers joined to their current bookings.
    """
    tr = keys.tr
    bid = keys.bid.where(keys.known, None)
    n = len(tr)
    known = bid.notna().to_numpy(bool)
    pnr = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = pnr["date_of_birth"].reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    status, _ = minor_status(tr["date_of_birth"], tables.night, pnr_dob)
    status_l = status.tolist()
    paid = _paid_bookings(tables, tr)
    contacts = _contacts(tables, tr, paid)
    person = [
        _person_key(s, g, d)
        for s, g, d in zip(
            tr["surname"],
            tr["given_names"],
            pd.to_datetime(tr["date_of_birth"], errors="coerce"),
            strict=True,
        )
    ]
    returning = _returning(tables, tr, bid)
    ret_l = returning.fillna(False).astype(bool).tolist()
    members: dict[object, list[int]] = defaultdict(list)
    for i, (b, k) in enumerate(zip(bid.tolist(), known, strict=True)):
        if k:
            members[b].append(i)
    pairable = {i for rows in members.values() if len(rows) > 1 for i in rows}
    pairable |= {j for i, bs in paid.items() for b in bs for j in (i, *members.get(b, []))}
    together = {person[i][1] for i in pairable if person[i]}
    before = _pairs_before(past, together)

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
        own = set(members.get(bid.iloc[i], [])) if known[i] else set()
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
