"""Helpers every evidence family shares: name words, normalised contacts and documents, typing."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from anyascii import anyascii

from apiflag.normalise import normalise_document, normalise_email, normalise_phone

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


def _norm_contact(kind: object, value: object, normalized: object) -> str | None:
    text = normalized if isinstance(normalized, str) and normalized.strip() else value
    if not isinstance(text, str) or not text.strip():
        return None
    k = str(kind).lower() if isinstance(kind, str) else "other"
    if k == "phone":
        e164 = normalise_phone(text)
        return f"phone:{e164.removeprefix('+')}" if e164 else None
    if k == "email":
        return f"email:{normalise_email(text)}"
    return f"{k}:{normalise_document(text)}"


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce")


def _bool(values: Iterable[Any], index: pd.Index) -> pd.Series:
    return pd.Series(list(values), index=index, dtype="boolean")
