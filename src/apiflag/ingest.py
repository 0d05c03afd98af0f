"""Ingest one arrival night: archive, parse or quarantine, warehouse, push order, links, counts.

:func:`ingest_night` is the stage; ``apiflag ingest`` is a thin shell over it. It guarantees:

- **Nothing lost.** Every file that arrived (``paxlst/`` and ``pnrgov/`` of the night folder)
  is stored once, by SHA-256, under ``$APIFLAG_HOME/archive/<sha[:2]>/<sha>`` (identical
  resends share one copy) and every arrival is logged in
  ``archive/arrivals/night=<D>.jsonl`` (file, hash, size). Each distinct message is either
  parsed or quarantined: a row in the ``quarantine`` table with the parser's stable error code
  and segment number, plus a copy under ``warehouse/night=<D>/quarantine/``. A quarantined file
  never stops the night.
- **Night-level rows.** The warehouse holds the travellers of flights arriving that night (local
  arrival date; a manifest without an arrival time belongs to the folder's night) and the PNR
  bookings for those flights. Parsed messages about other nights are counted, not loaded.
- **PNR push order.** Pushes of the same record locator for the same flight are ordered by the
  message's prepared time (the booking's last transaction when the message has none), then push
  type (a full push before a changed-PNRs push prepared at the same minute), then file order;
  every push is kept, all but the last get ``superseded = true``.
- **Links.** Each API traveller is linked to a PNR traveller by :mod:`apiflag.linking`.
- **Reconciliation.** ``messages in = parsed + quarantined``; per flight, travellers parsed
  against the message's own CNT; linked and unlinked counts. Printed by the CLI and stored as
  ``warehouse/night=<D>/reconciliation.json``.
- **Idempotent.** Ids derive from the message hash, message index and segment number, inputs are
  read in sorted order, and outputs are rewritten whole: a rerun of the same night gives the
  same bytes and leaves the archive as it was.

Parsing runs in a pool of worker processes when the night is large; results are consumed in
file order, so the output never depends on which worker finished first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import re
import shutil
import tempfile
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

import click
import pandas as pd
import pyarrow as pa

from apiflag import config, warehouse
from apiflag.errors import ApiflagError, ParseError, UsageError
from apiflag.linking import LEVELS, link_travellers
from apiflag.records import ApiTraveller, FlightLeg, PaxlstManifest, PnrBooking, PnrgovMessage

__all__ = [
    "IngestReport",
    "archive_path",
    "ingest_command",
    "ingest_night",
    "night_source",
    "normalize_contact",
]

FOLDERS = ("paxlst", "pnrgov")
"""Sub-folders of a night folder that ingest reads, in this order."""

PARALLEL_MIN_BYTES = 8 << 20
"""Below this many bytes of distinct messages a night is parsed in-process (no pool start-up)."""

E_EMPTY = "E_NO_MESSAGE"
"""Quarantine code for an interchange that parsed but held no PAXLST or PNRGOV message."""

E_INTERNAL = "E_PARSER_INTERNAL"
"""Quarantine code for a parser failure that was not a ParseError (a parser bug): the message is
kept and the night goes on, and the error names the exception so it can be fixed."""

_PUSH_RANK = {"full": 0, "changed": 1}
_PASSENGER_ROLES = frozenset({"passenger", "transit_passenger"})
_CREW_ROLES = frozenset({"crew", "transit_crew"})
_NOT_DIGITS = re.compile(r"[^0-9]")
_SPACES = re.compile(r"\s+")


class _Parsed(Protocol):
    kind: str
    manifests: list[PaxlstManifest]
    pnr_messages: list[PnrgovMessage]
    dropped: dict[str, int]
    warnings: list[str]


# --------------------------------------------------------------------------- sources and archive


def night_source(source: Path, night: dt.date) -> Path:
    """Return the night folder to read: ``source`` itself or its ``[history/]nights/<night>``.

    Args:
        source: a synthetic-world-shaped folder (``nights/<YYYY-MM-DD>/{paxlst,pnrgov}``) or a
            night folder (holding ``paxlst/`` and/or ``pnrgov/``).
        night: the arrival night.

    Returns:
        The folder whose ``paxlst/`` and ``pnrgov/`` hold the night's messages.

    Raises:
        ApiflagError: neither layout is found (names the folder).
    """
    for candidate in (
        source / "nights" / night.isoformat(),
        source / "history" / "nights" / night.isoformat(),
        source,
    ):
        if any((candidate / sub).is_dir() for sub in FOLDERS):
            return candidate
    if not source.exists():
        raise ApiflagError(f"{source}: no such folder")
    raise ApiflagError(
        f"{source}: no messages for night {night.isoformat()} "
        f"(expected {source}/nights/{night.isoformat()}/paxlst or {source}/paxlst)"
    )


def _message_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of every non-hidden file in paxlst/ and pnrgov/, sorted."""
    found = []
    for sub in FOLDERS:
        base = folder / sub
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            found.append((f"{sub}/{path.name}", path))
    return found


