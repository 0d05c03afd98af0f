"""Nights on a Dask cluster (apiflag.orchestration.cluster): the plain runner, the Prefect flow
without Dask and the flow on a 2-worker LocalCluster give byte-identical warehouse tables and
the same queue; a worker killed mid-night costs a retry, not a duplicate."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from apiflag import pipeline
from apiflag.cli import cli, main
from apiflag.errors import ApiflagError, UsageError
from apiflag.orchestration import cluster
from apiflag.queue.store import contributions, flags, open_engine
from apiflag.synth.world import WorldConfig, generate_world

NIGHTS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21)]
TIMESTAMPS = {"created_at", "updated_at"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cluster") / "world"
    generate_world(folder, WorldConfig(seed=21, nights=2, arrivals=200, history_nights=0))
    return folder


def _url(world: Path) -> str:
    return f"sqlite:///{world / 'casedb.sqlite'}"


def _warehouse(home: Path) -> dict[str, str]:
    """Every file of the warehouse (tables and stage manifests) -> SHA-256 of its bytes."""
    base = home / "warehouse"
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def _queue() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The queue store's flags (without timestamps) and contributions, in key order."""
    engine = open_engine()
    try:
        with engine.connect() as conn:
            cols = [c for c in flags.c if c.name not in TIMESTAMPS]
            rows = conn.execute(sa.select(*cols).order_by(flags.c.flag_id)).all()
            contrib = conn.execute(
                sa.select(contributions).order_by(contributions.c.flag_id, contributions.c.ord)
            ).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows], [tuple(r) for r in contrib]


