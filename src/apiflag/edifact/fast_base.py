"""The fast reader's primitives: plain-file splitting, the envelope, element access, leg records.

Shared by :mod:`.fast` (PAXLST and the dispatch) and :mod:`.fast_pnr` (PNRGOV), so neither
imports the other's reader. Everything here is all-or-nothing like the readers themselves: a
check that fails raises :class:`Unsupported` and the file goes to the tolerant reader.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from apiflag.edifact.paxlst import prepared_at
from apiflag.edifact.rows import RowBatch
from apiflag.edifact.tokenizer import Segment, decode
from apiflag.errors import ParseError
from apiflag.records import FlightLeg

_UNA = "UNA:+.? '"
# what sends a file to the tolerant reader besides characters that are not printable (control,
# private-use, tab and non-ASCII blank characters): blanks next to a separator, which the
# tolerant reader strips
_BLANKS = (" +", "+ ", " :", ": ", " '", "' ")
# released ?, ' and + (as in the tokenizer); a released + stays a placeholder until the
# segment is split into elements (:func:`elements`)
_P_RELEASE, _P_TERM, P_ELEM = "\ue000", "\ue001", "\ue002"
_RESTORE = str.maketrans({_P_RELEASE: "?", _P_TERM: "'"})
_ENVELOPE = frozenset({"UNA", "UNB", "UNG", "UNE", "UNZ", "UNH", "UNT"})
_KINDS = ("PAXLST", "PNRGOV")
CARRIER = re.compile(r"[A-Z0-9]{2,3}")
AIRPORT = re.compile(r"[A-Z]{3}")
DOC_TYPE = re.compile(r"[A-Z]{1,3}")


class Unsupported(Exception):
    """Raised inside the fast reader when a file must go to the tolerant reader."""


@dataclass
class FastFile:
    """One file read into warehouse columns.

    Attributes:
        kind: ``"PAXLST"`` or ``"PNRGOV"``.
        batch: the row batch holding the file's rows and message metadata.
        dropped: sensitive SSR / free-text code -> count, as ``ParsedFile.dropped``.
        warnings: the tolerant reader's warning lines (always empty on the fast path).
        messages: UNH messages in the file.
        parsed: the tolerant reader's ``ParsedFile``; on the fast path a stand-in holding what
            the per-carrier accounting (:mod:`apiflag.edifact.carriers`) reads: the records'
            carriers, refs and segment numbers, no warning, no lost record.
        fast: True when the fast reader read it, False when the tolerant reader did.
    """

    kind: str
    batch: RowBatch
    dropped: dict[str, int]
    warnings: list[str]
    messages: int
    parsed: Any
    fast: bool = True


@dataclass
class Envelope:
    """The checked envelope of a plain file: UNB, and each message's UNH and body."""

    kind: str
    unb: Segment
    prepared: dt.datetime
    messages: list[tuple[list[str], list[str], int]]  # UNH parts, body segments, UNH number


def get(parts: list[str], element: int, component: int = 0) -> str:
    """``Segment.get`` on raw parts (no blanks to strip on the fast path)."""
    if element >= len(parts):
        return ""
    if component == 0:
        return parts[element].partition(":")[0]
    comps = parts[element].split(":")
    return comps[component] if component < len(comps) else ""


def fields(parts: list[str], element: int, count: int) -> list[str]:
    """``Segment.fields`` on raw parts: one element's components, padded to ``count``."""
    out = parts[element].split(":") if element < len(parts) else []
    if len(out) < count:
        out += [""] * (count - len(out))
    return out


def elements(raw: str) -> list[str]:
    """A segment's elements, released ``+`` restored (they are data, not separators)."""
    parts = raw.split("+")
    if P_ELEM in raw:
        parts = [p.replace(P_ELEM, "+") for p in parts]
    return parts


def segment(parts: list[str], number: int) -> Segment:
    """A tokenizer segment, for the few places the tolerant reader's own helpers are reused."""
    return Segment(parts[0], parts, number, ":")


def check(condition: bool) -> None:
    """Send the file to the tolerant reader unless ``condition`` holds."""
    if not condition:
        raise Unsupported


def split_plain(data: bytes) -> list[str] | None:
    """The segments of a plain file (text between terminators); None when it is not plain.

    Released terminators and release characters (``O?'BRIEN``, ``??``) are read as the
    tokenizer reads them; a released ``+`` stays ``P_ELEM`` until :func:`elements`; a released
    ``:`` sends the file to the tolerant reader.
    """
    text = decode(data)
    if not text.startswith(_UNA):
        return None
    body = text[len(_UNA) :]
    if "\n" in body:
        body = body.replace("\n", "")
    if "\r" in body:
        body = body.replace("\r", "")
    if not body.isprintable() or any(blank in body for blank in _BLANKS):
        return None
    released = "?" in body
    if released:
        body = body.replace("??", _P_RELEASE).replace("?'", _P_TERM).replace("?+", P_ELEM)
        if "?:" in body:
            return None
    at = body.find("'UNZ+")
    end = body.find("'", at + 1) if at >= 0 else -1
    if end < 0 or end != len(body) - 1:
        return None  # no UNZ, or text after it (W_TRAILING_TEXT)
    raws = body[:end].split("'")
    if "" in raws:
        return None
    if released:
        raws = [r.translate(_RESTORE) if _P_TERM in r or _P_RELEASE in r else r for r in raws]
    return raws