def archive_path(sha256: str) -> Path:
    """Return where the archive keeps the message whose SHA-256 is ``sha256``."""
    return config.archive_dir() / sha256[:2] / sha256


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    _atomic_write(path, data)


def _archive(sha: str, data: bytes) -> None:
    """Store ``data`` under its hash once; an existing copy with other bytes is replaced."""
    path = archive_path(sha)
    if path.is_file() and path.stat().st_size == len(data):
        return
    _atomic_write(path, data)


# --------------------------------------------------------------------------- records -> rows


def normalize_contact(kind: str, value: str) -> str:
    """Return the form of a contact that other bookings' copies of it compare equal in.

    Phones keep digits only, without a ``00`` international prefix; e-mails are lower case
    without spaces; addresses are upper case with single spaces.
    """
    if kind == "phone":
        digits = _NOT_DIGITS.sub("", value)
        return digits[2:] if digits.startswith("00") else digits
    if kind == "email":
        return _SPACES.sub("", value).lower()
    return _SPACES.sub(" ", value).strip().upper()


def _address_text(address: Any) -> str:
    parts = [address.street, address.city, address.subdivision, address.postcode, address.country]
    return ", ".join(p for p in parts if p)


class _Rows:
    """Column lists of the warehouse tables for one message."""

    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {
            name: {f.name: [] for f in warehouse.SCHEMAS[name]} for name in warehouse.TABLES
        }

    def add(self, table: str, **row: Any) -> None:
        cols = self.cols[table]
        for name, values in cols.items():
            values.append(row.get(name))

    def tables(self) -> dict[str, pa.Table]:
        return {
            name: warehouse.to_arrow(name, cols)
            for name, cols in self.cols.items()
            if name != "quarantine" and cols["message_sha256"]
        }


class _Ids:
    """Stable ids ``<P>-<sha16>-<message>-<segment>``.

    ``x<n>`` replaces a missing or reused segment number, so an id is never shared.
    """

    def __init__(self, sha: str, message: int) -> None:
        self.stem = f"{sha[:16]}-{message}"
        self.seen: set[str] = set()
        self.n = 0

    def __call__(self, prefix: str, segment: int | None) -> str:
        self.n += 1
        ident = f"{prefix}-{self.stem}-{segment}" if segment is not None else ""
        if not ident or ident in self.seen:
            ident = f"{prefix}-{self.stem}-x{self.n}"
        self.seen.add(ident)
        return ident


def _arrival_leg(legs: Sequence[FlightLeg], night: dt.date) -> FlightLeg:
    """The leg that arrives on the night (the last such leg), else the last leg."""
    for leg in reversed(legs):
        if leg.scheduled_arrival is not None and leg.scheduled_arrival.date() == night:
            return leg
    return legs[-1]


def flight_id_of(carrier: str, number: str, arrival: dt.date) -> str:
    """Return the id of a flight: carrier, number and local arrival date (``QK21-20261121``).

    A flight number flies at most once a day, so the id is the same whichever message (passenger
    list, crew list, PNR push) describes the flight.
    """
    return f"{carrier}{number}-{arrival:%Y%m%d}"


def _flight_dict(leg: FlightLeg) -> dict[str, Any]:
    return {
        "carrier": leg.carrier,
        "number": leg.number,
        "departure_airport": leg.departure_airport,
        "arrival_airport": leg.arrival_airport,
        "scheduled_departure": leg.scheduled_departure,
        "scheduled_arrival": leg.scheduled_arrival,
    }


