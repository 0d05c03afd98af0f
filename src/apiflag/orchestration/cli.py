"""``apiflag run``, ``apiflag demo`` and ``apiflag serve``: the nightly job from the command line.

``run`` runs the nightly Prefect flow on any folder of messages laid out like a synthetic night
(real feeds dropped by a gateway look the same) and any case database. ``demo`` builds a small
world under ``$APIFLAG_HOME/world``, trains a model, promotes it with the approver ``demo``
(recorded as such in the audit log and the model card), runs one night and prints the queue.
``serve`` registers the three deployments with their cron schedules against a running
``prefect server start``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from apiflag import config

# Prefect without a server starts a temporary one per process: be patient on a busy machine,
# keep its state out of the user's home directory, and do not phone home.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
from apiflag.daterange import date_range_options, nights_between, parse_range
from apiflag.errors import ApiflagError, UsageError
from apiflag.orchestration.cluster import CLUSTER_HELP, parse_cluster
from apiflag.settings import Settings, load_settings

DEMO_WORLD = {"seed": 7, "nights": 1, "arrivals": 2500, "history_nights": 8}

#: The flags that override ``config.yaml`` for one run (see :mod:`apiflag.settings`).
CAPACITY_HELP = (
    "Items analysts can review tonight, besides case matches (default: config.yaml, else 50)."
)
THRESHOLD_HELP = (
    "Case-match probability reported and queued regardless of capacity "
    "(default: config.yaml, else models/matcher.json)."
)


def _night(value: str | None, settings: Settings) -> dt.date:
    if value is None:
        return settings.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--night {value!r}: expected YYYY-MM-DD") from None


def _world_nights(world: Path) -> list[dt.date]:
    folder = world / "nights"
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        try:
            out.append(dt.date.fromisoformat(p.name))
        except ValueError:
            continue
    return out


def run_nightly(
    night: dt.date,
    source: Path,
    casedb_url: str,
    settings: Settings,
    orchestrator: str,
    cluster: str | None = None,
) -> Any:
    """Run one night through the Prefect flow (on ``cluster`` if given), or with ``plain``."""
    from apiflag import pipeline
    from apiflag.alerts import load_settings as load_alert_settings

    pipeline.require_night(source, night)
    load_alert_settings()  # a bad alerts: section fails now, before Prefect or the night starts
    if orchestrator == "plain":
        if cluster is not None:
            raise UsageError("--cluster runs the Prefect flow; drop --orchestrator plain")
        return pipeline.run_night(night, source, casedb_url, settings=settings)
    from apiflag.orchestration.cluster import runner_for
    from apiflag.orchestration.flows import nightly

    return nightly.with_options(task_runner=runner_for(cluster))(
        night=night,
        source=str(source),
        casedb_url=casedb_url,
        capacity=settings.capacity,
        match_threshold=settings.match_threshold,
    )


def run_backfill(
    nights: list[dt.date],
    source: Path,
    casedb_url: str,
    settings: Settings,
    orchestrator: str,
    cluster: str | None = None,
    write_report: bool = True,
) -> list[Any]:
    """Run the nightly job over ``nights``: plain (one after another) or the backfill flow."""
    from apiflag import pipeline
    from apiflag.alerts import load_settings as load_alert_settings

    for night in nights:
        pipeline.require_night(source, night)
    load_alert_settings()
    if orchestrator == "plain":
        if cluster is not None:
            raise UsageError("--cluster runs the Prefect flow; drop --orchestrator plain")
        return [
            pipeline.run_night(n, source, casedb_url, settings=settings, write_report=write_report)
            for n in nights
        ]
    from apiflag.orchestration.cluster import runner_for
    from apiflag.orchestration.flows import backfill as backfill_flow

    return list(
        backfill_flow.with_options(task_runner=runner_for(cluster))(
            source=str(source),
            casedb_url=casedb_url,
            nights=nights,
            capacity=settings.capacity,
            match_threshold=settings.match_threshold,
            write_report=write_report,
        )
    )


def prepare_history(world: Path, cluster: str) -> int:
    """Run ingest to rules over a world's history nights on ``cluster`` (before training).

    The training frame (:func:`apiflag.model.pipeline.build_training_frame`) then reuses the
    stored stage outputs. Returns the number of nights.
    """
    from apiflag.model.pipeline import history_nights
    from apiflag.orchestration.cluster import task_runner
    from apiflag.orchestration.flows import prepare_nights

    db = world / "casedb.sqlite"
    if not db.is_file():
        raise ApiflagError(f"{world}: no casedb.sqlite here (the case database export)")
    nights = [dt.date.fromisoformat(n) for n in history_nights(world)]
    runner = task_runner(cluster)
    return int(
        prepare_nights.with_options(task_runner=runner)(
            source=str(world), casedb_url=f"sqlite:///{db.resolve()}", nights=nights, until="rules"
        )
    )


def _source_and_casedb(source: Path | None, casedb_url: str | None) -> tuple[Path, str]:
    source = source or config.world_dir()
    if not source.exists():
        raise ApiflagError(f"{source}: no such folder (run `apiflag demo` or pass --from)")
    if casedb_url is None:
        sqlite = source / "casedb.sqlite"
        if not sqlite.is_file():
            raise ApiflagError(f"{source}: no casedb.sqlite here; pass --casedb URL")
        casedb_url = f"sqlite:///{sqlite.resolve()}"
    return source, casedb_url


def _print_summary(s: Any) -> None:
    tracks = ", ".join(f"{k} {v}" for k, v in sorted(s.flagged_by_track.items())) or "none"
    click.echo(
        f"night {s.night}: {s.arrivals} arrivals, {s.linked} linked to a PNR, "
        f"{s.quarantined} files quarantined"
    )
    click.echo(
        f"case matches {s.case_matches}, identifier matches {s.identifier_matches}, "
        f"rule hits {s.rule_hits}"
    )
    click.echo(f"model: {s.model}")
    click.echo(f"flagged by track: {tracks}")
    click.echo(
        f"queued {s.queued} (new {s.inserted}, refreshed {s.updated}, unchanged {s.unchanged}, "
        f"decided and kept {s.kept_decided}); {s.overflow} more over capacity"
    )
    click.echo(s.alerts)
    if s.reused_stages:
        click.echo(f"reused from an earlier run: {', '.join(s.reused_stages)}")
    for w in s.warnings:
        click.echo(f"warning: {w}")
    if s.report_path:
        click.echo(f"report: {s.report_path}")


F = TypeVar("F", bound=Callable[..., Any])


def _settings_options(command: F) -> F:
    """The per-run settings overrides shared by `run` and `backfill` (the file's values otherwise)."""
    command = click.option(
        "--match-threshold",
        default=None,
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help=THRESHOLD_HELP,
    )(command)
    return click.option("--capacity", default=None, type=click.IntRange(min=0), help=CAPACITY_HELP)(
        command
    )


@click.command("run")
@click.option("--night", "night_text", default=None, help="YYYY-MM-DD (default: today in Japan).")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path),
    default=None,
    help="World or night folder of messages (default: $APIFLAG_HOME/world).",
)
@click.option(
    "--casedb",
    "casedb_url",
    default=None,
    help="Case database URL (default: the world's casedb.sqlite).",
)
@_settings_options
@click.option(
    "--orchestrator",
    type=click.Choice(["prefect", "plain"]),
    default="prefect",
    show_default=True,
    help="plain runs the same stages without Prefect.",
)
@click.option("--cluster", default=None, help=CLUSTER_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def run(
    night_text: str | None,
    source: Path | None,
    casedb_url: str | None,
    capacity: int | None,
    match_threshold: float | None,
    orchestrator: str,
    cluster: str | None,
    fmt: str,
) -> None:
    """Run the nightly job for one night (settings: $APIFLAG_HOME/config.yaml, flags on top)."""
    settings = load_settings(capacity=capacity, match_threshold=match_threshold)
    night = _night(night_text, settings)
    if cluster is not None:
        parse_cluster(cluster)  # a bad value fails before any work
    source, casedb_url = _source_and_casedb(source, casedb_url)
    summary = run_nightly(night, source, casedb_url, settings, orchestrator, cluster)
    if fmt == "json":
        click.echo(summary.to_json())
    else:
        _print_summary(summary)


@click.command("backfill")
@date_range_options()
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path),
    default=None,
    help="World folder of feeds, nights/<D>/... (default: $APIFLAG_HOME/world).",
)
@click.option("--casedb", "casedb_url", default=None, help="Case database URL.")
@_settings_options
@click.option(
    "--orchestrator",
    type=click.Choice(["prefect", "plain"]),
    default="prefect",
    show_default=True,
    help="plain runs the same stages night after night without Prefect.",
)
@click.option("--cluster", default=None, help=CLUSTER_HELP)
@click.option("--report/--no-report", default=True, help="Write each night's HTML report.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def backfill(
    start: str,
    end: str,
    source: Path | None,
    casedb_url: str | None,
    capacity: int | None,
    match_threshold: float | None,
    orchestrator: str,
    cluster: str | None,
    report: bool,
    fmt: str,
) -> None:
    """Run the nightly job over every night from --start to --end (after a rule or model change).

    Stages whose inputs and code did not change are reused; the queue never duplicates an item
    and decided items are kept.
    """
    first, last = parse_range(start, end)
    if cluster is not None:
        parse_cluster(cluster)
    settings = load_settings(capacity=capacity, match_threshold=match_threshold)
    source, casedb_url = _source_and_casedb(source, casedb_url)
    nights = nights_between(first, last)
    summaries = run_backfill(
        nights, source, casedb_url, settings, orchestrator, cluster, write_report=report
    )
    if fmt == "json":
        click.echo(json.dumps([json.loads(s.to_json()) for s in summaries], indent=2))
        return
    for s in summaries:
        reused = f"; reused {', '.join(s.reused_stages)}" if s.reused_stages else ""
        click.echo(
            f"night {s.night}: {s.arrivals} arrivals, queued {s.queued} (new {s.inserted}, "
            f"refreshed {s.updated}, unchanged {s.unchanged}){reused}"
        )
        for w in s.warnings:
            click.echo(f"  warning: {w}")
    click.echo(f"{len(summaries)} nights, {sum(s.queued for s in summaries)} items queued")


