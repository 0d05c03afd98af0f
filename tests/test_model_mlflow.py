"""The MLflow lifecycle end to end: train, register, list, refuse, promote, score.

One store is trained once per module (MLflow is slow to start); each test points
``$APIFLAG_HOME`` at it. Tests that need a fresh, empty store keep the default home.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from apiflag.cli import main
from apiflag.model import registry
from apiflag.model.registry import REGISTERED_MODEL, check_gates, list_versions, mlflow_client
from apiflag.model.scoring import load_champion, score, write_night_scores
from model_helpers import MODEL_FEATURES, SPEC, synthetic_frame


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module", autouse=True)
def _spec_from_helpers() -> Iterator[None]:
    """The CLI reads apiflag.features.FEATURE_SPEC; train these tests on the helper spec."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("apiflag.model.data.load_feature_spec", lambda spec=None: list(SPEC))
        mp.setattr("apiflag.model.registry.load_feature_spec", lambda spec=None: list(SPEC))
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    home = tmp_path_factory.mktemp("model-store")
    table = home / "training.parquet"
    synthetic_frame(nights=10, per_night=1500, seed=11).to_parquet(table)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("APIFLAG_DB_URL", raising=False)
        cwd_before = set(os.listdir("."))
        code = 0
        try:
            main(["model", "train", "--table", str(table), "--capacity", "30", "--format", "json"])
        except SystemExit as exc:
            code = int(exc.code or 0)
        assert code == 0
        yield {"home": home, "table": table, "cwd_before": cwd_before}


