"""Mutation testing of the tolerant EDIFACT reader: damage one spot, count who survives.

A *base* is one real EDIFACT file (a synthetic world's message, a hand-written or real-world
fixture) with the rows the reader gives for it. A *mutant* damages one spot of a base: mostly
one field of one traveller record (a PAXLST ``NAD`` group; a PNRGOV booking, ``SRC`` to the
next, because its booking-level values are in every one of its travellers' rows), sometimes a
trailer (``UNT``, ``CNT``, ``UNE``, ``UNZ``: nobody may be lost) or a header segment (the whole
message may be lost, and only there may the file be refused). Each mutant names the base rows
it may change (``touched``); every other row must come back value for value.

The segment splitter here is independent of the reader (it walks characters, the reader
splits strings), so a test built on it checks the reader against a second reading; the two
must agree on every base row's segment number (:func:`load_base` asserts it).

Mutation classes (:data:`CLASSES`): ``truncation``, ``dropped_segment``,
``repeated_segment``, ``value_date``, ``value_time``, ``value_sex``, ``value_country``,
``value_number``, ``value_docs_item``, ``swapped_separators``, ``injected_bytes``,
``rewrapping``.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiflag.edifact import contract_rows, parse_bytes
from apiflag.errors import ParseError

CLASSES = (
    "truncation",
    "dropped_segment",
    "repeated_segment",
    "value_date",
    "value_time",
    "value_sex",
    "value_country",
    "value_number",
    "value_docs_item",
    "swapped_separators",
    "injected_bytes",
    "rewrapping",
)

#: segments whose damage must lose no traveller (counts and trailers)
TRAILERS = frozenset({"UNT", "UNE", "UNZ", "CNT"})
#: segments that end a traveller record
_STOPS = frozenset({"CNT", "UNT", "UNH", "UNE", "UNZ", "UNB", "UNG"})
_ROLES = frozenset({"FL", "FM", "DDU", "DDT"})
_NEXT_START = re.compile(
    r"UNA.{6}[\s\x00-\x1f]*UNB|UNB[^A-Za-z0-9\s][A-Z0-9]{4}[^A-Za-z0-9\s]", re.DOTALL
)


# ------------------------------------------------------------------ an independent splitter


@dataclass(frozen=True)
class Seps:
    """The service characters of one interchange."""

    component: str
    element: str
    release: str | None
    terminator: str


@dataclass
class RawSegment:
    """One segment as it stands in the file's text.

    Attributes:
        number: its number counted as the reader counts (1 at the first UNB, empty skipped).
        start: offset of its first non-blank character.
        end: offset just after its terminator (or the end of the text).
        stop: offset where the next segment starts (``end`` plus blanks and line breaks).
        tag: the first element, blanks removed.
        elements: elements split into components, release characters undone.
        separators: offsets of its unreleased component and element separators and terminator.
        seps: the separators of its interchange.
    """

    number: int
    start: int
    end: int
    tag: str
    elements: list[list[str]]
    separators: list[int]
    seps: Seps
    stop: int = 0

    def qualifier(self) -> str:
        """The first component of the first data element (``NAD+FL`` -> ``FL``)."""
        return self.elements[1][0].strip() if len(self.elements) > 1 else ""


def _is_noise(ch: str, term: str) -> bool:
    return ch != term and ch != "\t" and (ch < " " or ch == "\x7f")


def _observed_terminator(text: str, body: int, elem: str) -> str | None:
    """The character before the first UNH: the terminator the file really uses."""
    unh = text.find("UNH", body)
    if unh < 0:
        return None
    pos = unh - 1
    while pos > body and text[pos] in " \t\r\n":
        pos -= 1
    found = text[pos]
    return None if found.isalnum() or found == elem else found


def _interchange_seps(text: str, at: int) -> tuple[Seps, int]:
    if text.startswith("UNA", at):
        unb = text.find("UNB", at + 3, at + 20)
        body = unb if unb > 0 else at + 9
        svc = (text[at + 3 : body].replace("\r", "").replace("\n", "") + " " * 6)[:6]
        rel = svc[3]
        term = _observed_terminator(text, body, svc[1]) or svc[5]
        return Seps(svc[0], svc[1], None if rel == " " else rel, term), body
    elem, comp = "+", ":"
    if len(text) > at + 8 and not text[at + 3].isalnum() and not text[at + 8].isalnum():
        elem, comp = text[at + 3], text[at + 8]
    return Seps(comp, elem, "?", _observed_terminator(text, at, elem) or "'"), at


def _walk(text: str, at: int, seps: Seps, number: int, out: list[RawSegment]) -> tuple[int, int]:
    """Split one interchange from ``at``; append its segments; return (end offset, number)."""
    comp, elem, rel, term = seps.component, seps.element, seps.release, seps.terminator
    special = {comp, elem, term} | ({rel} if rel else set())
    n = len(text)
    elements: list[list[str]] = [[]]
    buf: list[str] = []
    positions: list[int] = []
    start: int | None = None
    j = at
    while j < n:
        ch = text[j]
        if _is_noise(ch, term):
            j += 1
            continue
        if start is None:
            if ch in " \t":
                j += 1
                continue
            start = j
        if rel is not None and ch == rel:
            k = j + 1
            while k < n and _is_noise(text[k], term):
                k += 1
            if k < n and text[k] in special:
                buf.append(text[k])
                j = k + 1
                continue
            buf.append(ch)
        elif ch == comp:
            elements[-1].append("".join(buf))
            buf = []
            positions.append(j)
        elif ch == elem:
            elements[-1].append("".join(buf))
            elements.append([])
            buf = []
            positions.append(j)
        elif ch == term:
            elements[-1].append("".join(buf))
            positions.append(j)
            if "".join("".join(e) for e in elements).strip(" \t"):
                tag = elements[0][0].replace(" ", "").replace("\t", "")
                out.append(RawSegment(number, start, j + 1, tag, elements, positions, seps))
                number += 1
                if tag == "UNZ":
                    return j + 1, number
            elements, buf, positions, start = [[]], [], [], None
        else:
            buf.append(ch)
        j += 1
    if start is not None:
        elements[-1].append("".join(buf))
        if "".join("".join(e) for e in elements).strip(" \t"):
            tag = elements[0][0].replace(" ", "").replace("\t", "")
            out.append(RawSegment(number, start, n, tag, elements, positions, seps))
            number += 1
    return n, number


def split_raw(text: str) -> list[RawSegment]:
    """Split a file's text into segments with their offsets (every interchange)."""
    out: list[RawSegment] = []
    m = _NEXT_START.search(text)
    at = m.start() if m else text.find("UNB+")
    number = 1
    while at >= 0:
        seps, body = _interchange_seps(text, at)
        end, number = _walk(text, body, seps, number, out)
        m = _NEXT_START.search(text, end)
        at = m.start() if m else -1
    for i, seg in enumerate(out):
        stop = seg.end
        while stop < len(text) and (text[stop] in " \t\r\n" or _is_noise(text[stop], "")):
            stop += 1
        seg.stop = out[i + 1].start if i + 1 < len(out) and out[i + 1].start < stop else stop
    return out


