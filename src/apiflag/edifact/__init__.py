"""Parsing of airline API (PAXLST) and PNR (PNRGOV) feeds.

:func:`parse_bytes` turns one file's bytes into a :class:`ParsedFile`. The reader loses the
smallest unit it cannot read, and counts it (:mod:`.loss`): a **value** becomes null with a
warning and the traveller's ``degraded`` names the field; a **record** (a traveller, a
booking, or a message whose header or type cannot be read) becomes a :class:`RecordLoss` in
``ParsedFile.lost`` while the rest loads; only a **file** whose envelope cannot be read is
refused with :class:`~apiflag.errors.ParseError`, and then nothing of it is returned.
Stages: :mod:`.tokenizer` (separators, telex headers, wrapping, envelope), :mod:`.paxlst`,
:mod:`.pnrgov`, :mod:`.sensitive` (what is dropped), :mod:`.contract` (the JSON rows of
``apiflag parse``).

Errors that refuse the file (``segment`` names where, 0 for the file as a whole):

============================ ============================================================
code                         meaning
============================ ============================================================
``E_EMPTY``                  the file is empty or blank
``E_NO_UNB``                 no ``UNB`` interchange header (or text that is not EDIFACT)
``E_BAD_UNA``                the ``UNA`` service string repeats a separator
``E_BAD_CHARACTER``          characters no EDIFACT syntax allows (U+E000-U+E003)
``E_NO_MESSAGE``             no interchange holds any ``UNH`` message
``E_UNKNOWN_MESSAGE``        no message is PAXLST or PNRGOV
============================ ============================================================

Codes of quarantined records (``RecordLoss.code``): ``E_TRUNCATED`` (the file ends inside
the record), ``E_ENVELOPE`` (segments outside any ``UNH`` ... ``UNT``), ``E_UNKNOWN_MESSAGE``
and ``E_MIXED_MESSAGES`` (a message of another type or kind among the file's messages),
``E_MISSING_SEGMENT`` (a message without a TDT flight or level-0 TVL, a booking without
RCI), ``E_BAD_DATE`` (no date to resolve two-digit years against), ``E_BAD_VALUE`` (a value a
record cannot do without: a surname, a flight number, a record locator; or a value the
contract refuses). A PNR booking's message names the segment at fault (``"segment 13:
..."``). A PNRGOV message without a readable flight is quarantined whole, as a PAXLST one is;
the file's other messages load. A date, time, sex or country of a booking is a lost value,
never a lost booking.

Warnings (each ``"segment N: W_CODE: TAG field: text"`` in ``ParsedFile.warnings``):
``W_BAD_VALUE`` (a value read as null; its class is named, never the value),
``W_MISSING_SEGMENT`` (a leg without an airport, a message without BGM), ``W_UNA_MISMATCH``
(the file's terminator is not the declared one, or the UNA is not six characters),
``W_BAD_SEGMENT`` (a segment without a tag, skipped; its traveller is ``degraded``),
``W_TRUNCATED`` / ``W_NO_UNT`` (a message or interchange without its trailer),
``W_ENVELOPE`` (a run of segments outside any message), ``W_NO_MESSAGE``,
``W_SEGMENT_COUNT`` (UNT count differs: normal for parts of a multipart message),
``W_MESSAGE_COUNT`` (UNZ count), ``W_REFERENCE`` (UNT/UNZ reference differs from UNH/UNB),
``W_INCOMPLETE_PARTS`` (a multipart message lacks parts), ``W_CNT_MISMATCH`` /
``W_EQN_MISMATCH`` (declared and listed travellers or PNRs differ, beyond what was
quarantined), ``W_UNKNOWN_SEGMENT``, ``W_UNKNOWN_PARTY``, ``W_UNKNOWN_TRAVELLER``,
``W_UNEXPECTED_SEGMENT`` (BGM or TDT among the travellers, ignored), ``W_TRAILING_TEXT``
(text after ``UNZ`` that is not EDIFACT).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from apiflag.edifact.contract import ROW_KEYS, contract_rows
from apiflag.edifact.loss import RecordLoss
from apiflag.edifact.paxlst import ROLES, parse_paxlst
from apiflag.edifact.pnrgov import parse_pnrgov
from apiflag.edifact.sensitive import DropLog
from apiflag.edifact.tokenizer import Interchange, Message, Segment, decode, tokenize
from apiflag.errors import ParseError
from apiflag.records import ApiTraveller, PaxlstManifest, PnrgovMessage, PnrTraveller

__all__ = ["ROW_KEYS", "ParsedFile", "RecordLoss", "contract_rows", "parse_bytes", "parse_text"]

_KINDS = {"PAXLST": "PAXLST", "PNRGOV": "PNRGOV"}


@dataclass(frozen=True)
class ParsedFile:
    """Everything one file held, after the sensitive-data drop.

    Attributes:
        kind: ``"PAXLST"`` or ``"PNRGOV"``.
        manifests: PAXLST manifests (multipart messages joined), in file order.
        pnr_messages: PNRGOV pushes (multipart messages joined), in file order.
        dropped: sensitive SSR / free-text code -> how many were dropped (never the values).
        warnings: ``"segment N: W_CODE: text"`` lines for defects that did not stop parsing.
        messages: how many UNH messages the file held (before multipart joining).
        lost: records quarantined while the rest of the file loaded (see :mod:`.loss`).
        interchanges: the file's interchanges as tokenized, every segment kept (for the
            per-carrier accounting of :mod:`.carriers`; not part of the parse contract).
    """

    kind: Literal["PAXLST", "PNRGOV"]
    manifests: list[PaxlstManifest] = field(default_factory=list)
    pnr_messages: list[PnrgovMessage] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    messages: int = 0
    lost: list[RecordLoss] = field(default_factory=list)
    interchanges: list[Interchange] = field(default_factory=list, repr=False, compare=False)

    def iter_travellers(self) -> Iterator[ApiTraveller | PnrTraveller]:
        """Every traveller read (clean or degraded), in file order."""
        for manifest in self.manifests:
            yield from manifest.travellers
        for message in self.pnr_messages:
            for booking in message.bookings:
                yield from booking.travellers

    @property
    def travellers(self) -> int:
        """Number of travellers (API) or PNR travellers read from the file."""
        return sum(1 for _ in self.iter_travellers())

    @property
    def degraded(self) -> int:
        """Travellers read with at least one value lost (null with a warning)."""
        return sum(1 for t in self.iter_travellers() if t.degraded)

    @property
    def quarantined(self) -> int:
        """Travellers in the records quarantined (a lost booking counts its TIFs)."""
        return sum(loss.travellers for loss in self.lost)

    @property
    def declared(self) -> int | None:
        """Travellers the file declares: PAXLST CNT 42 + 41; PNRGOV the TIFs of each PNR.

        A PAXLST message quarantined whole (its header or envelope cannot be read, so neither
        can its CNT) declares the travellers it lists. None when a PAXLST message that was
        read has no CNT (nothing declared to reconcile against).
        """
        if self.kind == "PNRGOV":
            return self.travellers + self.quarantined
        total = sum(loss.travellers for loss in self.lost if loss.kind == "message")
        for m in self.manifests:
            if m.declared_passengers is None and m.declared_crew is None:
                return None
            total += (m.declared_passengers or 0) + (m.declared_crew or 0)
        return total


_TRAVELLER_OPENERS = {"PAXLST": ("NAD", frozenset(ROLES)), "PNRGOV": ("TIF", None)}


def _travellers_in(segments: list[Segment], kind: str | None) -> int:
    """How many travellers a run of segments opens (NAD+FL/FM/DDU/DDT, or TIF)."""
    count = 0
    for seg in segments:
        if seg.tag == "TIF" and kind in (None, "PNRGOV"):
            count += 1
        elif seg.tag == "NAD" and kind in (None, "PAXLST") and seg.get(1) in ROLES:
            count += 1
    return count


def _message_loss(
    segments: list[Segment], code: str, text: str, kind: str | None, ref: str | None
) -> RecordLoss:
    return RecordLoss(
        "message",
        segments[0].number,
        segments[-1].number,
        code,
        text,
        _travellers_in(segments, kind),
        ref,
    )


def _kind(
    interchanges: list[Interchange], lost: list[RecordLoss]
) -> tuple[str, list[tuple[Interchange, Message]]]:
    """Decide the file's kind and keep its messages; the others become message losses.

    The kind is that of the first PAXLST or PNRGOV message; a message of another type, or of
    the other kind, is quarantined whole (its travellers counted). Only a file with no
    PAXLST or PNRGOV message at all is refused.
    """
    kind: str | None = None
    messages: list[tuple[Interchange, Message]] = []
    for ic in interchanges:
        for msg in ic.messages:
            mtype = msg.unh.get(2, 0).upper()
            if mtype in _KINDS and kind is None:
                kind = mtype
            if mtype == kind:
                messages.append((ic, msg))
                continue
            code = "E_MIXED_MESSAGES" if mtype in _KINDS else "E_UNKNOWN_MESSAGE"
            what = f"message type {mtype or '(none)'!r} in a file of {kind or 'other'} messages"
            lost.append(
                _message_loss([msg.unh, *msg.body], code, what, mtype or None, msg.unh.get(1))
            )
    if kind is None:
        if not any(ic.messages for ic in interchanges):
            raise ParseError("E_NO_MESSAGE", "no interchange holds a UNH message", 0)
        first = interchanges[0].messages[0] if interchanges[0].messages else None
        mtype = first.unh.get(2, 0).upper() if first else ""
        raise ParseError(
            "E_UNKNOWN_MESSAGE",
            f"message type {mtype or '(none)'!r} is neither PAXLST nor PNRGOV",
            first.unh.number if first else 0,
        )
    for ic in interchanges:
        for run in ic.stray:
            what = "segments outside any UNH...UNT message (an unreadable UNH?)"
            lost.append(_message_loss(run, "E_ENVELOPE", what, kind, None))
    return kind, messages


def _cut_tail(kind: str, msg: Message, lost: list[RecordLoss]) -> Message:
    """Quarantine the last record of a message the file ends inside: it may be incomplete.

    PAXLST: the last traveller, unless its CNT follows (then only UNT was cut). PNRGOV: the
    last booking (from its ``SRC``).

    Returns:
        The message to read: ``msg`` itself, or a copy without the quarantined record
        (``msg`` keeps every segment, for the accounting of :mod:`.carriers`).
    """
    opener, qualifiers = _TRAVELLER_OPENERS[kind]
    if kind == "PNRGOV":
        opener = "SRC"
    at = None
    for i in range(len(msg.body) - 1, -1, -1):
        seg = msg.body[i]
        if kind == "PAXLST" and seg.tag == "CNT":
            return msg
        if seg.tag == opener and (qualifiers is None or seg.get(1) in qualifiers):
            at = i
            break
    if at is None:
        return msg
    tail = msg.body[at:]
    lost.append(
        RecordLoss(
            "booking" if kind == "PNRGOV" else "traveller",
            tail[0].number,
            tail[-1].number,
            "E_TRUNCATED",
            "the file ends inside this record, so it may be incomplete",
            _travellers_in(tail, kind),
            msg.unh.get(1),
        )
    )
    return Message(msg.unh, msg.body[:at], msg.unt, msg.truncated)


def parse_text(text: str, file: str | None = None) -> ParsedFile:
    """Parse the decoded text of one file (see :func:`parse_bytes`)."""
    try:
        interchanges = tokenize(text)
        lost: list[RecordLoss] = []
        kind, messages = _kind(interchanges, lost)
        messages = [(ic, _cut_tail(kind, m, lost) if m.truncated else m) for ic, m in messages]
        warnings = [w for ic in interchanges for w in ic.warnings]
        drops = DropLog()
        if kind == "PAXLST":
            manifests = parse_paxlst(messages, drops, warnings, lost)
            return ParsedFile(
                "PAXLST", manifests, [], drops.as_dict(), warnings, len(messages), lost,
                interchanges,
            )  # fmt: skip
        pushes = parse_pnrgov(messages, drops, warnings, lost)
        return ParsedFile(
            "PNRGOV", [], pushes, drops.as_dict(), warnings, len(messages), lost, interchanges
        )
    except ParseError as exc:
        if file is not None and exc.file is None:
            raise exc.with_file(file) from None
        raise


def parse_bytes(data: bytes, file: str | None = None) -> ParsedFile:
    """Parse one file of PAXLST or PNRGOV messages.

    Args:
        data: the file's bytes as received (telex headers, wrapping, disclaimers and all).
        file: the file's name, put into errors.

    Returns:
        The file's manifests or pushes, dropped-data counts and warnings.

    Raises:
        ParseError: with a stable code (table in the module docstring), the segment number
            and ``file``; nothing of the file is returned then.
    """
    return parse_text(decode(data), file)
