"""Blocking: which (traveller, case person) pairs are scored at all.

Decides the candidate pairs, never a score. A pair is a candidate when the two records share
any blocking key:

- **name token + birth date**: for every name token (surname, given names and aliases;
  particles such as DE or BIN left out) its phonetic code with the birth date, with the date's
  day free, and with its month free; the case side also emits its date with day and month
  swapped and with the year +-1. Two records whose dates agree exactly, have day and month
  swapped, or differ in one part (a year only by one) and who share one phonetic name token
  always share a key; so a typo in one name token, swapped order or Vietnamese/Chinese order
  cannot hide a match.
- **document number, exact or one edit**: the number and every one-character deletion of it
  (a substitution, insertion or deletion leaves two numbers with a common deletion).

These cover exactly the evidence the reporting gate demands (a birth date or a document must
agree), so a pair outside every block could only be reported on name evidence, which the gate
forbids. Keys are 64-bit hashes; a collision only adds a candidate, which scoring then rejects.
The join probes a hash table of the case side's distinct keys with the travellers' keys in
chunks, vectorised (pandas ``Index.get_indexer``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from apiflag.matching.normalise import PARTICLES, phonetic

__all__ = ["candidate_pairs", "date_keys", "document_keys", "token_codes"]

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_B = 1_000_003  # odd, so invertible modulo 2**64
_B_INV = pow(_B, -1, 2**64)
_MIX = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0xD6E8FEB86659FD93),
)


def token_codes(tokens: pd.Series) -> pd.Series:
    """Return the 64-bit hash of each token's phonetic code (``0`` for particles and 1-letter tokens).

    Args:
        tokens: one name token per row.
    """
    uniques = pd.unique(tokens.to_numpy(dtype=object))
    codes = np.array(
        [
            phonetic(t) if isinstance(t, str) and len(t) > 1 and t not in PARTICLES else ""
            for t in uniques
        ],
        dtype=object,
    )
    hashed = pd.util.hash_array(codes, categorize=False).astype(np.uint64)
    hashed[codes == ""] = 0
    mapping = pd.Series(hashed, index=pd.Index(uniques, dtype=object))
    return pd.Series(mapping.reindex(tokens.to_numpy(dtype=object)).to_numpy(), index=tokens.index)


def _mix(*parts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(parts[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, part in enumerate(parts):
            out = (out ^ part.astype(np.uint64)) * _MIX[i % 4]
            out ^= out >> np.uint64(29)
    return out


def initial_date_keys(
    owner: np.ndarray, initial: np.ndarray, year: np.ndarray, month: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (owner, key) rows for the surname's initial x the exact birth date.

    A typo in every name token (``NEUYEN`` for ``NGUYEN``) with no given names to fall back on
    leaves no shared name-token key; the initial and the birth date still agree.

    Args:
        owner: record owner (traveller or person index) of each name record.
        initial: code of the normalised surname's first letter (``0``: nothing emitted).
        year, month, day: birth date parts of each record's owner (``0`` when unknown).
    """
    ok = (initial != 0) & (year > 0) & (month > 0) & (day > 0)
    y, m, d = (a[ok].astype(np.uint64) for a in (year, month, day))
    z = np.zeros(len(y), dtype=np.uint64)
    return owner[ok], _mix(z + np.uint64(9), initial[ok].astype(np.uint64), y, m, d)


