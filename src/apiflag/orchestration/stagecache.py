"""Per-night persistence of stage outputs, so a rerun of a night resumes instead of recomputing.

A stage writes its tables as ``<table>.parquet`` in the night's warehouse folder and a small
manifest ``_stages/<stage>.json`` holding the digest of everything it read (input files, upstream
stage digests, code versions). On a rerun the stage is skipped when the digest is unchanged and
all its outputs are present; anything else recomputes it. Writes are atomic (:mod:`apiflag.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from apiflag import atomic, config


def digest_of(parts: Iterable[str]) -> str:
    """Return the SHA-256 of the given strings, in order."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest(night: str, stage: str) -> Path:
    return config.warehouse_dir(night) / "_stages" / f"{stage}.json"


def stage_digest(night: str, stage: str) -> str | None:
    """Return the digest a stage last completed with for ``night``, or None."""
    path = _manifest(night, stage)
    if not path.is_file():
        return None
    return str(json.loads(path.read_text(encoding="utf-8"))["digest"])


def run_stage(
    night: str,
    stage: str,
    digest: str,
    compute: Callable[[], dict[str, pd.DataFrame]],
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Return a stage's tables for ``night``, computing them only when ``digest`` changed.

    Args:
        night: the night, ``YYYY-MM-DD``.
        stage: stage name (``matching``, ``rules`` ...).
        digest: digest of every input the stage reads; see :func:`digest_of`.
        compute: returns ``{table name: frame}``; called only on a miss.

    Returns:
        The tables, and True when they were reused from an earlier run.
    """
    folder = config.warehouse_dir(night)
    manifest = _manifest(night, stage)
    if manifest.is_file():
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        paths = {name: folder / f"{name}.parquet" for name in meta["tables"]}
        if meta["digest"] == digest and all(p.is_file() for p in paths.values()):
            return {name: pd.read_parquet(p) for name, p in paths.items()}, True
    tables = compute()
    for name, frame in tables.items():
        atomic.write_parquet(folder / f"{name}.parquet", frame)
    atomic.write_text(manifest, json.dumps({"digest": digest, "tables": sorted(tables)}))
    return tables, False


#: Environment variable naming a file to which every stage appends one JSON line of what it
#: cost in the process that ran it (wall, CPU, peak RSS): ``benchmarks/bench_backfill.py`` sets
#: it, and cluster workers inherit it. Unset (the default), nothing is measured.
TIMINGS_ENV = "APIFLAG_STAGE_TIMINGS"


T = TypeVar("T")


def timed_call(stage: str, night: str, function: Callable[..., T], kwargs: Mapping[str, Any]) -> T:
    """Return ``function(**kwargs)``; log its cost to ``$APIFLAG_STAGE_TIMINGS`` when that is set."""
    log = os.environ.get(TIMINGS_ENV)
    if not log:
        return function(**kwargs)
    before = _clock()
    out = function(**kwargs)
    after = _clock()
    wall, thread, process, children = (round(b - a, 3) for a, b in zip(before, after, strict=True))
    line = {
        "night": night,
        "stage": stage,
        "pid": os.getpid(),
        "wall_s": wall,
        "thread_cpu_s": thread,
        "process_cpu_s": process,
        "children_cpu_s": children,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    with Path(log).open("a", encoding="utf-8") as f:  # one short line a write: no interleaving
        f.write(json.dumps(line) + "\n")
    return out


def _clock() -> tuple[float, float, float, float]:
    """Wall, this thread's CPU, this process's CPU and its waited-for children's CPU (seconds)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.perf_counter(),
        time.thread_time(),
        time.process_time(),
        kids.ru_utime + kids.ru_stime,
    )