@click.command("demo")
@click.option(
    "--orchestrator", type=click.Choice(["prefect", "plain"]), default="prefect", show_default=True
)
@click.option("--capacity", default=None, type=click.IntRange(min=0), help=CAPACITY_HELP)
def demo(orchestrator: str, capacity: int | None) -> None:
    """Generate a small world, train and promote a demo model, run one night, print the queue."""
    from apiflag.model import registry
    from apiflag.model.pipeline import train_world
    from apiflag.queue.store import list_flags, open_engine
    from apiflag.synth.cli import summary_lines
    from apiflag.synth.world import WorldConfig, generate_world, summarize_world

    start = time.perf_counter()
    settings = load_settings(capacity=capacity)
    world = config.world_dir()
    click.echo(f"APIFLAG_HOME={config.home()}")
    if not (world / "world.json").is_file():
        click.echo(f"1/4 generating a synthetic world in {world} ({json.dumps(DEMO_WORLD)})")
        generate_world(world, WorldConfig(**DEMO_WORLD))  # type: ignore[arg-type]
    else:
        click.echo(f"1/4 reusing the synthetic world in {world}")
    for line in summary_lines(world, summarize_world(world)):
        click.echo(f"    {line}")
    click.echo("2/4 training a scorecard on the world's history (ingest, match, features, rules)")
    champion = registry.champion_version()
    trained: dict[str, Any] | None = None
    if champion is None:
        try:
            trained = train_world(world)
        except ApiflagError as exc:  # e.g. a slice without a reviewed positive
            click.echo(f"    not trained: {exc}; the night runs without a model")
    if trained is not None:
        version = str(trained["version"])
        metrics = trained.get("metrics", {})
        shown = [
            f"{k} {float(metrics[k]):.3f}"
            for k in ("roc_auc", "pr_auc", "brier", "ece")
            if k in metrics
        ]
        click.echo(f"    registered version {version}: " + ", ".join(shown))
        try:
            registry.promote(
                version,
                approver="demo",
                reason="apiflag demo: promoted automatically by the demo command, "
                "approver recorded as 'demo'",
            )
            click.echo(f"    promoted version {version} to champion (approver: demo)")
        except ApiflagError as exc:
            click.echo(f"    not promoted: {exc}; the night runs without a model")
    elif champion is not None:
        click.echo(f"    champion already set (version {champion}); not retraining")
    nights = _world_nights(world)
    if not nights:
        raise ApiflagError(f"{world}: the world has no nights")
    night = nights[-1]
    click.echo(f"3/4 running the nightly job for {night} ({orchestrator})")
    summary = run_nightly(
        night, world, f"sqlite:///{world / 'casedb.sqlite'}", settings, orchestrator
    )
    _print_summary(summary)
    click.echo("4/4 the queue, highest priority first (analysts decide; nothing is automatic):")
    engine = open_engine()
    try:
        items = list_flags(engine, night=night)
    finally:
        engine.dispose()
    print_queue(items[:20])
    if len(items) > 20:
        click.echo(f"... {len(items) - 20} more: apiflag queue list --night {night}")
    click.echo(f"explain one: apiflag explain {items[0]['flag_id']}" if items else "queue empty")
    _demo_account()
    click.echo(f"done in {time.perf_counter() - start:.0f} s")


