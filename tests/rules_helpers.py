"""Hand-built warehouse nights for feature and rule tests.

:class:`NightBuilder` writes rows shaped exactly like the warehouse tables of
docs/ARCHITECTURE.md, so a test reads as a story: a booking, who is in it, who paid, which phone.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from apiflag.features import FEATURE_SPEC, NightTables

NIGHT = "2026-11-27"


class NightBuilder:
    """Accumulate warehouse rows for one night; :meth:`tables` returns a NightTables."""

    def __init__(self, night: str = NIGHT) -> None:
        self.night = night
        self.rows: dict[str, list[dict[str, Any]]] = {
            name: []
            for name in (
                "flights",
                "travellers",
                "documents",
                "bookings",
                "pnr_travellers",
                "booking_contacts",
                "payments",
                "itinerary",
            )
        }
        self._ids = itertools.count(1)
        self.flight("F1")

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def flight(
        self,
        flight_id: str,
        *,
        route: tuple[str, str] = ("MNL", "NRT"),
        departure: str | None = None,
        arrival: str | None = None,
    ) -> str:
        day = pd.Timestamp(self.night)
        self.rows["flights"].append(
            {
                "flight_id": flight_id,
                "carrier": "ZZ",
                "number": "101",
                "departure_airport": route[0],
                "arrival_airport": route[1],
                "scheduled_departure": pd.Timestamp(departure)
                if departure
                else day + pd.Timedelta(hours=9),
                "scheduled_arrival": pd.Timestamp(arrival)
                if arrival
                else day + pd.Timedelta(hours=14),
            }
        )
        return flight_id

    def booking(
        self,
        record_locator: str,
        *,
        flight_id: str = "F1",
        lead_hours: float = 24 * 30,
        agency: str | None = None,
        cash: bool | None = False,
        payer: str | None = None,
        payer_phone: str | None = None,
        phones: tuple[str, ...] = (),
        emails: tuple[str, ...] = (),
        return_after_days: float | None = 14,
        superseded: bool = False,
        n_travellers: int | None = None,
    ) -> str:
        """Add a booking on ``flight_id``; ``return_after_days=None`` makes it one-way."""
        flight = next(f for f in self.rows["flights"] if f["flight_id"] == flight_id)
        booking_id = self._id("B")
        self.rows["bookings"].append(
            {
                "booking_id": booking_id,
                "record_locator": record_locator,
                "carrier": "ZZ",
                "flight_id": flight_id,
                "created": flight["scheduled_departure"] - pd.Timedelta(hours=lead_hours),
                "last_transaction": flight["scheduled_departure"] - pd.Timedelta(hours=1),
                "agency_id": agency,
                "agency_location": None,
                "agency_country": None,
                "push_type": "full",
                "push_seq": 1,
                "superseded": superseded,
                "n_travellers": n_travellers,
            }
        )
        legs = [
            (flight["scheduled_departure"], flight["scheduled_arrival"], *reversed(("NRT", "MNL")))
        ]
        if return_after_days is not None:
            back = flight["scheduled_arrival"] + pd.Timedelta(days=return_after_days)
            legs.append((back, back + pd.Timedelta(hours=5), "NRT", "MNL"))
        for seq, (dep, arr, frm, to) in enumerate(legs, start=1):
            self.rows["itinerary"].append(
                {
                    "booking_id": booking_id,
                    "leg_seq": seq,
                    "carrier": "ZZ",
                    "number": "101",
                    "departure_airport": frm,
                    "arrival_airport": to,
                    "scheduled_departure": dep,
                    "scheduled_arrival": arr,
                }
            )
        if cash is not None:
            self.rows["payments"].append(
                {
                    "booking_id": booking_id,
                    "form": "CA" if cash else "CC",
                    "amount": 500.0,
                    "currency": "JPY",
                    "masked_card": None if cash else "XXXXXXXXXXXX1111",
                    "payer_name": payer,
                    "payer_phone": payer_phone,
                }
            )
        for kind, values in (("phone", phones), ("email", emails)):
            for v in values:
                self.rows["booking_contacts"].append(
                    {
                        "booking_id": booking_id,
                        "pnr_traveller_id": None,
                        "kind": kind,
                        "value": v,
                        "normalized": None,
                        "source": "CTCM" if kind == "phone" else "CTCE",
                    }
                )
        return booking_id

    def traveller(
        self,
        surname: str,
        given_names: str,
        date_of_birth: str | None,
        *,
        booking_id: str | None = None,
        flight_id: str = "F1",
        role: str = "passenger",
        document: str | None = None,
        issued_days_ago: int | None = 2000,
        bags: int | None = 1,
        sex: str = "F",
        nationality: str = "PHL",
        in_pnr: bool = True,
        passenger_type: str = "A",
        seat: str | None = None,
    ) -> str:
        """Add an API traveller, linked (with a PNR traveller row) when ``booking_id`` is given."""
        traveller_id = self._id("T")
        pnr_id = None
        record_locator = None
        if booking_id is not None:
            record_locator = next(
                b["record_locator"] for b in self.rows["bookings"] if b["booking_id"] == booking_id
            )
            if in_pnr:
                pnr_id = self._id("P")
                self.rows["pnr_travellers"].append(
                    {
                        "pnr_traveller_id": pnr_id,
                        "booking_id": booking_id,
                        "record_locator": record_locator,
                        "ref": pnr_id,
                        "surname": surname,
                        "given_names": given_names,
                        "title": None,
                        "passenger_type": passenger_type,
                        "sex": sex,
                        "date_of_birth": pd.Timestamp(date_of_birth) if date_of_birth else None,
                        "nationality": nationality,
                        "frequent_flyer": None,
                    }
                )
        self.rows["travellers"].append(
            {
                "traveller_id": traveller_id,
                "flight_id": flight_id,
                "role": role,
                "surname": surname,
                "given_names": given_names,
                "sex": sex,
                "date_of_birth": pd.Timestamp(date_of_birth) if date_of_birth else None,
                "nationality": nationality,
                "country_of_residence": nationality,
                "place_of_birth": None,
                "record_locator": record_locator,
                "seat": seat,
                "frequent_flyer": None,
                "checked_bags": bags,
                "bag_weight_kg": None if bags is None else 12.5 * bags,
                "pnr_traveller_id": pnr_id,
                "booking_id": booking_id,
                "link_confidence": 0.99 if booking_id else None,
            }
        )
        number = document or f"X{traveller_id}"
        issue = (
            pd.Timestamp(self.night) - pd.Timedelta(days=issued_days_ago)
            if issued_days_ago is not None
            else None
        )
        self.rows["documents"].append(
            {
                "owner_kind": "api",
                "owner_id": traveller_id,
                "doc_type": "P",
                "number": number,
                "issuing_country": nationality,
                "expiry_date": pd.Timestamp(self.night) + pd.Timedelta(days=2000),
                "issue_date": issue,
            }
        )
        return traveller_id

    def tables(self, **extra: pd.DataFrame | None) -> NightTables:
        frames = {name: pd.DataFrame(rows) if rows else None for name, rows in self.rows.items()}
        return NightTables.from_frames(self.night, **frames, **extra)


def years_ago(years: float, night: str = NIGHT) -> str:
    """A birth date ``years`` years (of 365.25 days) before ``night``."""
    return str((pd.Timestamp(night) - pd.Timedelta(days=int(years * 365.25))).date())


def row(features: pd.DataFrame, traveller_id: str) -> dict[str, Any]:
    """The feature row of one traveller as a plain dict (pandas NA becomes None)."""
    rec = features.loc[features["traveller_id"] == traveller_id]
    assert len(rec) == 1, traveller_id
    out: dict[str, Any] = {}
    for k, v in rec.iloc[0].items():
        if pd.isna(v):
            out[str(k)] = None
        else:
            out[str(k)] = v.item() if isinstance(v, np.generic) else v
    return out


def matches_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["traveller_id", "person_id", "case_id", "role", "probability", "protection_only"]
    return pd.DataFrame(rows, columns=cols)


def identifier_matches_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["booking_id", "kind", "value", "case_id", "source", "protection_only"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["protection_only"] = frame["protection_only"].fillna(False).astype(bool)
    return frame


def random_features(n: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic feature frame of ``n`` travellers, typed by FEATURE_SPEC (for speed tests)."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"traveller_id": pd.array([f"T{i}" for i in range(n)], dtype="str")}
    for spec in FEATURE_SPEC:
        null = rng.random(n) < 0.05
        if spec.type == "bool":
            p = 0.08 if spec.name.endswith(("cash", "one_way", "identity", "database")) else 0.3
            vals = pd.array(rng.random(n) < p, dtype="boolean")
            vals[null] = pd.NA
        elif spec.type == "int":
            lam = 0.05 if "case_links" in spec.name or "shared" in spec.name else 1.5
            vals = pd.array(rng.poisson(lam, n), dtype="Int64")
            if spec.name == "document.days_since_issue":
                vals = pd.array(rng.integers(0, 3650, n), dtype="Int64")
            vals[null] = pd.NA
        elif spec.type == "float":
            raw = rng.exponential(200.0, n)
            if "probability" in spec.name or "confidence" in spec.name:
                raw = rng.beta(0.3, 8.0, n)
            raw[null] = np.nan
            vals = raw
        elif spec.type == "date":
            vals = pd.array(
                pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, 15000, n), unit="D"),
                dtype="datetime64[us]",
            )
        else:
            choices = {
                "traveller.case_match_role": ["victim", "recruiter", "broker", "perpetrator", None],
                "traveller.role": ["passenger", "passenger", "passenger", "crew"],
            }.get(spec.name, ["A", "B", "C", None])
            vals = pd.array(rng.choice(np.array(choices, dtype=object), n), dtype="str")
        data[spec.name] = vals
    return pd.DataFrame(data)


__all__ = [
    "NIGHT",
    "NightBuilder",
    "identifier_matches_frame",
    "matches_frame",
    "random_features",
    "row",
    "years_ago",
]
