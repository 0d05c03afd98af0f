"""A realistic synthetic training table for the model tests and benchmark.

Same column names as the feature table (dotted), one row per traveller keyed by traveller_id,
plus ``night``, ``label`` (recorded outcome; unreviewed travellers count as 0), the rule score
and case-match score columns, and protected monitoring columns. The label depends on a few
features (one-way, cash, shared contacts, short lead time); ``booking.agency_country`` is a
deliberate partial proxy of nationality so the proxy audit has something to find.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from apiflag.model.data import FeatureInfo

NATIONALITIES = ["JPN", "PHL", "VNM", "THA", "CHN", "KOR", "USA", "IDN"]
AGENCY_COUNTRIES = ["JP", "PH", "VN", "TH", "CN", "KR", "US", "ID"]

SPEC: list[FeatureInfo] = [
    FeatureInfo("booking.one_way", "boolean", False, "no return or onward segment"),
    FeatureInfo("booking.payment_cash", "boolean", False, "paid in cash"),
    FeatureInfo("booking.payer_travelling", "boolean", False, "payer is on the booking"),
    FeatureInfo("booking.lead_time_hours", "numeric", False, "hours booked before departure"),
    FeatureInfo("booking.n_travellers", "numeric", False, "travellers on the booking"),
    FeatureInfo(
        "link.shared_contact_bookings", "numeric", False, "other bookings sharing a contact"
    ),
    FeatureInfo("traveller.bag_weight_kg", "numeric", False, "checked bag weight"),
    FeatureInfo("booking.agency_country", "categorical", False, "booking agency country"),
    FeatureInfo("traveller.nationality", "categorical", True, "nationality (monitoring only)"),
    FeatureInfo("traveller.sex", "categorical", True, "sex (monitoring only)"),
    FeatureInfo("traveller.age_band", "categorical", True, "age band (monitoring only)"),
]
MODEL_FEATURES = [f.name for f in SPEC if not f.protected]


def synthetic_frame(
    nights: int = 12, per_night: int = 2000, seed: int = 7, start: str = "2026-03-01"
) -> pd.DataFrame:
    """Return a training table of ``nights * per_night`` travellers with a learnable label."""
    rng = np.random.default_rng(seed)
    n = nights * per_night
    first = dt.date.fromisoformat(start)
    night = np.repeat([first + dt.timedelta(days=i) for i in range(nights)], per_night)
    nat_idx = rng.choice(
        len(NATIONALITIES), size=n, p=[0.4, 0.12, 0.1, 0.08, 0.12, 0.08, 0.06, 0.04]
    )
    same = rng.random(n) < 0.7
    agency_idx = np.where(same, nat_idx, rng.choice(len(AGENCY_COUNTRIES), size=n))
    one_way = rng.random(n) < 0.15
    cash = rng.random(n) < 0.1
    payer_trav = rng.random(n) < 0.85
    lead = rng.gamma(2.0, 300.0, size=n)
    lead[rng.random(n) < 0.03] = np.nan
    n_trav = rng.integers(1, 6, size=n).astype(float)
    shared = rng.poisson(0.15, size=n).astype(float)
    bag = np.round(rng.gamma(3.0, 6.0, size=n), 1)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    age_band = rng.choice(["0-17", "18-29", "30-49", "50+"], size=n, p=[0.08, 0.3, 0.4, 0.22])
    z = (
        -6.2
        + 1.8 * one_way
        + 1.4 * cash
        + 0.9 * ~payer_trav
        + 1.0 * np.minimum(shared, 3)
        + 0.9 * (np.nan_to_num(lead, nan=500.0) < 72)
        - 0.01 * bag
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    rule_score = 1.2 * (one_way & cash) + 1.0 * (shared >= 2) + rng.normal(0, 0.05, n)
    rule_score = np.where(rule_score > 0.5, rule_score, 0.0)
    match_score = np.where(
        rng.random(n) < np.where(label == 1, 0.15, 0.002), rng.uniform(4, 12, n), 0.0
    )
    return pd.DataFrame(
        {
            "traveller_id": [f"T{i:08d}" for i in range(n)],
            "night": pd.to_datetime(pd.Series(night)).dt.date,
            "booking.one_way": one_way,
            "booking.payment_cash": cash,
            "booking.payer_travelling": payer_trav,
            "booking.lead_time_hours": lead,
            "booking.n_travellers": n_trav,
            "link.shared_contact_bookings": shared,
            "traveller.bag_weight_kg": bag,
            "booking.agency_country": np.asarray(AGENCY_COUNTRIES)[agency_idx],
            "traveller.nationality": np.asarray(NATIONALITIES)[nat_idx],
            "traveller.sex": sex,
            "traveller.age_band": age_band,
            "rules.score": rule_score,
            "match.score": match_score,
            "label": label,
        }
    )
