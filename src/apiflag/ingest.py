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
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import click
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from apiflag import atomic, config, provenance, warehouse
from apiflag.errors import ApiflagError, ParseError, UsageError
from apiflag.linking import LEVELS, link_travellers, name_key
from apiflag.normalise import normalise_email, phone_digits
from apiflag.records import FlightLeg, PaxlstManifest, PnrgovMessage

if TYPE_CHECKING:
    from apiflag.edifact import ParsedFile

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

BATCH_FILES = 64
"""Files parsed per batch: rows are converted to Arrow once per batch, not once per file."""

PARALLEL_MIN_BYTES = 8 << 20
"""Below this many bytes of distinct messages a night is parsed in-process (no pool start-up)."""

E_EMPTY = "E_NO_MESSAGE"
"""Quarantine code for an interchange that parsed but held no PAXLST or PNRGOV message."""

E_INTERNAL = "E_PARSER_INTERNAL"
"""Quarantine code for a parser failure that was not a ParseError (a parser bug): the message is
kept and the night goes on, and the error names the exception so it can be fixed."""

_PUSH_RANK = {"full": 0, "changed": 1}
_QUALITY = ("clean", "degraded", "quarantined")  # per-carrier counts the render sums
_PASSENGER_ROLES = frozenset({"passenger", "transit_passenger"})
_CREW_ROLES = frozenset({"crew", "transit_crew"})
_NOT_DIGITS = re.compile(r"[^0-9]")
_SPACES = re.compile(r"\s+")
_WARNING = re.compile(r"\b(W_[A-Z_]+)\b")


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
            if path.name.startswith(".") or not (path.is_file() or path.is_symlink()):
                continue  # hidden files (partial uploads) and folders; a broken link is an error
            found.append((f"{sub}/{path.name}", path))
    return found


def archive_path(sha256: str) -> Path:
    """Return where the archive keeps the message whose SHA-256 is ``sha256``."""
    return config.archive_dir() / sha256[:2] / sha256


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    atomic.write_bytes(path, data)


def _archive(sha: str, data: bytes) -> None:
    """Store ``data`` under its hash once; an existing copy with other bytes is replaced."""
    path = archive_path(sha)
    if path.is_file() and path.stat().st_size == len(data):
        return
    atomic.write_bytes(path, data)


# --------------------------------------------------------------------------- records -> rows


def normalize_contact(kind: str, value: str) -> str:
    """Return the form of a contact that other bookings' copies of it compare equal in.

    Phones are the E.164 number as digits (:func:`apiflag.normalise.phone_digits`); e-mails
    are :func:`apiflag.normalise.normalise_email`; addresses are upper case with single spaces.
    """
    if kind == "phone":
        return phone_digits(value)
    if kind == "email":
        return normalise_email(value)
    return _SPACES.sub(" ", value).strip().upper()


_MSG = "_msg"  # hidden column tying each row to its message until the night is assembled


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