def envelope(raws: list[str]) -> Envelope | None:
    """Check one interchange's envelope as the tokenizer would, without a single warning."""
    marks = [i for i, r in enumerate(raws) if r[:3] in _ENVELOPE]
    parts = {i: raws[i].split("+") for i in marks}
    tags = {i: p[0] for i, p in parts.items()}
    if marks[0] != 0 or tags[0] != "UNB" or marks[-1] != len(raws) - 1 or len(parts[0]) < 6:
        return None
    if tags[marks[-1]] != "UNZ" or any(tags[i] != raws[i][:3] or P_ELEM in raws[i] for i in marks):
        return None  # a tag such as UNHX is no envelope segment: the tolerant reader decides
    unb = segment(parts[0], 1)
    try:
        prepared = prepared_at(unb)
    except ParseError:
        return None
    messages: list[tuple[list[str], list[str], int]] = []
    groups = 0
    kind = None
    keys: set[str] = set()
    k = 1
    while k < len(marks) - 1:
        i = marks[k]
        if tags[i] in ("UNG", "UNE"):
            groups += tags[i] == "UNG"
            k += 1
            continue
        j = marks[k + 1]
        if tags[i] != "UNH" or tags[j] != "UNT":
            return None
        unh, unt = parts[i], parts[j]
        if get(unt, 1) != str(j - i + 1) or get(unt, 2) != get(unh, 1):
            return None  # W_SEGMENT_COUNT / W_REFERENCE
        mtype = get(unh, 2).upper()
        if mtype not in _KINDS or kind not in (None, mtype) or not _single_part(unh, keys):
            return None
        kind = mtype
        messages.append((unh, raws[i + 1 : j], i + 1))
        k += 2
    unz = parts[marks[-1]]
    declared = get(unz, 1)
    expected = groups if groups and declared == str(groups) else len(messages)
    if not messages or declared != str(expected) or get(unz, 2) != unb.get(5):
        return None
    assert kind is not None
    return Envelope(kind, unb, prepared, messages)


def _single_part(unh: list[str], keys: set[str]) -> bool:
    """Whether a message stands alone: no part number, or part 1 final/unmarked, never joined."""
    part_no, indicator = get(unh, 4, 0), get(unh, 4, 1).upper()
    if not part_no and not indicator:
        return True
    if not part_no.isdigit() or int(part_no) != 1 or indicator not in ("", "F"):
        return False
    key = get(unh, 3)
    if key:
        if key in keys:
            return False
        keys.add(key)
    return True


def leg_record(leg: dict[str, Any]) -> FlightLeg:
    """A leg the contract would accept, as a record (not validated again)."""
    check(isinstance(leg.get("carrier"), str) and bool(CARRIER.fullmatch(leg["carrier"])))
    for key in ("departure_airport", "arrival_airport"):
        value = leg.get(key)
        check(value is None or bool(AIRPORT.fullmatch(value)))
    return FlightLeg.model_construct(
        carrier=leg["carrier"],
        number=leg["number"],
        departure_airport=leg.get("departure_airport"),
        arrival_airport=leg.get("arrival_airport"),
        scheduled_departure=leg.get("scheduled_departure"),
        scheduled_arrival=leg.get("scheduled_arrival"),
    )


def add_documents(
    batch: RowBatch, msg: int, kind: str, owners: list[tuple[str, int, list[dict[str, Any]]]],
    sha: str,
) -> None:  # fmt: skip
    """The ``documents`` rows of ``RowBatch.add_documents``, from document dicts."""
    docs = [(oid, seq, d, seg) for oid, seg, ds in owners for seq, d in enumerate(ds)]
    if not docs:
        return
    batch.extend(
        "documents", msg, len(docs), owner_kind=kind, owner_id=[o for o, _, _, _ in docs],
        seq=[s for _, s, _, _ in docs], doc_type=[d["type"] for _, _, d, _ in docs],
        number=[d["number"] for _, _, d, _ in docs],
        issuing_country=[d.get("issuing_country") for _, _, d, _ in docs],
        expiry_date=[d.get("expiry_date") for _, _, d, _ in docs],
        issue_date=[d.get("issue_date") for _, _, d, _ in docs],
        message_sha256=sha, segment=[g for _, _, _, g in docs],
    )  # fmt: skip
