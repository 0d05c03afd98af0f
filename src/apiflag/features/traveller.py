"""Traveller features: role, age and the age-derived protection features, case-match figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from apiflag.features.common import _bool, _ts
from apiflag.features.tables import MATCH_COLUMNS, NightTables, _conform
from apiflag.minors import minor_status, protection_only
from apiflag.settings import Settings

CREW_ROLES = frozenset({"crew", "transit_crew"})


def _age_years(dob: pd.Series, night: pd.Timestamp) -> pd.Series:
    """Whole years on ``night``; null where the birth date is unknown."""
    dob = _ts(dob)
    years = night.year - dob.dt.year
    before_birthday = (dob.dt.month > night.month) | (
        (dob.dt.month == night.month) & (dob.dt.day > night.day)
    )
    age = (years - before_birthday.astype("Int64")).astype("Int64")
    return age.where(dob.notna(), pd.NA).astype("Int64")


def _age_band(age: pd.Series, settings: Settings) -> pd.Series:
    bands = settings.age_bands_of(pd.to_numeric(age, errors="coerce").to_numpy(dtype=float))
    out = pd.Series(bands, index=age.index, dtype=object)
    return out.where(out != "unknown", None)


def traveller_features(
    tables: NightTables, tr: pd.DataFrame, night: pd.Timestamp, settings: Settings
) -> tuple[dict[str, Any], pd.Series, pd.Series]:
    """Role, crew, minor, age band and the protected attributes kept for monitoring.

    Returns:
        The feature columns, and each traveller's birth date (API, else PNR) and age.
    """
    out: dict[str, Any] = {}
    idx = tr.index
    pnr_t = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = _ts(pnr_t["date_of_birth"]).reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    dob = _ts(tr["date_of_birth"]).fillna(pnr_dob)
    age = _age_years(dob, night)
    role = tr["role"].astype(object)
    out["traveller.role"] = role.to_numpy()
    out["traveller.is_crew"] = _bool(
        ((r in CREW_ROLES) if isinstance(r, str) else None for r in role), idx
    )
    # the one decision (apiflag.minors): API birth date, else the PNR's; unknown may be a minor
    status, _ = minor_status(tr["date_of_birth"], night, pnr_dob)
    out["traveller.is_minor"] = pd.array(protection_only(status), dtype="boolean")
    out["traveller.age_band"] = _age_band(age, settings)
    out["traveller.age"] = age
    out["traveller.sex"] = tr["sex"].to_numpy()
    out["traveller.nationality"] = tr["nationality"].to_numpy()
    out["traveller.date_of_birth"] = dob
    out["traveller.place_of_birth"] = tr["place_of_birth"].to_numpy()
    out["traveller.country_of_residence"] = tr["country_of_residence"].to_numpy()
    return out, dob, age


def case_match_features(
    tr: pd.DataFrame, matches: pd.DataFrame | None
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """The best case match per traveller, and the best victim and offender probabilities.

    Returns:
        The feature columns, and the conformed matches (None when matching did not run).
    """
    out: dict[str, Any] = {}
    m = _conform(matches, MATCH_COLUMNS) if matches is not None else None
    if m is not None:
        m = m.assign(probability=pd.to_numeric(m["probability"], errors="coerce"))
        best = (
            m.sort_values(["traveller_id", "probability", "case_id"], ascending=[True, False, True])
            .drop_duplicates("traveller_id")
            .set_index("traveller_id")
        )
        key = tr["traveller_id"]
        prob = best["probability"].reindex(key).to_numpy(float)
        out["traveller.case_match_probability"] = np.where(np.isnan(prob), 0.0, prob)
        out["traveller.case_match_role"] = best["role"].reindex(key).to_numpy()
        out["traveller.case_match_case_id"] = best["case_id"].reindex(key).to_numpy()
        out["traveller.case_match_protection_only"] = (
            best["protection_only"].astype("boolean").reindex(key).reset_index(drop=True)
        )
        is_victim = m["protection_only"].astype("boolean").fillna(False).to_numpy(bool)
        for name, part in (
            ("traveller.case_match_victim_probability", m.loc[is_victim]),
            ("traveller.case_match_offender_probability", m.loc[~is_victim]),
        ):
            top = part.groupby("traveller_id")["probability"].max().reindex(key).to_numpy(float)
            out[name] = np.where(np.isnan(top), 0.0, top)
    else:
        for name in (
            "traveller.case_match_probability",
            "traveller.case_match_victim_probability",
            "traveller.case_match_offender_probability",
        ):
            out[name] = np.full(len(tr), np.nan)
    return out, m
