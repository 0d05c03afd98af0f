"""Shared-contact features: contacts shared with other bookings, tonight and in the history window.

A contact shared by a switchboard (an agency's or a corporate desk's) is not a link; see
:class:`SwitchboardPolicy`. The number of switchboard contacts left out is itself a feature.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from apiflag.features.booking import BookingKeys, _booking_facts, _booking_travel
from apiflag.features.common import _norm_contacts
from apiflag.features.tables import NightTables


@dataclasses.dataclass(frozen=True)
class SwitchboardPolicy:
    """When a shared contact is a switchboard (an agency's or a corporate desk's) and not a link.

    A contact (phone, e-mail or address, normalised) is a switchboard, and is not counted in
    ``booking.shared_contact_bookings``, when either:

    1. it appears on more than ``max_bookings_per_night`` distinct bookings on a single night
       (a number a front office reaches and a controller hiding victims does not); or
    2. every booking sharing it (tonight and in the history window) is business-like (paid
       without cash, with return or onward travel booked, at most ``business_party_max``
       travellers) and one organisation stands behind all of them: the same travel agency (ORG
       agency id) or the same payer (the same card, else the same payer name).

    Choose a lower ``max_bookings_per_night`` at a small airport. Rule 2 is what lets a corporate
    travel desk (one phone, one company card, round trips for one or two employees) drop out,
    while a broker who pays one-way tickets for recruits from one card or one agency stays
    counted: one-way or cash bookings are never business-like. Its blind spot, said plainly: a
    network that buys round trips by card looks like a desk here, and is left to the case links.
    """

    max_bookings_per_night: int = 20
    same_agency_business: bool = True
    business_party_max: int = 2


def _contact_pool(
    t: NightTables,
    policy: SwitchboardPolicy,
    facts: pd.DataFrame | None = None,
    contact_keys: list[str | None] | None = None,
) -> pd.DataFrame:
    """Rows (night, record_locator, key, agency_id, payer_key, business) per current booking.

    Args:
        t: the night's tables.
        policy: the switchboard policy.
        facts: :func:`_booking_facts` of ``t`` when already built.
        contact_keys: :func:`contact_keys` of ``t`` when already computed.
    """
    facts = _booking_facts(t) if facts is None else facts
    flights = t.flights.drop_duplicates("flight_id").set_index("flight_id")
    arrivals = flights["scheduled_arrival"].reindex(facts["flight_id"]).reset_index(drop=True)
    travel = _booking_travel(t, facts["booking_id"], arrivals)
    party = (
        t.pnr_travellers.groupby("booking_id").size().reindex(facts["booking_id"]).to_numpy(float)
    )
    party = np.where(np.isnan(party), facts["n_travellers"].to_numpy(float), party)
    business = (
        (facts["payment_cash"].fillna(True) == False)  # noqa: E712 - nullable compare
        & (travel["one_way"].fillna(True) == False)  # noqa: E712
        & pd.Series(party <= policy.business_party_max).fillna(False)
    ).to_numpy(bool)
    ids = facts["booking_id"].tolist()
    locator = {
        b: str(rl if isinstance(rl, str) else b)
        for b, rl in zip(ids, facts["record_locator"].tolist(), strict=True)
    }
    agency_of = dict(zip(ids, facts["agency_id"].astype(object).tolist(), strict=True))
    payer_of = dict(zip(ids, facts["payer_key"].tolist(), strict=True))
    business_of = dict(zip(ids, business.tolist(), strict=True))
    rows: list[tuple[str, str, str, object, object, bool]] = []
    c = t.booking_contacts
    if contact_keys is None:
        contact_keys = contact_keys_of(t)
    for bid, key in zip(c["booking_id"].tolist(), contact_keys, strict=True):
        if key is not None and bid in locator:
            rows.append(
                (t.night, locator[bid], key, agency_of[bid], payer_of[bid], business_of[bid])
            )
    for bid, key in zip(ids, facts["payer_phone_key"].tolist(), strict=True):
        if isinstance(key, str):
            rows.append(
                (t.night, locator[bid], key, agency_of[bid], payer_of[bid], business_of[bid])
            )
    pool = pd.DataFrame(
        rows, columns=["night", "record_locator", "key", "agency_id", "payer_key", "business"]
    )
    return pool.drop_duplicates(["night", "record_locator", "key"]).reset_index(drop=True)


def contact_keys_of(t: NightTables) -> list[str | None]:
    """The normalised key of each ``booking_contacts`` row of ``t`` (None: no usable value)."""
    c = t.booking_contacts
    return _norm_contacts(c["kind"].tolist(), c["value"].tolist(), c["normalized"].tolist())


def _switchboards(pool: pd.DataFrame, policy: SwitchboardPolicy) -> set[str]:
    if pool.empty:
        return set()
    per_night = pool.groupby(["key", "night"])["record_locator"].nunique()
    busy = set(per_night[per_night > policy.max_bookings_per_night].index.get_level_values("key"))
    desk: set[str] = set()
    if policy.same_agency_business:
        g = pool.groupby("key")
        n_rl = g["record_locator"].nunique()
        one_agency = (g["agency_id"].nunique(dropna=False) == 1) & pool[
            "agency_id"
        ].notna().groupby(pool["key"]).all()
        one_payer = (g["payer_key"].nunique(dropna=False) == 1) & pool["payer_key"].notna().groupby(
            pool["key"]
        ).all()
        all_business = pool["business"].astype(bool).groupby(pool["key"]).all()
        mask = (n_rl > 1) & (one_agency | one_payer) & all_business
        desk = set(mask[mask].index)
    return busy | desk


def contact_features(
    tables: NightTables,
    tonight_pool: pd.DataFrame,
    history_pool: list[pd.DataFrame],
    keys: BookingKeys,
    policy: SwitchboardPolicy,
) -> dict[str, Any]:
    """``booking.shared_contact_bookings`` and ``booking.switchboard_contacts``.

    Args:
        tables: tonight's tables.
        tonight_pool: :func:`_contact_pool` of tonight.
        history_pool: :func:`_contact_pool` of the history nights (at least every row whose
            key is one of tonight's).
        keys: tonight's travellers and bookings.
        policy: the switchboard policy.
    """
    pool = pd.concat([tonight_pool, *history_pool], ignore_index=True)
    boards = _switchboards(pool, policy)
    tonight = pool.loc[pool["night"] == tables.night, ["record_locator", "key"]]
    linked = tonight.loc[~tonight["key"].isin(boards)]
    pairs = linked.merge(
        pool.loc[~pool["key"].isin(boards), ["record_locator", "key"]].rename(
            columns={"record_locator": "other"}
        ),
        on="key",
    )
    pairs = pairs.loc[pairs["record_locator"] != pairs["other"]]
    shared = pairs.groupby("record_locator")["other"].nunique()
    board_count = (
        tonight.loc[tonight["key"].isin(boards)].groupby("record_locator")["key"].nunique()
    )
    facts = keys.facts
    rl_of = facts["record_locator"].where(facts["record_locator"].notna(), facts.index.to_series())
    rl_list = rl_of.reindex(keys.bid).tolist()
    shared_d, board_d = shared.to_dict(), board_count.to_dict()
    return {
        "booking.shared_contact_bookings": pd.array(
            [
                int(shared_d.get(r, 0)) if k else None
                for r, k in zip(rl_list, keys.known, strict=True)
            ],
            dtype="Int64",
        ),
        "booking.switchboard_contacts": pd.array(
            [
                int(board_d.get(r, 0)) if k else None
                for r, k in zip(rl_list, keys.known, strict=True)
            ],
            dtype="Int64",
        ),
    }