def _document_rows(
    rows: _Rows, kind: str, owner: str, docs: Iterable[Any], sha: str, seg: int | None
) -> None:
    for seq, doc in enumerate(docs):
        rows.add(
            "documents",
            owner_kind=kind,
            owner_id=owner,
            seq=seq,
            doc_type=doc.type,
            number=doc.number,
            issuing_country=doc.issuing_country,
            expiry_date=doc.expiry_date,
            issue_date=doc.issue_date,
            message_sha256=sha,
            segment=seg,
        )


def _traveller_row(rows: _Rows, t: ApiTraveller, tid: str, fid: str, sha: str) -> None:
    rows.add(
        "travellers",
        traveller_id=tid,
        flight_id=fid,
        role=t.role,
        surname=t.surname,
        given_names=t.given_names,
        sex=t.sex,
        date_of_birth=t.date_of_birth,
        nationality=t.nationality,
        country_of_residence=t.country_of_residence,
        place_of_birth=t.place_of_birth,
        record_locator=t.record_locator,
        seat=t.seat,
        frequent_flyer=t.frequent_flyer,
        checked_bags=t.checked_bags,
        bag_weight_kg=t.bag_weight_kg,
        document_number=t.documents[0].number if t.documents else None,
        message_sha256=sha,
        segment=t.segment,
    )
    _document_rows(rows, "api", tid, t.documents, sha, t.segment)


def _manifest_out(
    m: PaxlstManifest, index: int, sha: str, night: dt.date
) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    leg = _arrival_leg(m.legs, night)
    arrival = leg.scheduled_arrival.date() if leg.scheduled_arrival else None
    fid = flight_id_of(leg.carrier, leg.number, arrival or night)
    rows = _Rows()
    ids = _Ids(sha, index)
    first_segment = min((t.segment for t in m.travellers if t.segment is not None), default=None)
    rows.add("flights", flight_id=fid, **_flight_dict(leg), message_sha256=sha, segment=None)
    roles: Counter[str] = Counter()
    for t in m.travellers:
        _traveller_row(rows, t, ids("T", t.segment), fid, sha)
        roles[t.role] += 1
    meta = {
        "kind": "PAXLST",
        "index": index,
        "message_ref": m.message_ref,
        "flight_id": fid,
        "arrival_date": arrival,
        "document_code": m.document_code,
        "function": m.function,
        "prepared": m.prepared,
        "declared_passengers": m.declared_passengers,
        "declared_crew": m.declared_crew,
        "passengers": sum(roles[r] for r in _PASSENGER_ROLES),
        "crew": sum(roles[r] for r in _CREW_ROLES),
        "first_segment": first_segment,
    }
    return meta, rows.tables()


