"""Who may read what apiflag writes: the service account only.

The home (``$APIFLAG_HOME``) holds passengers' data in every form: raw messages, warehouse
tables, stage outputs, the queue database, the MLflow store, reports, and the synthetic world
(synthetic, but shaped as real). Decides:

* **the modes**: folders ``0700``, files ``0600`` (:data:`DIR_MODE`, :data:`FILE_MODE`),
  whatever the umask of the shell that started apiflag;
* **how**: the process umask gains the bits of :data:`PRIVATE_UMASK` (``077``) before anything is
  created (:func:`private_umask`: the CLI entry point, the flows, :func:`apiflag.config.home`
  and the synthetic-world writer call it), so every file and folder apiflag, SQLite, pyarrow,
  matplotlib or MLflow create is private, including those of forked worker processes; the home
  and a new world folder are also created with an explicit mode (:func:`private_dir`);
* **what an existing home gets**: a warning, never a silent ``chmod`` (an administrator may have
  opened it on purpose): :func:`exposure` finds the entries group or others can reach and
  read, write or list, and :func:`warn_if_exposed` prints one line on stderr at start naming
  the count, the first such entry and the command that fixes it.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "PRIVATE_UMASK",
    "Exposure",
    "exposure",
    "private_dir",
    "private_umask",
    "warn_if_exposed",
]

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
#: permission bits that give group or others any access
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO
#: a folder group or others may enter (search)
SEARCH_BITS = stat.S_IXGRP | stat.S_IXOTH
_WARNED: set[Path] = set()


def private_umask() -> None:
    """Add ``077`` to the process umask (keeping any stricter bits already set)."""
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) private to the service account.

    An existing folder keeps its mode (see :func:`warn_if_exposed`); a folder created here is
    ``0700`` whatever the umask was.

    Args:
        path: the folder.

    Returns:
        ``path``.
    """
    private_umask()
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    return path


@dataclass(frozen=True)
class Exposure:
    """Entries of a folder that group or others can reach and access.

    Attributes:
        root: the folder checked.
        root_mode: the folder's own permission bits.
        count: how many entries (the folder included) carry a group or others bit and can be
            reached by them (every folder above them, up to ``root``, is searchable by them).
        first: the first such entry found (the folder itself when it is open).
        first_mode: that entry's permission bits.
        checked: entries looked at (only reachable folders are walked).
    """

    root: Path
    root_mode: int
    count: int
    first: Path | None
    first_mode: int
    checked: int

    def line(self) -> str:
        """Return the one-line warning (empty when nothing is exposed)."""
        if not self.count:
            return ""
        where = (
            f"the folder itself is mode {self.root_mode:o}"
            if self.first == self.root
            else f"{self.first} is mode {self.first_mode:o}"
        )
        return (
            f"apiflag: warning: {self.root} holds personal data and {self.count} "
            f"{'entry' if self.count == 1 else 'entries'} in it can be read or listed by group "
            f"or others ({where}); fix with: chmod -R go= {self.root}"
        )


def exposure(root: Path) -> Exposure:
    """Count the entries under ``root`` that group or others can reach and access.

    Only folders that group or others may search (an ``x`` bit for them) are walked: what lies
    in a ``0700`` folder is out of their reach whatever its own mode, so a private home costs
    one ``stat``, and a home left open by an older build is walked whole. Symbolic links are
    not followed (a link's own bits mean nothing).

    Args:
        root: a folder (the home, a world).

    Returns:
        The :class:`Exposure`; ``count`` 0 when nothing is within their reach.
    """
    root_mode = stat.S_IMODE(os.lstat(root).st_mode)
    count = 1 if root_mode & OPEN_BITS else 0
    first: Path | None = root if count else None
    first_mode = root_mode if count else 0
    checked = 1
    stack = [str(root)] if root_mode & SEARCH_BITS else []
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            checked += 1
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            if mode & OPEN_BITS:
                count += 1
                if first is None:
                    first, first_mode = Path(entry.path), mode
            if stat.S_ISDIR(info.st_mode) and mode & SEARCH_BITS:
                stack.append(entry.path)
    return Exposure(Path(root), root_mode, count, first, first_mode, checked)


def warn_if_exposed(root: Path, stream: TextIO | None = None) -> Exposure | None:
    """Print one warning line on ``stream`` (stderr) when an existing ``root`` is open to others.

    Args:
        root: the home (or a world folder); nothing happens when it does not exist yet.
        stream: where to write (default ``sys.stderr``).

    Returns:
        The :class:`Exposure` when ``root`` exists, else None.
    """
    if not root.is_dir():
        return None
    found = exposure(root)
    if found.count and root.resolve() not in _WARNED:
        _WARNED.add(root.resolve())  # once per process: `apiflag run` starts a flow that checks too
        print(found.line(), file=stream or sys.stderr, flush=True)
    return found