class _Batch:
    """Column lists of every warehouse table for a batch of files.

    Each row is tagged with the number of its message in the batch; the batch is converted to
    Arrow once, not once per file.
    """

    def __init__(self) -> None:
        self.cols: dict[str, dict[str, list[Any]]] = {
            name: {f.name: [] for f in warehouse.SCHEMAS[name]} | {_MSG: []}
            for name in warehouse.RECORD_TABLES
        }
        self.metas: list[dict[str, Any]] = []

    def _extend(self, table: str, msg: int, n: int, **columns: Any) -> None:
        """Append ``n`` rows; a list gives one value per row, anything else repeats."""
        if not n:
            return
        for name, values in self.cols[table].items():
            if name == _MSG:
                values.extend([msg] * n)
                continue
            value = columns.get(name)
            if isinstance(value, list):
                values.extend(value)
            else:
                values.extend([value] * n)

    def _documents(
        self, msg: int, kind: str, owners: list[tuple[str, int | None, Any]], sha: str
    ) -> None:
        docs = [(oid, seq, d, seg) for oid, seg, ds in owners for seq, d in enumerate(ds)]
        self._extend(
            "documents",
            msg,
            len(docs),
            owner_kind=kind,
            owner_id=[o for o, _, _, _ in docs],
            seq=[s for _, s, _, _ in docs],
            doc_type=[d.type for _, _, d, _ in docs],
            number=[d.number for _, _, d, _ in docs],
            issuing_country=[d.issuing_country for _, _, d, _ in docs],
            expiry_date=[d.expiry_date for _, _, d, _ in docs],
            issue_date=[d.issue_date for _, _, d, _ in docs],
            message_sha256=sha,
            segment=[g for _, _, _, g in docs],
        )

    def add_manifest(
        self, m: PaxlstManifest, index: int, file: str, sha: str, night: dt.date
    ) -> None:
        msg = len(self.metas)
        leg = _arrival_leg(m.legs, night)
        arrival = leg.scheduled_arrival.date() if leg.scheduled_arrival else None
        fid = flight_id_of(leg.carrier, leg.number, arrival or night)
        ids = _Ids(sha, index)
        T = m.travellers
        tids = [ids("T", t.segment) for t in T]
        self._extend("flights", msg, 1, flight_id=fid, **_flight_dict(leg), message_sha256=sha)
        self._extend(
            "travellers",
            msg,
            len(T),
            traveller_id=tids,
            flight_id=fid,
            role=[t.role for t in T],
            surname=[t.surname for t in T],
            given_names=[t.given_names for t in T],
            sex=[t.sex for t in T],
            date_of_birth=[t.date_of_birth for t in T],
            nationality=[t.nationality for t in T],
            country_of_residence=[t.country_of_residence for t in T],
            place_of_birth=[t.place_of_birth for t in T],
            record_locator=[t.record_locator for t in T],
            seat=[t.seat for t in T],
            frequent_flyer=[t.frequent_flyer for t in T],
            checked_bags=[t.checked_bags for t in T],
            bag_weight_kg=[t.bag_weight_kg for t in T],
            document_number=[t.documents[0].number if t.documents else None for t in T],
            degraded=[list(t.degraded) for t in T],
            message_sha256=sha,
            segment=[t.segment for t in T],
        )
        self._documents(
            msg, "api", [(tid, t.segment, t.documents) for tid, t in zip(tids, T, strict=True)], sha
        )
        roles: Counter[str] = Counter(t.role for t in T)
        self.metas.append(
            {
                "kind": "PAXLST",
                "file": file,
                "sha256": sha,
                "index": index,
                "message_ref": m.message_ref,
                "flight_id": fid,
                "arrival_date": arrival,
                "document_code": m.document_code,
                "function": (m.function or "").upper() or None,
                "prepared": m.prepared,
                "declared_passengers": m.declared_passengers,
                "declared_crew": m.declared_crew,
                "passengers": sum(roles[r] for r in _PASSENGER_ROLES),
                "crew": sum(roles[r] for r in _CREW_ROLES),
            }
        )

    def add_pnr(self, m: PnrgovMessage, index: int, file: str, sha: str) -> None:
        msg = len(self.metas)
        ids = _Ids(sha, index)
        B = m.bookings
        bids = [ids("B", b.segment) for b in B]
        agencies = [b.agency for b in B]
        self._extend(
            "bookings",
            msg,
            len(B),
            booking_id=bids,
            record_locator=[b.record_locator for b in B],
            carrier=[b.carrier for b in B],
            created=[b.created for b in B],
            last_transaction=[b.last_transaction for b in B],
            agency_id=[a.agency_id if a else None for a in agencies],
            agency_location=[a.location if a else None for a in agencies],
            agency_country=[a.country if a else None for a in agencies],
            push_type=m.push_type,
            n_travellers=[len(b.travellers) for b in B],
            message_sha256=sha,
            segment=[b.segment for b in B],
        )
        people = [
            (bid, b, p, ids("P", p.segment))
            for bid, b in zip(bids, B, strict=True)
            for p in b.travellers
        ]
        self._extend(
            "pnr_travellers",
            msg,
            len(people),
            pnr_traveller_id=[pid for _, _, _, pid in people],
            booking_id=[bid for bid, _, _, _ in people],
            record_locator=[b.record_locator for _, b, _, _ in people],
            ref=[p.ref for _, _, p, _ in people],
            surname=[p.surname for _, _, p, _ in people],
            given_names=[p.given_names for _, _, p, _ in people],
            title=[p.title for _, _, p, _ in people],
            passenger_type=[p.passenger_type for _, _, p, _ in people],
            sex=[p.sex for _, _, p, _ in people],
            date_of_birth=[p.date_of_birth for _, _, p, _ in people],
            nationality=[p.nationality for _, _, p, _ in people],
            frequent_flyer=[p.frequent_flyer for _, _, p, _ in people],
            degraded=[list(p.degraded) for _, _, p, _ in people],
            message_sha256=sha,
            segment=[p.segment for _, _, p, _ in people],
        )
        self._documents(msg, "pnr", [(pid, p.segment, p.documents) for _, _, p, pid in people], sha)
        pid_of = {(bid, p.ref): pid for bid, _, p, pid in reversed(people)}  # first wins
        contacts = [(bid, b, c) for bid, b in zip(bids, B, strict=True) for c in b.contacts]
        self._extend(
            "booking_contacts",
            msg,
            len(contacts),
            booking_id=[bid for bid, _, _ in contacts],
            pnr_traveller_id=[
                pid_of.get((bid, c.traveller_ref)) if c.traveller_ref else None
                for bid, _, c in contacts
            ],
            kind=[c.kind for _, _, c in contacts],
            value=[c.value for _, _, c in contacts],
            normalized=[normalize_contact(c.kind, c.value) for _, _, c in contacts],
            source=[c.source for _, _, c in contacts],
            message_sha256=sha,
            segment=[b.segment for _, b, _ in contacts],
        )
        pays = [(bid, b, p) for bid, b in zip(bids, B, strict=True) for p in b.payments]
        self._extend(
            "payments",
            msg,
            len(pays),
            booking_id=[bid for bid, _, _ in pays],
            form=[p.form for _, _, p in pays],
            amount=[p.amount for _, _, p in pays],
            currency=[p.currency for _, _, p in pays],
            masked_card=[p.masked_card for _, _, p in pays],
            payer_name=[p.payer_name for _, _, p in pays],
            payer_phone=[p.payer_phone for _, _, p in pays],
            message_sha256=sha,
            segment=[b.segment for _, b, _ in pays],
        )
        legs = [
            (bid, b, seq, leg)
            for bid, b in zip(bids, B, strict=True)
            for seq, leg in enumerate(b.itinerary, start=1)
        ]
        self._extend(
            "itinerary",
            msg,
            len(legs),
            booking_id=[bid for bid, _, _, _ in legs],
            leg_seq=[seq for _, _, seq, _ in legs],
            carrier=[leg.carrier for _, _, _, leg in legs],
            number=[leg.number for _, _, _, leg in legs],
            departure_airport=[leg.departure_airport for _, _, _, leg in legs],
            arrival_airport=[leg.arrival_airport for _, _, _, leg in legs],
            scheduled_departure=[leg.scheduled_departure for _, _, _, leg in legs],
            scheduled_arrival=[leg.scheduled_arrival for _, _, _, leg in legs],
            message_sha256=sha,
            segment=[b.segment for _, b, _, _ in legs],
        )
        self.metas.append(
            {
                "kind": "PNRGOV",
                "file": file,
                "sha256": sha,
                "index": index,
                "message_ref": m.message_ref,
                "flight": _flight_dict(m.flight),
                "prepared": m.prepared,
                "push_type": m.push_type,
            }
        )

    def absorb(self, other: _Batch) -> None:
        """Append ``other``'s rows and messages after this batch's."""
        offset = len(self.metas)
        for name, cols in self.cols.items():
            for column, values in cols.items():
                theirs = other.cols[name][column]
                values.extend([v + offset for v in theirs] if column == _MSG else theirs)
        self.metas.extend(other.metas)

    def tables(self) -> dict[str, pa.Table]:
        out = {}
        for name, cols in self.cols.items():
            msg = cols.pop(_MSG)
            table = warehouse.to_arrow(name, cols)
            out[name] = table.append_column(_MSG, pa.array(msg, pa.int32()))
        return out


