"""The parsing pool: archived files to warehouse column batches, or to quarantine.

Files are parsed in batches (:data:`BATCH_FILES`) by the fast reader, else the tolerant reader
(:func:`apiflag.edifact.fast.file_columns`), in a pool of worker processes when the night is
large, or as tasks on the Dask cluster the night runs on (:mod:`apiflag.fanout`). Results are
consumed in file order, so the output never depends on which worker finished first. A file the
parser refuses, or that makes the parser fail, is quarantined with a stable code; it never stops
the night.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from apiflag import fanout, warehouse
from apiflag.carrier_quality import NightAccounts, file_rows
from apiflag.edifact import parse_bytes
from apiflag.edifact.fast import file_columns
from apiflag.edifact.rows import MSG, RowBatch
from apiflag.errors import ParseError
from apiflag.ingest.sources import archive_path
from apiflag.record_quarantine import NightLosses, loss_rows

__all__ = [
    "BATCH_FILES",
    "E_EMPTY",
    "E_INTERNAL",
    "PARALLEL_MIN_BYTES",
    "BatchResult",
    "FileResult",
    "ParsedNight",
    "parse_all",
    "parse_batch",
    "parse_night",
    "workers_for",
]

BATCH_FILES = 64
"""Files parsed per batch: rows are converted to Arrow once per batch, not once per file."""

PARALLEL_MIN_BYTES = 8 << 20
"""Below this many bytes of distinct messages a night is parsed in-process (no pool start-up)."""

E_EMPTY = "E_NO_MESSAGE"
"""Quarantine code for an interchange that parsed but held no PAXLST or PNRGOV message."""

E_INTERNAL = "E_PARSER_INTERNAL"
"""Quarantine code for a parser failure that was not a ParseError (a parser bug): the message is
kept and the night goes on, and the error names the exception so it can be fixed."""

_WARNING = re.compile(r"\b(W_[A-Z_]+)\b")


@dataclass
class FileResult:
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
class BatchResult:
    """A batch of files parsed by one worker (picklable: it crosses the process pool)."""

    files: list[FileResult]
    metas: list[dict[str, Any]]
    tables: dict[str, pa.Table]


def warning_code(warning: str) -> str:
    """Return the ``W_...`` code of a parser warning line (``W_OTHER`` when it names none)."""
    found = _WARNING.search(warning)
    return found.group(1) if found else "W_OTHER"


def _parse_file(file: str, sha: str, night: dt.date, batch: RowBatch) -> FileResult:
    result = FileResult(file=file, sha=sha)
    start = len(batch.metas)
    try:
        # plain files are read straight into columns, the others by the tolerant reader;
        # either way into a scratch batch first so a failure never leaves half a file
        columns = file_columns(archive_path(sha).read_bytes(), file, sha, night, parse_bytes)
        result.carriers = file_rows(file, sha, columns.parsed)
        result.lost = loss_rows(file, sha, columns.parsed.lost)
        if not columns.batch.metas:
            raise ParseError(E_EMPTY, "no PAXLST or PNRGOV message in the interchange", 0)
        batch.absorb(columns.batch)
        result.kind = columns.kind
        result.dropped = columns.dropped
        result.warnings = dict(Counter(warning_code(w) for w in columns.warnings))
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
    return result


def parse_batch(task: tuple[list[tuple[str, str]], dt.date]) -> BatchResult:
    """Parse a batch of archived files (file, sha) into warehouse fragments or quarantine."""
    items, night = task
    batch = RowBatch()
    results = [_parse_file(file, sha, night, batch) for file, sha in items]
    return BatchResult(files=results, metas=batch.metas, tables=batch.tables())


def parse_all(tasks: list[tuple[str, str]], night: dt.date, workers: int) -> Iterator[BatchResult]:
    """Parse every distinct file in batches; batches come back in file order.

    On a Dask cluster (the ingest stage is a task on a worker) every batch is a task on that
    cluster; else the batches run here, or in a pool of ``workers`` processes
    (:mod:`apiflag.fanout` decides, and cuts the batches).
    """
    at = fanout.where(workers)
    batches = [
        (tasks[r.start : r.stop], night) for r in fanout.spans(len(tasks), at.workers, BATCH_FILES)
    ]
    yield from fanout.run_parts(parse_batch, batches, at, name="parse")


def workers_for(distinct_bytes: int) -> int:
    """Parser processes for a night: up to 2 when it is large, else parse in this process."""
    return min(2, os.cpu_count() or 1) if distinct_bytes >= PARALLEL_MIN_BYTES else 1


@dataclass
class ParsedNight:
    """Every batch of a night gathered: message metadata, table fragments and the counts.

    Attributes:
        metas: one dict per parsed message, numbered across the night.
        parts: per warehouse table, its Arrow fragments (tagged with :data:`MSG`).
        quarantine: the ``quarantine`` table's columns.
        quarantined: one ``{file, sha256, code, segment, message}`` per quarantined file.
        carriers: the per-carrier accounting; losses: the records lost in read files.
    """

    carriers: NightAccounts = field(default_factory=NightAccounts)
    losses: NightLosses = field(default_factory=NightLosses)
    parts: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    metas: list[dict[str, Any]] = field(default_factory=list)
    quarantine: dict[str, list[Any]] = field(
        default_factory=lambda: {f.name: [] for f in warehouse.SCHEMAS["quarantine"]}
    )
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    unh: int = 0
    parsed_files: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, batch: BatchResult) -> None:
        """Count a batch's files and append its messages after those gathered so far."""
        for res in batch.files:
            self.carriers.add(res.carriers)
            self.losses.add(res.lost)
            if res.error is None:
                self.parsed_files += 1
                self.kinds[res.kind or "?"] += 1
                self.dropped.update(res.dropped)
                self.warnings.update(res.warnings)
                self.unh += res.unh
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
                self.quarantine[key].append(value)
            self.quarantined.append(
                {
                    "file": res.file,
                    "sha256": res.sha,
                    "code": code,
                    "segment": segment,
                    "message": message,
                }
            )
        offset = len(self.metas)
        self.metas.extend(batch.metas)
        for name, table in batch.tables.items():
            if table.num_rows:
                msg = pc.add(table.column(MSG), pa.scalar(offset, pa.int32()))
                index = table.schema.get_field_index(MSG)
                self.parts[name].append(table.set_column(index, MSG, msg))


def parse_night(tasks: list[tuple[str, str]], night: dt.date, workers: int) -> ParsedNight:
    """Parse the night's distinct files (in file order) and gather them."""
    gathered = ParsedNight()
    batches: Iterable[BatchResult] = parse_all(tasks, night, workers)
    for batch in batches:
        gathered.add(batch)
    return gathered
