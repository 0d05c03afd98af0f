"""Document features: days since issue, a document seen under another identity, case documents."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from apiflag.features.booking import BookingKeys
from apiflag.features.common import _norm_doc, _norm_docs, _token_column, _ts
from apiflag.features.tables import NightTables


def _first_documents(docs: pd.DataFrame) -> pd.DataFrame:
    """API documents, each owner's first document (``seq`` 0, else file order) first."""
    api = docs.loc[(docs["owner_kind"].astype(object) == "api").to_numpy(bool)]
    seq = pd.to_numeric(api["seq"], errors="coerce").fillna(0)
    return api.assign(_seq=seq.to_numpy()).sort_values("_seq", kind="stable").drop(columns="_seq")


def document_keys(docs: pd.DataFrame) -> pd.Series:
    """Each document's number normalised (None when it has none), indexed like ``docs``."""
    return pd.Series(_norm_docs(docs["number"]), index=docs.index, dtype=object)


def _keys_of(rows: pd.DataFrame, doc_keys: pd.Series | None) -> list[str | None]:
    """The normalised numbers of ``rows`` (documents), from ``doc_keys`` when given."""
    if doc_keys is None:
        return _norm_docs(rows["number"])
    return [x if isinstance(x, str) else None for x in doc_keys.loc[rows.index].tolist()]


def _identities(t: NightTables, doc_keys: pd.Series | None = None) -> pd.DataFrame:
    """Per API traveller with a document: traveller_id, normalised document, surname words, dob.

    ``doc_keys``: :func:`document_keys` of ``t.documents`` when already computed.
    """
    d = _first_documents(t.documents).drop_duplicates("owner_id")[["owner_id", "number"]]
    d = d.assign(_doc=pd.Series(_keys_of(d, doc_keys), index=d.index, dtype=object))
    who = t.travellers[["traveller_id", "surname", "date_of_birth"]].merge(
        d, left_on="traveller_id", right_on="owner_id"
    )
    return pd.DataFrame(
        {
            "traveller_id": who["traveller_id"].astype(str),
            "doc": [x if isinstance(x, str) else None for x in who["_doc"].tolist()],
            "sur": _token_column(who["surname"]),
            "dob": _ts(who["date_of_birth"]),
        }
    )


def tonight_documents(
    tables: NightTables, keys: BookingKeys, doc_keys: pd.Series | None = None
) -> list[str | None]:
    """Each traveller's first API document, normalised (None without one).

    ``doc_keys``: :func:`document_keys` of ``tables.documents`` when already computed.
    """
    first_doc = _first_documents(tables.documents).drop_duplicates("owner_id")
    if doc_keys is None:
        numbers = first_doc.set_index("owner_id")["number"]
        at = numbers.reindex(keys.tr["traveller_id"]).reset_index(drop=True)
        return _norm_docs(at)
    mine = pd.Series(
        _keys_of(first_doc, doc_keys), index=first_doc["owner_id"].to_numpy(), dtype=object
    )
    return [
        x if isinstance(x, str) else None for x in mine.reindex(keys.tr["traveller_id"]).tolist()
    ]


def document_features(
    tables: NightTables,
    history_identities: list[pd.DataFrame],
    keys: BookingKeys,
    doc_norm: list[str | None],
    dob: pd.Series,
    night: pd.Timestamp,
    doc_keys: pd.Series | None = None,
) -> dict[str, Any]:
    """``document.days_since_issue`` and ``document.seen_under_other_identity``.

    Args:
        tables: tonight's tables.
        history_identities: :func:`_identities` of the history nights (at least every row
            whose document one of tonight's travellers holds).
        keys: tonight's travellers and bookings.
        doc_norm: :func:`tonight_documents`.
        dob: each traveller's birth date.
        night: tonight.
        doc_keys: :func:`document_keys` of ``tables.documents`` when already computed.
    """
    out: dict[str, Any] = {}
    tr = keys.tr
    api_docs = _first_documents(tables.documents)
    first_doc = api_docs.drop_duplicates("owner_id").set_index("owner_id")
    issue = _ts(first_doc["issue_date"]).reindex(tr["traveller_id"]).reset_index(drop=True)
    days = (night - issue).dt.days
    out["document.days_since_issue"] = days.astype("Int64")

    seen = pd.concat([_identities(tables, doc_keys), *history_identities], ignore_index=True)
    out["document.seen_under_other_identity"] = _other_identity(seen, keys, doc_norm, dob)
    return out


