"""Identifier matching: booking contacts, agencies, cards and documents vs case identifiers.

Compares booking phones, e-mails, agencies, cards, addresses and documents with the identifiers
recorded in trafficking cases. Decides when a booking's identifier is the same as a case identifier: both sides are
normalised by kind (:func:`~apiflag.matching.normalise.normalise_identifier`) and must be
equal, except masked cards, which match when they have the same length, no known digit
disagrees, and at least :data:`MIN_CARD_DIGITS` known digits agree (last four alone would tie
one booking in ten thousand to a case card). Case ``document`` identifiers and the documents
of case persons are both compared with traveller documents. A hit on an identifier owned by a
victim carries ``protection_only = True``. Every hit says what matched, in which table and row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from apiflag.casedb import CaseDatabase
from apiflag.matching.normalise import normalise_identifier

__all__ = ["IDENTIFIER_COLUMNS", "MIN_CARD_DIGITS", "card_compatible", "match_identifiers"]

MIN_CARD_DIGITS = 8
"""Known digits two masked card numbers must share to match (BIN and last four: 10)."""

IDENTIFIER_COLUMNS = [
    "source",
    "booking_id",
    "owner_kind",
    "owner_id",
    "kind",
    "value",
    "normalized",
    "identifier_id",
    "case_id",
    "person_id",
    "role",
    "protection_only",
    "sentence",
]
"""Columns of :func:`match_identifiers`' result. ``source`` names the warehouse table,
``owner_kind``/``owner_id`` the traveller (``api``/``pnr``) or booking that carries the value."""


def card_compatible(a: str, b: str, min_digits: int = MIN_CARD_DIGITS) -> bool:
    """Return True when two normalised masked cards can be the same card.

    Args:
        a, b: digits with ``X`` for masked positions (``411111XXXXXX1111``).
        min_digits: known digits both must share.
    """
    if len(a) != len(b) or not a:
        return False
    common = 0
    for x, y in zip(a, b, strict=True):
        if x == "X" or y == "X":
            continue
        if x != y:
            return False
        common += 1
    return common >= min_digits


def _probe_rows(
    contacts: pd.DataFrame,
    payments: pd.DataFrame,
    bookings: pd.DataFrame,
    documents: pd.DataFrame,
) -> pd.DataFrame:
    rows: list[pd.DataFrame] = []

    def add(
        frame: pd.DataFrame,
        source: str,
        kind: str | pd.Series,
        value_col: str,
        owner_kind: str | pd.Series,
        owner_id: pd.Series | None,
        booking: pd.Series | None,
    ) -> None:
        if frame.empty or value_col not in frame.columns:
            return
        part = pd.DataFrame(
            {
                "source": source,
                "booking_id": booking if booking is not None else None,
                "owner_kind": owner_kind,
                "owner_id": owner_id if owner_id is not None else None,
                "kind": kind,
                "value": frame[value_col],
            },
            index=frame.index,
        )
        rows.append(part[part["value"].notna() & (part["value"].astype(str) != "")])

    if not contacts.empty:
        tid = contacts.get("pnr_traveller_id")
        owner_kind = np.where(tid.notna(), "pnr", "booking") if tid is not None else "booking"
        owner = tid.where(tid.notna(), contacts["booking_id"]) if tid is not None else None
        add(
            contacts,
            "booking_contacts",
            contacts["kind"],
            "value",
            pd.Series(owner_kind, index=contacts.index),
            owner,
            contacts["booking_id"],
        )
    if not payments.empty:
        add(
            payments,
            "payments",
            "card",
            "masked_card",
            "booking",
            payments["booking_id"],
            payments["booking_id"],
        )
        add(
            payments,
            "payments",
            "phone",
            "payer_phone",
            "booking",
            payments["booking_id"],
            payments["booking_id"],
        )
    if not bookings.empty:
        add(
            bookings,
            "bookings",
            "agency",
            "agency_id",
            "booking",
            bookings["booking_id"],
            bookings["booking_id"],
        )
    if not documents.empty:
        add(
            documents,
            "documents",
            "document",
            "number",
            documents["owner_kind"],
            documents["owner_id"],
            None,
        )
    if not rows:
        return pd.DataFrame(
            columns=[
                "source",
                "booking_id",
                "owner_kind",
                "owner_id",
                "kind",
                "value",
                "normalized",
            ]
        )
    probe = pd.concat(rows, ignore_index=True)
    probe = probe[probe["kind"].isin(["phone", "email", "address", "agency", "card", "document"])]
    probe = probe.drop_duplicates().reset_index(drop=True)
    probe["normalized"] = [
        normalise_identifier(str(k), str(v))
        for k, v in zip(probe["kind"], probe["value"], strict=True)
    ]
    return probe[probe["normalized"] != ""]


def _case_rows(db: CaseDatabase) -> pd.DataFrame:
    ident = db.identifiers[["id", "case_id", "person_id", "kind", "value", "normalized"]].rename(
        columns={"id": "identifier_id", "value": "case_value"}
    )
    persons = db.persons[["person_id", "case_id"]]
    docs = db.documents.merge(persons, on="person_id")
    person_docs = pd.DataFrame(
        {
            "identifier_id": None,
            "case_id": docs["case_id"],
            "person_id": docs["person_id"],
            "kind": "document",
            "case_value": docs["number"],
            "normalized": [normalise_identifier("document", v) for v in docs["number"]],
        }
    )
    both = pd.concat([ident.astype({"identifier_id": object}), person_docs], ignore_index=True)
    roles = db.persons.set_index("person_id")["role"]
    both["role"] = both["person_id"].map(roles)
    both = both.drop_duplicates(["case_id", "person_id", "kind", "normalized"])
    return both[both["normalized"] != ""]


_KIND_TEXT = {
    "phone": "Phone",
    "email": "E-mail",
    "address": "Address",
    "agency": "Agency",
    "card": "Card",
    "document": "Document number",
}


def match_identifiers(
    contacts: pd.DataFrame,
    payments: pd.DataFrame,
    bookings: pd.DataFrame,
    documents: pd.DataFrame,
    db: CaseDatabase,
) -> pd.DataFrame:
    """Match a night's booking and document identifiers against the case identifiers.

    Args:
        contacts: warehouse ``booking_contacts`` (``booking_id, pnr_traveller_id, kind, value``).
        payments: warehouse ``payments`` (``booking_id, masked_card, payer_phone``).
        bookings: warehouse ``bookings`` (current pushes: ``booking_id, agency_id``).
        documents: warehouse ``documents`` (``owner_kind, owner_id, number``).
        db: the case database.

    Returns:
        One row per (identifier seen, case identifier) hit, columns :data:`IDENTIFIER_COLUMNS`,
        sorted by kind, normalised value, case and person.
    """
    probe = _probe_rows(contacts, payments, bookings, documents)
    case = _case_rows(db)
    exact = probe[probe["kind"] != "card"].merge(case, on=["kind", "normalized"])
    hits: list[pd.DataFrame] = [exact]
    pcards = probe[probe["kind"] == "card"]
    ccards = case[case["kind"] == "card"]
    if not pcards.empty and not ccards.empty:
        pc = pcards.assign(
            _last4=pcards["normalized"].str[-4:], _len=pcards["normalized"].str.len()
        )
        cc = ccards.assign(
            _last4=ccards["normalized"].str[-4:], _len=ccards["normalized"].str.len()
        )
        cand = pc.merge(cc.drop(columns=["kind", "normalized"]), on=["_last4", "_len"])
        if not cand.empty:
            cvalues = cand["case_value"].map(lambda v: normalise_identifier("card", v))
            ok = [card_compatible(a, b) for a, b in zip(cand["normalized"], cvalues, strict=True)]
            hits.append(cand[ok].drop(columns=["_last4", "_len"]))
    out = pd.concat(hits, ignore_index=True) if hits else pd.DataFrame()
    if out.empty:
        return pd.DataFrame(columns=IDENTIFIER_COLUMNS)
    out["protection_only"] = out["role"].eq("victim")

    def sentence(r: Any) -> str:
        who = f" for person {r.person_id}" if isinstance(r.person_id, str) else ""
        return (
            f"{_KIND_TEXT[r.kind]} {r.value} ({r.source}) matches {r.case_value} "
            f"recorded{who} in case {r.case_id}"
        )

    out["sentence"] = [sentence(r) for r in out.itertuples()]
    out = out.sort_values(
        ["kind", "normalized", "case_id", "person_id", "source", "owner_id"],
        kind="stable",
        na_position="first",
    )
    return out[IDENTIFIER_COLUMNS].reset_index(drop=True)
