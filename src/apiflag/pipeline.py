"""The nightly job as plain functions: one per stage, each persisted per night so a rerun resumes.

Order: ingest, case matching, features, rules, model, combine, queue, report. Each stage
records the digest of what it read (warehouse files, case database content, rule catalogue,
champion version, the digest of the stage before it) and of the code it ran (its
:func:`apiflag.provenance.stage_code_digest`: the source of every apiflag module it imports, the
model files, the settings it reads and the library versions) in ``warehouse/night=<D>/_stages/``;
a rerun with the same digest reads the stored output instead of recomputing it, and any change
recomputes the stage and everything downstream of it. Combine and queue always run: the
queue store is idempotent (a rerun never duplicates an item nor changes a decided one).
The Prefect flows in :mod:`apiflag.orchestration` wrap these functions as tasks; nothing here
imports Prefect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from apiflag import atomic, casedb, config, provenance, warehouse
from apiflag.alerts import AlertReport, alert_night
from apiflag.alerts import load_settings as load_alert_settings
from apiflag.audit import check_chain
from apiflag.carrier_quality import carrier_trends
from apiflag.errors import ApiflagError
from apiflag.features import FEATURE_SPEC, TABLE_COLUMNS, build_night_features
from apiflag.ingest import ingest_night, message_files, night_source
from apiflag.matching.identifiers import match_identifiers
from apiflag.matching.match import match_travellers
from apiflag.matching.model import DEFAULT_MODEL_PATH, MatcherModel, load_model
from apiflag.model.inputs import flagged_mask, input_frame
from apiflag.model.scoring import load_champion, score
from apiflag.orchestration.stagecache import (
    digest_of,
    file_digest,
    run_stage,
    stage_digest,
    timed_call,
)
from apiflag.queue.combine import CombineSettings, RuleInfo, combine
from apiflag.queue.store import open_engine, save_night
from apiflag.report import build_report
from apiflag.report.nightly import CARRIER_DROP
from apiflag.rules import RuleResult, load_catalogue
from apiflag.rules.catalogue import default_rules_dir
from apiflag.rules.schema import AnyOf, describe
from apiflag.settings import Settings, load_settings

MATCH_TABLES = ("matches", "match_fields", "identifier_matches")
#: the stages whose outputs the model stage reads (features, rule hits, case matches)
STAGES_BEFORE_MODEL = ("matching", "features", "rules")


@dataclass
class NightSummary:
    """What a nightly run did, for the CLI, the flow's artifact and the tests."""

    night: str
    arrivals: int = 0
    quarantined: int = 0
    linked: int = 0
    case_matches: int = 0
    identifier_matches: int = 0
    rule_hits: int = 0
    model: str = "no model applied (no champion)"
    flagged_by_track: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    overflow: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_decided: int = 0
    reused_stages: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    code_digests: dict[str, str] = field(default_factory=dict)
    stage_digests: dict[str, str] = field(default_factory=dict)
    version: str = field(default_factory=provenance.package_version)
    alerts: str = field(default_factory=lambda: AlertReport(configured=False).line())
    alerts_sent: int = 0
    alerts_failed: int = 0
    report_path: str | None = None
    report_markdown: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Return the summary as JSON (no personal data)."""
        data = dict(self.__dict__)
        data.pop("report_markdown")
        return json.dumps(data, indent=2, sort_keys=True)


def _warehouse_digest(night: str, names: tuple[str, ...]) -> list[str]:
    part = config.warehouse_dir(night)
    out = []
    for name in names:
        path = part / f"{name}.parquet"
        out.append(f"{name}={file_digest(path) if path.is_file() else '-'}")
    return out


@dataclass(frozen=True)
class ReusedIngest:
    """An earlier ingest of exactly the same files, read back from its reconciliation."""

    reconciliation: dict[str, Any]

    @property
    def balanced(self) -> bool:
        """True when messages in = parsed + quarantined."""
        return bool(self.reconciliation.get("messages", {}).get("balanced", False))

    def to_json(self) -> str:
        """The stored reconciliation, as JSON."""
        return json.dumps(self.reconciliation)


def stage_settings(settings: Settings, matcher: MatcherModel) -> dict[str, dict[str, Any]]:
    """Return, per stage, the settings it reads (part of its code digest)."""
    threshold = match_threshold(settings, matcher)
    return {
        "matching": {"match_threshold": threshold},
        "features": {"history_days": settings.history_days, "age_bands": settings.age_bands},
        "combine": {
            "capacity": settings.capacity,
            "match_threshold": threshold,
            "age_bands": settings.age_bands,
        },
    }


def match_threshold(settings: Settings, matcher: MatcherModel) -> float:
    """Return the night's case-match threshold: the settings', else ``models/matcher.json``'s."""
    if settings.match_threshold is not None:
        return settings.match_threshold
    return matcher.default_threshold


