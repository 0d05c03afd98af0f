"""Normalisation of names, dates, documents and contact identifiers before matching.

Decides how a name is reduced to comparable tokens: Unicode is transliterated to ASCII
(``anyascii``), MRZ filler ``<`` and punctuation become spaces, apostrophes vanish, titles and
given-name placeholders (``FNU``, ``XX`` ...) are removed, compound-surname particles are kept
as tokens *and* joined (``DELA CRUZ`` and ``DELACRUZ`` compare equal), and tokens of a known
variant group (``MOHAMMED``/``MUHAMMAD``, ``YULIA``/``IOULIA`` ...) share one group key.
Phones become E.164 (``+66811112222``), e-mails are lower-cased, document numbers lose their
separators, masked cards keep only digits and ``X`` for masked positions.

Every function is pure and total: ``None``, empty or unusable input gives ``""`` (or ``None``
for phones that cannot be read), never an exception.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jellyfish
import pandas as pd
import phonenumbers
from anyascii import anyascii

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

TITLES: frozenset[str] = frozenset(
    "MR MRS MS MISS MSTR MASTER DR PROF SIR MADAM MME MLLE HERR FRAU SR SRA SRTA DONA DON "
    "ENG ING CAPT REV HAJI HAJJ HAJJAH".split()
)
"""Titles removed wherever they appear (PNR names carry them after the given name)."""

PLACEHOLDERS: frozenset[str] = frozenset("FNU LNU NFN XX X XXX UNK UNKNOWN NONE NIL NA".split())
"""Tokens airlines and registries write for a missing name part; a name made only of
placeholders is treated as missing."""

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
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\D+")
_DOC_SEP = re.compile(r"[^A-Z0-9]+")
# ICAO 9303 MRZ transliterations of letters anyascii would flatten (AE for Ä, OE for Ö ...)
_MRZ_PRE = str.maketrans({"Ä": "AE", "Ö": "OE", "Ü": "UE", "ä": "ae", "ö": "oe", "ü": "ue"})


@lru_cache(maxsize=1 << 18)
def normalise_name(value: str | None) -> str:
    """Reduce a name to upper-case ASCII tokens separated by one space.

    Titles, placeholders and punctuation are removed; MRZ filler ``<`` is a separator; an
    apostrophe joins (``O'BRIEN`` -> ``OBRIEN``); a hyphen separates (``GARCIA-LOPEZ`` ->
    ``GARCIA LOPEZ``). German umlauts follow the MRZ rule (``Ä`` -> ``AE``); anything else
    goes through ``anyascii``.

    Args:
        value: a surname, given names, alias or full name as written anywhere.

    Returns:
        The normalised name, ``""`` when nothing usable remains.
    """
    if not value:
        return ""
    text = anyascii(str(value).translate(_MRZ_PRE)).upper()
    text = text.replace("'", "").replace("`", "").replace("<", " ")
    text = _NON_ALNUM.sub(" ", text)
    tokens = [t for t in _SPACES.split(text) if t and t not in TITLES]
    if tokens and all(t in PLACEHOLDERS for t in tokens):
        return ""
    return " ".join(t for t in tokens if t not in PLACEHOLDERS)


def name_tokens(value: str | None) -> tuple[str, ...]:
    """Return the tokens of a normalised name (see :func:`normalise_name`)."""
    norm = normalise_name(value)
    return tuple(norm.split()) if norm else ()


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


@lru_cache(maxsize=1 << 16)
def normalise_phone(value: str | None) -> str | None:
    """Return a phone number in E.164 (``+66811112222``), or ``None`` when it cannot be read.

    Numbers are read as international: a leading ``+`` or ``00`` is optional (PNR contacts
    often carry ``66811112222``). A number that is not a possible number for its country code
    keeps its digits with a ``+`` so that equal digits still match.
    """
    if not value:
        return None
    digits = _DIGITS.sub("", str(value))
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) < 6:
        return None
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "+" + digits
    if not phonenumbers.is_possible_number(parsed):
        return "+" + digits
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str | None) -> str:
    """Lower-case and trim an e-mail; PNR escapes (``//`` for ``@``, ``..`` for ``_``) are undone."""
    if not value:
        return ""
    text = str(value).strip()
    if "@" not in text and "//" in text:
        text = text.replace("//", "@").replace("..", "_")
    return text.lower()


def normalise_document(value: str | None) -> str:
    """Upper-case a document number and drop separators (spaces, hyphens, dots, ``<``)."""
    if not value:
        return ""
    return _DOC_SEP.sub("", anyascii(str(value)).upper())


def normalise_documents(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_document` for many numbers (ASCII fast path)."""
    text = values.fillna("").astype(str)
    ascii_ok = text.map(str.isascii, na_action="ignore").fillna(True).astype(bool)
    if not ascii_ok.all():
        text = text.where(ascii_ok, text.map(anyascii))
    return text.str.upper().str.replace(r"[^A-Z0-9]+", "", regex=True).astype(object)


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
