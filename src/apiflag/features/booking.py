"""Booking features: lead time, travel (one-way, stay), payment and payer, the party, case links.

:class:`BookingKeys` joins each traveller to its current booking; every family that reads the
booking (contacts, documents, route) takes it.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from apiflag.features.common import (
    COMPANY_WORDS,
    _bool,
    _is_named,
    _name_tokens,
    _norm_contact,
    _payer_parts,
    _token_column,
    _ts,
)
from apiflag.features.tables import NightTables
from apiflag.features.traveller import _age_years

CARD_KNOWN_DIGITS = 8
"""Known digits a masked card needs to identify one payer (last four alone would not)."""
MINOR_PASSENGER_TYPES = frozenset({"IN", "INF", "C", "CH", "CHD", "CNN"})


_PAYMENT_FIRST = ("payer_name", "payer_phone", "masked_card")


def _first_per_booking(code: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per booking row (``code``: each payment's, -1 none): its first non-null value, else None."""
    out = np.full(n, None, dtype=object)
    rows = np.flatnonzero((code >= 0) & pd.notna(values))
    first = rows[~pd.Series(code[rows]).duplicated().to_numpy(bool)]
    out[code[first]] = values[first]
    return out


def _booking_facts(t: NightTables) -> pd.DataFrame:
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
    ids = b["booking_id"].tolist()
    code = pd.Index(ids, dtype=object).get_indexer(pay["booking_id"].to_numpy(object))
    paid = np.zeros(len(b), dtype=bool)
    paid[code[code >= 0]] = True
    form = pay["form"].to_numpy(object)
    is_cash = np.fromiter((isinstance(f, str) and f.upper() == "CA" for f in form), bool, len(pay))
    cash = np.zeros(len(b), dtype=bool)
    cash[code[(code >= 0) & is_cash]] = True
    b["payment_cash"] = pd.arrays.BooleanArray(cash, ~paid)
    first = {c: _first_per_booking(code, pay[c].to_numpy(object), len(b)) for c in _PAYMENT_FIRST}
    b["payer_name"] = first["payer_name"]
    b["payer_phone"] = first["payer_phone"]
    b["payer_phone_key"] = [
        _norm_contact("phone", p, None) if isinstance(p, str) else None
        for p in b["payer_phone"].tolist()
    ]
    # who pays, for the switchboard test: the card if given, else the payer's name words
    cards = (
        pd.Series([c or "" for c in first["masked_card"].tolist()], dtype=object)
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


def _booking_travel(t: NightTables, booking_ids: pd.Series, arrivals: pd.Series) -> pd.DataFrame:
    """one_way and stay_days for (booking_id, arrival time) pairs."""
    it_booking = t.itinerary["booking_id"].to_numpy(object)
    legs = pd.Index(pd.unique(it_booking[pd.notna(it_booking)]), dtype=object)
    q = pd.DataFrame(
        {"c": legs.get_indexer(booking_ids.to_numpy(object)), "arr": _ts(arrivals).to_numpy()}
    )
    q["row"] = np.arange(len(q))
    legs_df = pd.DataFrame(
        {
            "c": legs.get_indexer(it_booking),
            "dep": _ts(t.itinerary["scheduled_departure"]).reset_index(drop=True),
        }
    )
    m = q.loc[(q["c"] >= 0).to_numpy(bool)].merge(legs_df.loc[legs_df["c"] >= 0], on="c")
    later = m.loc[m["dep"].notna() & m["arr"].notna() & (m["dep"] > m["arr"])]
    first_later = later.groupby("row")["dep"].min()
    known = (q["c"] >= 0).to_numpy(bool) & q["arr"].notna().to_numpy(bool)
    first = pd.Series(first_later.reindex(q["row"]).to_numpy(), dtype="datetime64[us]")
    arr = pd.Series(q["arr"].to_numpy(), dtype="datetime64[us]")
    has_later = first.notna().to_numpy(bool)
    one_way = pd.array(~has_later, dtype="boolean")
    one_way[~known] = pd.NA
    stay = ((first - arr) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan).copy()
    stay[~(known & has_later)] = np.nan
    return pd.DataFrame({"one_way": one_way, "stay_days": stay})


@dataclasses.dataclass(frozen=True)
class BookingKeys:
    """The night's travellers joined to their current booking.

    Attributes:
        tr: the travellers table, index reset (row i is feature row i).
        traveller_id: ``traveller_id`` as strings, in row order.
        facts: :func:`_booking_facts` indexed by ``booking_id``.
        bid: each traveller's ``booking_id`` (object).
        bid_list: ``bid`` as a list.
        known: the traveller's booking is a current booking of the night.
        code: each traveller's booking's row in ``facts`` (-1 where not ``known``).
    """

    tr: pd.DataFrame
    traveller_id: np.ndarray
    facts: pd.DataFrame
    bid: pd.Series
    bid_list: list[Any]
    known: np.ndarray
    code: np.ndarray

    @classmethod
    def of(cls, tables: NightTables) -> BookingKeys:
        """Join the night's travellers to its current bookings."""
        tr = tables.travellers.reset_index(drop=True)
        facts = _booking_facts(tables).set_index("booking_id")
        bid = tr["booking_id"].astype(object)
        code = facts.index.get_indexer(bid.to_numpy(object))
        return cls(
            tr=tr,
            traveller_id=tr["traveller_id"].astype(str).to_numpy(),
            facts=facts,
            bid=bid,
            bid_list=bid.tolist(),
            known=code >= 0,
            code=code,
        )

    def pick(self, values: np.ndarray | pd.Series, missing: Any = None) -> np.ndarray:
        """Each traveller's booking's entry of ``values`` (one per ``facts`` row).

        ``missing`` where the traveller has no current booking.
        """
        array = values.to_numpy() if isinstance(values, pd.Series) else values
        table = np.empty(len(array) + 1, dtype=object if missing is None else array.dtype)
        table[:-1] = array
        table[-1] = missing
        picked: np.ndarray = table[self.code]
        return picked


def _per_booking(keys: BookingKeys, values: np.ndarray, dtype: str) -> Any:
    """Each traveller's booking's value (one per ``keys.facts`` row), null without a booking."""
    return pd.array(keys.pick(values.astype(object)), dtype=dtype)


def travel_features(tables: NightTables, keys: BookingKeys) -> dict[str, Any]:
    """Lead time, one-way, stay and cash payment."""
    out: dict[str, Any] = {}
    tr, facts, bid, known = keys.tr, keys.facts, keys.bid, keys.known
    flights = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    t_dep = _ts(flights["scheduled_departure"]).reindex(tr["flight_id"]).reset_index(drop=True)
    t_arr = _ts(flights["scheduled_arrival"]).reindex(tr["flight_id"]).reset_index(drop=True)
    created = _ts(facts["created"]).reindex(bid).reset_index(drop=True)
    out["booking.lead_time_hours"] = ((t_dep - created) / pd.Timedelta(hours=1)).to_numpy(float)
    travel = _booking_travel(tables, bid.where(known, None), t_arr)
    out["booking.one_way"] = travel["one_way"].set_axis(tr.index)
    out["booking.stay_days"] = travel["stay_days"].to_numpy(float)
    out["booking.payment_cash"] = facts["payment_cash"].reindex(bid).reset_index(drop=True)
    agency = keys.pick(facts["agency_id"].to_numpy(object))
    has_agency = np.fromiter((isinstance(a, str) and bool(a.strip()) for a in agency), bool)
    out["booking.has_agency"] = pd.Series(
        pd.arrays.BooleanArray(has_agency, ~known), index=tr.index
    )
    return out


def _party_members(
    tables: NightTables, keys: BookingKeys, dob: pd.Series, age: pd.Series, night: pd.Timestamp
) -> pd.DataFrame:
    """The members of each booking: booking_id, minor, adult, surname words, names.

    PNR travellers of the booking (API birth dates where the PNR has none), and the API
    travellers of bookings without PNR traveller rows.
    """
    tr, bid, known = keys.tr, keys.bid, keys.known
    party = tables.pnr_travellers[
        ["pnr_traveller_id", "booking_id", "surname", "given_names", "passenger_type"]
    ].copy()
    api_dob = pd.Series(dob.to_numpy(), index=tr["pnr_traveller_id"].to_numpy()).loc[
        lambda s: s.index.notna()
    ]
    api_dob = api_dob[~api_dob.index.duplicated()]
    party_dob = _ts(tables.pnr_travellers["date_of_birth"]).fillna(
        pd.Series(api_dob.reindex(party["pnr_traveller_id"]).to_numpy(), index=party.index)
    )
    party_age = _age_years(party_dob, night)
    ptype = party["passenger_type"].astype(object)
    minor = (party_age < 18).astype("boolean")
    minor = minor.fillna(
        pd.Series(
            [
                True if isinstance(p, str) and p.upper() in MINOR_PASSENGER_TYPES else None
                for p in ptype
            ],
            index=party.index,
            dtype="boolean",
        )
    )
    party["minor"] = minor
    party["adult"] = (party_age >= 18).astype("boolean")
    surnames = _token_column(party["surname"])
    party["sur"] = surnames
    party["names"] = list(zip(surnames, _token_column(party["given_names"]), strict=True))
    # API travellers of a booking that has no PNR traveller rows still count as its party
    api_party = tr.loc[known & ~bid.isin(set(party["booking_id"])).to_numpy(bool)]
    api_rows = pd.DataFrame(
        {
            "booking_id": api_party["booking_id"].to_numpy(),
            "minor": (age[api_party.index] < 18).astype("boolean").to_numpy(),
            "adult": (age[api_party.index] >= 18).astype("boolean").to_numpy(),
            "sur": (api_sur := _token_column(api_party["surname"])),
            "names": list(zip(api_sur, _token_column(api_party["given_names"]), strict=True)),
        }
    )
    return pd.concat(
        [party[["booking_id", "minor", "adult", "sur", "names"]], api_rows], ignore_index=True
    )


def _unrelated_minors(
    codes: np.ndarray,
    adult: np.ndarray,
    minor: np.ndarray,
    surs: list[frozenset[str]],
    adults: np.ndarray,
) -> np.ndarray:
    """Per booking row: its minors sharing no surname word with any of its adults.

    ``codes`` is each party member's booking row (-1: none); bookings without an adult count 0.
    """
    booked = codes >= 0
    with_minor = set(codes[minor & booked].tolist())
    adult_sur: dict[int, set[str]] = defaultdict(set)
    for i in np.flatnonzero(adult & booked).tolist():
        if codes[i] in with_minor:
            adult_sur[codes[i]] |= surs[i]
    out = np.zeros(len(adults), dtype=np.int64)
    for i in np.flatnonzero(minor & booked).tolist():
        b = codes[i]
        if adults[b] and not (surs[i] & adult_sur.get(b, set())):
            out[b] += 1
    return out


def _payer_against_party(
    facts: pd.DataFrame, codes: np.ndarray, surs: list[frozenset[str]], names: list[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per booking row: (payer travelling, payer a company, members unrelated to the payer).

    None where no payer is named. ``codes`` is each party member's booking row in ``facts``.
    """
    n_f = len(facts)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_f + 1))
    trav, company, unrelated = (np.full(n_f, None, dtype=object) for _ in range(3))
    parts: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {}
    for b, payer in enumerate(facts["payer_name"].tolist()):
        if not isinstance(payer, str) or not payer.strip():
            continue
        if payer not in parts:
            parts[payer] = (*_payer_parts(payer), bool(_name_tokens(payer) & COMPANY_WORDS))
        p_sur, p_all, company[b] = parts[payer]
        rows = order[starts[b] : starts[b + 1]].tolist()
        unrelated[b] = sum(1 for i in rows if not (surs[i] & p_sur))
        trav[b] = any(_is_named(p_sur, p_all, *names[i]) for i in rows)
    return trav, company, unrelated


def party_features(
    tables: NightTables, keys: BookingKeys, dob: pd.Series, age: pd.Series, night: pd.Timestamp
) -> dict[str, Any]:
    """Party size, adults, minors, unrelated minors, the payer against the party, seating."""
    out: dict[str, Any] = {}
    facts = keys.facts
    n_f = len(facts)
    members = _party_members(tables, keys, dob, age, night)
    # only the current bookings of the night matter: a traveller without one gets nulls
    codes = facts.index.get_indexer(members["booking_id"].to_numpy(object))
    adult = members["adult"].astype("boolean").fillna(False).to_numpy(bool)
    minor = members["minor"].astype("boolean").fillna(False).to_numpy(bool)
    surs = members["sur"].tolist()
    booked = codes >= 0
    size = np.bincount(codes[booked], minlength=n_f)
    adults = np.bincount(codes[booked & adult], minlength=n_f)
    minors = np.bincount(codes[booked & minor], minlength=n_f)
    unrelated = _unrelated_minors(codes, adult, minor, surs, adults)
    trav, company, payer_unrelated = _payer_against_party(
        facts, codes, surs, members["names"].tolist()
    )
    idx = keys.tr.index
    out["booking.payer_is_company"] = _bool(keys.pick(company), idx)
    out["booking.party_unrelated_to_payer"] = _per_booking(keys, payer_unrelated, "Int64")
    n_trav = pd.to_numeric(facts["n_travellers"], errors="coerce").to_numpy(float)
    party = keys.pick(np.where(size > 0, size, n_trav), missing=np.nan)
    out["booking.party_size"] = pd.arrays.IntegerArray(
        np.nan_to_num(party).astype(np.int64), np.isnan(party)
    )
    out["booking.adults_in_party"] = _per_booking(keys, adults, "Int64")
    out["booking.minors_in_party"] = _per_booking(keys, minors, "Int64")
    out["booking.unrelated_minors_with_adult"] = _per_booking(keys, unrelated, "Int64")
    out["booking.party_seated_apart"] = _seated_apart(keys.tr, keys.known)
    out["booking.payer_travelling"] = _bool(keys.pick(trav), idx)
    return out


def payer_features(keys: BookingKeys) -> dict[str, Any]:
    """Whether a payer is named, shares this traveller's surname, or is this traveller."""
    out: dict[str, Any] = {}
    tr, idx = keys.tr, keys.tr.index
    payer_names = keys.pick(keys.facts["payer_name"].to_numpy(object))
    named = np.fromiter((isinstance(p, str) and bool(p.strip()) for p in payer_names), bool)
    out["booking.payer_known"] = pd.Series(pd.arrays.BooleanArray(named, ~keys.known), index=idx)
    same = np.zeros(len(tr), dtype=bool)
    is_payer = np.zeros(len(tr), dtype=bool)
    surnames, given = _token_column(tr["surname"]), _token_column(tr["given_names"])
    parts: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for i in np.flatnonzero(named).tolist():
        p = payer_names[i]
        if p not in parts:
            parts[p] = _payer_parts(p)
        p_sur, p_all = parts[p]
        sur = surnames[i]
        # an organisation is nobody's relative: CHAN HUMAN RESOURCES CO paying for a CHAN
        same[i] = bool(p_sur & sur) and not (p_all & COMPANY_WORDS)
        is_payer[i] = _is_named(p_sur, p_all, sur, given[i])
    out["booking.payer_same_surname"] = pd.Series(pd.arrays.BooleanArray(same, ~named), index=idx)
    out["traveller.is_payer"] = pd.Series(pd.arrays.BooleanArray(is_payer, ~named), index=idx)
    return out


def identifier_link_features(keys: BookingKeys, idm: pd.DataFrame | None) -> dict[str, Any]:
    """Distinct cases whose agency, payer (card, payer phone) or contacts this booking carries."""
    out: dict[str, Any] = {}
    n = len(keys.tr)
    for name, kinds, payer_side in (
        ("booking.agency_case_links", {"agency"}, False),
        ("booking.payer_case_links", {"card"}, True),
        ("booking.contact_case_links", {"phone", "email", "address"}, False),
    ):
        if idm is None:
            out[name] = pd.array([None] * n, dtype="Int64")
            continue
        kind = idm["kind"].astype(object).str.lower()
        chosen = kind.isin(kinds).to_numpy(bool).copy()
        source = idm["source"].astype(object)
        if payer_side:  # the card, and the payer's phone (from payments)
            pp = {b: k for b, k in keys.facts["payer_phone_key"].items() if k is not None}
            chosen |= (source == "payments").to_numpy(bool)
            chosen |= np.asarray(
                [
                    k == "phone"
                    and pp.get(b) is not None
                    and _norm_contact("phone", v, None) == pp.get(b)
                    for b, k, v in zip(idm["booking_id"], kind, idm["value"], strict=True)
                ],
                dtype=bool,
            )
        elif "phone" in kinds:  # contacts of the booking, not the payer's phone
            chosen &= (source != "payments").to_numpy(bool)
        sel = idm.loc[chosen]
        counts = sel.dropna(subset=["case_id"]).groupby("booking_id")["case_id"].nunique()
        per_booking = np.zeros(len(keys.facts), dtype=np.int64)
        at = keys.facts.index.get_indexer(counts.index.to_numpy(object))
        per_booking[at[at >= 0]] = counts.to_numpy(np.int64)[at >= 0]
        out[name] = pd.arrays.IntegerArray(
            keys.pick(per_booking, missing=0).astype(np.int64), ~keys.known
        )
    return out


_SEAT = re.compile(r"^0*(\d{1,3})([A-Z])$")


def _seated_apart(tr: pd.DataFrame, known: np.ndarray) -> pd.Series:
    """Per traveller: the booking's seated travellers on this flight share no row."""
    n = len(tr)
    booking = pd.factorize(tr["booking_id"].to_numpy(object), use_na_sentinel=False)[0]
    flight, flights = pd.factorize(tr["flight_id"].to_numpy(object), use_na_sentinel=False)
    group = booking.astype(np.int64) * max(len(flights), 1) + flight
    seats = tr["seat"].to_numpy(object)
    rows: list[str | None] = [None] * n
    for i in np.flatnonzero(known).tolist():
        seat = seats[i]
        if isinstance(seat, str) and (m := _SEAT.match(seat.strip().upper())):
            rows[i] = m.group(1)
    seated = pd.DataFrame({"group": group, "row": rows}).dropna(subset=["row"])
    per_group = seated.groupby("group")["row"].agg(["size", "nunique"])
    per_group = per_group.loc[per_group["size"] >= 2]
    at = per_group.index.get_indexer(group)
    apart = (per_group["size"] == per_group["nunique"]).to_numpy(bool)
    value = np.zeros(n, dtype=bool)
    value[at >= 0] = apart[at[at >= 0]]
    return pd.Series(pd.arrays.BooleanArray(value, ~(known & (at >= 0))))