def _other_identity(
    seen: pd.DataFrame, keys: BookingKeys, doc_norm: list[str | None], dob: pd.Series
) -> pd.Series:
    """Per traveller: another traveller carried the same document under another identity.

    Another identity: another birth date, or a surname sharing no word with this one's.
    Null for a traveller without a document.
    """
    seen = seen.dropna(subset=["doc"])
    has_doc = np.array([d is not None for d in doc_norm], dtype=bool)
    mine = pd.DataFrame(
        {
            "row": np.arange(len(doc_norm))[has_doc],
            "tid": keys.traveller_id[has_doc],
            "doc": np.array(doc_norm, dtype=object)[has_doc],
            "dob": pd.to_datetime(dob).to_numpy()[has_doc],
            "sur": np.array(_token_column(keys.tr["surname"]), dtype=object)[has_doc],
        }
    )
    pairs = mine.merge(
        pd.DataFrame(
            {
                "otid": seen["traveller_id"].to_numpy(object),
                "doc": seen["doc"].to_numpy(object),
                "odob": pd.to_datetime(seen["dob"]).to_numpy(),
                "osur": seen["sur"].to_numpy(object),
            }
        ),
        on="doc",
    )
    pairs = pairs.loc[(pairs["tid"] != pairs["otid"]).to_numpy(bool)]
    dob_differs = (
        pairs["dob"].notna() & pairs["odob"].notna() & (pairs["dob"] != pairs["odob"])
    ).to_numpy(bool)
    sur_differs = np.array(
        [
            bool(a) and bool(b) and not (a & b)
            for a, b in zip(pairs["sur"], pairs["osur"], strict=True)
        ],
        dtype=bool,
    )
    hit = np.zeros(len(doc_norm), dtype=bool)
    hit[pairs["row"].to_numpy(int)[dob_differs | sur_differs]] = True
    return pd.Series(pd.arrays.BooleanArray(hit, ~has_doc), index=keys.tr.index)


def _doc_values(frame: pd.DataFrame) -> set[str]:
    return {
        x
        for k, v in zip(frame["kind"].astype(object), frame["value"], strict=True)
        if isinstance(k, str) and k.lower() == "document" and (x := _norm_doc(v))
    }


def case_document_features(
    tables: NightTables,
    keys: BookingKeys,
    idm: pd.DataFrame | None,
    victim_idm: pd.DataFrame | None,
    doc_keys: pd.Series | None = None,
) -> dict[str, Any]:
    """``document.in_case_database`` and ``booking.victim_identifier_links``.

    ``doc_keys``: :func:`document_keys` of ``tables.documents`` when already computed.
    """
    out: dict[str, Any] = {}
    tr, n = keys.tr, len(keys.tr)
    if idm is None or victim_idm is None:
        out["document.in_case_database"] = pd.array([None] * n, dtype="boolean")
        out["booking.victim_identifier_links"] = pd.array([None] * n, dtype="Int64")
        return out
    docs = tables.documents
    api_docs = _first_documents(docs)
    case_docs = _doc_values(idm)
    victim_docs = _doc_values(victim_idm)
    pnr_docs = docs.loc[docs["owner_kind"].astype(object) == "pnr"]
    pnr_owner = dict(zip(tr["pnr_traveller_id"], keys.traveller_id, strict=True))
    owned = [  # (traveller, normalised document): API documents, then the linked PNR's
        (str(o), x)
        for o, x in zip(api_docs["owner_id"], _keys_of(api_docs, doc_keys), strict=True)
        if x is not None
    ] + [
        (pnr_owner[o], x)
        for o, x in zip(pnr_docs["owner_id"], _keys_of(pnr_docs, doc_keys), strict=True)
        if o in pnr_owner and x is not None
    ]
    in_case = {t for t, x in owned if x in case_docs}
    out["document.in_case_database"] = pd.Series(
        pd.array(np.isin(keys.traveller_id, list(in_case)), dtype="boolean"), index=tr.index
    )
    # former-victim records: booking identifiers and this traveller's own documents
    vb = victim_idm.loc[
        (victim_idm["kind"].astype(object).str.lower() != "document").to_numpy(bool)
    ]
    by_booking = vb.dropna(subset=["case_id"]).groupby("booking_id")["case_id"].agg(set).to_dict()
    doc_case: dict[str, set[str]] = defaultdict(set)
    for k, v, c in zip(
        victim_idm["kind"].astype(object),
        victim_idm["value"],
        victim_idm["case_id"],
        strict=True,
    ):
        if (
            isinstance(k, str)
            and k.lower() == "document"
            and (x := _norm_doc(v))
            and isinstance(c, str)
        ):
            doc_case[x].add(c)
    victim_doc_cases: dict[str, set[str]] = defaultdict(set)
    for t, x in owned:
        if x in victim_docs:
            victim_doc_cases[t] |= doc_case[x]
    victim_links = np.zeros(n, dtype=np.int64)
    for i, (t, b, k) in enumerate(zip(keys.traveller_id, keys.bid_list, keys.known, strict=True)):
        if (k and b in by_booking) or t in victim_doc_cases:
            cases = set(by_booking.get(b, set())) if k else set()
            victim_links[i] = len(cases | victim_doc_cases.get(t, set()))
    out["booking.victim_identifier_links"] = pd.array(victim_links, dtype="Int64")
    return out
