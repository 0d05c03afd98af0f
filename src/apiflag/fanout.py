"""Work within a night split into parts: the one place that decides the split and where parts run.

A stage that splits its work (the parsing of a night's files, :mod:`apiflag.ingest.pool`; the
scoring of its candidate pairs, :mod:`apiflag.matching.match`) asks :func:`where` where it
runs, cuts its items with :func:`spans` and runs the parts with :func:`run_parts`:

- **on a Dask cluster** (the stage is itself a task on a worker: ``--cluster``), every part is a
  Dask task on that cluster, submitted from the stage's task, which leaves its worker slot
  free while it waits (:func:`distributed.secede`); a part lost with its worker is run again
  by the scheduler;
- **here**, one part after another, or in a local pool of ``workers`` processes (parsing of a
  large night).

Results always come back in part order, so what a stage writes never depends on how its work
was split nor on which worker finished first. The workers of a cluster are already running,
so there a night is split even when it is small; a local pool costs a start-up, which the
caller weighs (:data:`apiflag.ingest.pool.PARALLEL_MIN_BYTES`).
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

__all__ = [
    "KEY_PREFIX",
    "PARTS_PER_WORKER",
    "PART_PRIORITY",
    "Where",
    "run_parts",
    "spans",
    "where",
]

T = TypeVar("T")
R = TypeVar("R")

PARTS_PER_WORKER = 4
"""Parts per worker thread: enough to keep every worker busy to the end of a night."""

PART_PRIORITY = 1
"""Dask priority of a part: above the stages' (0), so a started night finishes its parts first."""

KEY_PREFIX = "apiflag-"
"""Dask keys of the parts start with this, then the stage's part name (``apiflag-parse-...``)."""


@dataclass(frozen=True)
class Where:
    """Where a stage's parts run.

    Attributes:
        cluster: on the Dask cluster this process is a worker of.
        workers: worker threads of the cluster, else local processes (1: in this process).
    """

    cluster: bool
    workers: int


def _dask_worker() -> Any:
    """Return the Dask worker running this task, or None (Dask not even imported: not one)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def where(local_workers: int = 1) -> Where:
    """Return where a stage's parts run: its cluster when it runs on one, else here.

    Args:
        local_workers: processes to use when not on a cluster (a daemon process, such as a
            pool's worker, may not start a pool of its own: it gets 1).
    """
    if _dask_worker() is not None:
        from distributed import get_client

        client = get_client()  # the worker's own client: no secession
        threads = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
        return Where(cluster=True, workers=max(1, threads))
    if multiprocessing.current_process().daemon:
        return Where(cluster=False, workers=1)
    return Where(cluster=False, workers=max(1, local_workers))


def spans(total: int, workers: int, most: int) -> list[range]:
    """Cut ``range(total)`` into consecutive parts, in order.

    One worker gets parts of ``most`` items; more get about :data:`PARTS_PER_WORKER` parts
    each, never more than ``most`` items a part.
    """
    if total <= 0:
        return []
    size = most if workers <= 1 else min(most, math.ceil(total / (workers * PARTS_PER_WORKER)))
    size = max(1, size)
    return [range(start, min(total, start + size)) for start in range(0, total, size)]


def run_parts(
    function: Callable[..., R],
    parts: Sequence[T],
    at: Where,
    *,
    name: str,
    shared: Any = None,
) -> Iterator[R]:
    """Yield ``function(part)`` (``function(shared, part)`` when ``shared`` is given) in part order.

    Args:
        function: a module-level function (it crosses to other processes).
        parts: the parts, each picklable.
        at: :func:`where` they run.
        name: the parts' name in their Dask keys (``apiflag-<name>-<i>-<run>``).
        shared: an argument every part reads (sent once to the cluster, not once per part).
    """
    call: Callable[[T], R] = function if shared is None else partial(function, shared)
    if at.cluster and len(parts) > 1:
        yield from _on_cluster(function, parts, name, shared)
        return
    if at.cluster or at.workers <= 1 or len(parts) < 2:
        yield from map(call, parts)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=at.workers, mp_context=context) as pool:
        yield from pool.map(call, parts)


def _on_cluster(
    function: Callable[..., R], parts: Sequence[T], name: str, shared: Any
) -> Iterator[R]:
    """Run the parts as tasks on this worker's cluster; this task's thread waits outside the pool.

    The parts go first (a higher priority than the stages), and only then does this thread leave
    the worker's pool: the slot it frees runs a part, not another night's stage, so a backfill
    does not start every night at once while their parts wait.
    """
    from distributed import get_client, rejoin, secede

    run = uuid.uuid4().hex[:12]
    client = get_client()
    extra = []
    if shared is not None:  # sent to the cluster once, read by every part
        extra.append(client.scatter(shared, hash=False))  # type: ignore[no-untyped-call]
    futures = [
        client.submit(
            function,
            *extra,
            part,
            key=f"{KEY_PREFIX}{name}-{i}-{run}",
            pure=False,
            priority=PART_PRIORITY,
        )
        for i, part in enumerate(parts)
    ]
    secede()  # type: ignore[no-untyped-call]
    try:
        for future in futures:
            yield future.result()
            future.release()  # type: ignore[no-untyped-call]
    finally:
        for future in futures:
            future.release()  # type: ignore[no-untyped-call]
        rejoin()  # type: ignore[no-untyped-call]
