"""Links each API traveller (PAXLST) to the PNR traveller (PNRGOV) who is the same person.

The link decides which booking's contacts, payer and agency the later stages attribute to an
arriving traveller, so it is conservative and every link says how it was made. A link needs the
same flight and a current (not superseded) PNR push, and then one of these levels, tried from
the strongest down; the first level that finds exactly one partner wins:

======================  ==========  =========================================================
level                   confidence  evidence
======================  ==========  =========================================================
``exact``               1.00        record locator (RFF AVF), surname, given names and date of
                                    birth all agree
``locator_surname_dob`` 0.90        record locator, surname and date of birth agree; given
                                    names differ or one side has none
``locator_name``        0.85        record locator, surname and given names agree; one side
                                    has no date of birth
``name_dob``            0.70        no record-locator link: surname, given names and date of
                                    birth agree with exactly one PNR traveller on the flight
``locator_surname``     0.50        record locator and surname agree, one side has no date of
                                    birth, and the surname is unique in that booking
(unlinked)              null        none of the above, or two partners tie (``ambiguous``)
======================  ==========  =========================================================

Names are compared after transliteration to ASCII, upper case, punctuation removed; a surname
ignores spaces (``VAN DER BERG`` = ``VANDERBERG``); given names agree when equal or when one is
the other with trailing middle names dropped (``PIMCHANOK`` vs ``PIMCHANOK DARA``). Two dates of
birth that are both present and differ always block a link. Links are one to one: pairs are
taken strongest first, ties broken by file order, so a result never depends on dict order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from apiflag.normalise import name_key

__all__ = ["LEVELS", "LinkLevel", "link_travellers", "name_key", "given_agree"]


@dataclass(frozen=True)
class LinkLevel:
    """One level of link evidence and the confidence it earns."""

    name: str
    confidence: float
    evidence: str


LEVELS: tuple[LinkLevel, ...] = (
    LinkLevel("exact", 1.0, "record locator, surname, given names and date of birth agree"),
    LinkLevel(
        "locator_surname_dob",
        0.9,
        "record locator, surname and date of birth agree; given names differ or are missing",
    ),
    LinkLevel(
        "locator_name",
        0.85,
        "record locator, surname and given names agree; one side has no date of birth",
    ),
    LinkLevel(
        "name_dob",
        0.7,
        "surname, given names and date of birth agree with exactly one PNR traveller on the flight",
    ),
    LinkLevel(
        "locator_surname",
        0.5,
        "record locator and surname agree, no date of birth on one side, surname unique in booking",
    ),
)
"""The link levels, strongest first (see the module docstring)."""

_CONFIDENCE = {level.name: level.confidence for level in LEVELS}


def given_agree(a: str, b: str) -> bool:
    """Return whether two normalised given names agree (equal, or one drops trailing names)."""
    if not a or not b:
        return False
    ta, tb = a.split(), b.split()
    n = min(len(ta), len(tb))
    return ta[:n] == tb[:n]


def _dob(value: object) -> dt.date | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    return None


def _text(value: object) -> str:
    return value.strip().upper() if isinstance(value, str) else ""


def _rows(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of some columns as plain Python tuples (nulls as None), fast."""
    lists = []
    for column in columns:
        values = frame[column].astype(object).tolist()
        lists.append(
            [None if v is None or v is pd.NA or v is pd.NaT or v != v else v for v in values]
        )
    return zip(*lists, strict=True)


@dataclass(frozen=True)
class _Pnr:
    order: int
    pnr_traveller_id: str
    booking_id: str
    locator: str
    surname: str
    given: str
    dob: dt.date | None


def _level(
    api_locator: str,
    api_surname: str,
    api_given: str,
    api_dob: dt.date | None,
    pnr: _Pnr,
    surname_unique_in_booking: bool,
) -> str | None:
    """Return the locator-based level one candidate reaches, or None."""
    if (
        not api_locator
        or api_locator != pnr.locator
        or api_surname.replace(" ", "") != (pnr.surname.replace(" ", ""))
    ):
        return None
    both_dob = api_dob is not None and pnr.dob is not None
    if both_dob and api_dob != pnr.dob:
        return None
    given = given_agree(api_given, pnr.given)
    if both_dob and given:
        return "exact"
    if both_dob:
        return "locator_surname_dob"
    if given:
        return "locator_name"
    if surname_unique_in_booking:
        return "locator_surname"
    return None


