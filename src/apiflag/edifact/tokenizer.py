"""UN/EDIFACT tokenizer: raw bytes of a real feed to interchanges of segments.

What it decides:

* **Where the interchange starts.** Anything before ``UNA``/``UNB`` (Type-B telex headers,
  SOH/STX control characters, blank lines) is ignored. Without ``UNA`` the default separators
  apply, except that the element and component separators are read from ``UNB`` itself
  (``UNB*UNOA:4*...``) and the terminator from the character before ``UNH``.
* **Line breaks are not data.** CR and LF are removed everywhere (feeds wrap lines at 64 or 69
  columns in the middle of segments), unless ``UNA`` declares a line break as the segment
  terminator. Other C0 control characters are removed too; tabs are kept.
* **Blanks around tags and terminators are not data.** Senders write ``UNG *PAXLST``,
  ``NAD +FL`` or `` 'NAD``; the tag is read without its blanks, and blanks or tabs just
  before or after a terminator are dropped.
* **A UNA that does not say what the file does.** A ``UNA`` of five characters (a line break
  in the sixth place), or one that declares ``'`` while a word processor turned every
  terminator into ``’``: the terminator the file really uses, the character before its first
  ``UNH`` (written with blanks or not), wins, with ``W_UNA_MISMATCH``. A line break inside
  the service string (a file wrapped at a fixed width) is wrapping, not a separator.
* **The release character** (``?`` by default) makes the next separator data: ``?'``, ``?+``,
  ``?:`` and ``??`` give ``'``, ``+``, ``:`` and ``?``. The whole text is split with
  ``str.split`` after released characters are swapped for private-use placeholders, so no
  Python loop walks characters one at a time.
* **Where it ends.** Text after ``UNZ`` (e-mail disclaimers, antivirus banners) is ignored
  unless another ``UNA``/``UNB`` follows, which starts the next interchange of the same file.
* **Envelope checks.** A missing ``UNZ`` or ``UNT`` is an error (``E_TRUNCATED``); wrong
  counts or references in ``UNT``/``UNZ`` are warnings, because real feeds send parts of
  multipart messages whose counts refer to the whole.

Segment numbers count from 1 at the first ``UNB`` of the file (``UNA`` is a service string,
not a segment) and run on across interchanges, so ``segment N`` names one place in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from apiflag.errors import ParseError

__all__ = [
    "DEFAULT_SEPARATORS",
    "Interchange",
    "Message",
    "Segment",
    "Separators",
    "decode",
    "tokenize",
]


@dataclass(frozen=True, slots=True)
class Separators:
    """The service characters of one interchange (``UNA`` or the defaults)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    terminator: str = "'"


DEFAULT_SEPARATORS = Separators()


class Segment:
    """One segment: its tag, its elements split into components, its number in the file.

    ``elements[0]`` is ``[tag]`` so that ``get(1)`` is the first data element, as the
    EDIFACT guides number them.
    """

    __slots__ = ("_comp", "_elements", "number", "parts", "tag")

    def __init__(
        self,
        tag: str,
        parts: list[str],
        number: int,
        component: str = ":",
        elements: list[list[str]] | None = None,
    ) -> None:
        self.tag = tag
        self.parts = parts  # element strings; components are split on demand
        self.number = number
        self._comp = component
        self._elements = elements  # set eagerly when released characters had to be restored

    @property
    def elements(self) -> list[list[str]]:
        """Every element split into components (computed once, on first use)."""
        if self._elements is None:
            comp = self._comp
            self._elements = [p.split(comp) for p in self.parts]
        return self._elements

    def get(self, element: int, component: int = 0) -> str:
        """Return one component (``""`` when absent), stripped of surrounding spaces."""
        els = self._elements
        if els is None:
            parts = self.parts
            if element >= len(parts):
                return ""
            if component == 0:
                return parts[element].partition(self._comp)[0].strip()
            comps = parts[element].split(self._comp)
            return comps[component].strip() if component < len(comps) else ""
        if element < len(els):
            comps = els[element]
            if component < len(comps):
                return comps[component].strip()
        return ""

    @property
    def released(self) -> bool:
        """True when the segment held released characters (its elements are pre-split)."""
        return self._elements is not None

    @property
    def component(self) -> str:
        """The component separator of the segment's interchange."""
        return self._comp

    @property
    def key(self) -> str:
        """The element strings joined unambiguously (U+E002 never occurs in input): a cache key."""
        return _P_ELEM.join(self.parts)

    def fields(self, element: int, count: int) -> list[str]:
        """Return one element's components stripped, padded with ``""`` to ``count`` at least."""
        out = [c.strip() for c in self.element(element)]
        if len(out) < count:
            out += [""] * (count - len(out))
        return out

    def element(self, element: int) -> list[str]:
        """Return the components of one element (``[]`` when absent)."""
        if element >= len(self.parts):
            return []
        if self._elements is None:
            return self.parts[element].split(self._comp)
        return self._elements[element]

    def __repr__(self) -> str:
        return f"Segment({self.tag!r}, {self.elements!r}, {self.number})"


