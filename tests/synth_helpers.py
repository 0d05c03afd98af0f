"""A tiny independent EDIFACT reader for the synth tests (not the project's parser).

It undoes what the writer's styles do (telex envelope, wrapping, UNA separators, release
characters, multipart messages, trailing disclaimers) and pulls out the few fields the
pattern tests look at, so the tests check the messages themselves, not the generator's objects.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path


def segments(text: str) -> list[list[list[str]]]:
    """Split an interchange into segments -> elements -> components (release undone)."""
    starts = [i for i in (text.find("UNA"), text.find("UNB")) if i != -1]
    body = text[min(starts) :]
    comp, elem, rel, term = ":", "+", "?", "'"
    if body.startswith("UNA"):
        comp, elem, _dec, rel, _res, term = body[3:9]
        body = body[9:]
        if term in "\r\n":  # a UNA of five characters and a line break: look at the file
            unh = body.find("UNH")
            term = body[:unh].rstrip(" \r\n")[-1]
        elif term not in body and "\u2019" in body:  # a word processor's apostrophe
            term = "\u2019"
    body = body.replace("\r", "").replace("\n", "")
    out: list[list[list[str]]] = []
    seg: list[list[str]] = []
    el: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == rel:
            buf.append(body[i + 1])
            i += 2
            continue
        if ch == comp:
            el.append("".join(buf))
            buf = []
        elif ch == elem:
            el.append("".join(buf))
            seg.append(el)
            el, buf = [], []
        elif ch == term:
            el.append("".join(buf).rstrip(" "))  # blanks before a terminator are not data
            seg.append(el)
            seg[0][0] = seg[0][0].strip()
            out.append(seg)
            if seg[0][0] == "UNZ":
                break
            seg, el, buf = [], [], []
        else:
            buf.append(ch)
        i += 1
    return out


def tag(seg: list[list[str]]) -> str:
    return seg[0][0]


def el(seg: list[list[str]], i: int, j: int = 0) -> str:
    if i >= len(seg) or j >= len(seg[i]):
        return ""
    return seg[i][j]


def _yymmdd(s: str) -> dt.date:
    y = int(s[:2])
    return dt.date(2000 + y if y <= 30 else 1900 + y, int(s[2:4]), int(s[4:6]))


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DOCS_DATE = re.compile(r"\d{2}[A-Z]{3}\d{2}(\d{2})?")


def _ddmmyy(s: str) -> dt.date:
    """A PNRGOV date: DDMMYY, DDMMCCYY or DDMMMYY."""
    if len(s) == 7:
        return dt.date(2000 + int(s[5:]), _MONTHS.index(s[2:5]) + 1, int(s[:2]))
    if len(s) == 8:
        return dt.date(int(s[4:]), int(s[2:4]), int(s[:2]))
    return dt.date(2000 + int(s[4:6]), int(s[2:4]), int(s[:2]))


def _rci_created(seg: list[list[str]]) -> dt.datetime | None:
    """The booking date wherever RCI puts it (3rd, 4th component, or glued to the time)."""
    comps = seg[1][2:] if len(seg) > 1 else []
    for i, c in enumerate(comps):
        if c.isdigit() and len(c) in (6, 10):
            hm = c[6:] if len(c) == 10 else (comps[i + 1] if i + 1 < len(comps) else "")
            clock = dt.time(int(hm[:2]), int(hm[2:])) if hm else dt.time()
            return dt.datetime.combine(_ddmmyy(c[:6]), clock)
    return None


def _docs(raw: str) -> tuple[str, str, str, str]:
    """(surname, given names, document number, sex) of SSR DOCS free text, however slashed."""
    f = [x.strip() for x in raw.strip().split("/")]
    at = next(i for i in range(len(f) - 1) if _DOCS_DATE.fullmatch(f[i]) and f[i + 1] in SEXES)
    number = next((x for x in reversed(f[:at]) if any(ch.isdigit() for ch in x)), "")
    names = [x for x in f[at + 3 :] if x]
    return names[0], " ".join(names[1:]), number, f[at + 1]


SEXES = ("M", "F", "X", "U", "MI", "FI")


@dataclass
class ApiPax:
    role: str
    surname: str
    given: str
    dob: dt.date | None = None
    locator: str | None = None
    docs: list[dict[str, object]] = field(default_factory=list)


def read_paxlst(text: str) -> tuple[dict[str, object], list[ApiPax]]:
    """Flight info and travellers of one PAXLST interchange (all parts)."""
    flight: dict[str, object] = {}
    people: list[ApiPax] = []
    cur: ApiPax | None = None
    doc: dict[str, object] | None = None
    for s in segments(text):
        t = tag(s)
        if t == "TDT":
            flight["flight"] = el(s, 2)
        elif t == "UNH" and "departure" not in flight:  # the flight reference: id/YYMMDD/HHMM
            _fid, day, hm = el(s, 3).split("/")
            flight["departure"] = dt.datetime.strptime(day + hm, "%y%m%d%H%M")
        elif t == "DTM" and el(s, 1) == "189":
            flight["departure"] = dt.datetime.strptime(el(s, 1, 1), "%y%m%d%H%M")
        elif t == "CNT":
            flight["count"] = int(el(s, 1, 1))
        elif t == "NAD" and el(s, 1) in ("FL", "FM", "DDU", "DDT"):
            cur = ApiPax(el(s, 1), el(s, 4, 0), el(s, 4, 1))
            people.append(cur)
            doc = None
        elif cur is None:
            continue
        elif t == "DTM" and el(s, 1) == "329":
            cur.dob = _yymmdd(el(s, 1, 1))
        elif t == "RFF" and el(s, 1) == "AVF":
            cur.locator = el(s, 1, 1)
        elif t == "DOC":
            doc = {"type": el(s, 1), "number": el(s, 2)}
            cur.docs.append(doc)
        elif t == "DTM" and doc is not None and el(s, 1) in ("36", "182"):
            doc["expiry" if el(s, 1) == "36" else "issue"] = _yymmdd(el(s, 1, 1))
    return flight, people


@dataclass
class Pnr:
    locator: str
    created: dt.datetime | None
    travellers: list[tuple[str, str]] = field(default_factory=list)
    docs_names: list[tuple[str, str]] = field(default_factory=list)
    doc_numbers: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    payer: str | None = None
    payer_phone: str | None = None
    agency: str | None = None
    legs: list[tuple[str, str, dt.date]] = field(default_factory=list)


def read_pnrgov(text: str) -> tuple[dict[str, object], list[Pnr]]:
    """Flight info and bookings of one PNRGOV interchange (all parts)."""
    flight: dict[str, object] = {}
    out: list[Pnr] = []
    cur: Pnr | None = None
    for s in segments(text):
        t = tag(s)
        if t == "TVL" and cur is None:
            flight["departure"] = dt.datetime.combine(
                _ddmmyy(el(s, 1, 0)), dt.time(int(el(s, 1, 1)[:2]), int(el(s, 1, 1)[2:]))
            )
            flight["from"], flight["to"] = el(s, 2), el(s, 3)
        elif t == "MSG":
            flight["push"] = el(s, 1, 1)
        elif t == "RCI":
            cur = Pnr(el(s, 1, 1), _rci_created(s))
            out.append(cur)
        elif cur is None:
            continue
        elif t == "ORG" and el(s, 2):
            cur.agency = el(s, 2)
        elif t == "IFT" and el(s, 1, 1) == "28":
            text_ = el(s, 2)
            if text_.startswith("CTCM "):
                cur.phones.append(text_[5:])
            elif text_.startswith("CTCE "):
                cur.emails.append(text_[5:].replace("//", "@").replace("..", "_"))
        elif t == "IFT" and el(s, 1, 1) == "43":
            cur.payer = el(s, 2) or None
            cur.payer_phone = el(s, 3) or None
        elif t == "TIF":
            cur.travellers.append((el(s, 1), el(s, 2)))
        elif t == "SSR" and el(s, 1) == "DOCS":
            surname, given, number, sex = _docs(el(s, 1, 8))
            cur.docs_names.append((surname, given))
            cur.doc_numbers.append(number)
            if sex in ("FI", "MI"):  # an infant's DOCS under its adult's TIF
                cur.travellers.append((surname, given))
        elif t == "SSR" and el(s, 1) == "CTCM":
            cur.phones.append(el(s, 1, 8).lstrip("/"))
        elif t == "SSR" and el(s, 1) == "CTCE":
            cur.emails.append(el(s, 1, 8).lstrip("/").replace("//", "@").replace("..", "_"))
        elif t == "FOP":
            cur.forms.append(el(s, 1, 0))
            if el(s, 1, 4):
                cur.cards.append(el(s, 1, 4))
        elif t == "TVL":
            cur.legs.append((el(s, 2), el(s, 3), _ddmmyy(el(s, 1, 0))))
    return flight, out


def night_messages(
    world: Path, night: str, history: bool = False
) -> tuple[list[tuple[str, dict[str, object], list[ApiPax]]], dict[str, dict[str, list[Pnr]]]]:
    """All PAXLST travellers and PNR bookings (by push, then file) of one night."""
    base = (world / "history" / "nights" if history else world / "nights") / night
    pax = []
    for p in sorted((base / "paxlst").glob("*.edi")):
        flight, people = read_paxlst(p.read_text(encoding="utf-8"))
        pax.append((p.name, flight, people))
    pnrs: dict[str, dict[str, list[Pnr]]] = {"t72": {}, "dep": {}}
    for p in sorted((base / "pnrgov").glob("*.edi")):
        push = p.stem.rsplit("_", 1)[1]
        pnrs[push][p.name] = read_pnrgov(p.read_text(encoding="utf-8"))[1]
    return pax, pnrs