@dataclass
class _FileResult:
    """What parsing one distinct file gave: its messages (numbers in the batch) or its error."""

    file: str
    sha: str
    kind: str | None = None
    error: tuple[str, int, str] | None = None  # code, segment, message
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)  # warning code -> count
    unh: int = 0  # UNH messages in the file, before multipart joining
    messages: range = range(0)
    carriers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # carrier_quality
    lost: list[dict[str, Any]] = field(default_factory=list)  # record_quarantine rows


@dataclass
class _BatchResult:
    """A batch of files parsed by one worker (picklable: it crosses the process pool)."""

    files: list[_FileResult]
    metas: list[dict[str, Any]]
    tables: dict[str, pa.Table]


def _parse_bytes(data: bytes, file: str) -> _Parsed:
    parser = importlib.import_module("apiflag.edifact")  # the parsing stage, loaded when used
    parsed: _Parsed = parser.parse_bytes(data, file=file)
    return parsed


def _warning_code(warning: str) -> str:
    found = _WARNING.search(warning)
    return found.group(1) if found else "W_OTHER"


def _parse_batch(task: tuple[list[tuple[str, str]], dt.date]) -> _BatchResult:
    """Parse a batch of archived files (file, sha) into warehouse fragments or quarantine."""
    from apiflag.carrier_quality import file_rows  # with the parser, loaded when used
    from apiflag.record_quarantine import loss_rows

    items, night = task
    batch = _Batch()
    results = []
    for file, sha in items:
        result = _FileResult(file=file, sha=sha)
        start = len(batch.metas)
        try:
            # plain files are read straight into columns, the others by the tolerant reader;
            # either way into a scratch batch first so a failure never leaves half a file
            columns = importlib.import_module("apiflag.edifact.fast").file_columns(
                archive_path(sha).read_bytes(), file, sha, night, _parse_bytes
            )
            result.carriers = file_rows(file, sha, cast("ParsedFile", columns.parsed))
            result.lost = loss_rows(file, sha, columns.parsed.lost)
            if not columns.batch.metas:
                raise ParseError(E_EMPTY, "no PAXLST or PNRGOV message in the interchange", 0)
            batch.absorb(columns.batch)
            result.kind = columns.kind
            result.dropped = columns.dropped
            result.warnings = dict(Counter(_warning_code(w) for w in columns.warnings))
            result.unh = columns.messages
            result.messages = range(start, len(batch.metas))
        except ParseError as exc:
            result.error = (exc.code, exc.segment, exc.message)
        except Exception as exc:  # a parser bug must not stop the night: quarantine, name it
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result.error = (
                E_INTERNAL,
                0,
                f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})",
            )
        results.append(result)
    return _BatchResult(files=results, metas=batch.metas, tables=batch.tables())


