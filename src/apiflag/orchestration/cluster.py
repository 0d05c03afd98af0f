"""Where the flows' tasks run: the one place that turns ``--cluster`` into a task runner.

``--cluster local`` starts a :class:`distributed.LocalCluster` of 2 worker processes with one
thread each, listening on 127.0.0.1 only, dashboard off. ``--cluster tls://host:8786`` connects
to a running scheduler over TLS with the certificates named in the ``cluster:`` section of
``$APIFLAG_HOME/config.yaml``::

    cluster:
      tls_ca_file: /etc/apiflag/dask/ca.pem        # the unit's CA that signed every certificate
      tls_client_cert: /etc/apiflag/dask/client.pem
      tls_client_key: /etc/apiflag/dask/client-key.pem

A plain ``tcp://`` address is refused: personal data crosses that connection. No option here
turns a dashboard on. docs/OPERATIONS.md says how to run the scheduler and workers.

:func:`task_runner` gives a Prefect flow its runner (``flow.with_options(task_runner=...)``);
:func:`map_nights` maps any per-night function over nights on the chosen runner, through a
Prefect flow, with retries (what ``apiflag backfill``-like commands reuse).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from apiflag.errors import ApiflagError, UsageError
from apiflag.settings import config_path, read_config

#: The value of ``--cluster`` that starts a local cluster.
LOCAL = "local"
#: Worker processes and threads per worker of the local cluster.
LOCAL_WORKERS = 2
LOCAL_THREADS = 1
#: Keys of the ``cluster:`` section of ``config.yaml``, all required for a ``tls://`` scheduler.
TLS_KEYS = ("tls_ca_file", "tls_client_cert", "tls_client_key")
CLUSTER_HELP = (
    "Run the tasks on a Dask cluster: 'local' (2 worker processes on this machine) or "
    "tls://SCHEDULER:8786 (certificates from the cluster: section of config.yaml)."
)


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``local``, or the address of a TLS scheduler."""

    address: str | None  # None: a local cluster

    @property
    def local(self) -> bool:
        """True for a local cluster started (and stopped) by the run itself."""
        return self.address is None


def parse_cluster(text: str) -> ClusterSpec:
    """Return the :class:`ClusterSpec` of a ``--cluster`` value.

    Raises:
        UsageError: neither ``local`` nor ``tls://HOST:PORT``.
    """
    value = text.strip()
    if value == LOCAL:
        return ClusterSpec(None)
    if value.startswith("tls://"):
        host, _, port = value[len("tls://") :].rpartition(":")
        if host and port.isdigit():
            return ClusterSpec(value)
    if value.startswith(("tcp://", "ws://", "inproc://")):
        raise UsageError(
            f"--cluster {text!r}: refused, personal data would cross it unencrypted; "
            "use tls://HOST:PORT (see docs/OPERATIONS.md)"
        )
    raise UsageError(f"--cluster {text!r}: expected 'local' or tls://HOST:PORT")


def security() -> Any:
    """Return the :class:`distributed.security.Security` of the ``cluster:`` section.

    Raises:
        ApiflagError: the section or a key is missing, or names no readable file.
    """
    from distributed.security import Security

    path = config_path()
    section = read_config().get("cluster")
    if not isinstance(section, dict):
        raise ApiflagError(
            f"{path}: cluster: needs {', '.join(TLS_KEYS)} to reach a tls:// scheduler "
            "(see docs/OPERATIONS.md)"
        )
    unknown = sorted(set(section) - set(TLS_KEYS))
    if unknown:
        raise ApiflagError(f"{path}: cluster.{unknown[0]}: unknown key (known: {TLS_KEYS})")
    files = {}
    for key in TLS_KEYS:
        value = section.get(key)
        if not isinstance(value, str) or not value:
            raise ApiflagError(f"{path}: cluster.{key}: missing (a file path)")
        if not Path(value).is_file():
            raise ApiflagError(f"{path}: cluster.{key}: {value}: no such file")
        files[key] = value
    return Security(require_encryption=True, **files)  # type: ignore[no-untyped-call]


