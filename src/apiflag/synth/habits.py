"""The habits of other senders, as the synthetic writer reproduces them.

Real feeds are not written the way apiflag's own writer writes them. A
:class:`~apiflag.synth.render.RenderStyle` can name some of these habits in ``habits``, and the
writer then lays the message out that way, so every stage downstream sees them. The world
draws them within its mess share (see :func:`apiflag.synth.world.render_flight`). Each habit
keeps every value the tolerant reader can read back. The exceptions are the ones that leave a
value out, and their doc line says so (``rci_absent``, ``departure_only``, ``arrival_only``,
``infant_docs``, ``unreadable_values``).
``tests/data/messages/habits`` holds a hand-written example of each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

__all__ = [
    "EXCLUSIVE",
    "HABITS",
    "PAXLST_HABITS",
    "PNRGOV_HABITS",
    "UNREADABLE_DATE",
    "UNREADABLE_EVERY",
    "UNREADABLE_SEX",
    "check_habits",
    "docs_text",
    "habit_segments",
    "pnr_date",
    "unreadable_field",
]

#: habit -> what the writer does (both message kinds unless listed below)
HABITS: dict[str, str] = {
    "tag_blanks": "a blank between the tag and its separator on UNG and every third segment "
    "(``UNG *PAXLST``)",
    "terminator_blanks": "a blank before every terminator, then a line break and two blanks",
    "una_newline": "a UNA of five characters with a line break in the sixth place",
    "una_typographic": "the UNA declares ``'`` while every terminator is ``’`` (U+2019)",
    "broken_interchange": "an aborted interchange first: its UNH garbled, cut before the first "
    "traveller or booking, without UNZ",
    "loc92": "PAXLST stops written as ``LOC+92``, each with only its DTM 189 or 232",
    "departure_only": "PAXLST legs give only the departure airport and time (the arrival is lost)",
    "arrival_only": "PAXLST legs give only the arrival airport and time (the departure is lost)",
    "rci_shifted": "PNRGOV RCI creation date and time in the 3rd and 4th components",
    "rci_absent": "PNRGOV RCI without creation date and time (the booking date is lost)",
    "stamp_glued": "PNRGOV RCI and DAT date and time written as one value (``DDMMYYHHMM``)",
    "dates_ccyy": "PNRGOV TVL and DAT dates with four-digit years (``DDMMCCYY``)",
    "dates_month": "PNRGOV TVL and DAT dates with the month's name (``DDMMMYY``)",
    "short_org_add": "PNRGOV level-0 ORG without its location; ADD without its empty first element",
    "docs_items": "SSR DOCS with other slashes, in turn: none leading; doubled leading and "
    "trailing; an extra one before the nationality; blanks around the names; four-digit years",
    "unreadable_values": "PAXLST: one traveller in UNREADABLE_EVERY written with a birth date "
    "that is no date (``00XX00``), another with a sex code that is none (``Q``): the value "
    "is lost (read as null, the traveller degraded), and the world's truth names the field",
    "infant_docs": "an infant's SSR DOCS (sex FI/MI) under the adult's TIF instead of a TIF of "
    "its own (the infant's title is lost)",
}
PAXLST_HABITS = ("loc92", "departure_only", "arrival_only", "unreadable_values")
PNRGOV_HABITS = (
    "rci_shifted",
    "rci_absent",
    "stamp_glued",
    "dates_ccyy",
    "dates_month",
    "short_org_add",
    "docs_items",
    "infant_docs",
)
#: groups of habits of which a style takes one at most
EXCLUSIVE = (
    frozenset({"una_newline", "una_typographic"}),
    frozenset({"loc92", "departure_only", "arrival_only"}),
    frozenset({"rci_shifted", "rci_absent"}),
    frozenset({"dates_ccyy", "dates_month"}),
    frozenset({"stamp_glued", "dates_month"}),
)
UNREADABLE_EVERY = 20
"""``unreadable_values``: of each run of this many travellers of a file, one gets an unreadable
birth date and one an unreadable sex code (a share of 2 in 20 of the file's travellers)."""
UNREADABLE_DATE = "00XX00"
UNREADABLE_SEX = "Q"


def unreadable_field(position: int) -> str | None:
    """The field ``unreadable_values`` damages for the traveller at ``position`` in its file.

    ``date_of_birth``, ``sex`` or None; a traveller without that value keeps what it has.
    """
    turn = position % UNREADABLE_EVERY
    return "date_of_birth" if turn == 7 else "sex" if turn == 14 else None


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def check_habits(habits: Iterable[str], separators: str, una: bool) -> str | None:
    """Return why a set of habits cannot be written with these separators, or None."""
    chosen = set(habits)
    unknown = sorted(chosen - HABITS.keys())
    if unknown:
        return f"unknown habits {unknown} (known: {sorted(HABITS)})"
    for group in EXCLUSIVE:
        if len(chosen & group) > 1:
            return f"habits {sorted(chosen & group)} exclude each other"
    if chosen & {"una_newline", "una_typographic"} and not una:
        return "UNA habits need una=True"
    if "una_newline" in chosen and separators[4] != " ":
        return "una_newline needs a blank as the reserved UNA character"
    if "una_typographic" in chosen and separators[5] != "'":
        return "una_typographic needs ' as the declared terminator"
    return None


def pnr_date(d: dt.date | None, habits: frozenset[str]) -> str:
    """A PNRGOV TVL/DAT date: ``DDMMYY``, or ``DDMMCCYY``/``DDMMMYY`` with a date habit."""
    if d is None:
        return ""
    if "dates_ccyy" in habits:
        return f"{d.day:02d}{d.month:02d}{d.year:04d}"
    if "dates_month" in habits:
        return f"{d.day:02d}{_MONTHS[d.month - 1]}{d.year % 100:02d}"
    return f"{d.day:02d}{d.month:02d}{d.year % 100:02d}"


def _docs_date(d: dt.date | None, four: bool) -> str:
    if d is None:
        return ""
    year = f"{d.year:04d}" if four else f"{d.year % 100:02d}"
    return f"{d.day:02d}{_MONTHS[d.month - 1]}{year}"


def docs_text(
    items: tuple[str, str, str, str, dt.date | None, str, dt.date | None, str, str],
    turn: int,
) -> str:
    """SSR DOCS free text written with turn ``turn`` of the ``docs_items`` habit (not escaped).

    Args:
        items: document type, issuer, number, nationality, birth date, sex, expiry date,
            surname, given names.
        turn: which variant (taken modulo 5): 0 no leading slash; 1 two leading slashes and
            two trailing ones; 2 an extra slash before the nationality (1 and 2 only with a
            birth date and a sex to re-align on, else 0); 3 blanks around the names; 4
            four-digit years.
    """
    doc_type, issuer, number, nationality, dob, sex, expiry, surname, given = items
    names = given.split(" ", 1) if given else [""]
    variant = turn % 5
    if variant in (1, 2) and not (dob and sex):
        variant = 0  # the reader re-aligns extra slashes on the birth date and sex
    head = [doc_type, issuer, number, nationality]
    if variant == 2:
        head = [doc_type, issuer, number, "", nationality]
    dates = [_docs_date(dob, variant == 4), sex, _docs_date(expiry, variant == 4)]
    if variant == 3:
        tail = [f" {surname} ", *(f" {n} " for n in names)]
        return "/" + "/".join([*head, *dates, *tail]) + "/"
    fields = [*head, *dates, surname, *names]
    if variant == 0:
        return "/".join(fields)
    if variant == 1:
        return "//" + "/".join(fields) + "//"
    return "/" + "/".join(fields)


def habit_segments(
    segs: list[str], habits: frozenset[str], elem: str, separators: str
) -> list[str]:
    """Apply the layout habits that act on whole segments: tag blanks, a broken interchange.

    Args:
        segs: the interchange's segments, without terminators (``UNB`` first).
        habits: the style's habits.
        elem: the element separator.
        separators: the UNA characters (a garbling character is chosen outside them).
    """
    out = segs
    if "broken_interchange" in habits:
        openers = tuple(f"NAD{elem}{q}{elem}" for q in ("FL", "FM", "DDU", "DDT")) + ("SRC",)
        cut = next((i for i, s in enumerate(segs) if s.startswith(openers)), len(segs))
        noise = "@" if "@" not in separators else "%"
        aborted = [("UN" + noise + s[3:]) if s.startswith("UNH") else s for s in segs[:cut]]
        out = aborted + out
    if "tag_blanks" in habits:
        out = [
            s[:3] + " " + s[3:]
            if len(s) > 3 and s[3] == elem and (i % 3 == 2 or s.startswith("UNG"))
            else s
            for i, s in enumerate(out)
        ]
    return out