def write_segment(elements: list[list[str]], seps: Seps) -> str:
    """Write one segment with its terminator, releasing separators in data."""
    rel = seps.release or ""
    specials = (seps.release, seps.component, seps.element, seps.terminator)
    table = str.maketrans({c: rel + c for c in specials if c}) if rel else {}

    def esc(value: str) -> str:
        return value.translate(table) if table else value

    head, *rest = elements
    text = seps.component.join(head) + "".join(
        seps.element + seps.component.join(esc(c) for c in e) for e in rest
    )
    return text + seps.terminator


# ------------------------------------------------------------------ bases


@dataclass(frozen=True)
class Record:
    """A traveller record: a PAXLST NAD group or a PNRGOV booking (SRC to the next)."""

    first: int  # index of its first segment in Base.segments
    last: int  # index of its last segment
    rows: tuple[int, ...]  # indexes of the base rows it holds


@dataclass
class Base:
    """One file to mutate, its segments, records and the rows the reader gives."""

    name: str
    data: bytes
    text: str
    encoding: str
    kind: str
    segments: list[RawSegment]
    records: list[Record]
    keys: list[str]  # one comparable key per row, in row order
    warnings: list[str]
    lost: list[str]
    degraded: int  # travellers read degraded
    quarantined: int  # travellers in quarantined records
    record_of: dict[int, Record] = field(default_factory=dict)  # segment index -> record

    def __post_init__(self) -> None:
        for rec in self.records:
            for i in range(rec.first, rec.last + 1):
                self.record_of[i] = rec

    def encode(self, text: str) -> bytes:
        """Encode a mutated text the way the file was encoded."""
        return text.encode(self.encoding, "replace")


