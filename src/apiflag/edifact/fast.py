"""The fast columnar reader: clean PAXLST/PNRGOV files straight into warehouse columns.

The tolerant reader (:mod:`.tokenizer`, :mod:`.paxlst`, :mod:`.pnrgov`) reads anything a
sender writes and builds validated :mod:`apiflag.records`; that costs a few microseconds per
segment and per record. Most files of a night are plain: one interchange, the standard
``UNA``, no released characters, no blanks around separators, every segment one the readers
know, every value readable. For those, :func:`read_fast` splits the text with ``str.split``
and fills the warehouse's column lists directly (the same :class:`~apiflag.edifact.rows.RowBatch`
the tolerant records are converted into), without a pydantic model in between.

It is **all or nothing per file**: at the first thing it does not take as it comes (a telex
header, text after ``UNZ``, a multipart message, an unknown segment or party, a value the
tolerant reader would warn about, null or refuse, a record the contracts would refuse) it
returns None and the file goes to the tolerant reader, whose records are converted to the
same columns. So a file read here never carries a warning or a lost record, and
``tests/test_edifact_fast.py`` proves, file by file, that both ways give the same columns,
drop counts and message counts (goldens worlds, hand fixtures, messy synthetic worlds).

Only what the warehouse stores is computed: tickets, seats, bags and addresses are checked
where the contracts could refuse them, not kept. ``apiflag parse`` and everything that needs
the records themselves still use the tolerant reader.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from apiflag.edifact import dates
from apiflag.edifact.fast_base import (
    AIRPORT,
    DOC_TYPE,
    P_ELEM,
    Envelope,
    FastFile,
    Unsupported,
    add_documents,
    check,
    elements,
    envelope,
    fields,
    get,
    leg_record,
    segment,
    split_plain,
)
from apiflag.edifact.fast_pnr import read_pnr_message
from apiflag.edifact.paxlst import ROLES, LegBuilder
from apiflag.edifact.rows import RowBatch, arrival_leg, flight_fields, flight_id_of
from apiflag.edifact.tokenizer import DEFAULT_SEPARATORS, Interchange, Message, Segment
from apiflag.records import FlightLeg

__all__ = ["FastFile", "Unsupported", "file_columns", "read_fast", "tolerant_columns"]


def read_fast(data: bytes, file: str, sha: str, night: dt.date) -> FastFile | None:
    """Read a plain file into warehouse columns, or None to leave it to the tolerant reader.

    Args:
        data: the file's bytes.
        file: the file's name (for the batch's message metadata).
        sha: the file's SHA-256 (row ids and provenance).
        night: the arrival night being ingested (picks each manifest's arrival leg).

    Returns:
        The file's columns, or None when anything in it needs the tolerant reader.
    """
    collecting = gc.isenabled()
    gc.disable()  # the reader makes no reference cycles: no collection is due while it runs
    try:
        return _read(data, file, sha, night)
    finally:
        if collecting:
            gc.enable()


def _read(data: bytes, file: str, sha: str, night: dt.date) -> FastFile | None:
    segments = split_plain(data)
    if segments is None:
        return None
    env = envelope(segments)
    if env is None:
        return None
    batch = RowBatch()
    drops: Counter[str] = Counter()
    ref = env.prepared.date()
    reader: Callable[..., SimpleNamespace] = (
        read_pnr_message if env.kind == "PNRGOV" else read_manifest
    )
    records = []
    try:
        for index, (unh, body, first) in enumerate(env.messages):
            records.append(
                reader(batch, env, unh, body, first, ref, drops, index, file, sha, night)
            )
    except Exception:  # Unsupported, or anything the tolerant reader must judge (never a loss)
        return None
    view = accounting_view(env, records, len(segments))
    return FastFile(env.kind, batch, dict(sorted(drops.items())), [], len(env.messages), view)


def accounting_view(env: Envelope, records: list[SimpleNamespace], segments: int) -> Any:
    """What :func:`apiflag.edifact.carriers.account_parsed` reads of a ``ParsedFile``.

    The records (manifests or pushes: carrier legs, refs, declared counts, the segment numbers
    of travellers and bookings) and one interchange whose messages keep their UNH and UNT
    segments: the accounting places records in messages by segment number. Nothing was
    lost or warned about on the fast path, so no traveller is degraded.
    """
    messages = [
        Message(segment(unh, first), [], Segment("UNT", ["UNT"], first + len(body) + 1))
        for unh, body, first in env.messages
    ]
    unz = Segment("UNZ", ["UNZ"], segments)
    interchange = Interchange(DEFAULT_SEPARATORS, env.unb, messages, unz)
    pax = env.kind == "PAXLST"
    return SimpleNamespace(
        kind=env.kind, manifests=records if pax else [], pnr_messages=[] if pax else records,
        warnings=[], lost=[], dropped={}, messages=len(messages), interchanges=[interchange],
    )  # fmt: skip


def file_columns(
    data: bytes, file: str, sha: str, night: dt.date, parse: Callable[[bytes, str], Any]
) -> FastFile:
    """One file's warehouse columns: the fast reader's, else the tolerant reader's converted.

    Args:
        data: the file's bytes.
        file: the file's name.
        sha: the file's SHA-256.
        night: the arrival night.
        parse: the tolerant reader (``parse_bytes``-like: ``(data, file) -> ParsedFile``).

    Raises:
        ParseError: when the tolerant reader refuses the file.
    """
    fast = read_fast(data, file, sha, night)
    return fast if fast is not None else tolerant_columns(data, file, sha, night, parse)


def tolerant_columns(
    data: bytes, file: str, sha: str, night: dt.date, parse: Callable[[bytes, str], Any]
) -> FastFile:
    """The tolerant reader's records of one file, converted to warehouse columns."""
    parsed = parse(data, file)
    batch = RowBatch()
    for i, m in enumerate(parsed.manifests):
        batch.add_manifest(m, i, file, sha, night)
    for i, p in enumerate(parsed.pnr_messages):
        batch.add_pnr(p, i, file, sha)
    unh = int(getattr(parsed, "messages", 0) or 0)
    dropped, warnings = dict(parsed.dropped), list(parsed.warnings)
    return FastFile(parsed.kind, batch, dropped, warnings, unh, parsed, False)


# --------------------------------------------------------------------------- PAXLST

_SEX = {"M": "M", "F": "F", "U": "U", "X": "X", "MALE": "M", "FEMALE": "F"}
_QUIET = frozenset({"COM", "EMP", "QTY", "ERP", "ERC", "UNS", "CPI", "TSR", "SEQ"})
_LB = ("LBR", "LB", "LBS")
_T_FIELDS = (
    "sex", "date_of_birth", "nationality", "country_of_residence", "place_of_birth",
    "record_locator", "seat", "frequent_flyer", "checked_bags", "bag_weight_kg",
)  # fmt: skip
_RFF = {"AVF": "record_locator", "SEA": "seat", "CR": "frequent_flyer", "ABO": ""}


def _alpha3(value: str) -> str | None:
    v = value.upper()
    if not v:
        return None
    check(bool(AIRPORT.fullmatch(v)))  # the tolerant reader warns about anything else
    return v


def _traveller(p: list[str], number: int) -> dict[str, Any]:
    role = ROLES.get(get(p, 1))
    check(role is not None)
    names = fields(p, 4, 1)
    surname = names[0]
    check(bool(surname.strip()))  # no surname (or one in element 3): the tolerant reader
    given = " ".join(filter(None, names[1:])) or None
    return {"role": role, "surname": surname, "given_names": given, "segment": number,
            "documents": []}  # fmt: skip


def _doc(p: list[str]) -> dict[str, Any]:
    number = get(p, 2)
    check(0 < len(number) <= 35)
    doc_type = get(p, 1).upper()
    check(not doc_type or bool(DOC_TYPE.fullmatch(doc_type)))
    return {"type": doc_type or "P", "number": number, "issuing_country": None,
            "expiry_date": None, "issue_date": None}  # fmt: skip


def _traveller_segment(
    t: dict[str, Any], p: list[str], tag: str, n: int, ref: dt.date, drops: Counter[str]
) -> None:
    """One segment of a NAD group, as ``paxlst._traveller_segment`` reads a clean one."""
    e1 = p[1] if len(p) > 1 else ""
    if tag == "LOC":
        q = e1.partition(":")[0]
        if q == "178" or q == "179":
            return  # embarkation and debarkation: not warehouse columns
        place = get(p, 2) or get(p, 2, 3)
        if q == "91":
            if t["documents"]:
                t["documents"][-1]["issuing_country"] = _alpha3(place)
        elif q == "174":
            t["country_of_residence"] = place or None
        elif q == "180":
            comps = p[2].split(":") if len(p) > 2 else []
            t["place_of_birth"] = " ".join(c for c in comps if c) or None
    elif tag == "DTM":
        q, _, rest = e1.partition(":")
        value = rest.partition(":")[0]
        if q == "329":
            t["date_of_birth"] = dates.past(value, ref, n, what="date_of_birth")
        elif t["documents"] and q == "36":
            t["documents"][-1]["expiry_date"] = dates.expiry(value, ref, n)
        elif t["documents"] and q == "182":
            t["documents"][-1]["issue_date"] = dates.past(value, ref, n, what="issue_date")
    elif tag == "RFF":
        q, _, rest = e1.partition(":")
        name = _RFF.get(q)
        if name:
            t[name] = rest.partition(":")[0] or None
    elif tag == "ATT":
        raw = get(p, 3).upper()
        check(not raw or raw in _SEX)
        t["sex"] = _SEX.get(raw)
    elif tag == "NAT":
        t["nationality"] = _alpha3(get(p, 2))
    elif tag == "DOC":
        t["documents"].append(_doc(p))
    elif tag == "MEA":
        _mea(t, p, e1.partition(":")[0])
    elif tag == "FTX":
        q = e1.partition(":")[0]
        if q != "BAG":
            drops[f"FTX:{q or '?'}"] += 1
    else:
        check(tag == "GEI" or tag in _QUIET)


def _mea(t: dict[str, Any], p: list[str], q: str) -> None:
    value = get(p, 3, 1)
    if q == "CT":
        check(not value or value.isdigit())
        t["checked_bags"] = int(value) if value else None
    elif q == "WT" and value:
        weight = float(value)  # ValueError: the tolerant reader warns
        check(weight == weight and value.strip() == value)
        if get(p, 3).upper() in _LB:
            weight = round(weight * 0.45359237, 1)
        t["bag_weight_kg"] = weight if weight >= 0 else None


def _header(
    p: list[str], tag: str, n: int, head: dict[str, Any], legs: LegBuilder, ref: dt.date,
    drops: Counter[str],
) -> None:  # fmt: skip
    q = get(p, 1)
    warnings: list[str] = []
    if tag == "BGM":
        head["document_code"] = q or None  # the last BGM of a message wins, as in paxlst
        head["function"] = get(p, 2) or None
    elif tag == "TDT":
        legs.tdt(segment(p, n))
    elif tag == "LOC":
        legs.loc(segment(p, n), q, warnings)
    elif tag == "DTM":
        legs.dtm(segment(p, n), q, ref, warnings)
    elif tag == "FTX":
        drops[f"FTX:{q or '?'}"] += 1
    elif tag == "NAD":
        check(q == "MS")
    elif tag == "CNT":
        for element in p[1:]:
            comps = element.split(":")
            value = comps[1] if len(comps) > 1 else ""
            check(not value or value.isdigit())
            if comps[0] in ("42", "41"):
                head[comps[0]] = int(value) if value else None
    else:
        check(tag == "RFF" or tag in _QUIET)
    check(not warnings)


def read_manifest(
    batch: RowBatch, env: Envelope, unh: list[str], body: list[str], first: int,
    ref: dt.date, drops: Counter[str], index: int, file: str, sha: str, night: dt.date,
) -> SimpleNamespace:  # fmt: skip
    """Read one PAXLST message into the batch's columns (``Unsupported`` when not plain).

    Returns:
        The manifest as the per-carrier accounting reads it (see :func:`accounting_view`).
    """
    head: dict[str, Any] = {}
    legs = LegBuilder()
    travellers: list[dict[str, Any]] = []
    t: dict[str, Any] | None = None
    start, stop = _traveller_run(body)
    tiled = _tiled_travellers(body[start:stop], first + 1 + start, ref) if stop > start else None
    steps = list(enumerate(body, first + 1))
    if tiled is not None:  # the NAD groups are read: step through the rest only
        travellers.extend(tiled)
        steps = steps[:start] + steps[stop:]
    for k, raw in steps:
        p = elements(raw)
        tag = p[0]
        if tag == "NAD" and get(p, 1) != "MS":
            t = _traveller(p, k)
            travellers.append(t)
        elif tag == "CNT" or t is None:
            t = None
            _header(p, tag, k, head, legs, ref, drops)
        else:
            _traveller_segment(t, p, tag, k, ref, drops)
    warnings: list[str] = []
    found = legs.finish(warnings)
    check(bool(found) and not warnings and head.get("document_code") is not None)
    pax = sum(x["role"] in ("passenger", "transit_passenger") for x in travellers)
    for declared, actual in ((head.get("42"), pax), (head.get("41"), len(travellers) - pax)):
        check(declared is None or declared == actual)  # else W_CNT_MISMATCH
    for leg in found:
        leg.pop("segment", None)
    records = [leg_record(x) for x in found]
    _add_manifest(batch, env, unh, records, head, travellers, (index, file, sha, night))
    return SimpleNamespace(
        legs=records, message_ref=get(unh, 1), common_access_ref=get(unh, 3) or None,
        declared_passengers=head.get("42"), declared_crew=head.get("41"),
        travellers=[SimpleNamespace(segment=t["segment"], degraded=()) for t in travellers],
    )  # fmt: skip


def _traveller_run(body: list[str]) -> tuple[int, int]:
    """Where the NAD groups run: from the first traveller's NAD to the first CNT after it."""
    start = next((i for i, r in enumerate(body) if r[:4] == "NAD+" and r[4:6] != "MS"), 0)
    stop = next((i for i in range(start, len(body)) if body[i][:4] == "CNT+"), len(body))
    return start, stop


# One NAD group as the synthetic world's writer and most carriers write it, segment by segment
# in this order; a run of groups this pattern tiles exactly is read a group at a time (a C
# regex instead of a Python step per segment). Anything else in the run (another order, more
# components, a segment it does not list) leaves the whole run to the step-by-step reader.
_DOC_GROUP = (
    r"(?:DOC\+([A-Z]{1,3})(?::[^\n+]*)?\+([^\n:+]{1,35})\n(?:DTM\+36:(\d{6})\n)?"
    r"(?:DTM\+182:(\d{6})\n)?(?:LOC\+91\+([A-Z]{3})\n)?)?"
)
_NAD_GROUP = re.compile(
    r"NAD\+(FL|FM|DDU|DDT)\+\+\+([^:\n+]+)((?::[^:\n+]*)*)(?:\+[^\n+]*){0,5}\n"
    r"(?:ATT\+2\+\+([A-Z]*)\n)?(?:DTM\+329:(\d{6})\n)?(?:MEA\+CT\+\+:(\d*)\n)?"
    r"(?:LOC\+178\+[^\n]*\n)?(?:LOC\+179\+[^\n]*\n)?(?:LOC\+174\+([A-Z]*)\n)?"
    r"(?:LOC\+180\+([^\n:+]*)\n)?(?:NAT\+2\+([A-Z]{3})\n)?(?:RFF\+AVF:([^\n:+]*)\n)?"
    r"(?:RFF\+SEA:([^\n:+]*)\n)?(?:RFF\+CR:([^\n:+]*)\n)?" + _DOC_GROUP + _DOC_GROUP
)


def _tiled_travellers(run: list[str], number: int, ref: dt.date) -> list[dict[str, Any]] | None:
    """The travellers of a run of NAD groups the group pattern tiles exactly, else None."""
    text = "\n".join(run) + "\n"  # never in a value: line breaks are gone, O'BRIEN is not
    if P_ELEM in text:
        return None  # a released + in a value: segment by segment
    out: list[dict[str, Any]] = []
    pos, end, match = 0, len(text), _NAD_GROUP.match
    past, expiry = dates.past, dates.expiry
    while pos < end:
        m = match(text, pos)
        if m is None:
            return None
        (role, surname, given, sex, dob, bags, residence, birthplace, nat, locator, seat, flyer,
         *docs) = m.groups()  # fmt: skip
        check(not sex or sex in _SEX)
        documents = []
        for d in (docs[:5], docs[5:]):
            if d[1] is not None:
                documents.append({
                    "type": d[0], "number": d[1], "issuing_country": d[4],
                    "expiry_date": expiry(d[2], ref, number) if d[2] else None,
                    "issue_date": past(d[3], ref, number, what="issue_date") if d[3] else None,
                })  # fmt: skip
        out.append({
            "role": ROLES[role], "surname": surname,
            "given_names": " ".join(filter(None, given.split(":"))) or None if given else None,
            "segment": number, "documents": documents, "sex": _SEX.get(sex) if sex else None,
            "date_of_birth": past(dob, ref, number, what="date_of_birth") if dob else None,
            "checked_bags": (int(bags) if bags else None) if bags is not None else None,
            "country_of_residence": residence or None, "place_of_birth": birthplace or None,
            "nationality": nat, "record_locator": locator or None, "seat": seat or None,
            "frequent_flyer": flyer or None,
        })  # fmt: skip
        number += m.group(0).count("\n")
        pos = m.end()
    return out


def _add_manifest(
    batch: RowBatch, env: Envelope, unh: list[str], legs: list[FlightLeg], head: dict[str, Any],
    travellers: list[dict[str, Any]], where: tuple[int, str, str, dt.date],
) -> None:  # fmt: skip
    """The columns ``RowBatch.add_manifest`` fills from a manifest record, from plain dicts."""
    index, file, sha, night = where
    msg = len(batch.metas)
    leg = arrival_leg(legs, night)
    arrival = leg.scheduled_arrival.date() if leg.scheduled_arrival else None
    fid = flight_id_of(leg.carrier, leg.number, arrival or night)
    stem = f"{sha[:16]}-{index}"
    T = travellers
    tids = [f"T-{stem}-{t['segment']}" for t in T]
    batch.extend("flights", msg, 1, flight_id=fid, **flight_fields(leg), message_sha256=sha)
    columns: dict[str, Any] = {name: [t.get(name) for t in T] for name in _T_FIELDS}
    batch.extend(
        "travellers", msg, len(T), traveller_id=tids, flight_id=fid,
        role=[t["role"] for t in T], surname=[t["surname"] for t in T],
        given_names=[t["given_names"] for t in T],
        document_number=[t["documents"][0]["number"] if t["documents"] else None for t in T],
        degraded=[[] for _ in T], message_sha256=sha, segment=[t["segment"] for t in T],
        **columns,
    )  # fmt: skip
    add_documents(batch, msg, "api", [(i, t["segment"], t["documents"]) for i, t in zip(tids, T, strict=True)],
                  sha)  # fmt: skip
    pax = sum(t["role"] in ("passenger", "transit_passenger") for t in T)
    function = head.get("function")
    batch.metas.append(
        {
            "kind": "PAXLST", "file": file, "sha256": sha, "index": index,
            "message_ref": get(unh, 1), "flight_id": fid, "arrival_date": arrival,
            "document_code": head["document_code"],
            "function": (function or "").upper() or None, "prepared": env.prepared,
            "declared_passengers": head.get("42"), "declared_crew": head.get("41"),
            "passengers": pax, "crew": len(T) - pax,
        }
    )  # fmt: skip
