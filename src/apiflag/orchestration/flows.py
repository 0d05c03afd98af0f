"""The Prefect flows. Each task is a thin call into a stage function; state lives on disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from apiflag import config, filemodes, pipeline
from apiflag.alerts import load_settings as load_alert_settings
from apiflag.settings import Settings, load_settings


def _private_start() -> None:
    """Make what the flow creates private, and warn (stderr) when the home is open to others."""
    filemodes.private_umask()
    filemodes.warn_if_exposed(config.home_path())


@task(name="ingest", retries=2, retry_delay_seconds=5)
def ingest_task(night: dt.date, source: str, code: str) -> Any:
    """Archive, parse and load the night's messages (retried: file I/O)."""
    return pipeline.stage_ingest(night, Path(source), code)


@task(name="case-matching", retries=1, retry_delay_seconds=5)
def matching_task(night: str, casedb_url: str, settings: Settings) -> Any:
    """Match travellers and booking identifiers against the case database."""
    return pipeline.stage_matching(night, casedb_url, settings)


@task(name="features")
def features_task(night: str, settings: Settings) -> Any:
    """Build the night's feature table."""
    return pipeline.stage_features(night, settings)


@task(name="rules")
def rules_task(night: str, features: Any) -> Any:
    """Evaluate the rule catalogue."""
    return pipeline.stage_rules(night, features)


@task(name="model", retries=1, retry_delay_seconds=5)
def model_task(night: str, features: Any, rules: Any, matched: Any, settings: Settings) -> Any:
    """Score the flagged travellers with the approved champion, if any."""
    return pipeline.stage_model(night, features, rules, matched, settings)


@task(name="combine-queue-report", retries=1, retry_delay_seconds=5)
def finish_task(
    summary: pipeline.NightSummary,
    night: dt.date,
    matched: Any,
    features: Any,
    rules: Any,
    scored: Any,
) -> pipeline.NightSummary:
    """Combine, queue (idempotently) and write the report."""
    return pipeline.finish_night(summary, night, matched, features, rules, scored, True)


@flow(name="nightly", log_prints=True)
def nightly(
    source: str,
    casedb_url: str,
    night: dt.date | None = None,
    capacity: int | None = None,
    match_threshold: float | None = None,
) -> pipeline.NightSummary:
    """Ingest, link, match, featurise, apply rules and the champion, combine, queue and report.

    Settings come from ``$APIFLAG_HOME/config.yaml`` (:func:`apiflag.settings.load_settings`);
    ``capacity`` and ``match_threshold`` override the file for this run. Without ``night`` (a
    scheduled run) the night is today's date in the settings' time zone.
    """
    _private_start()
    load_alert_settings()  # a bad alerts: section stops the run before the night's work, not after
    settings = load_settings(capacity=capacity, match_threshold=match_threshold)
    if night is None:
        night = settings.today()
    summary = pipeline.start_summary(night, settings)
    pipeline.record_ingest(summary, ingest_task(night, source, summary.code_digests["ingest"]))
    key = str(night)
    matched: Any
    features: Any
    rules: Any
    scored: Any
    reused_m: bool
    reused_f: bool
    reused_r: bool
    reused_s: bool
    matched, reused_m = cast(tuple[Any, bool], matching_task(key, casedb_url, settings))
    features, reused_f = cast(tuple[Any, bool], features_task(key, settings))
    rules, reused_r = cast(tuple[Any, bool], rules_task(key, features))
    scored, reused_s = cast(tuple[Any, bool], model_task(key, features, rules, matched, settings))
    for name, reused in (
        ("matching", reused_m),
        ("features", reused_f),
        ("rules", reused_r),
        ("model", reused_s),
    ):
        if reused:
            summary.reused_stages.append(name)
    summary.warnings.extend(rules.warnings)
    summary = finish_task(summary, night, matched, features, rules, scored)
    create_markdown_artifact(
        summary.report_markdown or f"apiflag night {night}: no report",
        key=f"nightly-report-{key}",
        description=f"apiflag nightly report for {key}",
    )
    return summary


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