def code_digests(settings: Settings, matcher: MatcherModel | None = None) -> dict[str, str]:
    """Return ``{stage: code digest}`` for a run with these settings."""
    return provenance.stage_code_digests(
        stage_settings(settings, matcher or load_model()), rules_dir=default_rules_dir()
    )


def source_digest(night: dt.date, source: Path, code: str | None = None) -> str:
    """Return the SHA-256 over the night's message files (names and contents) and the parser.

    Args:
        night: the night.
        source: a world or night folder.
        code: the ingest stage's code digest (default: computed).
    """
    folder = night_source(source, night)
    parts = [code or provenance.stage_code_digest("ingest"), str(folder.resolve())]
    for name, path in message_files(folder):
        parts.append(f"{name}={file_digest(path)}")
    return digest_of(parts)


def stage_ingest(night: dt.date, source: Path, code: str | None = None) -> Any:
    """Archive, parse and load one night of messages into the warehouse.

    A rerun over exactly the same files (same names, same bytes, same ingest code) reuses
    the warehouse partition instead of parsing again.

    Args:
        night: the night.
        source: a world or night folder.
        code: the ingest stage's code digest (default: computed).

    Returns:
        The :class:`apiflag.ingest.IngestReport`, or a :class:`ReusedIngest`.
    """
    digest = source_digest(night, source, code)
    part = config.warehouse_dir(str(night))
    manifest = part / "_stages" / "ingest.json"
    recon = part / "reconciliation.json"
    stored = (part / "carrier_quality.parquet").is_file()  # an earlier build did not store it
    if manifest.is_file() and recon.is_file() and stored:
        if json.loads(manifest.read_text(encoding="utf-8")).get("digest") == digest:
            return ReusedIngest(json.loads(recon.read_text(encoding="utf-8")))
    # on a cluster the files are parsed as tasks on it (apiflag.fanout), else here or in a pool
    report = ingest_night(night, source)
    atomic.write_text(manifest, json.dumps({"digest": digest}))
    return report


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def stage_matching(
    night: str, casedb_url: str, settings: Settings | None = None
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Match the night's travellers and booking identifiers against the case database.

    Args:
        night: the night.
        casedb_url: the case database.
        settings: the run's settings (default: :func:`apiflag.settings.load_settings`).
    """
    settings = _settings(settings)
    db = casedb.load(casedb_url)
    model = load_model()
    threshold = match_threshold(settings, model)
    code = provenance.stage_code_digest("matching", stage_settings(settings, model)["matching"])
    digest = digest_of(
        [
            code,
            db.digest(),
            _matcher_file_digest(),
            *_warehouse_digest(night, ("travellers", "documents", "bookings")),
            *_warehouse_digest(night, ("booking_contacts", "payments")),
        ]
    )

    def compute() -> dict[str, pd.DataFrame]:
        travellers = warehouse.read_table(night, "travellers")
        documents = warehouse.read_table(night, "documents")
        result = match_travellers(travellers, documents, db, threshold=threshold, model=model)
        ident = match_identifiers(
            warehouse.read_table(night, "booking_contacts"),
            warehouse.read_table(night, "payments"),
            warehouse.read_table(night, "bookings"),
            documents,
            db,
        )
        return {
            "matches": result.matches,
            "match_fields": result.fields,
            "identifier_matches": ident,
        }

    return run_stage(night, "matching", digest, compute)


def _matcher_file_digest() -> str:
    path = Path(DEFAULT_MODEL_PATH)
    return file_digest(path) if path.is_file() else "matcher-default"


def stage_features(night: str, settings: Settings | None = None) -> tuple[pd.DataFrame, bool]:
    """Build the night's feature table (with its history and the night's case matches).

    Args:
        night: the night.
        settings: the run's settings (history window, age bands).
    """
    settings = _settings(settings)
    tables = (*TABLE_COLUMNS, *MATCH_TABLES)
    code = provenance.stage_code_digest(
        "features", stage_settings(settings, load_model())["features"]
    )
    parts = [code, f"matching={stage_digest(night, 'matching') or '-'}"]
    parts.extend(_warehouse_digest(night, tables))
    for day in warehouse.nights_before(night, settings.history_days):
        # features read every table of the nights before (contacts, documents, bookings ...)
        parts.extend(f"{day}:{p}" for p in _warehouse_digest(day, tables))
    out, reused = run_stage(
        night,
        "features",
        digest_of(parts),
        lambda: {"features": build_night_features(night, write=False, settings=settings)},
    )
    return out["features"], reused


def stage_rules(night: str, features: pd.DataFrame) -> tuple[Any, bool]:
    """Evaluate the rule catalogue over the night's feature table.

    Returns:
        The :class:`apiflag.rules.RuleResult` (hits, digest, skipped rules and warnings).
    """
    catalogue = load_catalogue()
    code = provenance.stage_code_digest("rules", extra_files=[default_rules_dir()])
    digest = digest_of(
        [
            code,
            catalogue.digest,
            f"features={stage_digest(night, 'features') or '-'}",
            *_warehouse_digest(night, ("features",)),
        ]
    )
    meta_path = config.warehouse_dir(night) / "_stages" / "rules-meta.json"
    holder: dict[str, Any] = {}

    def compute() -> dict[str, pd.DataFrame]:
        result = catalogue.evaluate(features, night=dt.date.fromisoformat(night))
        holder["result"] = result
        meta = {
            "rules_digest": result.rules_digest,
            "evaluated": list(result.evaluated),
            "skipped": list(result.skipped),
            "warnings": list(result.warnings),
        }
        atomic.write_text(meta_path, json.dumps(meta))
        return {"rule_hits": result.hits}

    out, reused = run_stage(night, "rules", digest, compute)
    if "result" in holder:
        return holder["result"], reused
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    result = RuleResult(
        hits=out["rule_hits"],
        rules_digest=meta["rules_digest"],
        evaluated=tuple(meta["evaluated"]),
        skipped=tuple(meta["skipped"]),
        warnings=tuple(meta["warnings"]),
    )
    return result, reused


def stage_model(
    night: str,
    features: pd.DataFrame,
    rules: Any,
    matched: dict[str, pd.DataFrame],
    settings: Settings | None = None,
) -> tuple[dict[str, pd.DataFrame] | None, bool]:
    """Score the night's flagged travellers with the champion; None when there is no champion.

    The champion's inputs are each rule hit, the match logit and the features no rule reads
    (:mod:`apiflag.model.inputs`); it was fitted on flagged travellers, so only they are scored.
    """
    champion = load_champion()
    if champion is None:
        return None, False
    rule_ids = [r.id for r in load_catalogue().rules]
    threshold = match_threshold(_settings(settings), load_model())
    digest = digest_of(
        [
            provenance.stage_code_digest("model", {"match_threshold": threshold}),
            champion.model_uri,
            champion.version,
            rules.rules_digest,
            *(f"{name}={stage_digest(night, name) or '-'}" for name in STAGES_BEFORE_MODEL),
            *_warehouse_digest(night, ("features", "rule_hits", "matches")),
        ]
    )

    def compute() -> dict[str, pd.DataFrame]:
        frame = input_frame(features, rules.hits, matched.get("matches"), rule_ids)
        frame = frame.loc[flagged_mask(frame, rule_ids, threshold)].reset_index(drop=True)
        scored = score(frame, champion)
        assert scored is not None
        return {"scores": scored[0], "model_contributions": scored[1]}

    return run_stage(night, "model", digest, compute)


def rule_info() -> dict[str, Any]:
    """Return the catalogue's titles, rationales and exonerating circumstances (for combine)."""
    return _rule_info()