def _parse_all(
    tasks: list[tuple[str, str]], night: dt.date, workers: int
) -> Iterator[_BatchResult]:
    size = BATCH_FILES
    if workers > 1:  # enough batches per worker to keep both busy to the end
        size = max(1, min(BATCH_FILES, len(tasks) // (workers * 4) or 1))
    batches = [(tasks[i : i + size], night) for i in range(0, len(tasks), size)]
    if workers <= 1 or len(batches) < 2:
        yield from map(_parse_batch, batches)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(_parse_batch, batches)


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
            f"travellers named again by a later list: replaced {t['replaced']}, "
            f"cancelled (XR) {t['cancelled']}",
            f"PNR pushes {r['bookings']['pushes']}: current {r['bookings']['current']}, "
            f"superseded {r['bookings']['superseded']}",
            f"passengers linked to a PNR {links['passengers_linked']}, "
            f"unlinked {links['passengers_unlinked']}; by level "
            + ", ".join(f"{k} {v}" for k, v in links["by_level"].items()),
        ]
        per_carrier = r.get("carriers", [])
        lines.append(
            f"carriers {len(per_carrier)}: traveller records "
            + ", ".join(f"{k} {sum(c[k] for c in per_carrier)}" for k in _QUALITY)
        )
        from apiflag.record_quarantine import NightLosses

        lines += NightLosses.render(r)
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


def _assemble(name: str, parts: list[pa.Table], keep: list[bool], drop: bool = True) -> pa.Table:
    """Concatenate a table's batches, keep the rows of kept messages, drop the tag column."""
    if not parts:
        table = warehouse.empty_table(name).append_column(_MSG, pa.array([], pa.int32()))
    else:
        table = pa.concat_tables(parts)
        mask = pc.take(pa.array(keep, pa.bool_()), table.column(_MSG))
        table = table.filter(mask).combine_chunks()
    return table.drop_columns([_MSG]) if drop else table


def _push_order(
    bookings: pd.DataFrame, metas: list[dict[str, Any]], pnr_flight: list[str | None]
) -> pd.DataFrame:
    """Set flight, ``push_seq`` (1 = first push) and ``superseded`` per (flight, record locator).

    Order: the message's prepared time (else the booking's last transaction; pushes with neither
    count as oldest), then the push type (full before changed), then message order in the
    night's sorted files, then segment.
    """
    out = bookings.drop(columns=[_MSG])
    if bookings.empty:
        return out
    msg = bookings[_MSG].to_numpy()
    when = pd.Series(pd.to_datetime([m.get("prepared") for m in metas]), dtype="datetime64[us]")
    rank = [_PUSH_RANK.get(m.get("push_type") or "", 9) for m in metas]
    out["flight_id"] = [pnr_flight[i] for i in msg]
    frame = pd.DataFrame(
        {
            "flight_id": out["flight_id"],
            "locator": out["record_locator"].str.strip().str.upper(),
            "when": when.to_numpy()[msg],
            "last": out["last_transaction"].to_numpy(),
            "rank": [rank[i] for i in msg],
            "order": msg,
            "seg": out["segment"].fillna(-1).to_numpy(),
        },
        index=out.index,
    )
    frame["when"] = frame["when"].fillna(frame["last"])
    frame["known"] = frame["when"].notna()
    frame["when"] = frame["when"].fillna(pd.Timestamp.min)
    frame["last"] = frame["last"].fillna(pd.Timestamp.min)
    ordered = frame.sort_values(
        ["flight_id", "locator", "known", "when", "last", "rank", "order", "seg"],
        kind="mergesort",
    )
    groups = ordered.groupby(["flight_id", "locator"], sort=False)
    seq = groups.cumcount() + 1
    size = groups["order"].transform("size")
    out.loc[seq.index, "push_seq"] = seq.astype("int32")
    out.loc[seq.index, "superseded"] = (seq < size).to_numpy()
    return out


def _identity(row: tuple[Any, ...]) -> tuple[str, ...] | None:
    """Who a traveller row is, for replacing and cancelling across messages (None: unknowable)."""
    flight, role, surname, given, dob, document = row
    if dob is None and not document:
        return None
    return (
        str(flight),
        "crew" if role in _CREW_ROLES else "passenger",
        name_key(surname),
        name_key(given),
        str(dob),
        str(document or "").upper(),
    )


def _apply_manifest_functions(
    travellers: pd.DataFrame, metas: list[dict[str, Any]]
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Apply PAXLST lists of one flight in order: the latest list naming a traveller wins.

    Lists are ordered by prepared time (lists without one first), then file order. A traveller
    (same flight, passenger or crew, names, date of birth and first document) named again by a
    later message is *replaced* by that message's row: a resent or closing list (``CL``,
    ``CLOB``, ``RP`` ...) or a change (``CP``) never doubles anyone, while parts of one list
    sent as separate files add up. When the latest message naming a traveller is a
    cancellation (``XR``) the traveller is *cancelled*: no row is loaded. Rows of one message
    never replace each other, and a row with neither date of birth nor document is never
    matched.

    Returns:
        The rows to load (without the message tag) and, per removed traveller id, why
        (``replaced`` or ``cancelled``) and its flight.
    """
    if travellers.empty:
        return travellers.drop(columns=[_MSG]), {}
    lists = travellers.groupby(
        [travellers["flight_id"], travellers["role"].isin(sorted(_CREW_ROLES))], sort=False
    )[_MSG].nunique()
    xr = any(m.get("function") == "XR" for m in metas)
    if not xr and (lists <= 1).all():  # one list per flight and class: nothing to replace
        return travellers.drop(columns=[_MSG]), {}
    msg = travellers[_MSG].to_numpy()
    prepared = [m.get("prepared") for m in metas]
    when = [prepared[i] for i in msg]
    order = sorted(
        range(len(travellers)),
        key=lambda i: (
            when[i] is not None,
            when[i] or dt.datetime.min,
            msg[i],
            i,
        ),
    )
    cols = ["flight_id", "role", "surname", "given_names", "date_of_birth", "document_number"]
    rows = [
        tuple(None if v is None or v is pd.NA or v is pd.NaT or v != v else v for v in r)
        for r in travellers[cols].astype(object).itertuples(index=False, name=None)
    ]
    keys = [_identity(row) for row in rows]
    latest: dict[tuple[str, ...], tuple[int, list[int]]] = {}
    for i in order:
        key = keys[i]
        if key is None:
            continue
        seen = latest.get(key)
        if seen is not None and seen[0] == msg[i]:
            seen[1].append(i)
        else:
            latest[key] = (int(msg[i]), [i])
    winners: set[int] = set()
    cancelled: set[tuple[str, ...]] = set()
    for key, (m, indices) in latest.items():
        if metas[m].get("function") == "XR":
            cancelled.add(key)
        else:
            winners.update(indices)
    removed: dict[str, tuple[str, str]] = {}
    keep = []
    ids = travellers["traveller_id"].tolist()
    for i, row in enumerate(rows):
        key = keys[i]
        if key is None or i in winners:
            keep.append(True)
            continue
        keep.append(False)
        removed[ids[i]] = ("cancelled" if key in cancelled else "replaced", str(row[0]))
    kept = travellers.loc[keep].drop(columns=[_MSG]).reset_index(drop=True)
    return kept, removed


def _without_owners(documents: pa.Table, removed: set[str]) -> pa.Table:
    if not removed:
        return documents
    gone = pc.and_(
        pc.equal(documents.column("owner_kind"), "api"),
        pc.is_in(documents.column("owner_id"), value_set=pa.array(sorted(removed), pa.string())),
    )
    return documents.filter(pc.invert(pc.fill_null(gone, False)))


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
    tasks: list[tuple[str, str]] = []
    first_file: dict[str, str] = {}
    distinct_bytes = 0
    for rel, path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:  # cannot be archived, so cannot be quarantined: stop and say why
            raise ApiflagError(f"{path}: cannot read: {exc.strerror or exc}") from None
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
            tasks.append((rel, sha))
            distinct_bytes += len(data)
        del data
    log = "".join(json.dumps(a, sort_keys=True) + "\n" for a in arrivals).encode()
    _write_if_changed(config.archive_dir() / "arrivals" / f"night={night.isoformat()}.jsonl", log)

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if distinct_bytes >= PARALLEL_MIN_BYTES else 1

    # 2. parse in file order; batches come back in order whichever worker finished first
    from apiflag.carrier_quality import NightAccounts
    from apiflag.record_quarantine import NightLosses

    carriers, losses = NightAccounts(), NightLosses()
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    metas: list[dict[str, Any]] = []
    quarantine: dict[str, list[Any]] = {f.name: [] for f in warehouse.SCHEMAS["quarantine"]}
    quarantined: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    unh = 0
    parsed_files = 0
    kinds: Counter[str] = Counter()
    for batch in _parse_all(tasks, night, workers):
        for res in batch.files:
            carriers.add(res.carriers)
            losses.add(res.lost)
            if res.error is None:
                parsed_files += 1
                kinds[res.kind or "?"] += 1
                dropped.update(res.dropped)
                warnings.update(res.warnings)
                unh += res.unh
                continue
            code, segment, message = res.error
            row = {
                "file": res.file,
                "message_sha256": res.sha,
                "code": code,
                "segment": segment,
                "message": message,
            }
            for key, value in row.items():
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
        offset = len(metas)
        metas.extend(batch.metas)
        for name, table in batch.tables.items():
            if table.num_rows:
                msg = pc.add(table.column(_MSG), pa.scalar(offset, pa.int32()))
                parts[name].append(table.set_column(table.schema.get_field_index(_MSG), _MSG, msg))

    # 3. which messages belong to the night, and the flight each PNR push is for
    keep = [False] * len(metas)
    pnr_flight: list[str | None] = [None] * len(metas)
    other_night: list[dict[str, Any]] = []
    manifests: list[dict[str, Any]] = []
    for i, meta in enumerate(metas):
        if meta["kind"] == "PAXLST":
            if meta["arrival_date"] is not None and meta["arrival_date"] != night:
                other_night.append(
                    {
                        "file": meta["file"],
                        "kind": "PAXLST",
                        "message_ref": meta["message_ref"],
                        "flight_id": meta["flight_id"],
                    }
                )
            else:
                keep[i] = True
                manifests.append(meta)
    flights: dict[str, dict[str, Any]] = {}
    for row in _assemble("flights", parts["flights"], keep).to_pylist():
        flights.setdefault(row["flight_id"], row)
    for i, meta in enumerate(metas):
        if meta["kind"] != "PNRGOV":
            continue
        fid = _resolve_pnr_flight(meta["flight"], night, flights)
        if fid is None:
            fl = meta["flight"]
            other_night.append(
                {
                    "file": meta["file"],
                    "kind": "PNRGOV",
                    "message_ref": meta["message_ref"],
                    "flight_id": f"{fl['carrier']}{fl['number']}",
                }
            )
            continue
        keep[i] = True
        pnr_flight[i] = fid
        if fid not in flights:  # a PNR for a flight of this night that sent no API (yet)
            flights[fid] = {
                "flight_id": fid,
                **meta["flight"],
                "message_sha256": meta["sha256"],
                "segment": None,
            }

    # 4. assemble, order pushes, link
    flights_table = warehouse.to_arrow(
        "flights",
        {f.name: [row[f.name] for row in flights.values()] for f in warehouse.SCHEMAS["flights"]},
    )
    bookings_df = _assemble("bookings", parts.pop("bookings", []), keep, drop=False).to_pandas()
    bookings_df = _push_order(bookings_df, metas, pnr_flight)
    tagged = _assemble("travellers", parts.pop("travellers", []), keep, drop=False).to_pandas()
    travellers_df, removed = _apply_manifest_functions(tagged, metas)
    pnr_df = _assemble("pnr_travellers", parts.pop("pnr_travellers", []), keep).to_pandas()
    links = link_travellers(travellers_df, pnr_df, bookings_df)
    for column in ("pnr_traveller_id", "booking_id", "link_confidence", "link_level"):
        travellers_df[column] = links[column]

    outputs: dict[str, Any] = {
        "flights": flights_table,
        "travellers": travellers_df,
        "documents": _without_owners(
            _assemble("documents", parts.pop("documents", []), keep), set(removed)
        ),
        "bookings": bookings_df,
        "pnr_travellers": pnr_df,
        "booking_contacts": _assemble("booking_contacts", parts.pop("booking_contacts", []), keep),
        "payments": _assemble("payments", parts.pop("payments", []), keep),
        "itinerary": _assemble("itinerary", parts.pop("itinerary", []), keep),
        "quarantine": quarantine,
        "record_quarantine": losses.table(),
        **carriers.tables(),
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
        removed=removed,
        bookings=bookings_df,
        dropped=dropped,
        warnings=warnings,
        unh=unh,
    )
    reconciliation["carriers"] = carriers.summary()
    reconciliation.update(losses.reconciliation(reconciliation["carriers"]))
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
    removed: dict[str, tuple[str, str]],
    bookings: pd.DataFrame,
    dropped: Counter[str],
    warnings: Counter[str],
    unh: int,
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
    gone: Counter[tuple[str, str]] = Counter((fid, why) for why, fid in removed.values())
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
        f["loaded"] = int(size_per_flight.get(fid, 0))
        f["replaced"] = gone[(fid, "replaced")]
        f["cancelled"] = gone[(fid, "cancelled")]
        f["linked"] = int(linked_per_flight.get(fid, 0))
        f["unlinked"] = f["loaded"] - f["linked"]
    levels = travellers["link_level"].value_counts().to_dict()
    superseded = (
        int(bookings["superseded"].fillna(False).astype(bool).sum()) if len(bookings) else 0
    )
    code = provenance.stage_code_digest("ingest")
    return {
        "night": night.isoformat(),
        "source": str(folder),
        "parser_version": provenance.display_version(code),
        "parser_code_digest": code,
        "messages": {
            "arrived": len(arrivals),
            "resends": len(arrivals) - distinct,
            "distinct": distinct,
            "parsed": parsed_files,
            "quarantined": len(quarantined),
            "balanced": distinct == parsed_files + len(quarantined),
            "by_kind": dict(sorted(kinds.items())),
            "unh_messages": unh,
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
            "replaced": sum(1 for why, _ in removed.values() if why == "replaced"),
            "cancelled": sum(1 for why, _ in removed.values() if why == "cancelled"),
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
        "parser_warnings": dict(sorted(warnings.items())),
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
