"""UN/EDIFACT tokenizer: raw bytes of a real feed to interchanges of segments.

What it decides:

* **Where the interchange starts.** Anything before ``UNA``/``UNB`` (Type-B telex headers,
  SOH/STX control characters, blank lines) is ignored. Without ``UNA`` the default separators
  apply, except that the element and component separators are read from ``UNB`` itself
  (``UNB*UNOA:4*...``) and the terminator from the character before ``UNH``.
* **Line breaks are not data.** CR and LF are removed everywhere (feeds wrap lines at 64 or 69
  columns in the middle of segments), unless ``UNA`` declares a line break as the segment
  terminator. Other C0 control characters are removed too; tabs are kept.
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
    """One ``UNH`` ... ``UNT`` message: header, body segments and trailer."""

    unh: Segment
    body: list[Segment]
    unt: Segment


@dataclass(slots=True)
class Interchange:
    """One ``UNB`` ... ``UNZ`` interchange of a file."""

    separators: Separators
    unb: Segment
    messages: list[Message]
    unz: Segment
    warnings: list[str] = field(default_factory=list)


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

    Args:
        data: the raw bytes of a file.

    Returns:
        The text; decoding never fails because every byte is a Latin-1 character.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
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
    if "" in raws:
        raws = [r for r in raws if r]
    split_parts = [r.split(elem) for r in raws]
    tags = {p[0] for p in split_parts}
    bad = [t for t in tags if not _TAG.fullmatch(t)]
    if bad:
        index = next(i for i, p in enumerate(split_parts) if p[0] in bad)
        raw = raws[index]
        shown = raw[:20].translate(restore) if released else raw[:20]
        raise ParseError(
            "E_BAD_SEGMENT",
            f"segment does not start with a tag: {shown!r}",
            first_number + index,
        )
    segments = [
        Segment(p[0], p, number, comp) for number, p in enumerate(split_parts, first_number)
    ]
    if released:
        for index, raw in enumerate(raws):
            if _PLACEHOLDERS.search(raw):
                seg = segments[index]
                elements = [[c.translate(restore) for c in p.split(comp)] for p in seg.parts]
                segments[index] = Segment(seg.tag, seg.parts, seg.number, comp, elements)
    if unz is None:
        last = segments[-1].number if segments else first_number
        raise ParseError("E_TRUNCATED", "the interchange ends without UNZ (file cut short?)", last)
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


@lru_cache(maxsize=64)
def _unz_pattern(term: str, elem: str) -> re.Pattern[str]:
    t, e = re.escape(term), re.escape(elem)
    return re.compile(f"{t}[ \t]*UNZ(?:{e}|{t}|$)")


def _envelope(segments: list[Segment], seps: Separators) -> Interchange:
    """Group an interchange's segments into messages and check the envelope."""
    unb, unz = segments[0], segments[-1]
    if unb.tag != "UNB":
        raise ParseError("E_NO_UNB", f"interchange starts with {unb.tag}, not UNB", unb.number)
    warnings: list[str] = []
    messages: list[Message] = []
    current: Segment | None = None
    body: list[Segment] = []
    groups = 0
    for seg in segments[1:-1]:
        tag = seg.tag
        if current is not None:
            if tag == "UNT":
                messages.append(Message(current, body, seg))
                declared = seg.get(1)
                actual = len(body) + 2
                if declared != str(actual):
                    warnings.append(
                        f"segment {seg.number}: W_SEGMENT_COUNT: UNT says {declared or '?'} "
                        f"segments, message {current.get(1)} has {actual}"
                    )
                if seg.get(2) != current.get(1):
                    warnings.append(
                        f"segment {seg.number}: W_REFERENCE: UNT reference {seg.get(2)!r} "
                        f"differs from UNH {current.get(1)!r}"
                    )
                current, body = None, []
            elif tag == "UNH":
                raise ParseError(
                    "E_TRUNCATED",
                    f"message {current.get(1)} has no UNT before the next UNH",
                    seg.number,
                )
            elif tag in ("UNB", "UNZ", "UNG", "UNE"):
                raise ParseError(
                    "E_TRUNCATED", f"message {current.get(1)} has no UNT before {tag}", seg.number
                )
            else:
                body.append(seg)
        elif tag == "UNH":
            current = seg
        elif tag == "UNG":
            groups += 1
        elif tag == "UNE":
            pass
        else:
            raise ParseError("E_ENVELOPE", f"{tag} outside a UNH...UNT message", seg.number)
    if current is not None:
        raise ParseError("E_TRUNCATED", f"message {current.get(1)} has no UNT", unz.number)
    declared = unz.get(1)
    expected = groups if groups and declared == str(groups) else len(messages)
    if declared != str(expected):
        warnings.append(
            f"segment {unz.number}: W_MESSAGE_COUNT: UNZ says {declared or '?'} messages, "
            f"interchange has {len(messages)}"
        )
    if unz.get(2) != unb.get(5):
        warnings.append(
            f"segment {unz.number}: W_REFERENCE: UNZ reference {unz.get(2)!r} differs from "
            f"UNB {unb.get(5)!r}"
        )
    return Interchange(seps, unb, messages, unz, warnings)


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
        interchanges.append(_envelope(segments, seps))
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
    return interchanges
