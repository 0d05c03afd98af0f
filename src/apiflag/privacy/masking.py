"""Masking primitives: a night's dictionary of personal values, and keyed-pseudonym rewriting.

A :class:`PersonalDictionary` is filled from the personal columns of one night (see
:mod:`apiflag.privacy.policy`) and then replaces those values wherever they appear: a whole cell
that equals a known value becomes its pseudonym, and inside free text (explanation sentences,
reports, notes) every run of words that equals a known value is replaced in place. Matching is
by word tokens, so its cost does not grow with the size of the dictionary. Short values (under
four characters) are matched only when written in capitals, so that a given name ``AN`` does not
eat the English word "an".
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from anyascii import anyascii

from apiflag.evidence import pair_values
from apiflag.privacy.keys import is_pseudonym, pseudonym
from apiflag.privacy.policy import CONTACT, QUOTED_FIELD_KINDS, REDACT, column_kind, sweepable

_TOKEN = re.compile(r"[0-9A-Za-z\u00C0-\uFFFF@+_.\-]+")
MAX_TOKENS = 12
#: Kinds masked in their own columns but never searched for in free text: a place of birth is
#: often a country code, a seat or a document date looks like many other things.
UNSWEPT_KINDS = frozenset({"place", "seat", "date"})
SHORT = 4


def _tokens(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        start, end = m.start(), m.end()
        while end > start and text[end - 1] in ".-":
            end -= 1
        while start < end and text[start] in ".-":
            start += 1
        if start < end:
            out.append((start, end, text[start:end]))
    return out


def _key(tokens: Iterable[str]) -> str:
    return " ".join(anyascii(t).upper() for t in tokens)


def text_key(value: str) -> str:
    """Return the lookup key of a value: its word tokens, upper-cased ASCII, one space apart."""
    return _key(t for _, _, t in _tokens(value))


def as_text(value: Any) -> str:
    """Return a cell as the text a pseudonym is computed over (dates as ISO ``YYYY-MM-DD``)."""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


@dataclass
class PersonalDictionary:
    """The personal values of one or more nights, each with its pseudonym and original."""

    entries: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """key -> (kind, pseudonym, original as first seen): what sweeps look for."""
    max_tokens: int = 1
    vault: dict[str, tuple[str, str]] = field(default_factory=dict)
    """pseudonym -> (kind, original as first seen): every value masked, for the vault."""
    _memo: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def add(self, kind: str, value: Any) -> str | None:
        """Record ``value`` of ``kind``; return its pseudonym (None for an empty value)."""
        if value is None:
            return None
        text = value.strip() if isinstance(value, str) else None
        if text is None:
            if _is_missing(value):
                return None
            text = as_text(value).strip()
        memo = self._memo.get((kind, text))
        if memo is not None:
            return memo
        if not text or is_pseudonym(text):
            return text or None
        token = pseudonym(kind, text)
        self._memo[(kind, text)] = token
        self.vault.setdefault(token, (kind, text))
        if kind in UNSWEPT_KINDS:
            return token
        variants = [text]
        if any(c in text for c in "'&<>\""):  # as an HTML report writes it: D&#x27;SOUZA
            variants += [html.escape(text), html.escape(text).replace("&#x27;", "&#39;")]
        for variant in variants:
            key = text_key(variant)
            if len(key) >= 2 and key not in self.entries:
                self.entries[key] = (kind, token, text)
                self.max_tokens = min(MAX_TOKENS, max(self.max_tokens, key.count(" ") + 1))
        return token

    def __len__(self) -> int:
        return len(self.entries)

    def without(self, keys: Iterable[str]) -> PersonalDictionary:
        """Return a copy without the given keys (values that must stay readable)."""
        drop = set(keys)
        kept = {k: v for k, v in self.entries.items() if k not in drop}
        longest = max(1, max((k.count(" ") + 1 for k in kept), default=1))
        return PersonalDictionary(kept, min(MAX_TOKENS, longest))

    def without_kinds(self, kinds: Iterable[str]) -> PersonalDictionary:
        """Return a copy whose sweeps ignore values of the given kinds."""
        drop = set(kinds)
        return self.without(k for k, (kind, _, _) in self.entries.items() if kind in drop)

    def merge(self, other: PersonalDictionary) -> None:
        """Add every entry of ``other`` that this dictionary does not have yet."""
        for key, entry in other.entries.items():
            self.entries.setdefault(key, entry)
        for token, original in other.vault.items():
            self.vault.setdefault(token, original)
        self.max_tokens = max(self.max_tokens, other.max_tokens)

    def originals(self) -> dict[str, tuple[str, str]]:
        """Return pseudonym -> (kind, original) of every value masked, for the vault."""
        return dict(self.vault)

    def cell(self, value: str) -> str | None:
        """Return the pseudonym of a cell that is exactly a known value, else None."""
        entry = self.entries.get(text_key(value))
        return entry[1] if entry else None

    def sweep(self, text: str) -> tuple[str, int]:
        """Replace every known value inside ``text``; return the new text and the count."""
        if not self.entries or not text:
            return text, 0
        toks = _tokens(text)
        parts: list[str] = []
        last = 0
        count = 0
        i = 0
        while i < len(toks):
            matched = 0
            for n in range(min(self.max_tokens, len(toks) - i), 0, -1):
                key = _key(t for _, _, t in toks[i : i + n])
                entry = self.entries.get(key)
                if entry is None:
                    continue
                raw = text[toks[i][0] : toks[i + n - 1][1]]
                if len(key) < SHORT and raw != raw.upper():
                    continue
                parts.append(text[last : toks[i][0]])
                parts.append(entry[1])
                last = toks[i + n - 1][1]
                matched = n
                count += 1
                break
            i += matched or 1
        if not count:
            return text, 0
        parts.append(text[last:])
        return "".join(parts), count

    def mask_text(self, value: str) -> tuple[str, int]:
        """Return ``value`` as a whole pseudonym when it is a known value, else swept."""
        whole = self.cell(value)
        if whole is not None:
            return whole, 1
        return self.sweep(value)


def quoted_values(field: object, observed: object) -> list[tuple[str, str]]:
    """Return ``(kind, value)`` of each value an identity explanation row quotes.

    Args:
        field: the matched field, or a queue ``source_id`` (``case:<case>/<field>``).
        observed: the row's ``observed`` cell (:func:`apiflag.evidence.observed_pair`).

    Returns:
        Both sides' values of a personal field (see
        :data:`apiflag.privacy.policy.QUOTED_FIELD_KINDS`); [] for any other row.
    """
    name = str(field or "")
    if name.startswith("case:"):
        name = name.rpartition("/")[2]
    kind = QUOTED_FIELD_KINDS.get(name)
    if kind is None:
        return []
    return [(kind, value) for value in pair_values(observed)]


def collect_quoted(frame: pd.DataFrame, dictionary: PersonalDictionary) -> None:
    """Add the values a table's identity explanation rows quote, so their sentences get swept.

    A table with ``sentence`` and ``observed`` and a ``field`` or ``source_id`` column
    (``match_fields``, the queue's explanations) names the case person's values too; nothing
    else would put those in the night's dictionary.
    """
    if "sentence" not in frame.columns or "observed" not in frame.columns:
        return
    key = "field" if "field" in frame.columns else "source_id"
    if key not in frame.columns:
        return
    for matched, observed in zip(frame[key].tolist(), frame["observed"].tolist(), strict=True):
        for kind, value in quoted_values(matched, observed):
            dictionary.add(kind, value)


def contact_kind(row_kind: Any) -> str:
    """Return the pseudonym kind of a contact row (phone, email or address)."""
    text = str(row_kind or "").lower()
    return text if text in {"phone", "email", "address"} else "contact"


def collect(table: str, frame: pd.DataFrame, dictionary: PersonalDictionary) -> None:
    """Add the personal values of ``frame`` (a ``table`` of the warehouse) to ``dictionary``."""
    for column in frame.columns:
        kind = column_kind(table, str(column))
        if kind is None or kind == REDACT:
            continue
        if kind == CONTACT:
            kinds = frame["kind"].tolist() if "kind" in frame.columns else [None] * len(frame)
            for value, row_kind in set(zip(frame[column].tolist(), kinds, strict=True)):
                dictionary.add(contact_kind(row_kind), value)
        else:
            for value in set(frame[column].dropna().tolist()):
                dictionary.add(kind, value)


@dataclass
class MaskedFrame:
    """A masked table: the rows, how many cells changed, and the dates blanked.

    Attributes:
        frame: the masked rows (same columns and types as the input).
        changed: number of cells rewritten.
        dates: ``(row position, column, pseudonym)`` of every date cell blanked: a date column
            keeps its type, so the pseudonym of the date lives beside the table instead.
    """

    frame: pd.DataFrame
    changed: int = 0
    dates: list[tuple[int, str, str]] = field(default_factory=list)


def mask_frame(
    table: str,
    frame: pd.DataFrame,
    dictionary: PersonalDictionary,
    keep: pd.Series | None = None,
    date_columns: frozenset[str] = frozenset(),
) -> MaskedFrame:
    """Return ``frame`` with its personal data pseudonymised.

    Text policy columns become pseudonyms; date policy columns (``date_columns``) become null,
    their pseudonyms reported in :attr:`MaskedFrame.dates`, so every column keeps its type and
    readers that cast to the warehouse schema still work; free-text policy columns (``observed``,
    notes) become null; every other sweepable text column is cleaned of the dictionary's values.

    Args:
        table: the table's name (selects the column policy).
        frame: the table.
        dictionary: the night's personal values (policy values are added to it as they go).
        keep: rows to leave as they are (travellers held for an open case), aligned to ``frame``.
        date_columns: columns whose type is a date or a time.

    Returns:
        The masked frame, the number of changed cells and the blanked dates.
    """
    out = frame.copy()
    keep_list = [False] * len(out) if keep is None else [bool(k) for k in keep.tolist()]
    result = MaskedFrame(out)
    for column in list(out.columns):
        name = str(column)
        kind = column_kind(table, name)
        values = out[column]
        vals = values.tolist()
        present = values.notna().tolist()
        target = [p and not k for p, k in zip(present, keep_list, strict=True)]
        if not any(target):
            continue
        if kind == REDACT:
            if not _is_text(values):
                continue
            out[column] = pd.Series(
                [None if t else v for v, t in zip(vals, target, strict=True)],
                index=out.index,
                dtype=values.dtype,
            )
            result.changed += sum(target)
        elif kind is not None and name in date_columns:
            for pos, (v, t) in enumerate(zip(vals, target, strict=True)):
                if t:
                    token = dictionary.add(kind, v)
                    if token is not None:
                        result.dates.append((pos, name, token))
            out[column] = pd.Series(
                [None if t else v for v, t in zip(vals, target, strict=True)],
                index=out.index,
                dtype=object,
            )
            result.changed += sum(target)
        elif kind is not None:
            if kind == CONTACT:
                kinds = out["kind"].tolist() if "kind" in out.columns else [None] * len(vals)
                mapped = [
                    dictionary.add(contact_kind(k), v) if t else v
                    for v, k, t in zip(vals, kinds, target, strict=True)
                ]
            else:
                mapped = [
                    dictionary.add(kind, v) if t else v for v, t in zip(vals, target, strict=True)
                ]
            result.changed += sum(
                1 for a, b, t in zip(vals, mapped, target, strict=True) if t and a != b
            )
            new = pd.Series(mapped, index=out.index, dtype=object)
            out[column] = new.astype(values.dtype) if _is_text(values) else new
        elif _is_text(values) and sweepable(name):
            swept, n = _sweep_list(vals, target, dictionary.mask_text)
            if n:
                result.changed += n
                out[column] = pd.Series(swept, index=out.index, dtype=values.dtype)
    return result


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(values.dtype):
        return True
    if values.dtype == object:
        sample = values.dropna().head(20)
        return bool(len(sample)) and all(isinstance(v, str) for v in sample)
    return False


def _sweep_list(
    values: list[Any], target: list[bool], fn: Callable[[str], tuple[str, int]]
) -> tuple[list[Any], int]:
    cache: dict[str, tuple[str, int]] = {}
    mapped: list[Any] = []
    total = 0
    for v, t in zip(values, target, strict=True):
        if not t or not isinstance(v, str):
            mapped.append(v)
            continue
        if v not in cache:
            cache[v] = fn(v)
        new, n = cache[v]
        total += n
        mapped.append(new)
    return mapped, total