def _rule_info() -> dict[str, Any]:
    """Titles, rationales and exonerating circumstances of the catalogue, for explanations.

    An ``unless: any:`` lists independent exonerating circumstances, one entry each; any other
    ``unless`` is one circumstance, rendered whole so its all/any structure is kept.
    """
    info: dict[str, Any] = {}
    for rule in load_catalogue().rules:
        against: tuple[str, ...] = ()
        if isinstance(rule.unless, AnyOf):
            against = tuple(describe(child) for child in rule.unless.any)
        elif rule.unless is not None:
            against = (describe(rule.unless),)
        info[rule.id] = RuleInfo(title=rule.title, rationale=rule.rationale, exonerating=against)
    return info


def run_night(
    night: dt.date,
    source: Path,
    casedb_url: str,
    *,
    settings: Settings | None = None,
    write_report: bool = True,
) -> NightSummary:
    """Run the whole nightly job for one night as plain functions, stage by stage of :data:`STAGES`.

    The Prefect flows (:mod:`apiflag.orchestration.flows`) run the same :data:`STAGES` as tasks.

    Args:
        night: the arrival night.
        source: a world folder (``nights/<D>/...``) or a night folder of messages.
        casedb_url: SQLAlchemy URL of the case database.
        settings: capacity, thresholds, history window, age bands (default:
            :func:`apiflag.settings.load_settings`); the summary records them.
        write_report: also write the HTML report under ``$APIFLAG_HOME/reports``.

    Returns:
        A :class:`NightSummary`.

    Raises:
        ApiflagError: bad input (no such night, unreadable case database, ...).
    """
    load_alert_settings()  # a bad alerts: section stops the run before the night's work, not after
    context = night_context(night, source, casedb_url, settings, write_report=write_report)
    done: dict[str, StageOutput] = {}
    for stage in STAGES:
        done[stage.name] = call_stage(stage.name, context, upstream(stage, done))
    summary = done[STAGES[-1].name][0]["summary"]
    assert isinstance(summary, NightSummary)
    return summary