@pytest.fixture
def in_store(store: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("APIFLAG_HOME", str(store["home"]))
    return store


def test_a_fresh_home_has_no_champion_and_scores_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert load_champion() is None
    assert score(synthetic_frame(nights=1, per_night=10), None) is None
    code, out, _ = run_cli(["model", "list", "--format", "json"], capsys)
    assert code == 0 and json.loads(out) == []
    code, out, _ = run_cli(["model", "list"], capsys)
    assert code == 0 and "no registered versions" in out
    code, _, err = run_cli(["model", "promote", "1", "--approver", "a", "--reason", "r"], capsys)
    assert code == 1 and "no version '1'" in err


def test_training_registers_a_version_with_its_report(in_store: dict[str, object]) -> None:
    home = Path(str(in_store["home"]))
    versions = list_versions()
    assert versions and versions[-1]["version"] == "1"
    v1 = versions[-1]
    assert v1["aliases"] == [] and v1["approver"] is None
    assert v1["features"] == MODEL_FEATURES
    for key in ("roc_auc", "pr_auc", "brier", "ece"):
        assert isinstance(v1[key], float)
    client = mlflow_client()
    artifacts = {a.path for a in client.list_artifacts(v1["run_id"])}
    expected = {
        "reliability.png",
        "score_histogram.png",
        "fairness.csv",
        "proxy_audit.csv",
        "model_card.md",
        "scorecard.json",
        "training_data.sha256",
    }
    assert expected <= artifacts
    mv = client.get_model_version(REGISTERED_MODEL, "1")
    assert mv.source.startswith("models:/")  # an MLflow 3 logged model, stored with the experiment
    assert list((home / "mlartifacts" / registry.EXPERIMENT_NAME / "models").iterdir())
    run = client.get_run(v1["run_id"])
    assert run.info.artifact_uri.startswith((home / "mlartifacts").as_uri())
    assert len(run.data.params["training_data_sha256"]) == 64
    # the calibration recipe is recorded with the model: cross-fitted, through the error rate
    assert run.data.params["calibration_folds"] == "5"
    assert run.data.params["outcome_error_rate"] == "0.0"
    assert run.data.metrics["count.calibration_rows"] == run.data.metrics["count.fit_rows"]
    assert (home / "mlflow.db").exists()
    assert set(os.listdir(".")) - set(in_store["cwd_before"]) == set()  # nothing in the cwd
    assert "Not promoted" in mv.description


def test_promotion_without_an_approver_is_refused(
    in_store: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["model", "promote", "1", "--reason", "looks fine"], capsys)
    assert code == 1
    assert "approver is required" in err and "Traceback" not in err
    code, _, err = run_cli(["model", "promote", "1", "--approver", " ", "--reason", "x"], capsys)
    assert code == 1 and "approver is required" in err
    assert load_champion() is None


def test_promotion_is_refused_when_a_gate_fails(
    in_store: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["model", "promote", "1", "--approver", "K. Sato", "--reason", "r"]
    code, _, err = run_cli([*argv, "--max-ece", "0.0000001"], capsys)
    assert code == 1 and "ECE" in err and "above the limit" in err
    code, _, err = run_cli([*argv, "--min-roc-auc", "0.999"], capsys)
    assert code == 1 and "ROC AUC" in err
    code, _, err = run_cli(["model", "promote", "99", "--approver", "a", "--reason", "r"], capsys)
    assert code == 1 and "no version '99'" in err
    assert load_champion() is None


def test_a_version_recording_a_protected_feature_fails_its_gate(
    in_store: dict[str, object],
) -> None:
    client = mlflow_client()
    mv = client.get_model_version(REGISTERED_MODEL, "1")
    original = mv.tags["features"]
    try:
        client.set_model_version_tag(
            REGISTERED_MODEL, "1", "features", json.dumps([*MODEL_FEATURES, "traveller.sex"])
        )
        assert any("traveller.sex" in f for f in check_gates("1"))
    finally:
        client.set_model_version_tag(REGISTERED_MODEL, "1", "features", original)
    assert check_gates("1") == []


def test_a_version_without_a_fairness_report_fails_its_gate(
    in_store: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "FAIRNESS_ARTIFACT", "fairness-missing.csv")
    assert "no fairness report" in check_gates("1")


def test_training_refuses_a_protected_feature_list(
    in_store: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "features.yaml"
    spec_file.write_text("\n".join(f"- {f}" for f in [*MODEL_FEATURES, "traveller.nationality"]))
    before = len(list_versions())
    code, _, err = run_cli(
        ["model", "train", "--table", str(in_store["table"]), "--features", str(spec_file)],
        capsys,
    )
    assert code == 1
    assert "protected attribute(s): traveller.nationality" in err
    assert len(list_versions()) == before


def test_promote_then_score_with_the_champion(
    in_store: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["model", "promote", "1", "--approver", "K. Sato", "--reason", "gates pass"], capsys
    )
    assert code == 0, err
    assert "version 1 is now champion" in out
    v1 = next(v for v in list_versions() if v["version"] == "1")
    assert v1["aliases"] == ["champion"] and v1["approver"] == "K. Sato"

    client = mlflow_client()
    card = Path(client.download_artifacts(v1["run_id"], "model_card.md", str(in_store["home"])))
    assert "Approved by **K. Sato**" in card.read_text()

    from apiflag.audit import verify
    from apiflag.queue.store import open_engine

    engine = open_engine()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT actor, action, object FROM audit_events WHERE action = 'model.promote'")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("K. Sato", "model.promote", f"models:/{REGISTERED_MODEL}/1")
    ]
    assert verify(engine) is None

    champion = load_champion()
    assert champion is not None
    assert champion.version == "1" and champion.model_uri == f"models:/{REGISTERED_MODEL}/1"
    night = synthetic_frame(nights=1, per_night=300, seed=99)
    result = score(night, champion, with_model_rows=True)
    assert result is not None
    scores, contributions = result
    assert list(scores["traveller_id"]) == list(night["traveller_id"])
    assert set(scores["model_uri"].astype(str)) == {f"models:/{REGISTERED_MODEL}/1"}
    assert set(scores["model_version"].astype(str)) == {"1"}
    assert np.all((scores["probability"] > 0) & (scores["probability"] < 1))
    by_id = contributions.groupby("traveller_id", observed=True, sort=False)["weight"]
    for tid, weights in list(by_id)[:50]:
        row = scores.loc[scores["traveller_id"] == tid].iloc[0]
        assert sum(weights.tolist()) == row["log_odds"]
    plain = score(night, champion)
    assert plain is not None
    plain_scores, plain_rows = plain
    assert set(plain_rows["source_id"].astype(str)) == {f"feature:{f}" for f in MODEL_FEATURES}
    # features only: intercept + features (in order) + calibration step is still exact
    ordered = plain_rows.sort_values(["traveller_id", "order"], kind="stable")
    for tid, part in list(ordered.groupby("traveller_id", observed=True, sort=False))[:50]:
        row = plain_scores.loc[plain_scores["traveller_id"] == tid].iloc[0]
        total = sum([row["intercept"], *part["weight"].tolist(), row["calibration_step"]])
        assert total == row["log_odds"]
    out_dir = write_night_scores("2026-04-01", *plain)
    assert len(pd.read_parquet(out_dir / "scores.parquet")) == 300
    assert not list(out_dir.glob(".*.tmp"))


def test_same_seed_and_data_give_the_same_metrics(
    in_store: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        [
            "model",
            "train",
            "--table",
            str(in_store["table"]),
            "--capacity",
            "30",
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    second = json.loads(out)
    versions = {v["version"]: v for v in list_versions()}
    first = versions["1"]
    assert second["version"] != "1"
    for key in ("roc_auc", "pr_auc", "brier", "ece"):
        assert second["metrics"][key] == first[key]
    client = mlflow_client()
    digests = {
        client.get_run(v["run_id"]).data.params["training_data_sha256"] for v in versions.values()
    }
    assert len(digests) == 1
