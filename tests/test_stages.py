"""The nightly stages are declared once (apiflag.pipeline.STAGES); the plain runner and the
Prefect flow are both built from that list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from apiflag import pipeline
from apiflag.errors import ApiflagError
from apiflag.orchestration import flows, stagecache

NIGHT = dt.date(2026, 11, 20)


def test_every_input_of_every_stage_is_in_the_context_or_an_earlier_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "home"))
    context = pipeline.night_context(NIGHT, tmp_path, "sqlite://")
    available = {*context, "reused"}
    for stage in pipeline.STAGES:
        missing = set(stage.inputs) - available
        assert not missing, f"{stage.name} reads {missing}, which nothing before it provides"
        available |= set(stage.outputs)
        # an orchestrator hands a stage only the earlier stages whose outputs it reads
        done = {s.name: ({n: None for n in s.outputs}, False) for s in pipeline.STAGES}
        given = pipeline.upstream(stage, done)
        provided = {n for s in pipeline.STAGES if s.name in given for n in s.outputs}
        assert set(stage.inputs) - set(context) - {"reused"} <= provided
    assert pipeline.STAGES[-1].outputs == ("summary",)


def test_the_flow_runs_every_declared_stage_once_in_tasks_split_where_nights_wait() -> None:
    """A task starts at every stage that waits for other nights; the others join the one before."""
    runs = flows.segments()
    assert [n for names in runs for n in names] == [s.name for s in pipeline.STAGES]
    for names in runs:
        first, *rest = (pipeline.STAGE_BY_NAME[n] for n in names)
        assert first is pipeline.STAGES[0] or first.history or first.serial
        assert not any(s.history or s.serial for s in rest)
        t = flows.SEGMENT_TASKS[names]
        assert t.name == "+".join(names)
        assert t.retries == max(pipeline.STAGE_BY_NAME[n].retries for n in names)
        assert t.fn is flows.call_segment
    assert runs == [("ingest", "matching"), ("features", "rules", "model"), ("finish",)]
    # a stage list that ends early (training prepares the nights up to the rules) splits alike
    assert flows.segments(pipeline.STAGES[:4]) == [("ingest", "matching"), ("features", "rules")]


def test_the_plain_runner_runs_exactly_the_declared_stages_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a stage to the list is all it takes: the plain runner picks it up."""
    from apiflag.synth.world import WorldConfig, generate_world

    world = tmp_path / "world"
    generate_world(world, WorldConfig(seed=5, nights=1, arrivals=200, history_nights=0))
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "home"))
    calls: list[str] = []
    extra_seen: dict[str, Any] = {}

    def audit(features: Any, rules: Any) -> pipeline.StageOutput:
        calls.append("audit")
        extra_seen["rows"] = len(features)
        return {"audited": True}, False

    stages = list(pipeline.STAGES)
    stages.insert(4, pipeline.Stage("audit", ("features", "rules"), ("audited",), audit))
    wrapped = []
    for stage in stages:
        fn = stage.function

        def record(*, _fn: Any = fn, _name: str = stage.name, **kw: Any) -> Any:
            if _name != "audit":
                calls.append(_name)
            return _fn(**kw)

        wrapped.append(pipeline.Stage(stage.name, stage.inputs, stage.outputs, record))
    monkeypatch.setattr(pipeline, "STAGES", tuple(wrapped))
    monkeypatch.setattr(pipeline, "STAGE_BY_NAME", {s.name: s for s in wrapped})
    s = pipeline.run_night(NIGHT, world, f"sqlite:///{world / 'casedb.sqlite'}", write_report=False)
    assert calls == ["ingest", "matching", "features", "rules", "audit", "model", "finish"]
    assert extra_seen["rows"] == s.arrivals > 0


def test_a_worker_with_another_home_refuses_to_run_a_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "a"))
    context = pipeline.night_context(NIGHT, tmp_path, "sqlite://")
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "b"))
    with pytest.raises(ApiflagError, match="APIFLAG_HOME"):
        pipeline.call_stage("ingest", context, {})


def test_every_stage_logs_its_cost_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIFLAG_STAGE_TIMINGS: one JSON line per stage run (what bench_backfill reads)."""
    import json

    from apiflag.synth.world import WorldConfig, generate_world

    world = tmp_path / "world"
    generate_world(world, WorldConfig(seed=5, nights=1, arrivals=200, history_nights=0))
    url = f"sqlite:///{world / 'casedb.sqlite'}"
    log = tmp_path / "timings.jsonl"
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(stagecache.TIMINGS_ENV, str(log))
    pipeline.run_night(NIGHT, world, url, write_report=False)
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert [x["stage"] for x in lines] == [s.name for s in pipeline.STAGES]
    for x in lines:
        assert x["night"] == str(NIGHT) and x["pid"] > 0 and x["peak_rss_mb"] > 0
        assert x["wall_s"] >= 0 and x["process_cpu_s"] >= 0 and x["children_cpu_s"] >= 0
    assert lines[0]["wall_s"] > 0  # ingest parses the night's files
