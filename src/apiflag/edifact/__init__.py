"""Parsing of airline API (PAXLST) and PNR (PNRGOV) feeds.

:func:`parse_bytes` turns one file's bytes into a :class:`ParsedFile` or raises
:class:`~apiflag.errors.ParseError`; it never returns half a file. Stages:
:mod:`.tokenizer` (separators, telex headers, wrapping, envelope), :mod:`.paxlst`,
:mod:`.pnrgov`, :mod:`.sensitive` (what is dropped), :mod:`.contract` (the JSON rows of
``apiflag parse``).

Errors (the whole file is refused; ``segment`` names where, 0 for the file as a whole):

============================ ============================================================
code                         meaning
============================ ============================================================
``E_EMPTY``                  the file is empty or blank
``E_NO_UNB``                 no ``UNB`` interchange header (or text that is not EDIFACT)
``E_BAD_UNA``                the ``UNA`` service string repeats a separator
``E_BAD_CHARACTER``          characters no EDIFACT syntax allows (U+E000-U+E003)
``E_BAD_SEGMENT``            a segment that does not start with a three-character tag
``E_TRUNCATED``              no ``UNZ``, or a ``UNH`` without its ``UNT`` (file cut short)
``E_ENVELOPE``               a data segment outside ``UNH`` ... ``UNT``
``E_NO_MESSAGE``             an interchange without any ``UNH`` message
``E_UNKNOWN_MESSAGE``        a message type other than PAXLST or PNRGOV
``E_MIXED_MESSAGES``         PAXLST and PNRGOV messages in one file
``E_MISSING_SEGMENT``        a mandatory segment is missing (BGM, TDT/LOC, level-0 TVL, RCI)
``E_UNEXPECTED_SEGMENT``     a header segment (BGM, TDT) among the travellers
``E_BAD_DATE``               a date or time that is not one
``E_BAD_VALUE``              a value the contract cannot hold (flight number, surname ...)
============================ ============================================================

Warnings (the file is parsed; each is ``"segment N: W_CODE: text"`` in
``ParsedFile.warnings``): ``W_SEGMENT_COUNT`` (UNT count differs: normal for parts of a
multipart message), ``W_MESSAGE_COUNT`` (UNZ count), ``W_REFERENCE`` (UNT/UNZ reference
differs from UNH/UNB), ``W_INCOMPLETE_PARTS`` (a multipart message lacks parts),
``W_CNT_MISMATCH`` / ``W_EQN_MISMATCH`` (declared and listed travellers or PNRs differ),
``W_UNKNOWN_SEGMENT``, ``W_UNKNOWN_PARTY``, ``W_UNKNOWN_TRAVELLER``, ``W_BAD_VALUE`` (an
unusual value read as null), ``W_TRAILING_TEXT`` (text after ``UNZ`` that is not EDIFACT).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from apiflag.edifact.contract import ROW_KEYS, contract_rows
from apiflag.edifact.loss import RecordLoss
from apiflag.edifact.paxlst import parse_paxlst
from apiflag.edifact.pnrgov import parse_pnrgov
from apiflag.edifact.sensitive import DropLog
from apiflag.edifact.tokenizer import Interchange, Message, decode, tokenize
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
    """

    kind: Literal["PAXLST", "PNRGOV"]
    manifests: list[PaxlstManifest] = field(default_factory=list)
    pnr_messages: list[PnrgovMessage] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    messages: int = 0
    lost: list[RecordLoss] = field(default_factory=list)

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

        None when a PAXLST message has no CNT (nothing declared to reconcile against).
        """
        if self.kind == "PNRGOV":
            return self.travellers + self.quarantined
        total = 0
        for m in self.manifests:
            if m.declared_passengers is None and m.declared_crew is None:
                return None
            total += (m.declared_passengers or 0) + (m.declared_crew or 0)
        return total


def _kind(interchanges: list[Interchange]) -> tuple[str, list[tuple[Interchange, Message]]]:
    found: dict[str, int] = {}
    messages: list[tuple[Interchange, Message]] = []
    for ic in interchanges:
        if not ic.messages:
            raise ParseError("E_NO_MESSAGE", "interchange holds no UNH message", ic.unb.number)
        for msg in ic.messages:
            mtype = msg.unh.get(2, 0).upper()
            kind = _KINDS.get(mtype)
            if kind is None:
                raise ParseError(
                    "E_UNKNOWN_MESSAGE",
                    f"message type {mtype or '(none)'!r} is neither PAXLST nor PNRGOV",
                    msg.unh.number,
                )
            found.setdefault(kind, msg.unh.number)
            messages.append((ic, msg))
    if len(found) > 1:
        raise ParseError(
            "E_MIXED_MESSAGES",
            "file mixes PAXLST and PNRGOV messages",
            max(found.values()),
        )
    return next(iter(found)), messages


def parse_text(text: str, file: str | None = None) -> ParsedFile:
    """Parse the decoded text of one file (see :func:`parse_bytes`)."""
    try:
        interchanges = tokenize(text)
        kind, messages = _kind(interchanges)
        warnings = [w for ic in interchanges for w in ic.warnings]
        drops = DropLog()
        lost: list[RecordLoss] = []
        if kind == "PAXLST":
            manifests = parse_paxlst(messages, drops, warnings, lost)
            return ParsedFile(
                "PAXLST", manifests, [], drops.as_dict(), warnings, len(messages), lost
            )
        pushes = parse_pnrgov(messages, drops, warnings, lost)
        return ParsedFile("PNRGOV", [], pushes, drops.as_dict(), warnings, len(messages), lost)
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
