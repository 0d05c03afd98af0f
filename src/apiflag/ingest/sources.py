"""Message discovery and the archive: which files a night folder holds, each stored once.

Every file that arrived (``paxlst/`` and ``pnrgov/`` of the night folder) is stored once, by
SHA-256, under ``$APIFLAG_HOME/archive/<sha[:2]>/<sha>`` (identical resends share one copy) and
every arrival is logged in ``archive/arrivals/night=<D>.jsonl`` (file, hash, size, resend of).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apiflag import atomic, config
from apiflag.errors import ApiflagError

__all__ = [
    "FOLDERS",
    "Arrivals",
    "archive_arrivals",
    "archive_path",
    "message_files",
    "night_source",
    "write_if_changed",
]

FOLDERS = ("paxlst", "pnrgov")
"""Sub-folders of a night folder that ingest reads, in this order."""


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


def message_files(folder: Path) -> list[tuple[str, Path]]:
    """Return (relative name, path) of every non-hidden file in paxlst/ and pnrgov/, sorted."""
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


def write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` atomically unless the file already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        return
    atomic.write_bytes(path, data)


def _archive(sha: str, data: bytes) -> None:
    """Store ``data`` under its hash once; an existing copy with other bytes is replaced."""
    path = archive_path(sha)
    if path.is_file() and path.stat().st_size == len(data):
        return
    atomic.write_bytes(path, data)


@dataclass(frozen=True)
class Arrivals:
    """A night folder's files, archived.

    Attributes:
        arrivals: one ``{night, file, sha256, bytes, resend_of}`` per file, in file order.
        tasks: ``(file, sha)`` of each distinct message (the first of identical resends).
        distinct_bytes: the size of the distinct messages together.
    """

    arrivals: list[dict[str, Any]]
    tasks: list[tuple[str, str]]
    distinct_bytes: int


def archive_arrivals(night: dt.date, folder: Path) -> Arrivals:
    """Archive every file of the night folder, log each arrival, keep the first of resends.

    Raises:
        ApiflagError: a file cannot be read (it cannot be archived, so not quarantined either).
    """
    arrivals: list[dict[str, Any]] = []
    tasks: list[tuple[str, str]] = []
    first_file: dict[str, str] = {}
    distinct_bytes = 0
    for rel, path in message_files(folder):
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
    write_if_changed(config.archive_dir() / "arrivals" / f"night={night.isoformat()}.jsonl", log)
    return Arrivals(arrivals=arrivals, tasks=tasks, distinct_bytes=distinct_bytes)