def row_key(row: dict[str, Any]) -> str:
    """A row without its segment number (which shifts when segments come and go)."""
    source = {k: v for k, v in row["source"].items() if k != "segment"}
    return json.dumps({**row, "source": source}, sort_keys=True, default=str)


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _records(kind: str, segments: list[RawSegment], row_segments: list[int]) -> list[Record]:
    def opens(seg: RawSegment) -> bool:
        if kind == "PAXLST":
            return seg.tag == "NAD" and seg.qualifier() in _ROLES
        return seg.tag == "SRC"

    index = {seg.number: i for i, seg in enumerate(segments)}
    records: list[Record] = []
    i = 0
    while i < len(segments):
        if not opens(segments[i]):
            i += 1
            continue
        j = i + 1
        while j < len(segments) and not opens(segments[j]) and segments[j].tag not in _STOPS:
            j += 1
        first, last = segments[i].number, segments[j - 1].number
        rows = tuple(r for r, n in enumerate(row_segments) if first <= n <= last)
        records.append(Record(i, j - 1, rows))
        i = j
    placed = sorted(r for rec in records for r in rec.rows)
    if placed != list(range(len(row_segments))) or any(n not in index for n in row_segments):
        raise AssertionError("the splitter and the reader disagree on traveller segments")
    return [rec for rec in records if rec.rows]


def load_base(name: str, data: bytes) -> Base:
    """Parse a file and split it independently; AssertionError when the two disagree."""
    text, encoding = _decode(data)
    parsed = parse_bytes(data, name)
    rows = contract_rows(parsed, name)
    segments = split_raw(text)
    records = _records(parsed.kind, segments, [int(r["source"]["segment"]) for r in rows])
    return Base(
        name,
        data,
        text,
        encoding,
        parsed.kind,
        segments,
        records,
        [row_key(r) for r in rows],
        parsed.warnings,
        [str(loss) for loss in parsed.lost],
        parsed.degraded,
        parsed.quarantined,
    )


def fixture_files(root: Path) -> list[Path]:
    """The hand-written and real-world message fixtures that hold travellers."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".edi", ".txt") and p.name != "README.md"
    )


#: the two synthetic worlds of the corpus: (seed, PAXLST version, PNRGOV version)
WORLDS = ((3, "D05B", "13.1"), (4, "D02B", "11.1"))


def write_worlds(root: Path) -> list[Path]:
    """Write the corpus's synthetic worlds (200 arrivals, a third of the files messy)."""
    from apiflag.synth import WorldConfig, generate_world

    out = []
    for seed, paxlst, pnrgov in WORLDS:
        world = root / f"world-{paxlst}-{pnrgov}"
        config = WorldConfig(
            seed=seed,
            arrivals=200,
            history_nights=0,
            paxlst_version=paxlst,
            pnrgov_version=pnrgov,
            mess_share=0.3,
        )
        generate_world(world, config, workers=1)
        out.append(world)
    return out


def load_bases(files: Iterable[Path], root: Path) -> list[Base]:
    """Bases of every file that parses into at least one traveller record."""
    bases = []
    for path in files:
        try:
            base = load_base(str(path.relative_to(root)), path.read_bytes())
        except ParseError:
            continue
        if base.records:
            bases.append(base)
    return bases


