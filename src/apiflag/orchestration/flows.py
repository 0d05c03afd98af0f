"""The Prefect flows. Each task is one stage of :data:`apiflag.pipeline.STAGES`; state lives on disk.

The nightly and backfill flows are built from the same declared stage list as the plain runner
(:func:`apiflag.pipeline.run_night`); :mod:`apiflag.orchestration.cluster` picks where the tasks
run (one at a time here, or on a Dask cluster).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from apiflag import config, filemodes, pipeline
from apiflag.alerts import load_settings as load_alert_settings
from apiflag.orchestration.cluster import sequential_runner
from apiflag.settings import load_settings


def _private_start() -> None:
    """Make what the flow creates private, and warn (stderr) when the home is open to others."""
    filemodes.private_umask()
    filemodes.warn_if_exposed(config.home_path())


def segments(stages: Sequence[pipeline.Stage] = pipeline.STAGES) -> list[tuple[str, ...]]:
    """Split ``stages`` into runs of consecutive stages, one Prefect task each.

    A new task starts at every stage that waits for other nights (``history`` or ``serial``);
    the stages between two such ones need only their own night, so running them in one task
    costs no overlap between nights and saves a task run's bookkeeping (Prefect's API and
    server, the worker's task engine) and the hand-over of their frames between workers: for
    :data:`apiflag.pipeline.STAGES`, ``ingest+matching``, ``features+rules+model`` and
    ``finish``. Each stage still records its own manifest and is reused on its own.
    """
    out: list[list[str]] = []
    for stage in stages:
        if not out or stage.history or stage.serial:
            out.append([stage.name])
        else:
            out[-1].append(stage.name)
    return [tuple(names) for names in out]


def call_segment(
    names: Sequence[str], context: dict[str, Any], earlier: Sequence[dict[str, Any]]
) -> dict[str, pipeline.StageOutput]:
    """Run the stages ``names`` of one night in order (one task of :func:`segments`).

    Args:
        names: consecutive stages of :data:`apiflag.pipeline.STAGES`.
        context: the night's values (:func:`apiflag.pipeline.night_context`).
        earlier: the results of the night's earlier tasks whose outputs these stages read.

    Returns:
        ``{stage name: its output}`` of every stage run here.
    """
    done: dict[str, pipeline.StageOutput] = {}
    for result in earlier:
        done.update(result)
    out: dict[str, pipeline.StageOutput] = {}
    for name in names:
        stage = pipeline.STAGE_BY_NAME[name]
        out[name] = done[name] = pipeline.call_stage(name, context, pipeline.upstream(stage, done))
    return out


def _segment_task(names: tuple[str, ...]) -> Any:
    """Return the Prefect task of one run of stages, retried as often as its most retried stage."""
    return task(
        name="+".join(names),
        retries=max(pipeline.STAGE_BY_NAME[n].retries for n in names),
        retry_delay_seconds=RETRY_DELAY_SECONDS,
        cache_policy=NO_CACHE,  # a stage's own digest decides reuse (apiflag.orchestration.stagecache)
        persist_result=False,
    )(call_segment)


#: Seconds between a failed task and its retry.
RETRY_DELAY_SECONDS = 5
#: One Prefect task per run of stages of :func:`segments` (of every prefix of the stage list).
SEGMENT_TASKS: dict[tuple[str, ...], Any] = {
    names: _segment_task(names)
    for i in range(len(pipeline.STAGES))
    for names in segments(pipeline.STAGES[: i + 1])
}
#: Without a cluster the flow runs one task at a time, in submission order (as the plain runner).
SEQUENTIAL = sequential_runner()


def submit_nights(
    contexts: Sequence[dict[str, Any]], stages: Sequence[pipeline.Stage] = pipeline.STAGES
) -> list[Any]:
    """Submit every stage of every night to the flow's task runner; return the last tasks' futures.

    The stages run as the tasks of :func:`segments`. A task waits for the task before it of its
    night; one starting with a ``history`` stage also for the earlier tasks of every earlier
    night; one starting with a ``serial`` stage for itself on the night before. On a Dask
    cluster the nights thus overlap as far as their data allow, and the queue is still written
    night after night in order, as the plain runner writes it.

    Args:
        contexts: one :func:`apiflag.pipeline.night_context` per night, in night order.
        stages: a prefix of :data:`apiflag.pipeline.STAGES` (all of them by default).

    Returns:
        One future per night of ``{stage name: output}`` of its last task.
    """
    runs = segments(stages)
    futures: list[list[Any]] = []
    for i, context in enumerate(contexts):
        mine: list[Any] = []
        for j, names in enumerate(runs):
            first = pipeline.STAGE_BY_NAME[names[0]]
            # stages read one another's stored tables too (features read the night's matches
            # from the warehouse), so each waits for the one before it, not only for its inputs
            wait_for: list[Any] = [mine[j - 1]] if j else []
            if first.history:
                wait_for.extend(f[k] for f in futures[:i] for k in range(j))
            if first.serial and i:
                wait_for.append(futures[i - 1][j])
            reads = {
                s for n in names for s in pipeline.upstream(pipeline.STAGE_BY_NAME[n], _ALL_DONE)
            }
            earlier = [mine[k] for k in range(j) if reads & set(runs[k])]
            mine.append(SEGMENT_TASKS[names].submit(names, context, earlier, wait_for=wait_for))
        futures.append(mine)
    return [f[-1] for f in futures]


#: Every stage as done, to ask :func:`apiflag.pipeline.upstream` which stages one reads.
_ALL_DONE: dict[str, Any] = {stage.name: None for stage in pipeline.STAGES}


def _summaries(futures: Sequence[Any]) -> list[pipeline.NightSummary]:
    out = []
    for future in futures:
        outputs, _ = future.result()[pipeline.STAGES[-1].name]
        out.append(outputs["summary"])
    return out


def _publish(summary: pipeline.NightSummary) -> None:
    create_markdown_artifact(
        summary.report_markdown or f"apiflag night {summary.night}: no report",
        key=f"nightly-report-{summary.night}",
        description=f"apiflag nightly report for {summary.night}",
    )


@flow(name="nightly", log_prints=True, task_runner=SEQUENTIAL)
def nightly(
    source: str,
    casedb_url: str,
    night: dt.date | None = None,
    capacity: int | None = None,
    match_threshold: float | None = None,
) -> pipeline.NightSummary:
    """Ingest, link, match, featurise, apply rules and the champion, combine, queue and report.

    The stages are :data:`apiflag.pipeline.STAGES`, one task each. Settings come from
    ``$APIFLAG_HOME/config.yaml`` (:func:`apiflag.settings.load_settings`); ``capacity`` and
    ``match_threshold`` override the file for this run. Without ``night`` (a scheduled run) the
    night is today's date in the settings' time zone. Run it on a cluster with
    ``nightly.with_options(task_runner=apiflag.orchestration.cluster.task_runner(spec))``.
    """
    _private_start()
    load_alert_settings()  # a bad alerts: section stops the run before the night's work, not after
    settings = load_settings(capacity=capacity, match_threshold=match_threshold)
    if night is None:
        night = settings.today()
    context = pipeline.night_context(night, Path(source), casedb_url, settings)
    (summary,) = _summaries(submit_nights([context]))
    _publish(summary)
    return summary


@flow(name="backfill", log_prints=True, task_runner=SEQUENTIAL)
def backfill(
    source: str,
    casedb_url: str,
    nights: list[dt.date],
    capacity: int | None = None,
    match_threshold: float | None = None,
    write_report: bool = True,
) -> list[pipeline.NightSummary]:
    """Run the nightly job over several nights (each night's stages as tasks; see :func:`submit_nights`).

    Re-running a backfill reuses every stage whose inputs and code are unchanged and never
    duplicates a queue item.
    """
    _private_start()
    load_alert_settings()
    settings = load_settings(capacity=capacity, match_threshold=match_threshold)
    contexts = [
        pipeline.night_context(n, Path(source), casedb_url, settings, write_report=write_report)
        for n in sorted(nights)
    ]
    summaries = _summaries(submit_nights(contexts))
    for summary in summaries:
        _publish(summary)
    return summaries


@flow(name="prepare-nights", log_prints=True, task_runner=SEQUENTIAL)
def prepare_nights(source: str, casedb_url: str, nights: list[dt.date], until: str) -> int:
    """Run the stages up to and including ``until`` over ``nights`` (no queue, no report).

    Training (``apiflag model train --cluster``) runs this first on the cluster: the training
    frame then reads the nights' stored stage outputs instead of recomputing them.
    Returns the number of nights prepared.
    """
    _private_start()
    names = [s.name for s in pipeline.STAGES]
    stages = pipeline.STAGES[: names.index(until) + 1]
    settings = load_settings()
    contexts = [
        pipeline.night_context(n, Path(source), casedb_url, settings, write_report=False)
        for n in sorted(nights)
    ]
    for future in submit_nights(contexts, stages):
        future.result()
    return len(contexts)


@task(name="train-and-register", retries=0)
def train_task(world: str) -> Any:
    """Train and register a candidate (never promotes)."""
    from apiflag.model.pipeline import train_world

    return train_world(Path(world))


@flow(name="retrain", log_prints=True)
def retrain(world: str) -> Any:
    """Train a candidate on the world's history and register it; promotion stays a human act."""
    _private_start()
    return train_task(world)


@task(name="apply-retention")
def retention_task(as_of: dt.date | None) -> Any:
    """Apply the retention policy to every store."""
    from apiflag.privacy import apply_retention

    return apply_retention(as_of=as_of)


@flow(name="retention", log_prints=True)
def retention(as_of: dt.date | None = None) -> Any:
    """Mask personal data past the masking period and delete it past the maximum."""
    _private_start()
    return retention_task(as_of)
