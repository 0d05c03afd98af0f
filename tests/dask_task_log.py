"""A Dask scheduler preload for tests: log every apiflag part task that finished, and where.

Loaded by the scheduler (``distributed.scheduler.preload``) of a cluster a test starts; each
``apiflag-...`` key that reaches memory is appended to the file named by
``$APIFLAG_TEST_TASK_LOG`` as ``key<TAB>worker address``. It observes the real scheduler; it
changes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from apiflag.fanout import KEY_PREFIX

LOG_ENV = "APIFLAG_TEST_TASK_LOG"


class TaskLog(SchedulerPlugin):
    """Append ``key<TAB>worker`` for every apiflag part task that finished on a worker."""

    def __init__(self, path: str) -> None:
        self.path = path

    def transition(
        self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str, **kwargs: Any
    ) -> None:
        if finish == "memory" and isinstance(key, str) and key.startswith(KEY_PREFIX):
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(f"{key}\t{kwargs.get('worker', '')}\n")


def dask_setup(scheduler: Any) -> None:
    """Register the log on the scheduler (a preload's entry point)."""
    scheduler.add_plugin(TaskLog(os.environ[LOG_ENV]))