@dataclass(slots=True)
class Message:
    """One ``UNH`` ... ``UNT`` message: header, body segments and trailer.

    ``unt`` is None when the message ends without its ``UNT``; ``truncated`` is True when
    the file itself ends inside the message (cut short): its last record may be incomplete.
    """

    unh: Segment
    body: list[Segment]
    unt: Segment | None
    truncated: bool = False


@dataclass(slots=True)
class Interchange:
    """One ``UNB`` ... ``UNZ`` interchange of a file.

    ``unz`` is None when the interchange ends without one. ``stray`` holds the runs of data
    segments found outside any ``UNH`` ... ``UNT`` (a message whose ``UNH`` cannot be read):
    the parsers count the travellers in them as lost.
    """

    separators: Separators
    unb: Segment
    messages: list[Message]
    unz: Segment | None
    warnings: list[str] = field(default_factory=list)
    stray: list[list[Segment]] = field(default_factory=list)


# private-use placeholders for released characters
_P_RELEASE, _P_TERM, _P_ELEM, _P_COMP = "\ue000", "\ue001", "\ue002", "\ue003"
_PLACEHOLDERS = re.compile("[\ue000-\ue003]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNA = re.compile(r"UNA(.{6})", re.DOTALL)
_UNB_NO_UNA = re.compile(r"UNB([^A-Za-z0-9\s])(?:[A-Z0-9]{4})([^A-Za-z0-9\s])")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_SKIPPABLE = re.compile(r"[\s\x00-\x1f]*")


def decode(data: bytes) -> str:
    """Decode a message: UTF-8 when valid (UNOY, and ASCII), else Latin-1 (UNOA-UNOC).

    A UTF-8 file with a few stray bytes (line noise) stays UTF-8, the stray bytes read as
    U+FFFD, when it holds more well-formed UTF-8 characters beyond ASCII than stray bytes:
    read as Latin-1 instead, every other traveller's accented name (and a typographic
    terminator) would be garbled by one byte elsewhere.

    Args:
        data: the raw bytes of a file.

    Returns:
        The text; decoding never fails because every byte is a Latin-1 character.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    stray = text.count("\ufffd")
    if sum(1 for ch in text if ch > "\x7f") - stray > stray:
        return text
    return data.decode("latin-1")


def _separators_from_una(service: str) -> Separators:
    comp, elem, dec, rel, term = service[0], service[1], service[2], service[3], service[5]
    release: str | None = None if rel == " " else rel
    active = [comp, elem, term] + ([release] if release else [])
    if len(set(active)) != len(active) or any(ch.isalnum() for ch in active):
        raise ParseError(
            "E_BAD_UNA",
            f"UNA service string {service!r} repeats a separator or uses a letter or digit",
            0,
        )
    return Separators(comp, elem, dec, release, term)


def _observed_terminator(text: str, unb_at: int, elem: str) -> str | None:
    """The character the file really ends segments with: the last one before the first UNH.

    Line breaks are not data, so a ``UNH`` wrapped across lines (``UN`` / ``H+``) counts, and
    so does one written with blanks before its separator (``UNH *1``).
    """
    unh = text.find("UNH" + elem, unb_at)
    if unh < 0:  # written with blanks before its separator (``UNH *1``), or wrapped
        wrapped = re.compile("U[\r\n]*N[\r\n]*H[ \t\r\n]*" + re.escape(elem))
        hit = wrapped.search(text, unb_at)
        if hit is None:
            return None
        unh = hit.start()
    pos = unh - 1
    while pos > unb_at and text[pos] in " \t\r\n":
        pos -= 1
    found = text[pos]
    return None if found.isalnum() or found == elem else found


def _repair_una(text: str) -> tuple[str, list[str]]:
    """Rewrite each UNA as six characters with the terminator the file really uses.

    Senders write a ``UNA`` of five characters, one with a line break in the sixth place, or
    one that declares ``'`` while a word processor turned every terminator into U+2019. The
    terminator the file uses is the character before its first ``UNH``; where it differs
    from the declared one it wins, with a ``W_UNA_MISMATCH`` warning.
    """
    warnings: list[str] = []
    out: list[str] = []
    pos = 0
    while (i := text.find("UNA", pos)) >= 0:
        j = text.find("UNB", i + 3, i + 3 + 16)
        if j < 0:
            out.append(text[pos : i + 3])
            pos = i + 3
            continue
        svc = text[i + 3 : j]
        chars = svc.rstrip("\r\n")
        if "\n" in chars or "\r" in chars:  # a line wrapped inside the service string
            chars = chars.replace("\r", "").replace("\n", "")
            svc = chars + svc[len(svc.rstrip("\r\n")) :]
        term: str | None = None
        if len(chars) >= 6:
            head, reserved, term = chars[:4], chars[4], chars[5]
        elif len(chars) == 5 and chars[4] == " ":
            head, reserved = chars[:4], " "
            term = svc[5] if len(svc) > 5 else None
        elif len(chars) == 5:
            head, reserved, term = chars[:4], " ", chars[4]
        else:
            out.append(text[pos:j])
            pos = j
            continue
        observed = _observed_terminator(text, j, head[1])
        final = term if observed is None or observed == term else observed
        if final is None:
            final = DEFAULT_SEPARATORS.terminator
        if final != term or len(svc.rstrip("\r\n")) != 6:
            warnings.append(
                f"segment 0: W_UNA_MISMATCH: UNA service string of {len(chars)} characters "
                f"declares terminator {term!r}; the file uses {final!r}"
            )
        out.append(text[pos:i] + "UNA" + head + reserved + final)
        pos = j
    out.append(text[pos:])
    return "".join(out), warnings


def _find_una(text: str, pos: int) -> tuple[int, Separators] | None:
    """Find a UNA service string followed by UNB at or after ``pos``."""
    for m in _UNA.finditer(text, pos):
        after = _SKIPPABLE.match(text, m.end())
        rest = after.end() if after else m.end()
        if text.startswith("UNB", rest):
            return m.start(), _separators_from_una(m.group(1))
    return None


def _find_unb(text: str, pos: int, strict: bool = False) -> tuple[int, Separators] | None:
    """Find a UNB without UNA; read element/component separators from UNB itself.

    ``strict`` (after a first interchange) accepts only ``UNB`` followed by a syntax
    identifier such as ``+UNOA:``, so prose after UNZ that mentions "UNB+" starts nothing.
    """
    m = _UNB_NO_UNA.search(text, pos)
    if not m:
        idx = -1 if strict else text.find("UNB+", pos)
        return (idx, DEFAULT_SEPARATORS) if idx >= 0 else None
    elem, comp = m.group(1), m.group(2)
    term = DEFAULT_SEPARATORS.terminator
    unh = text.find(f"UNH{elem}", m.end())
    if unh > 0 and not text[unh - 1].isalnum():
        term = text[unh - 1]
    if len({elem, comp, term}) != 3:
        return m.start(), DEFAULT_SEPARATORS
    release = (
        DEFAULT_SEPARATORS.release if DEFAULT_SEPARATORS.release not in {elem, comp, term} else None
    )
    return m.start(), Separators(comp, elem, ".", release, term)


def _find_start(text: str, pos: int, strict: bool = False) -> tuple[int, int, Separators] | None:
    """Return (start of interchange, start of UNB, separators) at or after ``pos``."""
    una = _find_una(text, pos)
    unb = _find_unb(text, pos, strict)
    if una is not None and (unb is None or una[0] <= unb[0]):
        start, seps = una
        after = _SKIPPABLE.match(text, start + 9)
        return start, after.end() if after else start + 9, seps
    if unb is not None:
        return unb[0], unb[0], unb[1]
    return None


def _clean(text: str, terminator: str) -> str:
    """Remove line breaks (unless one is the terminator) and other control characters."""
    if terminator == "\n":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    elif terminator == "\r":
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    else:
        if "\r" in text:
            text = text.replace("\r", "")
        if "\n" in text:
            text = text.replace("\n", "")
    if _CONTROL.search(text):
        keep = {"\t", terminator}
        text = _CONTROL.sub(lambda m: m.group(0) if m.group(0) in keep else "", text)
    return text


def _split_segments(
    body: str, seps: Separators, first_number: int
) -> tuple[list[Segment], int, str]:
    """Split ``body`` (from UNB on) into segments up to and including UNZ.

    Returns:
        The segments, the number of the last one, and the text after UNZ.
    """
    term, elem, comp, rel = seps.terminator, seps.element, seps.component, seps.release
    released = rel is not None and rel in body
    if rel is not None and released:
        body = (
            body.replace(rel + rel, _P_RELEASE)
            .replace(rel + term, _P_TERM)
            .replace(rel + elem, _P_ELEM)
            .replace(rel + comp, _P_COMP)
        )
        restore = str.maketrans({_P_RELEASE: rel, _P_TERM: term, _P_ELEM: elem, _P_COMP: comp})
    raw_segments = body.split(term)
    # the UNZ segment: a terminator, optional blanks, then the tag UNZ ending its element
    unz = _unz_pattern(term, elem).search(body)
    end = len(raw_segments) if unz is None else body.count(term, 0, unz.start()) + 2
    raws = raw_segments[:end]
    if body[:1] in (" ", "\t") or term + " " in body or term + "\t" in body:
        raws = [r.lstrip(" \t") if r[:1] in (" ", "\t") else r for r in raws]
    if " " + term in body or "\t" + term in body:  # blanks before a terminator are not data
        raws = [r.rstrip(" \t") if r[-1:] in (" ", "\t") else r for r in raws]
    if "" in raws:
        raws = [r for r in raws if r]
    split_parts = [r.split(elem) for r in raws]
    tags = {p[0] for p in split_parts}
    bad = [t for t in tags if not _TAG.fullmatch(t)]
    segments = [
        Segment(p[0], p, number, comp) for number, p in enumerate(split_parts, first_number)
    ]
    if bad:
        _mend_tags(segments, set(bad))
    if released:
        for index, raw in enumerate(raws):
            if _PLACEHOLDERS.search(raw):
                seg = segments[index]
                elements = [[c.translate(restore) for c in p.split(comp)] for p in seg.parts]
                segments[index] = Segment(seg.tag, seg.parts, seg.number, comp, elements)
    if unz is None:
        return segments, segments[-1].number if segments else first_number, ""
    rest = term.join(raw_segments[end:])
    if released:
        assert rel is not None
        back: dict[str, str | int | None] = {
            _P_RELEASE: rel + rel,
            _P_TERM: rel + term,
            _P_ELEM: rel + elem,
            _P_COMP: rel + comp,
        }
        rest = rest.translate(str.maketrans(back))
    return segments, segments[-1].number, rest


def _mend_tags(segments: list[Segment], bad: set[str]) -> None:
    """Read tags written with blanks (``NAD +FL``, `` UNG``); mark the unreadable ones.

    A segment whose first element is not a tag even without blanks keeps the tag ``""``:
    the envelope and the parsers report it (``W_BAD_SEGMENT``) where they know its record.
    """
    for seg in segments:
        if seg.tag in bad:
            tag = seg.tag.strip(" \t")
            if tag.startswith("UNA"):  # the service string of a next interchange
                tag = "UNA"
            seg.tag = tag if _TAG.fullmatch(tag) else ""
            if seg.tag:
                seg.parts[0] = tag


@lru_cache(maxsize=64)
def _unz_pattern(term: str, elem: str) -> re.Pattern[str]:
    t, e = re.escape(term), re.escape(elem)
    return re.compile(f"{t}[ \t]*UNZ(?:{e}|{t}|$)")


def _bad_segment(seg: Segment) -> str:
    return (
        f"segment {seg.number}: W_BAD_SEGMENT: segment does not start with a tag "
        f"({len(seg.parts[0])} characters before the first separator); ignored"
    )


def _envelope(segments: list[Segment], seps: Separators) -> Interchange:
    """Group one interchange's segments (UNB first) into messages; check the envelope.

    Defects inside the envelope are warnings, never errors: a message without ``UNT`` ends
    where the next ``UNH``, ``UNZ`` or the file ends (``truncated``); data segments outside
    a message are kept as ``stray`` runs for the parsers to count; an unreadable segment is
    reported and skipped.
    """
    unb = segments[0]
    unz = segments[-1] if len(segments) > 1 and segments[-1].tag == "UNZ" else None
    inner = segments[1:-1] if unz is not None else segments[1:]
    warnings: list[str] = []
    messages: list[Message] = []
    stray: list[list[Segment]] = []
    current: Segment | None = None
    body: list[Segment] = []
    groups = 0

    def cut(at: Segment | None) -> None:
        assert current is not None
        messages.append(Message(current, body, None, truncated=at is None))
        if at is None:
            where = body[-1].number if body else current.number
            text = f"W_TRUNCATED: message {current.get(1)} ends with the file, without UNT"
        else:
            where, text = (
                at.number,
                f"W_NO_UNT: message {current.get(1)} has no UNT before {at.tag}",
            )
        warnings.append(f"segment {where}: {text}")

    for seg in inner:
        tag = seg.tag
        if not tag:  # kept in a message so that its reader knows whose record it hit
            warnings.append(_bad_segment(seg))
            if current is not None:
                body.append(seg)
            continue
        if current is not None:
            if tag == "UNT":
                messages.append(Message(current, body, seg))
                _check_unt(seg, current, len(body), warnings)
                current, body = None, []
            elif tag in ("UNH", "UNG", "UNE", "UNZ"):
                cut(seg)
                current, body = (seg, []) if tag == "UNH" else (None, [])
                groups += tag == "UNG"
            else:
                body.append(seg)
        elif tag == "UNH":
            current = seg
        elif tag == "UNG":
            groups += 1
        elif tag in ("UNE", "UNZ", "UNT", "UNA"):
            pass
        else:
            if not stray or stray[-1][-1].number != seg.number - 1:
                stray.append([])
                warnings.append(
                    f"segment {seg.number}: W_ENVELOPE: {tag} outside a UNH...UNT message; "
                    "its run of segments is not read"
                )
            stray[-1].append(seg)
    if current is not None:  # the message runs into UNZ (no UNT) or the file ends inside it
        cut(unz)
    if unz is None:
        last = segments[-1]
        warnings.append(
            f"segment {last.number}: W_TRUNCATED: the interchange ends without UNZ "
            "(file cut short?)"
        )
    else:
        _check_unz(unz, unb, groups, len(messages), warnings)
    if not messages:
        warnings.append(f"segment {unb.number}: W_NO_MESSAGE: interchange holds no UNH message")
    return Interchange(seps, unb, messages, unz, warnings, stray)


def _check_unt(unt: Segment, unh: Segment, body: int, warnings: list[str]) -> None:
    declared = unt.get(1)
    actual = body + 2
    if declared != str(actual):
        warnings.append(
            f"segment {unt.number}: W_SEGMENT_COUNT: UNT says {declared or '?'} "
            f"segments, message {unh.get(1)} has {actual}"
        )
    if unt.get(2) != unh.get(1):
        warnings.append(
            f"segment {unt.number}: W_REFERENCE: UNT reference {unt.get(2)!r} "
            f"differs from UNH {unh.get(1)!r}"
        )


def _check_unz(unz: Segment, unb: Segment, groups: int, messages: int, warnings: list[str]) -> None:
    declared = unz.get(1)
    expected = groups if groups and declared == str(groups) else messages
    if declared != str(expected):
        warnings.append(
            f"segment {unz.number}: W_MESSAGE_COUNT: UNZ says {declared or '?'} messages, "
            f"interchange has {messages}"
        )
    if unz.get(2) != unb.get(5):
        warnings.append(
            f"segment {unz.number}: W_REFERENCE: UNZ reference {unz.get(2)!r} differs from "
            f"UNB {unb.get(5)!r}"
        )


def _interchanges(segments: list[Segment], seps: Separators) -> list[Interchange]:
    """Split segments at each UNB (an interchange without UNZ runs into the next) and group."""
    starts = [i for i, seg in enumerate(segments) if seg.tag == "UNB"]
    if not starts or starts[0] != 0:
        first = segments[0] if segments else None
        raise ParseError(
            "E_NO_UNB",
            f"interchange starts with {first.tag if first and first.tag else 'no tag'}, not UNB",
            first.number if first else 0,
        )
    bounds = [*starts, len(segments)]
    return [_envelope(segments[a:b], seps) for a, b in zip(bounds, bounds[1:], strict=False)]


def tokenize(text: str) -> list[Interchange]:
    """Split the text of one file into checked interchanges.

    Args:
        text: the decoded file (see :func:`decode`).

    Returns:
        One :class:`Interchange` per ``UNB`` ... ``UNZ`` in the file, in order.

    Raises:
        ParseError: ``E_EMPTY``, ``E_NO_UNB``, ``E_BAD_UNA``, ``E_BAD_CHARACTER``,
            ``E_BAD_SEGMENT``, ``E_TRUNCATED`` or ``E_ENVELOPE`` (see the package docs).
    """
    if not text.strip():
        raise ParseError("E_EMPTY", "the file is empty", 0)
    if _PLACEHOLDERS.search(text):
        raise ParseError("E_BAD_CHARACTER", "private-use characters U+E000-U+E003 in input", 0)
    # a UNA that makes a line break the terminator must be seen before line breaks go
    una_warnings: list[str] = []
    if "UNA" in text:
        text, una_warnings = _repair_una(text)
    raw_una = _find_una(text, 0)
    terminator = raw_una[1].terminator if raw_una else "'"
    text = _clean(text, terminator)
    interchanges: list[Interchange] = []
    pos, number = 0, 1
    while True:
        start = _find_start(text, pos, strict=bool(interchanges))
        if start is None:
            break
        _, unb_at, seps = start
        segments, last, rest = _split_segments(text[unb_at:], seps, number)
        interchanges.extend(_interchanges(segments, seps))
        number = last + 1
        text, pos = rest, 0
        if not rest.strip():
            break
        if _find_start(rest, 0, strict=True) is None:
            interchanges[-1].warnings.append(
                f"segment {last}: W_TRAILING_TEXT: {len(rest.strip())} characters after UNZ ignored"
            )
            break
    if not interchanges:
        raise ParseError("E_NO_UNB", "no UNB interchange header found", 0)
    interchanges[0].warnings[:0] = una_warnings
    return interchanges
