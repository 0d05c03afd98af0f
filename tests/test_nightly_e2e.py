"""End to end: a small synthetic world through the nightly job, then analysts and auditors.

One world and one APIFLAG_HOME are shared by the tests of this module (in order), because the
point is the sequence: run, rerun, decide, rerun, verify, tamper.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from apiflag import config, pipeline
from apiflag.cli import cli
from apiflag.queue.combine import CombineSettings
from apiflag.queue.reasons import REASONS
from apiflag.settings import Settings
from apiflag.synth.world import WorldConfig, generate_world

NIGHT = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    world = root / "world"
    generate_world(world, WorldConfig(seed=11, nights=1, arrivals=300, history_nights=0))
    return {"world": world, "home": root / "home"}


@pytest.fixture()
def home(state: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APIFLAG_HOME", str(state["home"]))
    return state["home"]


def _casedb(state: dict[str, Path]) -> str:
    return f"sqlite:///{state['world'] / 'casedb.sqlite'}"


def _run(state: dict[str, Path]) -> pipeline.NightSummary:
    return pipeline.run_night(NIGHT, state["world"], _casedb(state), settings=Settings(capacity=10))


def test_first_run_queues_ranked_items_on_the_right_tracks(
    state: dict[str, Path], home: Path
) -> None:
    s = _run(state)
    assert s.arrivals > 300  # passengers plus crew
    assert s.queued >= 1 and s.inserted == s.queued
    combined = pd.read_parquet(config.warehouse_dir(str(NIGHT)) / "combined.parquet")
    matches = pd.read_parquet(config.warehouse_dir(str(NIGHT)) / "matches.parquet")
    victims = set(matches.loc[matches["role"] == "victim", "traveller_id"])
    flagged = combined[combined["flagged"]]
    # a match to a former victim only ever raises a protection flag
    assert set(flagged.loc[flagged["traveller_id"].isin(victims), "track"]) <= {"protection"}
    # a flagged minor is only ever on the protection track
    assert set(flagged.loc[flagged["minor"].astype(bool), "track"]) <= {"protection"}
    # queued items are capacity plus every case match above its threshold
    case_queued = (
        flagged["case_match_probability"].fillna(0.0) >= CombineSettings().case_match_threshold
    )
    assert int((flagged["queued"] & ~case_queued).sum()) == min(10, int((~case_queued).sum()))
    assert bool(flagged.loc[case_queued, "queued"].all())
    # the overflow is exactly the flagged travellers capacity kept out, and there are some
    assert s.overflow == int((~flagged["queued"]).sum()) == int((~case_queued).sum()) - 10
    assert s.overflow > 0
    assert s.queued == int(flagged["queued"].sum())
    report = Path(s.report_path or "")
    assert report.is_file() and "<html" in report.read_text(encoding="utf-8").lower()
    # the first night in the warehouse: every carrier is new, said in the Data quality section
    section = report.read_text(encoding="utf-8").split("<h2>Data quality</h2>")[1]
    assert "new carriers (fewer than 7 earlier nights with records, not compared): " in section
    assert "new carriers" in s.report_markdown


def test_rerun_resumes_and_never_duplicates(state: dict[str, Path], home: Path) -> None:
    before = CliRunner().invoke(cli, ["queue", "list", "--format", "json"])
    s = _run(state)
    after = CliRunner().invoke(cli, ["queue", "list", "--format", "json"])
    assert {"matching", "features", "rules"} <= set(s.reused_stages)
    assert s.inserted == 0
    assert json.loads(after.output) == json.loads(before.output)


def test_decided_item_survives_rerun_and_audit_verifies(state: dict[str, Path], home: Path) -> None:
    runner = CliRunner()
    items = json.loads(runner.invoke(cli, ["queue", "list", "--format", "json"]).output)
    target = items[0]["flag_id"]
    bad = runner.invoke(
        cli, ["queue", "decide", target, "--outcome", "deport", "--reason", "x", "--analyst", "a"]
    )
    assert bad.exit_code != 0
    outcome = "victim_support" if items[0]["track"] == "protection" else "cleared"
    code = sorted(REASONS[outcome])[0]
    ok = runner.invoke(
        cli,
        ["queue", "decide", target, "--outcome", outcome, "--reason", code, "--analyst", "aiko"],
    )
    assert ok.exit_code == 0, ok.output
    s = _run(state)
    assert s.kept_decided >= 1
    again = {
        i["flag_id"]: i
        for i in json.loads(runner.invoke(cli, ["queue", "list", "--format", "json"]).output)
    }
    assert again[target]["status"] == outcome
    verify = runner.invoke(cli, ["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def test_tampered_audit_event_is_named(state: dict[str, Path], home: Path) -> None:
    db = home / "apiflag.db"
    with sqlite3.connect(db) as conn:
        seq = conn.execute(
            "SELECT min(seq) FROM audit_events WHERE action LIKE '%decid%'"
        ).fetchone()[0]
        assert seq is not None
        # someone with write access to the database file removes the guard, then edits history
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = ?", (seq,))
    verify = CliRunner().invoke(cli, ["audit", "verify"])
    assert verify.exit_code == 1
    assert str(seq) in verify.output


@pytest.mark.flow
def test_prefect_flow_runs_the_same_night(
    state: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real Prefect flow, once, in a fresh home: same queue as the plain run gives.

    With alerts configured, the flow sends the night's urgent flags to a real webhook.
    """
    from alert_helpers import webhook_server
    from apiflag import alerts
    from apiflag.orchestration.flows import nightly

    def queue() -> list[tuple[object, ...]]:
        items = json.loads(CliRunner().invoke(cli, ["queue", "list", "--format", "json"]).output)
        return [
            (i["flag_id"], i["track"], i["priority"], i["policy_score"], i["probability"])
            for i in items
        ]

    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "plainhome"))
    plain = _run(state)
    plain_queue = queue()
    home = tmp_path / "flowhome"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("APIFLAG_HOME", str(home))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(alerts, "service_now", lambda: dt.datetime.combine(NIGHT, dt.time(0)))
    with webhook_server() as (hook, url):
        alerts_config = {"case_url": "https://desk.example/flags/{flag_id}", "within_hours": 24}
        (home / "config.yaml").write_text(
            json.dumps({"alerts": {**alerts_config, "webhook": {"url": url}}})
        )
        s = nightly(source=str(state["world"]), casedb_url=_casedb(state), night=NIGHT, capacity=10)
    assert s.queued >= 1 and s.inserted == s.queued
    assert s.report_path and Path(s.report_path).is_file()
    assert (s.queued, s.overflow, s.flagged_by_track) == (
        plain.queued,
        plain.overflow,
        plain.flagged_by_track,
    )
    assert queue() == plain_queue and len(plain_queue) == plain.queued
    assert s.alerts_sent >= 1 and s.alerts_failed == 0
    assert sorted(b["flag_id"] for b in hook.bodies) == sorted(
        set(b["flag_id"] for b in hook.bodies)
    )
    assert len(hook.bodies) == s.alerts_sent
