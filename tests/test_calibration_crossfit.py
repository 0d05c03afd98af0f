"""The cross-fitted, review-error-aware calibration of the outcome probability.

Reviews record the wrong outcome with a known chance ``e``; fitting the Platt sigmoid to the
recorded outcomes flattens it towards ``e`` and ``1 - e``. Training fits it through that error
(:func:`fit_platt`) on the out-of-fold raw scores of *every* training row
(:meth:`Scorecard.cross_fit`), not on a small later slice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from apiflag.cli import main
from apiflag.errors import ApiflagError, UsageError
from apiflag.model.data import fit_population
from apiflag.model.evaluate import equal_mass_reliability
from apiflag.model.scorecard import Scorecard, fit_platt
from apiflag.model.train import TrainSettings, train_scorecard
from apiflag.settings import load_settings
from model_helpers import MODEL_FEATURES, SPEC, synthetic_frame

KINDS = {f.name: f.kind for f in SPEC}
A_TRUE, B_TRUE = 1.6, -0.4


def _flipped(n: int, e: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scores, true outcomes from sigmoid(A s + B), and recorded ones flipped at rate e."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.3, 1.5, n)
    truth = (rng.random(n) < expit(A_TRUE * s + B_TRUE)).astype(np.int8)
    flip = rng.random(n) < e
    return s, truth, np.where(flip, 1 - truth, truth).astype(np.int8)


@pytest.mark.parametrize("e", [0.05, 0.1, 0.2])
def test_error_aware_platt_recovers_the_true_curve_from_flipped_labels(e: float) -> None:
    s, _, recorded = _flipped(40_000, e, seed=int(e * 100))
    a, b = fit_platt(s, recorded, e)
    assert abs(a - A_TRUE) < 0.12 and abs(b - B_TRUE) < 0.08
    naive_a, _ = fit_platt(s, recorded, 0.0)
    # trusting the records: the slope is measurably flatter, more so the larger e
    assert naive_a < A_TRUE * (1 - 1.5 * e)
    grid = np.linspace(-3, 3, 61)
    true_p = expit(A_TRUE * grid + B_TRUE)
    assert np.max(np.abs(expit(a * grid + b) - true_p)) < 0.03


def test_error_aware_platt_on_clean_labels_is_ordinary_platt() -> None:
    s, truth, _ = _flipped(5_000, 0.0, seed=1)
    a0, b0 = fit_platt(s, truth, 0.0)
    a1, b1 = fit_platt(s, truth, 1e-9)  # the error likelihood with e -> 0: the same fit
    assert abs(a1 - a0) < 1e-3 and abs(b1 - b0) < 1e-3
    assert abs(a0 - A_TRUE) < 0.15


@pytest.fixture(scope="module")
def reviewed() -> pd.DataFrame:
    return synthetic_frame(nights=9, per_night=1500, seed=5)


def test_cross_fit_calibrates_on_every_row_out_of_fold(reviewed: pd.DataFrame) -> None:
    y = reviewed["label"].to_numpy(np.int8)
    nights = reviewed["night"].to_numpy()
    e = 0.05
    model = Scorecard(MODEL_FEATURES, KINDS, calibration="sigmoid", outcome_error_rate=e)
    model.cross_fit(reviewed, y, nights, n_folds=3)
    assert model.n_calibration_ == len(reviewed)  # every row, none kept aside
    assert model.n_calibration_positive_ == int(y.sum())
    assert model.calibration_folds_ == 3
    assert model.n_fit_ == len(reviewed)  # the shipped weights also see every row
    oof = model.out_of_fold_raw(reviewed, y, nights, 3)
    assert (model.platt_a_, model.platt_b_) == fit_platt(oof, y, e)
    # the first fold (earliest three nights) is scored by a scorecard fitted on the others only
    first = np.isin(nights, sorted(set(nights))[:3])
    alone = Scorecard(MODEL_FEATURES, KINDS).fit(reviewed.loc[~first], y[~first])
    assert np.array_equal(oof[first], alone.raw_log_odds(reviewed.loc[first]))
    # and its own outcomes cannot reach its scores: relabelling the fold changes nothing there
    relabelled = y.copy()
    relabelled[first] = 1 - relabelled[first]
    again = model.out_of_fold_raw(reviewed, relabelled, nights, 3)
    assert np.array_equal(again[first], oof[first])
    assert not np.array_equal(again[~first], oof[~first])
    # the out-of-fold scores differ from the in-sample ones (no leak of a row's own label)
    assert not np.allclose(oof, model.raw_log_odds(reviewed))


def test_cross_fit_needs_two_folds_of_nights(reviewed: pd.DataFrame) -> None:
    one_night = reviewed.loc[reviewed["night"] == reviewed["night"].iloc[0]]
    model = Scorecard(MODEL_FEATURES, KINDS)
    with pytest.raises(ApiflagError, match="at least 2 folds of nights; have 1 night"):
        model.cross_fit(one_night, one_night["label"], one_night["night"], 5)


def test_training_calibrates_on_every_reviewed_training_row(reviewed: pd.DataFrame) -> None:
    result = train_scorecard(
        reviewed, SPEC, settings=TrainSettings(capacity=40, outcome_error_rate=0.04)
    )
    population, _ = fit_population(reviewed)
    eval_nights = set(result.split.evaluation)
    training = population.loc[~population["night"].isin(eval_nights)]
    c = result.counts
    assert c["calibration_rows"] == c["fit_rows"] == len(training) == result.model.n_calibration_
    assert c["calibration_positives"] == int(training["label"].sum())
    assert c["calibration_folds"] == 5
    assert c["calibration_rows"] + c["eval_rows"] == len(population)
    doc = result.model.to_dict()
    assert doc["calibration"]["outcome_error_rate"] == 0.04
    assert doc["fitted_on"]["calibration_folds"] == 5
    # the explanation still sums exactly to the shown log-odds
    ev = reviewed.loc[reviewed["night"].isin(eval_nights)].head(200)
    parts, long = result.model.explain(ev, ev["traveller_id"])
    sums = long.groupby("traveller_id", observed=True, sort=False)["weight"].agg(
        lambda w: sum(float(v) for v in w)
    )
    assert np.array_equal(sums.to_numpy(), parts["log_odds"])
    assert np.array_equal(parts["raw"] + parts["step"], parts["log_odds"])


def test_error_aware_training_is_calibrated_against_the_truth() -> None:
    """Recorded outcomes flipped at a known rate: the shipped recipe still meets the truth."""
    e = 0.1
    frame = synthetic_frame(nights=12, per_night=2500, seed=21)
    truth = frame["label"].to_numpy(np.int8)
    rng = np.random.default_rng(3)
    flip = rng.random(len(frame)) < e
    noisy = frame.assign(label=np.where(flip, 1 - truth, truth).astype(np.int8))

    def eval_ece(rate: float) -> float:
        result = train_scorecard(
            noisy, SPEC, settings=TrainSettings(capacity=40, outcome_error_rate=rate)
        )
        ev = frame.loc[frame["night"].isin(set(result.split.evaluation))]
        p = result.model.predict(ev[list(result.model.features)])
        return float(equal_mass_reliability(ev["label"].to_numpy(), p, 10)[0])

    aware, trusting = eval_ece(e), eval_ece(0.0)
    print(f"ECE vs truth: error-aware {aware:.4f}, trusting {trusting:.4f}")
    assert aware < 0.02 < trusting


def test_outcome_error_rate_is_an_operator_setting(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outcome_error_rate: 0.07\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(tmp_path))
        assert load_settings().outcome_error_rate == 0.07
        assert load_settings(outcome_error_rate=0.02).outcome_error_rate == 0.02
        assert TrainSettings.from_settings().outcome_error_rate == 0.07
        (tmp_path / "config.yaml").write_text("outcome_error_rate: 0.5\n", encoding="utf-8")
        with pytest.raises(UsageError) as bad:
            load_settings()
    assert str(bad.value) == (
        f"{tmp_path / 'config.yaml'}: outcome_error_rate: 0.5: must be at least 0 and below 0.5 "
        "(a share of wrong outcomes)"
    )


@pytest.fixture
def spec_from_helpers() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("apiflag.model.data.load_feature_spec", lambda spec=None: list(SPEC))
        mp.setattr("apiflag.model.registry.load_feature_spec", lambda spec=None: list(SPEC))
        yield


@pytest.mark.slow
def test_the_error_rate_is_recorded_in_mlflow_with_the_model(
    tmp_path: Path, spec_from_helpers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from apiflag.model.registry import mlflow_client

    table = tmp_path / "training.parquet"
    synthetic_frame(nights=8, per_night=1200, seed=13).to_parquet(table)
    (tmp_path / "config.yaml").write_text("outcome_error_rate: 0.06\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(tmp_path))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("APIFLAG_DB_URL", raising=False)
        main(["model", "train", "--table", str(table), "--capacity", "30", "--format", "json"])
        summary = json.loads(capsys.readouterr().out)
        client = mlflow_client()
        run = client.get_run(summary["run_id"])
        assert run.data.params["outcome_error_rate"] == "0.06"
        assert run.data.params["calibration_folds"] == "5"
        assert run.data.metrics["count.calibration_rows"] == summary["counts"]["fit_rows"]
        path = client.download_artifacts(summary["run_id"], "scorecard.json", str(tmp_path))
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        assert doc["calibration"]["outcome_error_rate"] == 0.06
        assert doc["fitted_on"]["calibration_rows"] == summary["counts"]["fit_rows"]