def corpus(worlds: list[Path], fixtures: Path, max_bytes: int | None = None) -> list[Base]:
    """The fixtures' bases and those of the worlds' message files (up to ``max_bytes``)."""
    bases = load_bases(fixture_files(fixtures), fixtures.parent)
    for world in worlds:
        files = sorted(world.glob("nights/*/*/*.edi"))
        if max_bytes is not None:
            files = [f for f in files if f.stat().st_size <= max_bytes]
        bases += load_bases(files, world.parent)
    return bases


# ------------------------------------------------------------------ mutants


@dataclass
class Mutant:
    """One damaged file and what it may change.

    Attributes:
        cls: the mutation class (one of :data:`CLASSES`).
        detail: where and how, for a failure message.
        data: the damaged file.
        touched: base rows the damage may change or lose.
        exact: no row may come back changed: the loaded rows are base rows (truncation,
            re-wrapping).
        envelope: the damage hits the envelope, so refusing the file is allowed.
        loud: the reader must report the damage (a warning or a quarantined record).
    """

    cls: str
    detail: str
    data: bytes
    touched: frozenset[int]
    exact: bool = False
    envelope: bool = False
    loud: bool = False


def _rows(records: Iterable[Record]) -> frozenset[int]:
    return frozenset(r for rec in records for r in rec.rows)


@dataclass(frozen=True)
class Spot:
    """A segment picked for damage and the rows the damage may touch."""

    index: int
    where: str  # "record", "trailer" or "header"
    record: Record | None


def _pick_spot(base: Base, rng: random.Random) -> Spot:
    """A segment of a traveller record (80 %), a trailer (12 %) or a header (8 %)."""
    roll = rng.random()
    if roll < 0.12:
        trailers = [i for i, s in enumerate(base.segments) if s.tag in TRAILERS]
        if trailers:
            return Spot(rng.choice(trailers), "trailer", None)
    elif roll < 0.2:
        headers = [i for i in range(len(base.segments)) if _is_header(base, i)]
        if headers:
            return Spot(rng.choice(headers), "header", None)
    rec = rng.choice(base.records)
    return Spot(rng.randint(rec.first, rec.last), "record", rec)


def _is_header(base: Base, index: int) -> bool:
    """A segment outside every record that is not a trailer (UNB, UNH, BGM, TDT, TVL ...)."""
    return (
        0 <= index < len(base.segments)
        and index not in base.record_of
        and base.segments[index].tag not in TRAILERS
    )


def _spot_touched(base: Base, spot: Spot, *, after: bool = False) -> frozenset[int]:
    """The rows a damaged segment may change.

    A header's damage may lose its whole message (all rows). Elsewhere: the record holding
    the segment, and the record holding the segment before it (a segment whose tag is lost
    cannot be told from the record it follows, and an opener that is lost merges its record
    into the one before); with ``after`` (the damage can join the segment to the next one:
    its terminator swapped, a release character before it) the record of the next segment.
    """
    if spot.where == "header" or (after and _is_header(base, spot.index + 1)):
        return frozenset(range(len(base.keys)))
    near = (spot.index - 1, spot.index, spot.index + 1) if after else (spot.index - 1, spot.index)
    return _rows({base.record_of[i] for i in near if i in base.record_of})


def _label(base: Base, spot: Spot) -> str:
    seg = base.segments[spot.index]
    return f"{base.name} segment {seg.number} {seg.tag}+{seg.qualifier()} ({spot.where})"


def truncation(base: Base, rng: random.Random) -> Mutant | None:
    """The file ends inside a traveller record (at any character of it)."""
    rec = rng.choice(base.records)
    start, stop = base.segments[rec.first].start, base.segments[rec.last].stop
    cut = rng.randrange(start, stop)
    at = next(i for i in range(rec.first, rec.last + 1) if cut < base.segments[i].stop)
    # the records the cut falls in or before, and the one before a segment cut unreadable
    cut_off = [other for other in base.records if base.segments[other.last].stop > cut]
    touched = _rows(cut_off) | _spot_touched(base, Spot(at, "record", rec))
    label = f"{base.name} cut at {cut} in segment {base.segments[rec.first].number}ff"
    data = base.encode(base.text[:cut])
    return Mutant("truncation", label, data, touched, exact=True, loud=True)


