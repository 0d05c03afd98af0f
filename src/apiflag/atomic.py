"""The one atomic writer: a file is replaced whole or not at all, never left half-written.

Every write goes to a uniquely named temporary file in the target's own folder
(``.<name>.<random>.tmp``, so two processes never share one and the rename stays on one file
system), then :func:`os.replace` puts it in place. On any failure the temporary file is removed
and the old file, if any, is untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "atomic_paths", "write_bytes", "write_parquet", "write_text"]


def _temp_next_to(path: Path, parents: bool = True) -> Path:
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


@contextmanager
def atomic_path(path: Path, *, parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it goes.

    Args:
        path: the file to replace.
        parents: create missing parent folders (state under ``$APIFLAG_HOME``); False for a
            path a user named (``--out``), where a missing folder is their mistake.

    Raises:
        OSError: the folder is missing (``parents=False``) or not writable.
    """
    tmp = _temp_next_to(path, parents)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_paths(paths: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """Like :func:`atomic_path` for several files: all are renamed only when all were written."""
    staged: dict[str, Path] = {}
    try:
        for key, path in paths.items():
            staged[key] = _temp_next_to(path)
        yield dict(staged)
        for key, tmp in staged.items():
            os.replace(tmp, paths[key])
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, *, parents: bool = True) -> Path:
    """Replace ``path`` with ``data``; returns ``path`` (``parents``: see :func:`atomic_path`)."""
    with atomic_path(path, parents=parents) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8", *, parents: bool = True) -> Path:
    """Replace ``path`` with ``text``; returns ``path`` (``parents``: see :func:`atomic_path`)."""
    return write_bytes(path, text.encode(encoding), parents=parents)


def write_parquet(path: Path, data: pd.DataFrame | pa.Table, **options: Any) -> Path:
    """Replace ``path`` with a Parquet file of ``data`` (a frame is written without its index).

    Args:
        path: the target file.
        data: a pandas frame or an Arrow table.
        options: passed to :func:`pyarrow.parquet.write_table` (``compression`` ...).
    """
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **options)
    return path
