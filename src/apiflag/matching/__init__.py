"""Fuzzy matching of travellers and bookings against the trafficking-case database.

A pair's score is the sum of per-field log2 Bayes factors (Fellegi-Sunter), so every score
splits into auditable parts. Blocking narrows the candidates; it never changes a score.
Name-only evidence never reaches the reporting threshold: a birth date or a document number
must agree too. A match to a person whose role is victim is marked ``protection_only``.

Entry points for the nightly flow (imported lazily, so :mod:`apiflag.casedb` can use
:mod:`apiflag.matching.normalise` without a cycle):

- :func:`match_travellers` (travellers, documents, db, threshold) -> :class:`MatchResult`
- :func:`match_identifiers` (contacts, payments, bookings, documents, db) -> DataFrame
- :class:`Matcher`: a case database prepared once, for many batches.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MatchResult", "Matcher", "match_identifiers", "match_travellers"]

_LAZY = {
    "MatchResult": "apiflag.matching.match",
    "Matcher": "apiflag.matching.match",
    "match_travellers": "apiflag.matching.match",
    "match_identifiers": "apiflag.matching.identifiers",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'apiflag.matching' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