def dropped_segment(base: Base, rng: random.Random) -> Mutant | None:
    """One segment (with the blanks after it) is missing."""
    spot = _pick_spot(base, rng)
    seg = base.segments[spot.index]
    text = base.text[: seg.start] + base.text[seg.stop :]
    return Mutant(
        "dropped_segment",
        _label(base, spot),
        base.encode(text),
        _spot_touched(base, spot),
        envelope=spot.where == "header",
        loud=spot.where == "record",
    )


def repeated_segment(base: Base, rng: random.Random) -> Mutant | None:
    """One segment is sent twice in a row."""
    spot = _pick_spot(base, rng)
    seg = base.segments[spot.index]
    copy = base.text[seg.start : seg.stop]
    text = base.text[: seg.stop] + copy + base.text[seg.stop :]
    return Mutant(
        "repeated_segment",
        _label(base, spot),
        base.encode(text),
        _spot_touched(base, spot),
        envelope=spot.where == "header",
        loud=spot.where == "record",
    )


# damaged values: none is a well-formed value of its class (an empty value is not damage:
# it is absent, and value_docs_item and dropped_segment send those)
BAD_DATES = ("0", "000000", "991399", "ABCDEF", "1A0B0C", "20261399", "31FEB", "310299999")
BAD_TIMES = ("9", "2599", "2460", "ABCD", "12345", "1.5")
BAD_SEXES = ("Q", "7", "MF", "XX", "FEMALEX", "m f")
BAD_COUNTRIES = ("1", "12", "XX1", "ZZZZZ", "T H", "th")
BAD_NUMBERS = ("X", "1.2.3", "-5", "9" * 25, "1E9", "NaN", "12,5")

#: (kind, class) -> (tag, qualifier or None, element, component or DOCS item as -N, where
#: the DOCS free text ``/P/THA/AA111/THA/01JAN90/F/01JAN30/DOE/JANE`` has item 1 = type)
_TARGETS: dict[tuple[str, str], tuple[tuple[str, frozenset[str] | None, int, int], ...]] = {
    ("PAXLST", "value_date"): (("DTM", frozenset({"329", "36", "182"}), 1, 1),),
    ("PAXLST", "value_sex"): (("ATT", frozenset({"2"}), 3, 0),),
    ("PAXLST", "value_country"): (
        ("NAT", frozenset({"2"}), 2, 0),
        ("LOC", frozenset({"91", "174"}), 2, 0),
    ),
    ("PAXLST", "value_number"): (("MEA", frozenset({"CT", "WT"}), 3, 1),),
    ("PNRGOV", "value_date"): (
        ("RCI", None, 1, 3),
        ("DAT", None, 1, 1),
        ("TVL", None, 1, 0),
        ("TVL", None, 1, 2),
        ("SSR", frozenset({"DOCS"}), 1, -5),  # /type/issuer/number/nationality/BIRTH
        ("SSR", frozenset({"DOCS"}), 1, -7),  # .../birth/sex/EXPIRY
    ),
    ("PNRGOV", "value_time"): (
        ("RCI", None, 1, 4),
        ("DAT", None, 1, 2),
        ("TVL", None, 1, 1),
        ("TVL", None, 1, 3),
    ),
    ("PNRGOV", "value_sex"): (("SSR", frozenset({"DOCS"}), 1, -6),),
    ("PNRGOV", "value_country"): (
        ("SSR", frozenset({"DOCS"}), 1, -2),  # issuing country
        ("SSR", frozenset({"DOCS"}), 1, -4),  # nationality
    ),
    ("PNRGOV", "value_number"): (("FOP", None, 1, 2), ("TIF", None, 2, 2)),
    ("PNRGOV", "value_docs_item"): (("SSR", frozenset({"DOCS"}), 1, 0),),
}
_BAD = {
    "value_date": BAD_DATES,
    "value_time": BAD_TIMES,
    "value_sex": BAD_SEXES,
    "value_country": BAD_COUNTRIES,
    "value_number": BAD_NUMBERS,
}