DEMO_ACCOUNT = "demo"
DEMO_ROLES = ("analyst", "supervisor", "auditor", "model_owner")


def _demo_account() -> None:
    """Create the demo account (all roles, mapped to this login) and say how to open the desk.

    Its random password is printed once: it is stored only as an Argon2 hash.
    """
    import secrets

    from apiflag.privacy import accounts
    from apiflag.queue.store import open_engine

    engine = accounts.ready(open_engine())
    try:
        existing = accounts.get_account(engine, DEMO_ACCOUNT)
        login = accounts.os_login()
        if existing is None:
            password = secrets.token_urlsafe(12)
            mapped = any(a.login == login for a in accounts.list_accounts(engine))
            accounts.add_account(
                engine,
                DEMO_ACCOUNT,
                DEMO_ROLES,
                password=password,
                login=None if mapped else login,
                actor="apiflag-demo",
            )
            shown = f"password {password} (shown once; `apiflag users passwd demo` sets another)"
        else:
            shown = "the password printed by the first demo (`apiflag users passwd demo` resets it)"
    finally:
        engine.dispose()
    click.echo(
        f"review desk: run `apiflag web` and open http://127.0.0.1:8000/ ; sign in as "
        f"{DEMO_ACCOUNT} with {shown}"
    )
    click.echo(
        f"the CLI now acts as account {DEMO_ACCOUNT} for login {login}: "
        f"decide with --analyst {DEMO_ACCOUNT}"
    )