def task_runner(cluster: str | ClusterSpec) -> Any:
    """Return the Prefect task runner of a ``--cluster`` value (a ``DaskTaskRunner``).

    A local cluster is started when the flow starts and stopped when it ends; the workers
    inherit this process's environment (``APIFLAG_HOME`` above all).
    """
    spec = parse_cluster(cluster) if isinstance(cluster, str) else cluster
    # Dask's INFO lines (worker addresses, every start and stop) are not the run's business;
    # workers started from here inherit the setting through the environment
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    from prefect_dask.task_runners import DaskTaskRunner

    if spec.local:
        return DaskTaskRunner(cluster_class=_local_cluster, cluster_kwargs=local_cluster_kwargs())
    return DaskTaskRunner(address=spec.address, client_kwargs={"security": security()})


def local_cluster_kwargs() -> dict[str, Any]:
    """Return the arguments of the local cluster: 2 processes x 1 thread, loopback, no dashboard."""
    return {
        "n_workers": LOCAL_WORKERS,
        "threads_per_worker": LOCAL_THREADS,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }


def _api_url() -> str:
    """Return the URL of the Prefect API this flow run reports to (the temporary one included)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url)


#: Dask settings of the local cluster: Dask's sampling profiler (every 10 ms in every worker)
#: and its GIL and system monitors (every 1 ms and 500 ms) cost CPU for as long as the cluster is
#: up, and nothing here reads them (there is no dashboard).
LOCAL_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
}


def _dask_env(config: dict[str, Any]) -> dict[str, str]:
    """The same settings as environment variables, which the worker processes read."""
    return {
        "DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
        for key, value in config.items()
    }


def _local_cluster(**kwargs: Any) -> Any:
    """Start the local cluster (called by the task runner when the flow submits its first task).

    Its workers report their task runs to the flow's Prefect API, the temporary server of a
    run without ``PREFECT_API_URL`` included (else each worker would start its own).
    """
    import dask
    from distributed import LocalCluster

    # the scheduler runs here: the same settings in this process's config, set on top of it
    # (a refresh would drop what the caller set, such as a scheduler preload)
    dask.config.set(LOCAL_DASK_CONFIG)
    env = {**_dask_env(LOCAL_DASK_CONFIG), "PREFECT_API_URL": _api_url()}
    return LocalCluster(**kwargs, env=env)  # type: ignore[no-untyped-call]


def sequential_runner() -> Any:
    """Return the runner of a flow without a cluster: one task at a time, in submission order."""
    return ThreadPoolTaskRunner(max_workers=1)


def runner_for(cluster: str | None) -> Any:
    """Return :func:`task_runner` of ``cluster``, or :func:`sequential_runner` for None."""
    return sequential_runner() if cluster is None else task_runner(cluster)


@task(name="night", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE, persist_result=False)
def _night_task(function: Callable[..., Any], night: dt.date, kwargs: dict[str, Any]) -> Any:
    return function(night, **kwargs)


@flow(name="map-nights", log_prints=True)
def _map_nights(
    function: Callable[..., Any], nights: list[dt.date], kwargs: dict[str, Any]
) -> list[Any]:
    futures = [_night_task.submit(function, night, kwargs) for night in nights]
    return [f.result() for f in futures]


def map_nights(
    function: Callable[..., Any],
    nights: Sequence[dt.date],
    cluster: str | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Run ``function(night, **kwargs)`` for every night as a Prefect task, on ``cluster``.

    The nights are independent of one another (as re-screening a past night is); each is
    retried twice after a failure, a lost worker included, so ``function`` must be idempotent.
    ``function`` and its arguments must be picklable (a module-level function).

    Args:
        function: called once per night; its return values come back in night order.
        nights: the nights.
        cluster: a ``--cluster`` value, or None to run the nights one after another here.
        kwargs: passed to every call.
    """
    runner = runner_for(cluster)
    return list(_map_nights.with_options(task_runner=runner)(function, list(nights), kwargs))