def _docs_items(seg: RawSegment) -> list[str] | None:
    comps = seg.elements[1] if len(seg.elements) > 1 else []
    if comps and comps[-1].startswith("/"):
        return comps[-1].split("/")
    return None


def _targets(base: Base, cls: str) -> list[tuple[int, int, int]]:
    """(segment index, element, component or -item) of every traveller value of a class."""
    out = []
    for rec in base.records:
        for i in range(rec.first, rec.last + 1):
            seg = base.segments[i]
            for tag, quals, el, comp in _TARGETS.get((base.kind, cls), ()):
                if seg.tag != tag or (quals is not None and seg.qualifier() not in quals):
                    continue
                if el >= len(seg.elements):
                    continue
                if comp < 0 or cls == "value_docs_item":
                    items = _docs_items(seg)
                    if items is None or (comp < 0 and -comp >= len(items)):
                        continue
                elif comp >= len(seg.elements[el]):
                    continue
                out.append((i, el, comp))
    return out


def applicable(base: Base, cls: str) -> bool:
    """Whether a class has something to damage in a base."""
    if cls.startswith("value_"):
        return bool(_targets(base, cls))
    return True


def _docs_damage(items: list[str], rng: random.Random) -> tuple[list[str], str]:
    k = rng.randrange(1, len(items)) if len(items) > 1 else 0
    how = rng.choice(["empty", "missing", "extra", "trailing", "spaces", "all_empty"])
    items = list(items)
    if how == "empty":
        items[k] = ""
    elif how == "missing":
        del items[k]
    elif how == "extra":
        items.insert(k, rng.choice(["", "X", "12"]))
    elif how == "trailing":
        items += [""] * rng.randint(1, 4)
    elif how == "spaces":
        items[k] = " " + items[k].replace("", " ").strip() + " "
    else:
        items = [""] * len(items)
    return items, f"DOCS {how} item {k}"


def damaged_value(cls: str) -> Callable[[Base, random.Random], Mutant | None]:
    """A mutation operator that damages one traveller value of class ``cls``."""

    def mutate(base: Base, rng: random.Random) -> Mutant | None:
        targets = _targets(base, cls)
        if not targets:
            return None
        i, el, comp = rng.choice(targets)
        seg = base.segments[i]
        elements = [list(e) for e in seg.elements]
        if cls == "value_docs_item":
            items, how = _docs_damage(_docs_items(seg) or [], rng)
            elements[el][-1] = "/".join(items)
        elif comp < 0:
            items = _docs_items(seg) or []
            items[-comp] = rng.choice(_BAD[cls])
            elements[el][-1] = "/".join(items)
            how = f"DOCS item {-comp}"
        else:
            elements[el][comp] = rng.choice(_BAD[cls])
            how = f"element {el}:{comp}"
        text = base.text[: seg.start] + write_segment(elements, seg.seps) + base.text[seg.end :]
        rec = next(r for r in base.records if r.first <= i <= r.last)
        spot = Spot(i, "record", rec)
        return Mutant(
            cls, f"{_label(base, spot)} {how}", base.encode(text), _spot_touched(base, spot)
        )

    mutate.__name__ = cls
    return mutate


def swapped_separators(base: Base, rng: random.Random) -> Mutant | None:
    """One separator of a segment is written as another (element for component, ...)."""
    spot = _pick_spot(base, rng)
    seg = base.segments[spot.index]
    if not seg.separators:
        return None
    at = rng.choice(seg.separators)
    seps = seg.seps
    others = [c for c in (seps.component, seps.element, seps.terminator) if c != base.text[at]]
    text = base.text[:at] + rng.choice(others) + base.text[at + 1 :]
    joins = at == seg.end - 1  # the terminator: the segment runs into the next one
    return Mutant(
        "swapped_separators",
        f"{_label(base, spot)} at {at}",
        base.encode(text),
        _spot_touched(base, spot, after=joins),
        envelope=spot.where == "header" or (joins and _is_header(base, spot.index + 1)),
    )