def date_keys(
    owner: np.ndarray,
    code: np.ndarray,
    year: np.ndarray,
    month: np.ndarray,
    day: np.ndarray,
    with_swapped: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (owner, key) rows for name-token x birth-date keys.

    Every side emits (token, year, month, day), (token, year, month, *) and
    (token, year, *, day). The case side (``with_swapped``) also emits the exact key of its date
    with day and month swapped and with the year one off, so the two records share a key when
    their dates agree exactly, with day and month swapped, or in all but one part (a year only
    one apart).

    Args:
        owner: row owner (traveller or person index) of each token.
        code: token code (``token_codes``); ``0`` rows emit nothing.
        year, month, day: birth date parts of the owner (``0`` when unknown: nothing emitted).
        with_swapped: emit the case side's extra exact keys (swapped, year +-1).
    """
    ok = (code != 0) & (year > 0) & (month > 0) & (day > 0)
    owner, code = owner[ok], code[ok]
    y, m, d = (a[ok].astype(np.uint64) for a in (year, month, day))
    z = np.zeros(len(y), dtype=np.uint64)
    out_owner = [owner, owner, owner]
    out_key = [
        _mix(z + np.uint64(1), code, y, m, d),
        _mix(z + np.uint64(2), code, y, m, z),
        _mix(z + np.uint64(3), code, y, z, d),
    ]
    if with_swapped:
        swap = (d <= 12) & (d != m)
        out_owner.append(owner[swap])
        out_key.append(_mix(z[swap] + np.uint64(1), code[swap], y[swap], d[swap], m[swap]))
        for delta in (np.uint64(1), np.uint64(2**64 - 1)):  # +1 and -1 modulo 2**64
            out_owner.append(owner)
            with np.errstate(over="ignore"):
                out_key.append(_mix(z + np.uint64(1), code, y + delta, m, d))
    return np.concatenate(out_owner), np.concatenate(out_key)


def document_keys(owner: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (owner, key) rows: each normalised document number and its one-character deletions.

    Numbers shorter than 5 characters emit only their exact key (a one-edit neighbourhood of a
    short number is too wide to mean anything). Works in chunks to bound memory.
    """
    step = 250_000
    if len(numbers) > step:
        parts = [
            _document_keys(owner[i : i + step], numbers[i : i + step])
            for i in range(0, len(numbers), step)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _document_keys(owner, numbers)


def _document_keys(owner: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lengths_all = pd.Series(numbers, dtype=object).fillna("").astype(str).str.len().to_numpy()
    keep = lengths_all > 0
    owner = owner[keep]
    if not keep.any():
        return np.zeros(0, dtype=owner.dtype), np.zeros(0, dtype=np.uint64)
    nums = np.asarray(numbers[keep], dtype=str)
    lengths = lengths_all[keep].astype(np.int64)
    raw = np.frombuffer(np.char.encode(nums, "ascii", "replace"), dtype=np.uint8)
    mat = raw.reshape(len(nums), -1).astype(np.uint64)  # zero padded on the right
    width = mat.shape[1]
    powers = np.ones(width, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(1, width):
            powers[j] = powers[j - 1] * np.uint64(_B)
        terms = mat * powers
        prefix = np.zeros((len(nums), width + 1), dtype=np.uint64)
        np.cumsum(terms, axis=1, out=prefix[:, 1:])
        full = prefix[:, -1]
        b_inv = np.uint64(_B_INV)
        # deletion of position i: prefix before i + (suffix after i) shifted down one place
        deleted = prefix[:, :width] + (full[:, None] - prefix[:, 1:]) * b_inv
    valid = (np.arange(width)[None, :] < lengths[:, None]) & (lengths[:, None] >= 5)
    owners = [owner, np.broadcast_to(owner[:, None], deleted.shape)[valid]]
    keys = [full, deleted[valid]]
    all_keys = np.concatenate(keys)
    tagged = _mix(np.full(len(all_keys), 7, dtype=np.uint64), all_keys)
    return np.concatenate(owners), tagged


def candidate_pairs(
    left_owner: np.ndarray, left_key: np.ndarray, right_owner: np.ndarray, right_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the unique (left, right) owner pairs sharing at least one key, sorted.

    Args:
        left_owner, left_key: key rows of the travellers (the large side).
        right_owner, right_key: key rows of the case persons.
    """
    if len(left_key) == 0 or len(right_key) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.argsort(right_key, kind="stable")
    rk = right_key[order]
    ro = right_owner[order].astype(np.int64)
    uniq, starts_u, counts_u = np.unique(rk, return_index=True, return_counts=True)
    lookup = pd.Index(uniq)  # hash table on the case side's distinct keys
    n_right = int(right_owner.max()) + 1 if len(right_owner) else 1
    found: list[np.ndarray] = []
    step = 2_000_000
    for start in range(0, len(left_key), step):
        pos = lookup.get_indexer(left_key[start : start + step])
        hit = pos >= 0
        if not hit.any():
            continue
        starts, counts = starts_u[pos[hit]], counts_u[pos[hit]]
        left = np.repeat(left_owner[start : start + step][hit].astype(np.int64), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        right = ro[np.repeat(starts, counts) + offsets]
        found.append(np.unique(left * n_right + right))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    combined = np.unique(np.concatenate(found))
    return combined // n_right, combined % n_right