def _booking_rows(
    rows: _Rows, b: PnrBooking, bid: str, ids: _Ids, push_type: str, sha: str
) -> None:
    agency = b.agency
    rows.add(
        "bookings",
        booking_id=bid,
        record_locator=b.record_locator,
        carrier=b.carrier,
        flight_id=None,  # set once the message's flight is resolved against the night
        created=b.created,
        last_transaction=b.last_transaction,
        agency_id=agency.agency_id if agency else None,
        agency_location=agency.location if agency else None,
        agency_country=agency.country if agency else None,
        push_type=push_type,
        push_seq=None,
        superseded=None,
        n_travellers=len(b.travellers),
        message_sha256=sha,
        segment=b.segment,
    )
    by_ref: dict[str, str] = {}
    addresses: set[tuple[str | None, str]] = set()
    for c in b.contacts:
        if c.kind == "address":
            addresses.add((c.traveller_ref, normalize_contact("address", c.value)))
    for p in b.travellers:
        pid = ids("P", p.segment)
        by_ref.setdefault(p.ref, pid)
        rows.add(
            "pnr_travellers",
            pnr_traveller_id=pid,
            booking_id=bid,
            record_locator=b.record_locator,
            ref=p.ref,
            surname=p.surname,
            given_names=p.given_names,
            title=p.title,
            passenger_type=p.passenger_type,
            sex=p.sex,
            date_of_birth=p.date_of_birth,
            nationality=p.nationality,
            frequent_flyer=p.frequent_flyer,
            message_sha256=sha,
            segment=p.segment,
        )
        _document_rows(rows, "pnr", pid, p.documents, sha, p.segment)
        if p.address is not None:
            text = _address_text(p.address)
            if text and (p.ref, normalize_contact("address", text)) not in addresses:
                rows.add(
                    "booking_contacts",
                    booking_id=bid,
                    pnr_traveller_id=pid,
                    kind="address",
                    value=text,
                    normalized=normalize_contact("address", text),
                    source="DOCA",
                    message_sha256=sha,
                    segment=p.segment,
                )
    for c in b.contacts:
        rows.add(
            "booking_contacts",
            booking_id=bid,
            pnr_traveller_id=by_ref.get(c.traveller_ref) if c.traveller_ref else None,
            kind=c.kind,
            value=c.value,
            normalized=normalize_contact(c.kind, c.value),
            source=c.source,
            message_sha256=sha,
            segment=b.segment,
        )
    for pay in b.payments:
        rows.add(
            "payments",
            booking_id=bid,
            form=pay.form,
            amount=pay.amount,
            currency=pay.currency,
            masked_card=pay.masked_card,
            payer_name=pay.payer_name,
            payer_phone=pay.payer_phone,
            message_sha256=sha,
            segment=b.segment,
        )
    for seq, leg in enumerate(b.itinerary, start=1):
        rows.add(
            "itinerary",
            booking_id=bid,
            leg_seq=seq,
            **_flight_dict(leg),
            message_sha256=sha,
            segment=b.segment,
        )


def _pnr_out(m: PnrgovMessage, index: int, sha: str) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    rows = _Rows()
    ids = _Ids(sha, index)
    for b in m.bookings:
        _booking_rows(rows, b, ids("B", b.segment), ids, m.push_type, sha)
    meta = {
        "kind": "PNRGOV",
        "index": index,
        "message_ref": m.message_ref,
        "flight": _flight_dict(m.flight),
        "prepared": m.prepared,
        "push_type": m.push_type,
        "bookings": len(m.bookings),
        "declared_bookings": m.declared_bookings,
    }
    return meta, rows.tables()


@dataclass
class _FileResult:
    """What parsing one distinct file gives (picklable: it crosses the process pool)."""

    file: str
    sha: str
    kind: str | None = None
    error: tuple[str, int, str] | None = None  # code, segment, message
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    messages: list[tuple[dict[str, Any], dict[str, pa.Table]]] = field(default_factory=list)


def _parse_bytes(data: bytes, file: str) -> _Parsed:
    parser = importlib.import_module("apiflag.edifact")  # the parsing stage, loaded when used
    parsed: _Parsed = parser.parse_bytes(data, file=file)
    return parsed


def _parse_one(task: tuple[str, str, str, dt.date]) -> _FileResult:
    """Parse one archived file into warehouse fragments, or say why it is quarantined."""
    file, sha, path, night = task
    result = _FileResult(file=file, sha=sha)
    try:
        data = Path(path).read_bytes()
        parsed = _parse_bytes(data, file)
        result.kind = parsed.kind
        result.dropped = dict(parsed.dropped)
        result.warnings = list(parsed.warnings)
        for i, m in enumerate(parsed.manifests):
            result.messages.append(_manifest_out(m, i, sha, night))
        for i, p in enumerate(parsed.pnr_messages):
            result.messages.append(_pnr_out(p, i, sha))
        if not result.messages:
            result.error = (E_EMPTY, 0, "no PAXLST or PNRGOV message in the interchange")
    except ParseError as exc:
        result.error = (exc.code, exc.segment, exc.message)
    except Exception as exc:  # a parser bug must not stop the night: quarantine and name it
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result.error = (
            E_INTERNAL,
            0,
            f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})",
        )
    if result.error is not None:
        result.messages = []
    return result