def _garbage(base: Base, seps: Seps, rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))).encode()
    if kind == 1:
        specials = [seps.component, seps.element, seps.terminator, seps.release or "?"]
        return "".join(rng.choice(specials) for _ in range(rng.randint(1, 3))).encode()
    if kind == 2:
        return bytes(rng.choice([0, 1, 2, 3, 9, 12, 26, 27, 127]) for _ in range(rng.randint(1, 3)))
    if kind == 3:
        return bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randint(1, 3)))
    if kind == 4:
        return rng.choice(["é", "’", "ß", "\u00a0", "日本", "\ufeff"]).encode(
            base.encoding, "replace"
        )
    return rng.choice([b"\r\n", b"\n\n", b"\r", b" \n "])


def injected_bytes(base: Base, rng: random.Random) -> Mutant | None:
    """A few stray bytes inside a segment (line noise, a control character, a high byte)."""
    spot = _pick_spot(base, rng)
    seg = base.segments[spot.index]
    at = rng.randrange(seg.start, seg.end)
    junk = _garbage(base, seg.seps, rng)
    head = base.encode(base.text[:at])
    data = head + junk + base.encode(base.text[at:])
    releases = seg.seps.release is not None and seg.seps.release.encode() in junk
    return Mutant(
        "injected_bytes",
        f"{_label(base, spot)} {junk!r} at {at}",
        data,
        _spot_touched(base, spot, after=releases),
        envelope=spot.where == "header" or (releases and _is_header(base, spot.index + 1)),
    )


def rewrapping(base: Base, rng: random.Random) -> Mutant | None:
    """Line breaks inserted inside a record, or the whole interchange wrapped at a new width.

    Line breaks are not data, so every row must come back unchanged.
    """
    seps = base.segments[0].seps
    if seps.terminator in "\r\n":
        return None
    eol = rng.choice(["\n", "\r\n"])
    if rng.random() < 0.5:
        rec = rng.choice(base.records)
        start, end = base.segments[rec.first].start, base.segments[rec.last].end
        cuts = sorted(rng.randrange(start, end) for _ in range(rng.randint(1, 3)))
        parts, prev = [], 0
        for cut in cuts:
            parts.append(base.text[prev:cut])
            prev = cut
        parts.append(base.text[prev:])
        text = eol.join(parts)
        detail = f"{base.name} line breaks at {cuts}"
    else:
        width = rng.randint(8, 90)
        start = base.segments[0].start
        flat = base.text[start:].replace("\r", "").replace("\n", "")
        wrapped = eol.join(flat[i : i + width] for i in range(0, len(flat), width))
        text = base.text[:start] + wrapped + eol
        detail = f"{base.name} wrapped at {width}"
    return Mutant("rewrapping", detail, base.encode(text), frozenset(), exact=True)


OPERATORS: dict[str, Callable[[Base, random.Random], Mutant | None]] = {
    "truncation": truncation,
    "dropped_segment": dropped_segment,
    "repeated_segment": repeated_segment,
    **{cls: damaged_value(cls) for cls in CLASSES if cls.startswith("value_")},
    "swapped_separators": swapped_separators,
    "injected_bytes": injected_bytes,
    "rewrapping": rewrapping,
}


def mutants(bases: list[Base], count: int, seed: int) -> Iterable[tuple[Base, Mutant]]:
    """``count`` mutants, classes in turn, bases drawn among those a class applies to."""
    rng = random.Random(seed)
    fits = {cls: [b for b in bases if applicable(b, cls)] for cls in CLASSES}
    made = 0
    turn = 0
    while made < count:
        cls = CLASSES[turn % len(CLASSES)]
        turn += 1
        if not fits[cls]:
            continue
        base = rng.choice(fits[cls])
        mutant = OPERATORS[cls](base, rng)
        if mutant is None:
            continue
        made += 1
        yield base, mutant


# ------------------------------------------------------------------ the property