def start_summary(night: dt.date, settings: Settings | None = None) -> NightSummary:
    """Return an empty summary that records the settings and code digests the run uses."""
    settings = _settings(settings)
    s = NightSummary(night=str(night), settings=settings.record())
    s.code_digests = code_digests(settings)
    return s


def record_ingest(s: NightSummary, report: Any) -> None:
    """Copy the ingest reconciliation into the summary (whether it was reused is the runner's)."""
    data = json.loads(report.to_json())
    s.arrivals = int(data.get("travellers", {}).get("total", 0) or 0)
    quarantine = data.get("quarantine", [])
    s.quarantined = len(quarantine) if isinstance(quarantine, list) else int(quarantine or 0)
    links = data.get("links", {})
    s.linked = int(links.get("passengers_linked", 0) or 0)
    if not report.balanced:
        s.warnings.append("ingest reconciliation does not balance: see the ingest report")


def combine_night(
    night: dt.date,
    matched: dict[str, pd.DataFrame],
    rules: Any,
    scored: dict[str, pd.DataFrame] | None,
    settings: Settings,
    code_digests: dict[str, str],
    travellers: pd.DataFrame | None = None,
) -> Any:
    """Combine a night's stage outputs with its warehouse tables.

    The one place both the nightly job and re-screening build the combined result.
    """
    key = str(night)
    return combine(
        night,
        warehouse.read_table(key, "travellers") if travellers is None else travellers,
        warehouse.read_table(key, "flights"),
        documents=warehouse.read_table(key, "documents"),
        bookings=warehouse.read_table(key, "bookings"),
        matches=matched["matches"],
        match_fields=matched["match_fields"],
        rule_hits=rules.hits,
        scores=None if scored is None else scored["scores"],
        model_contributions=None if scored is None else scored["model_contributions"],
        rules_digest=rules.rules_digest,
        rule_info=_rule_info(),
        settings=CombineSettings.from_settings(settings, match_threshold(settings, load_model())),
        code_digests=code_digests,
        pnr_travellers=warehouse.read_table(key, "pnr_travellers"),
    )