@pytest.fixture(scope="module")
def plain(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The plain runner over both nights, in its own home."""
    home = tmp_path_factory.mktemp("plainhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(home))
        summaries = [pipeline.run_night(n, world, _url(world), write_report=False) for n in NIGHTS]
        queue = _queue()
    assert all(s.queued > 0 for s in summaries)
    return {"home": home, "summaries": summaries, "queue": queue}


RECORDER = Path(__file__).with_name("dask_task_log.py")


@pytest.fixture(scope="module")
def on_cluster(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The backfill flow over both nights on a 2-worker LocalCluster, in its own home.

    The cluster's scheduler logs every apiflag part task that finished and the worker that ran
    it (tests/dask_task_log.py, a scheduler preload).
    """
    import dask
    import distributed  # noqa: F401  (its defaults first: leaving the set below restores only the preload)

    from apiflag.orchestration.flows import backfill

    home = tmp_path_factory.mktemp("clusterhome")
    log = home.parent / "tasks.log"
    with (
        pytest.MonkeyPatch.context() as mp,
        dask.config.set({"distributed.scheduler.preload": [str(RECORDER)]}),
    ):
        mp.setenv("APIFLAG_HOME", str(home))
        mp.setenv("APIFLAG_TEST_TASK_LOG", str(log))
        flow = backfill.with_options(task_runner=cluster.runner_for("local"))
        summaries = flow(
            source=str(world), casedb_url=_url(world), nights=NIGHTS, write_report=False
        )
        queue = _queue()
    lines = log.read_text().splitlines() if log.is_file() else []
    return {
        "home": home,
        "summaries": summaries,
        "queue": queue,
        "tasks": [tuple(line.split("\t")) for line in lines],
    }


def _same_run(summaries: list[Any], plain: dict[str, Any]) -> None:
    assert [s.night for s in summaries] == [str(n) for n in NIGHTS]
    assert [(s.queued, s.inserted, s.flagged_by_track) for s in summaries] == [
        (p.queued, p.inserted, p.flagged_by_track) for p in plain["summaries"]
    ]


@pytest.mark.flow
def test_plain_flow_and_local_cluster_give_identical_tables_and_queue(
    world: Path,
    plain: dict[str, Any],
    on_cluster: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apiflag.orchestration.flows import backfill

    expected_tables = _warehouse(plain["home"])
    assert any(name.endswith("features.parquet") for name in expected_tables)
    home = tmp_path / "flow"
    monkeypatch.setenv("APIFLAG_HOME", str(home))
    flow = backfill.with_options(task_runner=cluster.runner_for(None))
    summaries = flow(source=str(world), casedb_url=_url(world), nights=NIGHTS, write_report=False)
    _same_run(summaries, plain)
    assert _warehouse(home) == expected_tables
    assert _queue() == plain["queue"]
    # on the cluster, with the files parsed and the pairs scored as tasks on its workers
    _same_run(on_cluster["summaries"], plain)
    assert _warehouse(on_cluster["home"]) == expected_tables
    assert on_cluster["queue"] == plain["queue"]


@pytest.mark.flow
def test_files_are_parsed_and_pairs_scored_as_tasks_on_the_cluster(
    world: Path, on_cluster: dict[str, Any]
) -> None:
    """The scheduler saw every night's parsing and matching parts finish on its workers."""
    from apiflag.fanout import spans
    from apiflag.ingest import BATCH_FILES, message_files, night_source

    runs: dict[tuple[str, str], list[int]] = {}
    workers = set()
    for key, worker in on_cluster["tasks"]:
        _, name, index, run = key.split("-")
        runs.setdefault((name, run), []).append(int(index))
        workers.add(worker)
    parse = sorted(sorted(v) for (name, _), v in runs.items() if name == "parse")
    match = [sorted(v) for (name, _), v in runs.items() if name == "match"]
    # one fan-out per night and stage, every part once, cut as apiflag.fanout cuts a night
    files = sorted(len(message_files(night_source(world, n))) for n in NIGHTS)
    assert parse == sorted(list(range(len(spans(f, 2, BATCH_FILES)))) for f in files)
    assert all(len(p) >= 2 for p in parse)
    assert len(match) == len(NIGHTS)
    assert all(len(m) >= 2 and m == list(range(len(m))) for m in match)
    assert workers and all(w.startswith("tcp://127.0.0.1:") for w in workers)


def _night_killing_its_worker(night: dt.date, source: str, casedb_url: str, marker: str) -> Any:
    """A per-night task whose first two attempts kill their own worker process.

    The first dies after ingest, the second after the whole night is queued and before the task
    can report it; the third runs the night again.
    """
    attempts = Path(marker)
    n = int(attempts.read_text()) if attempts.is_file() else 0
    attempts.write_text(str(n + 1))
    if n == 0:
        pipeline.stage_ingest(night, Path(source))
        os.kill(os.getpid(), signal.SIGKILL)
    s = pipeline.run_night(night, Path(source), casedb_url, write_report=False)
    if n == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return s


@pytest.mark.flow
def test_a_worker_killed_mid_night_is_retried_and_nothing_is_duplicated(
    world: Path, plain: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("APIFLAG_HOME", str(home))
    marker = tmp_path / "attempts"
    night = NIGHTS[0]
    (s,) = cluster.map_nights(
        _night_killing_its_worker,
        [night],
        "local",
        source=str(world),
        casedb_url=_url(world),
        marker=str(marker),
    )
    assert marker.read_text() == "3"  # two workers died, the third attempt finished
    first = plain["summaries"][0]
    assert s.queued == first.queued and s.inserted == 0 and s.unchanged == first.queued
    assert {"ingest", "matching", "features", "rules"} <= set(s.reused_stages)
    rows, contrib = _queue()
    expected_rows = [r for r in plain["queue"][0] if r[1] == night]
    assert rows == expected_rows and len({r[0] for r in rows}) == len(rows)
    ids = {r[0] for r in rows}
    assert contrib == [c for c in plain["queue"][1] if c[0] in ids]
    plain_night = {
        k: v for k, v in _warehouse(plain["home"]).items() if k.startswith(f"night={night}")
    }
    assert _warehouse(home) == plain_night


def _main(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    """Run the real entry point; return its exit code and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_cluster_values_are_checked_in_one_line(
    apiflag_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cluster.parse_cluster("local").local
    assert cluster.parse_cluster("tls://10.1.2.3:8786").address == "tls://10.1.2.3:8786"
    for bad in ("tcp://10.1.2.3:8786", "10.1.2.3:8786", "tls://host", "remote"):
        with pytest.raises(UsageError, match="--cluster"):
            cluster.parse_cluster(bad)
    with pytest.raises(ApiflagError, match=r"cluster: needs tls_ca_file"):
        cluster.task_runner("tls://10.1.2.3:8786")
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    (apiflag_home / "config.yaml").write_text(
        f"cluster:\n  tls_ca_file: {ca}\n  tls_client_cert: {tmp_path / 'nope.pem'}\n"
        f"  tls_client_key: {ca}\n"
    )
    with pytest.raises(ApiflagError, match=r"cluster.tls_client_cert: .*nope.pem: no such file"):
        cluster.task_runner("tls://10.1.2.3:8786")
    code, err = _main(capsys, ["run", "--cluster", "tcp://10.1.2.3:8786", "--from", str(tmp_path)])
    assert code == 2 and "unencrypted" in err and len(err.strip().splitlines()) == 1
    table = tmp_path / "t.parquet"
    code, err = _main(capsys, ["model", "train", "--table", str(table), "--cluster", "local"])
    assert code == 2 and "--cluster prepares a --world's history nights" in err


def test_the_local_cluster_listens_on_loopback_without_a_dashboard() -> None:
    kwargs = cluster.local_cluster_kwargs()
    assert kwargs["n_workers"] == 2 and kwargs["threads_per_worker"] == 1
    assert kwargs["host"] == "127.0.0.1" and kwargs["dashboard_address"] is None


def test_backfill_and_stats_share_start_and_end_and_stats_keeps_from_to(
    apiflag_home: Path, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    code, err = _main(
        capsys, ["backfill", "--start", "2026-11-21", "--end", "2026-11-20", "--from", str(world)]
    )
    assert code == 2 and "--end 2026-11-20 is before --start 2026-11-21" in err
    code, err = _main(
        capsys, ["backfill", "--start", "2026-11-20", "--end", "2026-11-23", "--from", str(world)]
    )
    assert code == 1 and "no messages for night 2026-11-22" in err
    for args in (
        ["--start", "2026-01-01", "--end", "2026-12-31"],
        ["--from", "2026-01-01", "--to", "2026-12-31"],
    ):
        result = runner.invoke(cli, ["stats", *args])
        assert result.exit_code == 0, result.output
        assert '"2026-01-01"' in result.output
    code, err = _main(capsys, ["stats", "--from", "2026-02-01", "--to", "2026-01-01"])
    assert code == 2 and "--end 2026-01-01 is before --start 2026-02-01" in err
    help_text = runner.invoke(cli, ["stats", "--help"]).output
    assert "--start, --from" in help_text and "--end, --to" in help_text


@pytest.mark.flow
def test_backfill_command_runs_the_nights_plain(
    apiflag_home: Path, world: Path, plain: dict[str, Any]
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "backfill",
            "--start",
            "2026-11-20",
            "--end",
            "2026-11-21",
            "--from",
            str(world),
            "--orchestrator",
            "plain",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    queued = sum(s.queued for s in plain["summaries"])
    assert f"2 nights, {queued} items queued" in result.output
    assert _warehouse(apiflag_home) == _warehouse(plain["home"])


def _night_label(night: dt.date, prefix: str) -> str:
    return f"{prefix}{night}"


@pytest.mark.slow
@pytest.mark.flow
def test_map_nights_reaches_a_tls_scheduler_with_the_configured_certificates(
    apiflag_home: Path, tmp_path: Path
) -> None:
    """A scheduler that speaks TLS only, certificates named in config.yaml's cluster: section."""
    from distributed import LocalCluster
    from distributed.security import Security

    temporary = Security.temporary()  # type: ignore[no-untyped-call]
    files = {}
    for key, pem in (
        ("tls_ca_file", temporary.tls_ca_file),
        ("tls_client_cert", temporary.tls_client_cert),
        ("tls_client_key", temporary.tls_client_key),
    ):
        path = tmp_path / f"{key}.pem"
        path.write_text(pem)
        files[key] = str(path)
    (apiflag_home / "config.yaml").write_text(
        "cluster:\n" + "".join(f"  {k}: {v}\n" for k, v in files.items())
    )
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls",
        host="127.0.0.1",
        dashboard_address=None,
        security=temporary,
    ) as local:
        address = local.scheduler_address
        assert address.startswith("tls://")
        labels = cluster.map_nights(_night_label, NIGHTS, address, prefix="night ")
    assert labels == [f"night {n}" for n in NIGHTS]


def _trained(world: Path, home: Path, extra: list[str]) -> dict[str, Any]:
    """Train on ``world`` in ``home`` through the real entry point; return what MLflow recorded.

    The run's parameters, metrics and tags, the logged artifacts that describe the data and the
    fit (training-data digest, sampling seed and weights, weight table, scorecard) and the
    registered model's scores on the run's own input example.
    """
    import json

    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.models import Model

    from apiflag.model.registry import mlflow_client

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(home))
        # mlflow.set_tracking_uri exports the URI: each run gets its own home's store
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        try:
            main(["model", "train", "--world", str(world), "--format", "json", *extra])
        except SystemExit as exc:
            assert not exc.code, f"model train {extra} exited {exc.code}"
        client = mlflow_client()
        (mv,) = client.search_model_versions("name='apiflag-scorecard'")
        run = client.get_run(mv.run_id)
        out = home / "artifacts"
        client.download_artifacts(run.info.run_id, "", str(out))
        folder = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/apiflag-scorecard/{mv.version}", dst_path=str(home / "model")
        )
    model = mlflow.sklearn.load_model(folder)
    example = Model.load(folder).load_input_example(folder)
    return {
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": {k: v for k, v in run.data.tags.items() if k.startswith("apiflag.")},
        "artifacts": {
            name: (out / name).read_text()
            for name in ("training_data.sha256", "sampling.json", "weights.csv", "scorecard.json")
        },
        "example": example,
        "scores": model.predict(example).tolist(),
        "explanation": model.explain(example, [f"T{i}" for i in range(len(example))])[1],
        "sampling": json.loads((out / "sampling.json").read_text()),
    }


@pytest.mark.slow
@pytest.mark.flow
def test_retraining_on_a_local_cluster_gives_the_plain_run_outputs(tmp_path: Path) -> None:
    """``model train --cluster local`` prepares the history nights on a 2-worker LocalCluster;
    the training data, its sample and weights and the fitted model equal the plain run's.

    Slow: the smallest world that still has reviewed positives for the calibration slice (6
    history nights of 400 arrivals) takes about 40 s to train once on a loaded 2-core machine,
    nearly all of it the plain training itself (stages, fit, MLflow), and the test trains twice.
    """
    world = tmp_path / "world"
    generate_world(
        world, WorldConfig(seed=21, nights=1, arrivals=400, history_nights=6, prevalence=0.03)
    )
    plain_run = _trained(world, tmp_path / "plain", [])
    local_run = _trained(world, tmp_path / "local", ["--cluster", "local"])
    assert len(plain_run["sampling"]["nights"]) == 6  # every history night in the table
    assert (
        plain_run["artifacts"]["training_data.sha256"].strip()
        == (plain_run["params"]["training_data_sha256"])
    )
    for key in ("params", "metrics", "tags", "artifacts"):
        assert local_run[key] == plain_run[key], key
    assert len(plain_run["example"]) > 0
    assert local_run["example"].equals(plain_run["example"])
    assert local_run["scores"] == plain_run["scores"]
    assert local_run["explanation"].equals(plain_run["explanation"])
