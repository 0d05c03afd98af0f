"""Raw messages under retention: tombstones for masked nights, nothing left for deleted ones.

A masked night's raw messages are deleted and replaced by ``<sha>.masked`` tombstones (hash,
size, night, when, why: no content), so reconciliation by SHA-256 still adds up; a message that
also arrived for a night that stays readable (an identical resend) is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from apiflag import atomic, config
from apiflag.ingest.sources import archive_path
from apiflag.privacy import store

__all__ = [
    "archive_shas",
    "arrival_shas",
    "arrivals_log",
    "delete_archive",
    "live_shas",
    "mask_archive",
]


def archive_shas(folder: Path) -> set[str]:
    """Return the SHA-256 of every message the partition's tables name."""
    shas: set[str] = set()
    for path in folder.glob("*.parquet"):
        schema = pq.read_schema(path)
        if "message_sha256" in schema.names:
            column = pq.read_table(path, columns=["message_sha256"]).column("message_sha256")
            shas.update(str(v) for v in column.to_pylist() if v)
    return shas


def arrivals_log(night: str) -> Path:
    """Return ingest's arrivals log of ``night``."""
    return config.archive_dir() / "arrivals" / f"night={night}.jsonl"


def arrival_shas(night: str) -> set[str]:
    """Return the SHA-256 of every message that arrived for ``night`` (ingest's arrivals log)."""
    path = arrivals_log(night)
    shas: set[str] = set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                sha = json.loads(line).get("sha256")
                if isinstance(sha, str):
                    shas.add(sha)
    return shas


def live_shas(mask_before: str) -> set[str]:
    """Return messages that also arrived for a night that stays readable (identical resends)."""
    folder = config.archive_dir() / "arrivals"
    shas: set[str] = set()
    if folder.is_dir():
        for path in folder.glob("night=*.jsonl"):
            if path.stem[len("night=") :] >= mask_before:
                shas.update(arrival_shas(path.stem[len("night=") :]))
    return shas


def mask_archive(shas: Iterable[str], night: str) -> int:
    """Replace each raw message by a ``<sha>.masked`` tombstone; return how many."""
    removed = 0
    for sha in sorted(shas):
        path = archive_path(sha)
        if not path.is_file():
            continue
        tomb = {
            "sha256": sha,
            "bytes": path.stat().st_size,
            "night": night,
            "masked_at": store.now().isoformat(timespec="seconds"),
            "reason": "retention: raw message deleted after the masking period",
        }
        atomic.write_bytes(path.with_name(f"{sha}.masked"), json.dumps(tomb).encode())
        path.unlink()
        removed += 1
    return removed


def delete_archive(shas: Iterable[str]) -> int:
    """Delete each raw message and its tombstone; return how many files."""
    removed = 0
    for sha in shas:
        for path in (archive_path(sha), archive_path(sha).with_name(f"{sha}.masked")):
            if path.is_file():
                path.unlink()
                removed += 1
    return removed