def print_queue(items: list[dict[str, Any]]) -> None:
    """Print queue items as the demo shows them; without a champion there is no probability."""
    if items and all(item["probability"] is None for item in items):
        click.echo("    no champion model: ranked by policy weights alone, no probability shown")
    click.echo(f"{'priority':>8}  {'prob':>6}  {'track':<18} {'status':<9} flag_id")
    for item in items:
        prob = item["probability"]
        shown = f"{prob:>6.3f}" if prob is not None else f"{'-':>6}"
        click.echo(
            f"{item['priority']:>8}  {shown}  {item['track']:<18} {item['status']:<9} {item['flag_id']}"
        )


@click.command("serve")
@click.option(
    "--world",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder the gateway drops messages into (default: $APIFLAG_HOME/world).",
)
@click.option("--casedb", "casedb_url", default=None, help="Case database URL.")
@click.option("--nightly-cron", default="0 2 * * *", show_default=True)
@click.option("--retention-cron", default="30 3 * * *", show_default=True)
@click.option("--retrain-cron", default="0 4 * * 0", show_default=True)
def serve(
    world: Path | None,
    casedb_url: str | None,
    nightly_cron: str,
    retention_cron: str,
    retrain_cron: str,
) -> None:
    """Serve the nightly, retention and retrain deployments on their cron schedules.

    The schedules run in the settings' time zone; every run reads capacity, thresholds and the
    rest from $APIFLAG_HOME/config.yaml when it starts. Needs a running Prefect server
    (`prefect server start`, PREFECT_API_URL set).
    """
    from prefect import serve as prefect_serve
    from prefect.client.schemas.schedules import CronSchedule

    from apiflag.orchestration.flows import nightly, retention, retrain

    world = world or config.world_dir()
    casedb_url = casedb_url or f"sqlite:///{(world / 'casedb.sqlite').resolve()}"
    tz = load_settings().time_zone
    deployments: list[Any] = [
        nightly.to_deployment(
            name="apiflag-nightly",
            schedules=[CronSchedule(cron=nightly_cron, timezone=tz)],
            parameters={"source": str(world), "casedb_url": casedb_url},
        ),
        retention.to_deployment(
            name="apiflag-retention", schedules=[CronSchedule(cron=retention_cron, timezone=tz)]
        ),
        retrain.to_deployment(
            name="apiflag-retrain",
            schedules=[CronSchedule(cron=retrain_cron, timezone=tz)],
            parameters={"world": str(world)},
        ),
    ]
    prefect_serve(*deployments)
