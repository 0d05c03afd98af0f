"""Helpers every evidence family shares: name words, normalised contacts and documents, typing."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from anyascii import anyascii

from apiflag.normalise import (
    normalise_document,
    normalise_documents,
    normalise_email,
    normalise_phone,
)

COMPANY_WORDS = frozenset(
    {
        "LTD",
        "LIMITED",
        "INC",
        "CORP",
        "CORPORATION",
        "CO",
        "COMPANY",
        "LLC",
        "LLP",
        "PLC",
        "GMBH",
        "AG",
        "SA",
        "SAS",
        "BV",
        "NV",
        "KK",
        "PTE",
        "PVT",
        "BHD",
        "JSC",
        "HOLDINGS",
        "GROUP",
        "TRADING",
        "ENTERPRISES",
        "INDUSTRIES",
        "SERVICES",
        "AGENCY",
        "TRAVEL",
        "TOURS",
        "RESOURCES",
        "INTERNATIONAL",
        "FOUNDATION",
        "ASSOCIATION",
        "UNIVERSITY",
        "SCHOOL",
    }
)
"""Words that mark a payer name as an organisation's (``booking.payer_is_company``)."""

_TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MSTR", "DR", "PROF", "CHD", "INF", "MX"})
_SPLIT = re.compile(r"[^A-Z]+")


def _name_tokens(name: object) -> frozenset[str]:
    if not isinstance(name, str) or not name.strip():
        return frozenset()
    return _tokens_of(name)


@functools.lru_cache(maxsize=1 << 17)
def _tokens_of(name: str) -> frozenset[str]:
    return frozenset(t for t in _SPLIT.split(anyascii(name).upper()) if t and t not in _TITLES)


def _token_column(values: Iterable[object]) -> list[frozenset[str]]:
    """:func:`_name_tokens` of each value, each distinct value tokenised once."""
    if isinstance(values, pd.Series):
        array = values.to_numpy(dtype=object)
    else:
        array = np.asarray(list(values), dtype=object)
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    table = [_name_tokens(u) for u in uniques.tolist()] + [frozenset()]
    return [table[c] for c in codes.tolist()]


def _payer_parts(payer: str) -> tuple[frozenset[str], frozenset[str]]:
    """Split a payer name into (surname words, all words); ``SURNAME/GIVEN`` when a slash is given."""
    if "/" in payer:
        surname, _, given = payer.partition("/")
        sur = _name_tokens(surname)
        return sur, sur | _name_tokens(given)
    words = _name_tokens(payer)
    return words, words


def _is_named(
    p_sur: frozenset[str], p_all: frozenset[str], sur: frozenset[str], given: frozenset[str]
) -> bool:
    """A payer name names this person: all surname words, and a given name word when known."""
    if not sur or not sur <= p_all or not (sur & p_sur or not p_sur):
        return False
    return not given or bool(given & (p_all - sur))


def _norm_doc(number: object) -> str | None:
    if not isinstance(number, str):
        return None
    return normalise_document(number) or None


@functools.lru_cache(maxsize=1 << 16)
def _e164(text: str) -> str | None:
    """:func:`apiflag.normalise.normalise_phone`, each number parsed once per process."""
    return normalise_phone(text)


def _norm_contact(kind: object, value: object, normalized: object) -> str | None:
    text = normalized if isinstance(normalized, str) and normalized.strip() else value
    if not isinstance(text, str) or not text.strip():
        return None
    k = str(kind).lower() if isinstance(kind, str) else "other"
    if k == "phone":
        e164 = _e164(text)
        return f"phone:{e164.removeprefix('+')}" if e164 else None
    if k == "email":
        return f"email:{normalise_email(text)}"
    return f"{k}:{normalise_document(text)}"


def _norm_docs(numbers: Iterable[object]) -> list[str | None]:
    """:func:`_norm_doc` of many numbers at once (the vectorised normaliser)."""
    values = pd.Series(list(numbers), dtype=object)
    is_str = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
    norm = normalise_documents(values.where(is_str, ""))
    keep = is_str & (norm != "").to_numpy(bool)
    return [x if k else None for x, k in zip(norm.tolist(), keep.tolist(), strict=True)]


def _stored_phone(kind: object, normalized: object) -> bool:
    """The contact is a phone already stored as E.164 digits.

    Ingest stores :func:`apiflag.normalise.phone_digits`; normalising that again gives it back.
    """
    return (
        isinstance(normalized, str)
        and len(normalized) >= 6
        and normalized.isascii()
        and normalized.isdigit()
        and not normalized.startswith("00")
        and isinstance(kind, str)
        and kind.lower() == "phone"
    )


def _norm_contacts(
    kinds: Iterable[object], values: Iterable[object], normalized: Iterable[object]
) -> list[str | None]:
    """:func:`_norm_contact` of many contacts.

    A phone ingest stored as E.164 digits is taken as stored instead of being parsed again
    (the same key, without a second parse).
    """
    return [
        f"phone:{n}" if _stored_phone(k, n) else _norm_contact(k, v, n)
        for k, v, n in zip(kinds, values, normalized, strict=True)
    ]


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce")


def _bool(values: Iterable[Any], index: pd.Index) -> pd.Series:
    """A nullable boolean Series of True, False and None (or NA) values."""
    items = np.array(values if isinstance(values, list) else list(values), dtype=object)
    known = pd.notna(items)
    truth = np.zeros(len(items), dtype=bool)
    truth[known] = items[known].astype(bool)
    return pd.Series(pd.arrays.BooleanArray(truth, ~known), index=index)