def link_travellers(api: pd.DataFrame, pnr: pd.DataFrame, bookings: pd.DataFrame) -> pd.DataFrame:
    """Link API travellers to PNR travellers of current pushes on the same flight.

    Args:
        api: one row per API traveller with ``flight_id, record_locator, surname,
            given_names, date_of_birth`` (row order is the tie-break order).
        pnr: one row per PNR traveller with ``pnr_traveller_id, booking_id, record_locator,
            surname, given_names, date_of_birth``.
        bookings: ``booking_id, flight_id, superseded``; PNR travellers of superseded pushes
            are never linked.

    Returns:
        A frame with ``api``'s index and columns ``pnr_traveller_id, booking_id,
        link_confidence, link_level`` (all null when unlinked; ``link_level`` is
        ``"ambiguous"`` when two partners tied at the best level).
    """
    live = bookings.loc[~bookings["superseded"].fillna(False).astype(bool)]
    flight_of = dict(zip(live["booking_id"], live["flight_id"], strict=True))

    by_locator: dict[tuple[str, str], list[_Pnr]] = defaultdict(list)
    by_name_dob: dict[tuple[str, str, dt.date], list[_Pnr]] = defaultdict(list)
    surnames_in_booking: dict[tuple[str, str], int] = defaultdict(int)
    pnr_cols = [
        "pnr_traveller_id",
        "booking_id",
        "record_locator",
        "surname",
        "given_names",
        "date_of_birth",
    ]
    for order, row in enumerate(_rows(pnr, pnr_cols)):
        flight = flight_of.get(row[1])
        if flight is None:
            continue
        cand = _Pnr(
            order,
            str(row[0]),
            str(row[1]),
            _text(row[2]),
            name_key(row[3]),
            name_key(row[4]),
            _dob(row[5]),
        )
        by_locator[(str(flight), cand.locator)].append(cand)
        surnames_in_booking[(cand.booking_id, cand.surname.replace(" ", ""))] += 1
        if cand.dob is not None:
            by_name_dob[(str(flight), cand.surname.replace(" ", ""), cand.dob)].append(cand)

    rank = {level.name: i for i, level in enumerate(LEVELS)}
    proposals: list[tuple[int, int, int, _Pnr, str]] = []  # (rank, api order, pnr order, ...)
    ambiguous: set[int] = set()
    cols = ["flight_id", "record_locator", "surname", "given_names", "date_of_birth"]
    for i, row in enumerate(_rows(api, cols)):
        flight, locator = str(row[0]), _text(row[1])
        surname, given, dob = name_key(row[2]), name_key(row[3]), _dob(row[4])
        found: list[tuple[int, _Pnr, str]] = []
        if locator:
            for cand in by_locator.get((flight, locator), ()):
                unique = surnames_in_booking[(cand.booking_id, cand.surname.replace(" ", ""))] == 1
                level = _level(locator, surname, given, dob, cand, unique)
                if level is not None:
                    found.append((rank[level], cand, level))
        if not found and dob is not None and surname:
            for cand in by_name_dob.get((flight, surname.replace(" ", ""), dob), ()):
                if given_agree(given, cand.given):
                    found.append((rank["name_dob"], cand, "name_dob"))
        if not found:
            continue
        best = min(r for r, _, _ in found)
        top = [(cand, level) for r, cand, level in found if r == best]
        if len(top) > 1:
            ambiguous.add(i)
            continue
        cand, level = top[0]
        proposals.append((best, i, cand.order, cand, level))

    proposals.sort(key=lambda p: (p[0], p[1], p[2]))
    n = len(api)
    out_pnr: list[Any] = [None] * n
    out_booking: list[Any] = [None] * n
    out_conf: list[Any] = [None] * n
    out_level: list[Any] = [None] * n
    taken: set[str] = set()
    for _, i, _, cand, level in proposals:
        if out_pnr[i] is not None or cand.pnr_traveller_id in taken:
            continue
        taken.add(cand.pnr_traveller_id)
        out_pnr[i] = cand.pnr_traveller_id
        out_booking[i] = cand.booking_id
        out_conf[i] = _CONFIDENCE[level]
        out_level[i] = level
    for i in ambiguous:
        out_level[i] = "ambiguous"
    return pd.DataFrame(
        {
            "pnr_traveller_id": pd.array(out_pnr, dtype="str"),
            "booking_id": pd.array(out_booking, dtype="str"),
            "link_confidence": pd.array(out_conf, dtype="Float64"),
            "link_level": pd.array(out_level, dtype="str"),
        },
        index=api.index,
    )