def _parse_all(tasks: list[tuple[str, str, str, dt.date]], workers: int) -> Iterator[_FileResult]:
    if workers <= 1 or len(tasks) < 2:
        yield from map(_parse_one, tasks)
        return
    chunk = max(1, min(32, len(tasks) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_parse_one, tasks, chunksize=chunk)


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class IngestReport:
    """What one night's ingest did; ``reconciliation`` is what ``reconciliation.json`` holds.

    Attributes:
        night: the arrival night.
        source: the night folder read.
        warehouse: the night's warehouse folder.
        reconciliation: the counts (see :func:`ingest_night`).
    """

    night: dt.date
    source: Path
    warehouse: Path
    reconciliation: dict[str, Any]

    @property
    def balanced(self) -> bool:
        """Whether every distinct message was either parsed or quarantined."""
        return bool(self.reconciliation["messages"]["balanced"])

    def to_json(self) -> str:
        """Return the reconciliation as indented JSON (what ``--format json`` prints)."""
        return json.dumps(self.reconciliation, indent=2, sort_keys=False, default=str) + "\n"

    def render(self) -> str:
        """Return the reconciliation as a few lines for a person."""
        r = self.reconciliation
        m, t, links = r["messages"], r["travellers"], r["links"]
        lines = [
            f"night {r['night']}: {r['source']}",
            f"messages in {m['arrived']} = distinct {m['distinct']} + resends {m['resends']}; "
            f"distinct {m['distinct']} = parsed {m['parsed']} + quarantined {m['quarantined']}"
            f" ({'balanced' if m['balanced'] else 'NOT BALANCED'})",
            f"messages about other nights (parsed, not loaded): {m['other_night']}",
            f"flights {r['flights']['count']}: travellers {t['total']} "
            f"(passengers {t['passengers']}, crew {t['crew']}); "
            f"flights whose CNT differs from the parsed count: {r['flights']['cnt_mismatches']}",
            f"PNR pushes {r['bookings']['pushes']}: current {r['bookings']['current']}, "
            f"superseded {r['bookings']['superseded']}",
            f"passengers linked to a PNR {links['passengers_linked']}, "
            f"unlinked {links['passengers_unlinked']}; by level "
            + ", ".join(f"{k} {v}" for k, v in links["by_level"].items()),
        ]
        for q in r["quarantine"]:
            lines.append(
                f"quarantined {q['file']}: segment {q['segment']}: {q['code']}: {q['message']}"
            )
        for f in r["flights"]["per_flight"]:
            if not f["cnt_ok"]:
                lines.append(
                    f"CNT mismatch {f['flight_id']}: passengers {f['passengers_parsed']} parsed"
                    f" / {f['passengers_declared']} declared, crew {f['crew_parsed']} parsed"
                    f" / {f['crew_declared']} declared"
                )
        lines.append(f"warehouse: {self.warehouse}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the stage


def _concat(name: str, parts: list[pa.Table]) -> pa.Table:
    if not parts:
        return warehouse.empty_table(name)
    return pa.concat_tables(parts).combine_chunks()


def _push_order(bookings: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Set ``push_seq`` (1 = first push) and ``superseded`` per (flight, record locator)."""
    if bookings.empty:
        return bookings
    frame = bookings.join(keys)
    frame["_known"] = frame["_when"].notna()
    frame["_when"] = frame["_when"].fillna(pd.Timestamp.min)
    frame["_last"] = frame["last_transaction"].fillna(pd.Timestamp.min)
    frame["_seg"] = frame["segment"].fillna(-1)
    frame["_locator"] = frame["record_locator"].str.strip().str.upper()
    ordered = frame.sort_values(
        ["flight_id", "_locator", "_known", "_when", "_last", "_rank", "_order", "_seg"],
        kind="mergesort",
    )
    seq = ordered.groupby(["flight_id", "_locator"], sort=False).cumcount() + 1
    size = ordered.groupby(["flight_id", "_locator"], sort=False)["booking_id"].transform("size")
    out = bookings.copy()
    out.loc[seq.index, "push_seq"] = seq.astype("int32")
    out.loc[seq.index, "superseded"] = (seq < size).to_numpy()
    return out


def _resolve_pnr_flight(
    flight: dict[str, Any], night: dt.date, flights: dict[str, dict[str, Any]]
) -> str | None:
    """The night flight a PNR push is for, or None when it is not a flight of this night."""
    dep = flight["scheduled_departure"]
    arr = flight["scheduled_arrival"]
    if arr is not None:
        fid = flight_id_of(flight["carrier"], flight["number"], arr.date())
        return fid if arr.date() == night else None
    fid = flight_id_of(flight["carrier"], flight["number"], night)
    known = flights.get(fid)
    if known is None:
        return None
    kdep = known["scheduled_departure"]
    if dep is not None and kdep is not None and dep.date() != kdep.date():
        return None
    return fid


def ingest_night(night: dt.date, source: Path, *, workers: int | None = None) -> IngestReport:
    """Ingest one arrival night from a folder of PAXLST and PNRGOV files.

    Args:
        night: the local arrival date in Japan.
        source: a synthetic-world-shaped folder or a night folder (see :func:`night_source`).
        workers: parser processes; ``None`` picks up to 2 when the night is large, 1 parses
            in this process. The result never depends on it.

    Returns:
        The report; its ``reconciliation`` is also written to
        ``warehouse/night=<D>/reconciliation.json``.

    Raises:
        ApiflagError: the source folder is missing or holds no night folder.
    """
    folder = night_source(source, night)
    files = _message_files(folder)

    # 1. archive every arrival, keep the first of identical resends
    arrivals: list[dict[str, Any]] = []
    tasks: list[tuple[str, str, str, dt.date]] = []
    first_file: dict[str, str] = {}
    distinct_bytes = 0
    for rel, path in files:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        _archive(sha, data)
        arrivals.append(
            {
                "night": night.isoformat(),
                "file": rel,
                "sha256": sha,
                "bytes": len(data),
                "resend_of": first_file.get(sha),
            }
        )
        if sha not in first_file:
            first_file[sha] = rel
            tasks.append((rel, sha, str(archive_path(sha)), night))
            distinct_bytes += len(data)
        del data
    log = "".join(json.dumps(a, sort_keys=True) + "\n" for a in arrivals).encode()
    _write_if_changed(config.archive_dir() / "arrivals" / f"night={night.isoformat()}.jsonl", log)

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if distinct_bytes >= PARALLEL_MIN_BYTES else 1

    # 2. parse (in file order), collect fragments of this night's messages
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    flights: dict[str, dict[str, Any]] = {}
    manifests: list[dict[str, Any]] = []
    pnr_pending: list[tuple[dict[str, Any], dict[str, pa.Table], _FileResult, int]] = []
    quarantine: dict[str, list[Any]] = {f.name: [] for f in warehouse.SCHEMAS["quarantine"]}
    quarantined: list[dict[str, Any]] = []
    other_night: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    n_warnings = 0
    parsed_files = 0
    kinds: Counter[str] = Counter()
    order = 0
    for res in _parse_all(tasks, workers):
        if res.error is not None:
            code, segment, message = res.error
            for key, value in (
                ("file", res.file),
                ("message_sha256", res.sha),
                ("code", code),
                ("segment", segment),
                ("message", message),
            ):
                quarantine[key].append(value)
            quarantined.append(
                {
                    "file": res.file,
                    "sha256": res.sha,
                    "code": code,
                    "segment": segment,
                    "message": message,
                }
            )
            continue
        parsed_files += 1
        kinds[res.kind or "?"] += 1
        dropped.update(res.dropped)
        n_warnings += len(res.warnings)
        for meta, tables in res.messages:
            order += 1
            if meta["kind"] == "PAXLST":
                arrival = meta["arrival_date"]
                if arrival is not None and arrival != night:
                    other_night.append(
                        {
                            "file": res.file,
                            "kind": "PAXLST",
                            "message_ref": meta["message_ref"],
                            "flight_id": meta["flight_id"],
                        }
                    )
                    continue
                meta = {**meta, "file": res.file, "sha256": res.sha}
                manifests.append(meta)
                flight_rows = tables.pop("flights").to_pylist()
                for row in flight_rows:
                    flights.setdefault(row["flight_id"], row)
                for name, table in tables.items():
                    parts[name].append(table)
            else:
                pnr_pending.append((meta, tables, res, order))

    # 3. PNR pushes: the flight they are for, and their push-order keys
    key_rows: list[dict[str, Any]] = []
    for meta, tables, res, msg_order in pnr_pending:
        fid = _resolve_pnr_flight(meta["flight"], night, flights)
        if fid is None:
            fl = meta["flight"]
            other_night.append(
                {
                    "file": res.file,
                    "kind": "PNRGOV",
                    "message_ref": meta["message_ref"],
                    "flight_id": f"{fl['carrier']}{fl['number']}",
                }
            )
            continue
        if fid not in flights:  # a PNR for a flight of this night that sent no API (yet)
            flights[fid] = {
                "flight_id": fid,
                **meta["flight"],
                "message_sha256": res.sha,
                "segment": None,
            }
        bookings = tables.get("bookings")
        if bookings is None:
            continue
        tables["bookings"] = bookings.set_column(
            bookings.schema.get_field_index("flight_id"),
            "flight_id",
            pa.array([fid] * bookings.num_rows, pa.string()),
        )
        for _ in range(bookings.num_rows):
            key_rows.append(
                {
                    "_when": meta["prepared"],
                    "_rank": _PUSH_RANK.get(meta["push_type"], 9),
                    "_order": msg_order,
                }
            )
        for name, table in tables.items():
            parts[name].append(table)

    # 4. assemble, order pushes, link
    flights_table = warehouse.to_arrow(
        "flights",
        {f.name: [row[f.name] for row in flights.values()] for f in warehouse.SCHEMAS["flights"]},
    )
    bookings_df = _concat("bookings", parts["bookings"]).to_pandas()
    keys = pd.DataFrame(key_rows, index=bookings_df.index)
    if not keys.empty:
        keys["_when"] = pd.to_datetime(keys["_when"])
    bookings_df = _push_order(bookings_df, keys)
    travellers_df = _concat("travellers", parts["travellers"]).to_pandas()
    pnr_df = _concat("pnr_travellers", parts["pnr_travellers"]).to_pandas()
    links = link_travellers(travellers_df, pnr_df, bookings_df)
    for column in ("pnr_traveller_id", "booking_id", "link_confidence", "link_level"):
        travellers_df[column] = links[column]

    outputs: dict[str, Any] = {
        "flights": flights_table,
        "travellers": travellers_df,
        "documents": _concat("documents", parts["documents"]),
        "bookings": bookings_df,
        "pnr_travellers": pnr_df,
        "booking_contacts": _concat("booking_contacts", parts["booking_contacts"]),
        "payments": _concat("payments", parts["payments"]),
        "itinerary": _concat("itinerary", parts["itinerary"]),
        "quarantine": quarantine,
    }
    out = warehouse.night_dir(night)
    warehouse.write_tables(night, outputs)
    _sync_quarantine_copies(out / "quarantine", quarantined)

    reconciliation = _reconcile(
        night=night,
        folder=folder,
        arrivals=arrivals,
        parsed_files=parsed_files,
        kinds=kinds,
        quarantined=quarantined,
        other_night=other_night,
        manifests=manifests,
        flights=flights,
        travellers=travellers_df,
        bookings=bookings_df,
        dropped=dropped,
        n_warnings=n_warnings,
    )
    text = json.dumps(reconciliation, indent=2, default=str) + "\n"
    _write_if_changed(out / "reconciliation.json", text.encode())
    return IngestReport(night=night, source=folder, warehouse=out, reconciliation=reconciliation)


def _sync_quarantine_copies(folder: Path, quarantined: list[dict[str, Any]]) -> None:
    wanted = {q["file"].replace("/", "__"): q["sha256"] for q in quarantined}
    if folder.is_dir():
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
    for name, sha in wanted.items():
        target = folder / name
        if target.is_file() and target.stat().st_size == archive_path(sha).stat().st_size:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive_path(sha), target)


def _reconcile(
    *,
    night: dt.date,
    folder: Path,
    arrivals: list[dict[str, Any]],
    parsed_files: int,
    kinds: Counter[str],
    quarantined: list[dict[str, Any]],
    other_night: list[dict[str, Any]],
    manifests: list[dict[str, Any]],
    flights: dict[str, dict[str, Any]],
    travellers: pd.DataFrame,
    bookings: pd.DataFrame,
    dropped: Counter[str],
    n_warnings: int,
) -> dict[str, Any]:
    distinct = len({a["sha256"] for a in arrivals})
    per_flight: dict[str, dict[str, Any]] = {
        fid: {
            "flight_id": fid,
            "messages": [],
            "passengers_parsed": 0,
            "passengers_declared": None,
            "crew_parsed": 0,
            "crew_declared": None,
        }
        for fid in sorted(flights)
    }
    for m in manifests:
        f = per_flight[m["flight_id"]]
        f["messages"].append({"file": m["file"], "sha256": m["sha256"], "index": m["index"]})
        f["passengers_parsed"] += m["passengers"]
        f["crew_parsed"] += m["crew"]
        for kind in ("passengers", "crew"):
            declared = m[f"declared_{kind}"]
            if declared is not None:
                f[f"{kind}_declared"] = (f[f"{kind}_declared"] or 0) + declared
    linked = travellers["link_level"].notna() & (travellers["link_level"] != "ambiguous")
    is_pax = travellers["role"].isin(sorted(_PASSENGER_ROLES))
    by_flight = travellers.assign(_linked=linked).groupby("flight_id")["_linked"]
    linked_per_flight = by_flight.sum().to_dict()
    size_per_flight = by_flight.size().to_dict()
    mismatches = 0
    for fid, f in per_flight.items():
        ok = all(
            f[f"{kind}_declared"] is None or f[f"{kind}_declared"] == f[f"{kind}_parsed"]
            for kind in ("passengers", "crew")
        )
        f["cnt_ok"] = ok
        mismatches += not ok
        f["linked"] = int(linked_per_flight.get(fid, 0))
        f["unlinked"] = int(size_per_flight.get(fid, 0)) - f["linked"]
    levels = travellers["link_level"].value_counts().to_dict()
    superseded = (
        int(bookings["superseded"].fillna(False).astype(bool).sum()) if len(bookings) else 0
    )
    return {
        "night": night.isoformat(),
        "source": str(folder),
        "parser_version": config.PARSER_VERSION,
        "messages": {
            "arrived": len(arrivals),
            "resends": len(arrivals) - distinct,
            "distinct": distinct,
            "parsed": parsed_files,
            "quarantined": len(quarantined),
            "balanced": distinct == parsed_files + len(quarantined),
            "by_kind": dict(sorted(kinds.items())),
            "other_night": len(other_night),
        },
        "quarantine": quarantined,
        "other_night": other_night,
        "flights": {
            "count": len(per_flight),
            "cnt_mismatches": mismatches,
            "per_flight": list(per_flight.values()),
        },
        "travellers": {
            "total": len(travellers),
            "passengers": int(is_pax.sum()),
            "crew": int((~is_pax).sum()),
        },
        "bookings": {
            "pushes": len(bookings),
            "current": len(bookings) - superseded,
            "superseded": superseded,
        },
        "links": {
            "linked": int(linked.sum()),
            "unlinked": int((~linked).sum()),
            "passengers_linked": int((linked & is_pax).sum()),
            "passengers_unlinked": int((~linked & is_pax).sum()),
            "by_level": {level.name: int(levels.get(level.name, 0)) for level in LEVELS}
            | {"ambiguous": int(levels.get("ambiguous", 0))},
        },
        "sensitive_dropped": dict(sorted(dropped.items())),
        "parser_warnings": n_warnings,
    }


# --------------------------------------------------------------------------- CLI


@click.command("ingest")
@click.option(
    "--night",
    "night_text",
    required=True,
    metavar="YYYY-MM-DD",
    help="Local arrival night to ingest.",
)
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path),
    default=None,
    help="A synthetic world (DIR/nights/<night>/...) or a night folder; "
    "default: the world under $APIFLAG_HOME.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parser processes (default: up to 2 for large nights).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Print the reconciliation for people or as JSON.",
)
def ingest_command(night_text: str, source: Path | None, workers: int | None, fmt: str) -> None:
    """Archive, parse or quarantine, and load one night's PAXLST and PNRGOV messages.

    Prints the reconciliation (messages in = parsed + quarantined, travellers per flight
    against the message's CNT, API-PNR links) and stores it beside the night's warehouse.
    """
    try:
        night = dt.date.fromisoformat(night_text)
    except ValueError:
        raise UsageError(f"--night {night_text!r}: not a date (YYYY-MM-DD)") from None
    report = ingest_night(
        night, source if source is not None else config.world_dir(), workers=workers
    )
    click.echo(report.to_json() if fmt == "json" else report.render(), nl=False)
