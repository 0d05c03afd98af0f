"""What matching adds to the shared normalisers (:mod:`apiflag.normalise`) before comparing.

Names, phones, e-mails and documents are normalised by :mod:`apiflag.normalise` (re-exported
here). Matching adds: compound-surname particles kept as tokens *and* joined (``DELA CRUZ`` and
``DELACRUZ`` compare equal), variant groups (``MOHAMMED``/``MUHAMMAD``, ``YULIA``/``IOULIA``
...) sharing one group key, phonetic codes, and the identifiers of the case database by kind
(masked cards keep only digits and ``X`` for masked positions; agencies and addresses).

Every function is pure and total: ``None``, empty or unusable input gives ``""`` (or ``None``
for phones that cannot be read), never an exception.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jellyfish
from anyascii import anyascii

from apiflag.normalise import (
    PLACEHOLDERS,
    TITLES,
    name_tokens,
    normalise_document,
    normalise_documents,
    normalise_email,
    normalise_name,
    normalise_phone,
)

__all__ = [
    "PARTICLES",
    "fold",
    "PLACEHOLDERS",
    "TITLES",
    "VARIANT_GROUPS",
    "name_tokens",
    "normalise_address",
    "normalise_agency",
    "normalise_card",
    "normalise_document",
    "normalise_documents",
    "normalise_email",
    "normalise_identifier",
    "normalise_name",
    "normalise_phone",
    "phonetic",
    "variant_key",
]

PARTICLES: frozenset[str] = frozenset(
    "DE DA DEL DELA DELOS DELAS DOS DAS DO DI DU VAN VON DER DEN TER LA LE LO BIN BINTI BINT "
    "AL EL ABU IBN MC MAC ST SAN SANTA".split()
)
"""Surname particles: ``DELA CRUZ`` is also compared as ``DELACRUZ``."""

_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "MUHAMMAD",
        "MOHAMMED",
        "MOHAMMAD",
        "MOHAMED",
        "MOHAMAD",
        "MUHAMMED",
        "MUHAMAD",
        "MOHD",
        "MOHAMMEDI",
        "MUHAMED",
        "MOKHAMMED",
        "MAHOMED",
    ),
    ("YULIA", "IOULIA", "JULIA", "IULIA", "YULIYA", "IULIIA", "JULIJA", "YOULIA"),
    ("AHMED", "AHMAD", "AHMET", "AHMIT", "AHMADI"),
    ("HUSSEIN", "HUSAIN", "HUSSAIN", "HOSSEIN", "HUSEIN", "HUSSIEN"),
    ("ALEXANDER", "ALEKSANDR", "ALEXANDRE", "OLEKSANDR", "ALEKSANDER", "ALEXANDR"),
    ("SERGEI", "SERGEY", "SERHIY", "SERGIY", "SERGEJ", "SERGIU"),
    ("YURI", "YURIY", "IOURI", "IURII", "JURIJ", "YURIJ"),
    ("OLGA", "OLHA"),
    ("NATALIA", "NATALYA", "NATALIIA", "NATALIJA", "NATALIYA"),
    ("TATIANA", "TATYANA", "TETIANA", "TATJANA"),
    ("YEKATERINA", "EKATERINA", "KATERYNA", "YEKATERYNA", "JEKATERINA"),
    ("NGUYEN", "NGUYAN", "NGUEN", "NGUYENN"),
    ("TRAN", "TRANH"),
    ("JOSE", "JOSEPH", "JOSEF"),
    ("MARIA", "MARIYA", "MARIJA", "MARYA"),
    ("ABDUL", "ABDOUL", "ABDEL", "ABDOL"),
    ("YUSUF", "YOUSEF", "YOUSSEF", "YUSOF", "YOUSUF"),
    ("SOMCHAI", "SOMCHAY"),
    ("PHETSRI", "PHETSRY", "PETSRI"),
    ("CHOI", "CHOE"),
    ("LEE", "LI", "RHEE", "YI", "RI"),
    ("ZHANG", "CHANG", "CHEUNG"),
    ("WANG", "WONG"),
)

VARIANT_GROUPS: dict[str, str] = {}
"""Token -> group key (the group's first spelling); a token outside every group maps to itself."""
for _group in _GROUPS:
    for _token in _group:
        VARIANT_GROUPS.setdefault(_token, _group[0])

_NON_ALNUM = re.compile(r"[^A-Z0-9 ]+")


@lru_cache(maxsize=1 << 18)
def variant_key(token: str) -> str:
    """Return the variant-group key of one token (the token itself outside every group)."""
    return VARIANT_GROUPS.get(token, token)


# romanisation spellings folded before Metaphone (Thai, Russian, Lao, Korean ... systems differ
# in exactly these letter pairs); applied left to right
_FOLDS: tuple[tuple[str, str], ...] = (
    ("DZH", "J"),
    ("SCH", "SH"),
    ("PH", "F"),
    ("KH", "K"),
    ("TH", "T"),
    ("OU", "U"),
    ("OO", "U"),
    ("EE", "I"),
    ("W", "V"),
    ("Y", "I"),
)


def fold(token: str) -> str:
    """Fold spelling differences between romanisation systems (``PH``->``F``, ``W``->``V`` ...)."""
    for old, new in _FOLDS:
        if old in token:
            token = token.replace(old, new)
    return token


@lru_cache(maxsize=1 << 18)
def phonetic(token: str) -> str:
    """Return the phonetic code of one token: Metaphone of its folded variant-group key.

    Metaphone (rather than Soundex or NYSIIS) keeps the consonant skeleton, so ``PHETSRY`` and
    ``PHETSRI`` or ``MUELLER`` and ``MULLER`` agree while ``NGUYEN`` and ``NGO`` do not; folding
    first makes ``THONGCHAI``/``TONGCHAI`` and ``WONGSAWAT``/``VONGSAVAT`` agree too. Tokens
    Metaphone cannot code keep their folded spelling.
    """
    if not token:
        return ""
    key = fold(variant_key(token))
    code = jellyfish.metaphone(key)
    return code or key


def normalise_agency(value: str | None) -> str:
    """Upper-case an agency id (IATA number or office id) and drop separators."""
    return normalise_document(value)


def normalise_card(value: str | None) -> str:
    """Keep a masked card's digits, writing every masked position (``X``, ``*``, ``#``) as ``X``."""
    if not value:
        return ""
    text = str(value).upper()
    out = [c if c.isdigit() else "X" for c in text if c.isdigit() or c in "X*#"]
    return "".join(out)


def normalise_address(value: str | None) -> str:
    """Reduce an address to sorted upper-case ASCII tokens (order and punctuation ignored)."""
    if not value:
        return ""
    text = _NON_ALNUM.sub(" ", anyascii(str(value)).upper())
    return " ".join(sorted(t for t in text.split() if t))


@lru_cache(maxsize=1 << 18)
def normalise_identifier(kind: str, value: str | None) -> str:
    """Normalise a case or booking identifier by its kind.

    Args:
        kind: ``phone``, ``email``, ``agency``, ``card``, ``address`` or ``document``.
        value: the identifier as written.

    Returns:
        The comparable form, ``""`` when nothing usable remains.

    Raises:
        ValueError: for an unknown kind.
    """
    if kind == "phone":
        return normalise_phone(value) or ""
    if kind == "email":
        return normalise_email(value)
    if kind == "agency":
        return normalise_agency(value)
    if kind == "card":
        return normalise_card(value)
    if kind == "address":
        return normalise_address(value)
    if kind == "document":
        return normalise_document(value)
    raise ValueError(f"unknown identifier kind {kind!r}")
