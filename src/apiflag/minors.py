"""Whether a traveller is, or may be, a minor: the one place this is decided.

A minor (under :data:`MINOR_AGE` on the arrival night) is only ever on the protection track
(:mod:`apiflag.queue.combine`). The age comes from the API birth date; when the API has none
(not sent, or sent and unreadable: the reader's ``degraded``), from the PNR's (SSR DOCS). When
neither gives a date the age is **unknown**, and an unknown age *may be a minor*: a typo in a
birth date must never take a child off the protection track. So:

============ ================================================ ======================
status       when                                             protection only
============ ================================================ ======================
``minor``    the first known birth date makes them under 18   yes
``adult``    the first known birth date makes them 18 or over no
``unknown``  no readable birth date in the API or the PNR     yes (may be a minor)
============ ================================================ ======================

Reports show the unknown ones in their own age band (``unknown``), never among adults.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["MINOR_AGE", "STATUSES", "age_on", "minor_status", "protection_only"]

MINOR_AGE = 18
"""Under this age on the night a traveller is a minor."""

STATUSES = ("minor", "adult", "unknown")
"""The values of :func:`minor_status`."""


def age_on(birth_dates: pd.Series, night: dt.date | pd.Timestamp) -> pd.Series:
    """Whole years on ``night`` (float); NaN where the birth date is missing or unreadable."""
    dob = pd.to_datetime(birth_dates, errors="coerce")
    when = pd.Timestamp(night)
    before_birthday = (when.month < dob.dt.month) | (
        (when.month == dob.dt.month) & (when.day < dob.dt.day)
    )
    return ((when.year - dob.dt.year) - before_birthday.astype(float)).astype(float)


def minor_status(
    api_birth_dates: pd.Series,
    night: dt.date | pd.Timestamp,
    pnr_birth_dates: pd.Series | None = None,
    minor_age: int = MINOR_AGE,
) -> tuple[pd.Series, pd.Series]:
    """Each traveller's status (``minor``, ``adult``, ``unknown``) and the age it rests on.

    Args:
        api_birth_dates: the API (PAXLST) birth dates, null where missing or unreadable.
        night: the arrival night.
        pnr_birth_dates: the linked PNR traveller's birth dates, aligned with
            ``api_birth_dates`` (null when unlinked or unknown); None when there are none.
        minor_age: under this age a traveller is a minor.

    Returns:
        The status per traveller and the age in whole years (NaN when unknown), both indexed
        like ``api_birth_dates``.
    """
    age = age_on(api_birth_dates, night)
    if pnr_birth_dates is not None:
        pnr_age = age_on(pd.Series(pnr_birth_dates.to_numpy(), index=age.index), night)
        age = age.fillna(pnr_age)
    status = np.where(age.isna(), "unknown", np.where(age < minor_age, "minor", "adult"))
    return pd.Series(status, index=age.index, dtype=object), age


def protection_only(status: pd.Series) -> np.ndarray:
    """Whether each traveller may only be on the protection track: a minor, or may be one."""
    return (status != "adult").to_numpy(dtype=bool)
