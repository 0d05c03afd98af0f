"""What the tolerant reader lost, at the smallest unit that could not be read.

Three levels, each counted and each named where it happened:

* **A value** (a date, a time, a sex code, a country, a number) that cannot be read becomes
  ``None``; the reader appends a warning naming the segment, the field and the value's class
  (:func:`value_warning`), and the traveller carries the field's name in ``degraded``. The
  value itself is never repeated in a warning: it may be personal data.
* **A record** (a traveller, a PNR booking, or a message whose header cannot be read) that
  cannot be read at all is quarantined as a :class:`RecordLoss` row (segment range, code,
  message, how many travellers it held) while the rest of the file loads.
* **A file** is refused whole only when no envelope can be read (no ``UNB``/``UNH``, not
  EDIFACT, no PAXLST or PNRGOV message): :class:`~apiflag.errors.ParseError` is raised then.

Warnings are lines ``"segment N: W_CODE: TAG field: text"`` (``TAG field:`` is absent on the
envelope warnings of the tokenizer); :func:`read_warning` splits one back into its parts, so
the conformance report and ingest count them without a second format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "RecordLoss",
    "RecordUnreadable",
    "Warning",
    "degrade",
    "lose_value",
    "read_warning",
    "value_class",
    "value_warning",
]

LossKind = Literal["traveller", "booking", "message"]


@dataclass(frozen=True, slots=True)
class RecordLoss:
    """One record quarantined while the rest of its file loads.

    Attributes:
        kind: ``traveller`` (a PAXLST NAD group), ``booking`` (a PNR from ``SRC`` to the
            next), or ``message`` (a UNH...UNT message whose header cannot be read).
        first_segment: number of the record's first segment in the file.
        last_segment: number of its last segment.
        code: the stable error code (``E_BAD_VALUE``, ``E_MISSING_SEGMENT`` ...).
        message: what could not be read, for a person (no personal values).
        travellers: how many travellers the record held (1 for a traveller; the TIFs of a
            booking; the travellers a message listed), so reconciliation adds up.
        message_ref: the UNH reference of the message it came from.
    """

    kind: LossKind
    first_segment: int
    last_segment: int
    code: str
    message: str
    travellers: int = 1
    message_ref: str | None = None

    def __str__(self) -> str:
        span = (
            f"segment {self.first_segment}"
            if self.first_segment == self.last_segment
            else f"segments {self.first_segment}-{self.last_segment}"
        )
        return f"{span}: {self.code}: {self.kind} quarantined: {self.message}"


class RecordUnreadable(Exception):
    """Raised inside a reader when the record at hand cannot be read at all.

    The reader catches it at the record's boundary and turns it into a :class:`RecordLoss`;
    it never leaves the parser.
    """

    def __init__(self, code: str, message: str, segment: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.segment = segment


_DIGITS = re.compile(r"[0-9]+")
_LETTERS = re.compile(r"[A-Za-z]+")


def value_class(value: str) -> str:
    """Describe a value by its shape, never its content (``'6 digits'``, ``'2 letters'``)."""
    v = value.strip()
    if not v:
        return "empty"
    if _DIGITS.fullmatch(v):
        return f"{len(v)} digits"
    if _LETTERS.fullmatch(v):
        return f"{len(v)} letters"
    return f"{len(v)} characters"


def value_warning(segment: int, tag: str, field: str, value: str, why: str) -> str:
    """Return the warning for a value read as null: segment, field, value class, why.

    Args:
        segment: the segment's number in the file.
        tag: the segment tag, with its qualifier where it says which field (``DTM+329``).
        field: the contract field that is now null (``date_of_birth``).
        value: the value as sent; only its class is shown.
        why: what is wrong with it (``"not a date"``).
    """
    return (
        f"segment {segment}: W_BAD_VALUE: {tag} {field}: {value_class(value)} value {why}; "
        "read as null"
    )


def degrade(degraded: list[str], field: str) -> None:
    """Name ``field`` in a traveller's ``degraded`` list, once, in the order values were lost."""
    if field not in degraded:
        degraded.append(field)


def lose_value(
    warnings: list[str], degraded: list[str], segment: int, tag: str, field: str, value: str,
    why: str, degraded_field: str | None = None,
) -> None:  # fmt: skip
    """Read a value as null: its warning (:func:`value_warning`) and its field in ``degraded``.

    Args:
        warnings: where the warning goes.
        degraded: the ``degraded`` list of the traveller (or booking) that holds the value.
        segment: the segment's number in the file.
        tag: the segment tag, with its qualifier where it says which field.
        field: the contract field that is now null, named in the warning.
        value: the value as sent; only its class is shown.
        why: what is wrong with it.
        degraded_field: the name in ``degraded`` when it is not ``field`` (a document's
            expiry date degrades ``documents``).
    """
    warnings.append(value_warning(segment, tag, field, value, why))
    degrade(degraded, degraded_field or field)


@dataclass(frozen=True, slots=True)
class Warning:  # noqa: A001 - the parser's own warning, not the builtin category
    """One warning line split into its parts."""

    segment: int
    code: str
    tag: str | None
    field: str | None
    text: str


_WARNING = re.compile(
    r"segment (?P<segment>\d+): (?P<code>W_[A-Z_]+): "
    r"(?:(?P<tag>[A-Z][A-Z0-9]{2}(?:\+[A-Z0-9]+)?) (?P<field>[a-z_.]+): )?(?P<text>.*)",
    re.DOTALL,
)


def read_warning(line: str) -> Warning:
    """Split ``"segment N: W_CODE: TAG field: text"`` into a :class:`Warning`.

    A line of another form gives code ``W_OTHER`` and segment 0, so nothing is uncounted.
    """
    m = _WARNING.fullmatch(line)
    if m is None:
        return Warning(0, "W_OTHER", None, None, line)
    return Warning(
        int(m.group("segment")), m.group("code"), m.group("tag"), m.group("field"), m.group("text")
    )