def finish_night(
    s: NightSummary,
    night: dt.date,
    matched: dict[str, pd.DataFrame],
    features: pd.DataFrame,
    rules: Any,
    scored: dict[str, pd.DataFrame] | None,
    write_report: bool,
) -> NightSummary:
    """Combine, queue and report a night whose stage outputs are ready.

    The capacity, threshold and age bands are the ones ``s.settings`` records (see
    :func:`start_summary`).
    """
    key = str(night)
    settings = Settings.model_validate(s.settings)
    s.stage_digests = {
        stage: digest
        for stage in ("ingest", "matching", "features", "rules", "model")
        if (digest := stage_digest(key, stage)) is not None
    }
    s.case_matches = len(matched["matches"])
    s.identifier_matches = len(matched["identifier_matches"])
    s.rule_hits = len(rules.hits)
    if scored is not None:
        first = scored["scores"].iloc[0] if len(scored["scores"]) else None
        if first is not None:
            s.model = f"{first['model_uri']} (version {first['model_version']})"
    travellers = warehouse.read_table(key, "travellers")
    if s.arrivals == 0:
        s.arrivals = len(travellers)
    result = combine_night(night, matched, rules, scored, settings, s.code_digests, travellers)
    atomic.write_parquet(config.warehouse_dir(key) / "combined.parquet", result.travellers)
    engine = open_engine()
    try:
        saved = save_night(engine, result, settings=s.settings)
    finally:
        engine.dispose()
    s.flagged_by_track = dict(result.flagged_by_track)
    s.queued = len(result.flags)
    s.overflow = result.overflow
    s.inserted = int(getattr(saved, "inserted", 0))
    s.unchanged = int(getattr(saved, "unchanged", 0))
    s.updated = int(getattr(saved, "updated", 0))
    s.kept_decided = int(getattr(saved, "kept", 0))
    send_alerts(s, result.travellers, travellers, warehouse.read_table(key, "flights"))
    if write_report:
        monitoring_cols = [c for c in features.columns if c == "traveller_id" or _protected(c)]
        quarantine_path = config.warehouse_dir(key) / "quarantine.parquet"
        engine = open_engine()
        try:
            head = check_chain(engine)
        finally:
            engine.dispose()
        path, markdown = build_report(
            night,
            result,
            travellers,
            rule_hits=rules.hits,
            monitoring=features[monitoring_cols],
            quarantine=pd.read_parquet(quarantine_path) if quarantine_path.is_file() else None,
            data_quality=[*s.warnings, f"model: {s.model}"],
            carriers=carrier_trends(night, CARRIER_DROP),
            saved=dataclasses.asdict(saved),
            audit_head=head,
        )
        s.report_path = str(path)
        s.report_markdown = markdown
    return s


def send_alerts(
    s: NightSummary, combined: pd.DataFrame, travellers: pd.DataFrame, flights: pd.DataFrame
) -> None:
    """Alert on the saved night's urgent flags (:mod:`apiflag.alerts`); failures become warnings."""
    report = alert_night(combined, travellers, flights, s.night)
    s.alerts = report.line()
    s.alerts_sent = report.sent
    s.alerts_failed = len(report.failed)
    s.warnings.extend(report.warnings())


def _protected(column: str) -> bool:
    spec = {f.name: f for f in FEATURE_SPEC}
    return column in spec and bool(spec[column].protected)


def require_night(source: Path, night: dt.date) -> None:
    """Refuse a night for which ``source`` has no messages, naming what was looked for."""
    candidates = [source / "nights" / str(night), source]
    for c in candidates:
        if (c / "paxlst").is_dir() or (c / "pnrgov").is_dir():
            return
    raise ApiflagError(
        f"{source}: no messages for night {night} (looked for nights/{night}/paxlst)"
    )


# ---------------------------------------------------------------------------------------------
# The stages, declared once: the plain runner above and the Prefect flows are built from this list.

#: What a stage returns: ``({output name: value}, reused from an earlier run)``.
StageOutput = tuple[dict[str, Any], bool]