@dataclass
class ClassStats:
    """What one mutation class did to the reader."""

    mutants: int = 0
    refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)  # error code -> how many
    untouched: int = 0
    survived: int = 0
    noticed: int = 0  # mutants whose damage the reader reported (a warning or a loss)
    #: what the damage did, per mutant: refused, quarantined (more travellers in lost
    #: records), degraded (more travellers with a lost value), unchanged (every row as
    #: before), changed_reported (rows differ, a warning says where), changed_silently
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # property violations, for the message
    worst: list[tuple[float, str]] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Share of untouched travellers that came back value for value."""
        return self.survived / self.untouched if self.untouched else 1.0


def _outcome(base: Base, parsed: Any, got: Counter[str], noticed: bool) -> str:
    if parsed.quarantined > base.quarantined:
        return "quarantined"
    if parsed.degraded > base.degraded:
        return "degraded"
    if got == Counter(base.keys):
        return "unchanged"
    return "changed_reported" if noticed else "changed_silently"


def check(base: Base, mutant: Mutant, stats: ClassStats) -> None:
    """Parse a mutant and count what survived; note every breach of the property."""
    stats.mutants += 1
    try:
        parsed = parse_bytes(mutant.data, base.name)
    except ParseError as exc:
        stats.refused += 1
        stats.refusals[exc.code] += 1
        stats.outcomes["refused"] += 1
        stats.untouched += len(base.keys) - len(mutant.touched)
        if not mutant.envelope:
            stats.failures.append(f"refused ({exc.code}): {mutant.detail}")
        return
    except Exception as exc:  # the property: nothing but the project's own error
        stats.failures.append(f"crashed with {exc!r}: {mutant.detail}")
        return
    got = Counter(row_key(r) for r in contract_rows(parsed, base.name))
    noticed = parsed.warnings != base.warnings or [str(x) for x in parsed.lost] != base.lost
    if noticed:
        stats.noticed += 1
    elif mutant.loud:
        stats.failures.append(f"damage not reported: {mutant.detail}")
    stats.outcomes[_outcome(base, parsed, got, noticed)] += 1
    need = Counter(k for i, k in enumerate(base.keys) if i not in mutant.touched)
    untouched = sum(need.values())
    survived = sum(min(n, got[k]) for k, n in need.items())
    stats.untouched += untouched
    stats.survived += survived
    if survived < untouched:
        stats.worst.append(
            (survived / untouched, f"{untouched - survived}/{untouched} lost: {mutant.detail}")
        )
        stats.worst = sorted(stats.worst)[:3]
    if mutant.exact:
        whole = Counter(base.keys)
        strange = sum((got - whole).values())
        if strange:
            stats.failures.append(f"{strange} row(s) not in the base: {mutant.detail}")


def run(bases: list[Base], count: int, seed: int) -> dict[str, ClassStats]:
    """Make and check ``count`` mutants; per-class statistics."""
    stats = {cls: ClassStats() for cls in CLASSES}
    for base, mutant in mutants(bases, count, seed):
        check(base, mutant, stats[mutant.cls])
    return stats


def report(stats: dict[str, ClassStats]) -> str:
    """A table of the per-class shares, with the worst mutants and breaches."""
    lines = [
        f"{'class':<20}{'mutants':>8}{'refused':>8}{'noticed':>8}{'untouched':>10}"
        f"{'survived':>10}{'share':>9}"
    ]
    for cls, s in stats.items():
        lines.append(
            f"{cls:<20}{s.mutants:>8}{s.refused:>8}{s.noticed:>8}{s.untouched:>10}"
            f"{s.survived:>10}{s.share:>9.4f}"
        )
    for cls, s in stats.items():
        shares = ", ".join(f"{k} {n}" for k, n in sorted(s.outcomes.items()))
        lines.append(f"  outcomes {cls}: {shares}")
    for cls, s in stats.items():
        for _, text in s.worst:
            lines.append(f"  worst {cls}: {text}")
        for text in s.failures[:5]:
            lines.append(f"  BREACH {cls}: {text}")
    return "\n".join(lines)
