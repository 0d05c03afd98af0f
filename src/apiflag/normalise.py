"""The one normaliser for each kind of personal value, and the one traveller key.

Every module that compares, links, counts or pseudonymises a name, phone, e-mail or document
number reads it through here, so two places never disagree on whether two values are equal:

* **names** (:func:`normalise_name`): upper-case ASCII tokens; Unicode transliterated
  (``anyascii``, German umlauts by the MRZ rule ``Ä`` -> ``AE``), MRZ filler ``<`` and
  punctuation become spaces, apostrophes vanish (``O'BRIEN`` -> ``OBRIEN``), titles and
  placeholders (``FNU``, ``XX`` ...) are removed; :func:`name_key` is its literal level for
  linking one traveller's API and PNR names (punctuation as spaces, nothing removed);
* **phones** (:func:`normalise_phone`): E.164 (``+66811112222``), a leading ``+`` or ``00``
  optional; :func:`phone_digits` is the same number as digits only (what the warehouse stores);
* **booking contacts** (:func:`normalise_contact`): a phone as :func:`phone_digits`, an e-mail as
  :func:`normalise_email`, an address upper case with single spaces (the warehouse's
  ``booking_contacts.normalized``);
* **e-mails** (:func:`normalise_email`): trimmed, without inner blanks, lower case, PNR escapes
  (``//`` for ``@``, ``..`` for ``_``) undone;
* **document numbers** (:func:`normalise_document`): upper-case ASCII letters and digits only;
* **the traveller key** (:data:`TRAVELLER_KEY`, :func:`key_value`, :func:`traveller_key_frame`):
  night, carrier, number, surname, given names, date of birth, first document number, as
  written in the PAXLST, compared with case and spacing ignored and dates as ISO text.

Every function is pure and total: ``None``, empty or unusable input gives ``""`` (or ``None``
for phones that cannot be read), never an exception.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import lru_cache
from typing import Any

import pandas as pd
import phonenumbers
from anyascii import anyascii

__all__ = [
    "PLACEHOLDERS",
    "TITLES",
    "TRAVELLER_KEY",
    "key_value",
    "name_key",
    "name_tokens",
    "normalise_contact",
    "normalise_document",
    "normalise_documents",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "phone_digits",
    "traveller_key_frame",
]

TITLES: frozenset[str] = frozenset(
    "MR MRS MS MISS MSTR MASTER DR PROF SIR MADAM MME MLLE HERR FRAU SR SRA SRTA DONA DON "
    "ENG ING CAPT REV HAJI HAJJ HAJJAH".split()
)
"""Titles removed wherever they appear (PNR names carry them after the given name)."""

PLACEHOLDERS: frozenset[str] = frozenset("FNU LNU NFN XX X XXX UNK UNKNOWN NONE NIL NA".split())
"""Tokens airlines and registries write for a missing name part; a name made only of
placeholders is treated as missing."""

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


_NOT_LETTERS = re.compile(r"[^A-Z0-9]+")


def name_key(value: object) -> str:
    """Return a name as the API-PNR link compares it: ASCII, upper case, punctuation as spaces.

    The literal level of :func:`normalise_name`: the same traveller's API and PNR names are
    the same text, so titles and placeholders are not removed and ``O'BRIEN`` is
    ``O BRIEN`` (the case-database matcher, which compares names written by different hands,
    uses :func:`normalise_name`).
    """
    if not isinstance(value, str):
        return ""
    return _name_key(value)


@lru_cache(maxsize=1 << 16)
def _name_key(value: str) -> str:
    text = (value if value.isascii() else anyascii(value)).upper()
    return _NOT_LETTERS.sub(" ", text).strip()


def name_tokens(value: str | None) -> tuple[str, ...]:
    """Return the tokens of a normalised name (see :func:`normalise_name`)."""
    norm = normalise_name(value)
    return tuple(norm.split()) if norm else ()


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
    """Lower-case an e-mail without blanks; PNR escapes (``//`` for ``@``, ``..`` for ``_``) undone."""
    if not value:
        return ""
    text = _SPACES.sub("", str(value))
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


def phone_digits(value: str | None) -> str:
    """Return the phone number as digits only: :func:`normalise_phone` without its ``+``.

    A number too short to read keeps whatever digits it has (without a ``00`` prefix), so a
    stored contact is never empty when its text had digits.
    """
    e164 = normalise_phone(value)
    if e164 is not None:
        return e164.removeprefix("+")
    digits = _DIGITS.sub("", str(value or ""))
    return digits[2:] if digits.startswith("00") else digits


def normalise_contact(kind: str, value: str) -> str:
    """Return the form of a booking contact that other bookings' copies of it compare equal in.

    Phones are the E.164 number as digits (:func:`phone_digits`); e-mails are
    :func:`normalise_email`; addresses (any other kind) are upper case with single spaces.
    """
    if kind == "phone":
        return phone_digits(value)
    if kind == "email":
        return normalise_email(value)
    return _SPACES.sub(" ", value).strip().upper()


#: The traveller key shared by outcomes, truth, the warehouse and flag ids (as in the PAXLST).
TRAVELLER_KEY: tuple[str, ...] = (
    "night",
    "carrier",
    "number",
    "surname",
    "given_names",
    "date_of_birth",
    "document_number",
)


def key_value(value: Any) -> str:
    """Return one traveller-key field as compared: dates ISO, text upper case, single spaces."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return " ".join(str(value).upper().split())


def traveller_key_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the :data:`TRAVELLER_KEY` columns of ``frame`` as :func:`key_value` strings.

    A missing column is all ``""``; the index is kept, so the result can be joined on the key.
    """
    out = pd.DataFrame(index=frame.index)
    for column in TRAVELLER_KEY:
        if column not in frame.columns:
            out[column] = ""
            continue
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[column] = values.dt.strftime("%Y-%m-%d").fillna("").astype(object)
        else:
            out[column] = values.astype(object).map(key_value, na_action=None)
    return out