@dataclass(frozen=True)
class Stage:
    """One step of the nightly job.

    The list is an order as well: a stage also reads tables the stages before it stored in the
    night's warehouse partition (features read the night's matches), so every orchestrator runs
    a night's stages one after another, whatever their declared inputs.

    Attributes:
        name: the stage's name (its Prefect task name and its ``_stages/<name>.json`` manifest).
        inputs: the names it reads: values of the night's context (:func:`night_context`) or
            outputs of earlier stages of the same night.
        outputs: the names of the values it returns.
        function: called with the inputs as keyword arguments; returns a :data:`StageOutput`.
        retries: how often an orchestrator retries it after a failure (I/O, a lost worker);
            every stage is idempotent (outputs are written atomically, the queue store never
            duplicates), so a retry is safe.
        history: it reads the earlier nights' outputs of the stages before it (a backfill runs
            it for night D only once those stages are done for every earlier night).
        serial: nights run it one after another, in night order (the queue store).
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    function: Callable[..., StageOutput]
    retries: int = 0
    history: bool = False
    serial: bool = False


def _ingest(night: dt.date, source: Path, code_digests: Mapping[str, str]) -> StageOutput:
    report = stage_ingest(night, source, code_digests["ingest"])
    return {"ingest": report}, isinstance(report, ReusedIngest)


def _matching(key: str, casedb_url: str, settings: Settings) -> StageOutput:
    matched, reused = stage_matching(key, casedb_url, settings)
    return {"matched": matched}, reused


def _features(key: str, settings: Settings) -> StageOutput:
    features, reused = stage_features(key, settings)
    return {"features": features}, reused


def _rules(key: str, features: pd.DataFrame) -> StageOutput:
    rules, reused = stage_rules(key, features)
    return {"rules": rules}, reused


def _model(
    key: str,
    features: pd.DataFrame,
    rules: Any,
    matched: dict[str, pd.DataFrame],
    settings: Settings,
) -> StageOutput:
    scored, reused = stage_model(key, features, rules, matched, settings)
    return {"scored": scored}, reused


def _finish(
    summary: NightSummary,
    night: dt.date,
    ingest: Any,
    matched: dict[str, pd.DataFrame],
    features: pd.DataFrame,
    rules: Any,
    scored: dict[str, pd.DataFrame] | None,
    reused: list[str],
    write_report: bool,
) -> StageOutput:
    s = dataclasses.replace(summary, reused_stages=list(reused), warnings=list(summary.warnings))
    record_ingest(s, ingest)
    s.warnings.extend(rules.warnings)
    return {
        "summary": finish_night(s, night, matched, features, rules, scored, write_report)
    }, False


#: The nightly job, in order. ``finish`` (combine, queue, alerts, report) always runs.
STAGES: tuple[Stage, ...] = (
    Stage("ingest", ("night", "source", "code_digests"), ("ingest",), _ingest, retries=2),
    Stage("matching", ("key", "casedb_url", "settings"), ("matched",), _matching, retries=1),
    Stage("features", ("key", "settings"), ("features",), _features, retries=1, history=True),
    Stage("rules", ("key", "features"), ("rules",), _rules, retries=1),
    Stage(
        "model",
        ("key", "features", "rules", "matched", "settings"),
        ("scored",),
        _model,
        retries=1,
    ),
    Stage(
        "finish",
        (
            "summary",
            "night",
            "ingest",
            "matched",
            "features",
            "rules",
            "scored",
            "reused",
            "write_report",
        ),
        ("summary",),
        _finish,
        retries=1,
        history=True,
        serial=True,
    ),
)
STAGE_BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def night_context(
    night: dt.date,
    source: Path,
    casedb_url: str,
    settings: Settings | None = None,
    *,
    write_report: bool = True,
) -> dict[str, Any]:
    """Return the values every stage of one night may read besides earlier stages' outputs."""
    summary = start_summary(night, settings)
    return {
        "night": night,
        "key": str(night),
        "source": Path(source),
        "casedb_url": casedb_url,
        "settings": Settings.model_validate(summary.settings),
        "code_digests": dict(summary.code_digests),
        "summary": summary,
        "write_report": write_report,
        "home": str(config.home_path()),
    }


def upstream(stage: Stage, done: Mapping[str, Any]) -> dict[str, Any]:
    """Return the earlier stages (of ``done``, by name) whose outputs ``stage`` reads.

    The last stage reads them all (its summary records which were reused). Values may be
    results or an orchestrator's futures of them.
    """
    before = [s for s in STAGES[: STAGES.index(stage)]]
    if stage is STAGES[-1]:
        return {s.name: done[s.name] for s in before}
    return {s.name: done[s.name] for s in before if set(s.outputs) & set(stage.inputs)}


def call_stage(
    name: str, context: Mapping[str, Any], done: Mapping[str, StageOutput]
) -> StageOutput:
    """Run stage ``name`` of one night with its inputs taken from ``context`` and ``done``.

    Args:
        name: a stage of :data:`STAGES`.
        context: the night's values (:func:`night_context`).
        done: ``{stage name: its output}`` of the earlier stages it reads (:func:`upstream`).
    """
    stage = STAGE_BY_NAME[name]
    if context["home"] != str(config.home_path()):
        # a cluster worker started with another $APIFLAG_HOME would write another warehouse
        raise ApiflagError(
            f"stage {name} of night {context['key']}: this process's APIFLAG_HOME is "
            f"{config.home_path()}, the run's is {context['home']} (see docs/OPERATIONS.md)"
        )
    values = dict(context)
    for outputs, _ in done.values():
        values.update(outputs)
    values["reused"] = [s.name for s in STAGES if s.name in done and done[s.name][1]]
    missing = [n for n in stage.inputs if n not in values]
    if missing:
        raise ValueError(f"stage {name}: no value for {', '.join(missing)}")
    return timed_call(name, context["key"], stage.function, {n: values[n] for n in stage.inputs})
