"""Training labels and sampling: reviewed flagged rows only, a seeded weighted sample of the rest.

The outcome probability means "the chance that a review finds indicators" for a flagged
traveller, so it is fitted on flagged travellers with a recorded outcome (an unreviewed one is
unknown, not "no concern"). History nights are streamed one at a time, keeping the flagged and
a seeded sample of the unflagged whose weights are recorded and logged in MLflow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apiflag.model.data import fit_population
from apiflag.model.evaluate import ece_sampling
from apiflag.model.pipeline import Sampling, _keep_rows, build_training_frame
from apiflag.synth.world import WorldConfig, generate_world
from model_helpers import SPEC, synthetic_frame


def test_fit_population_keeps_reviewed_flagged_rows_only() -> None:
    frame = pd.DataFrame(
        {
            "traveller_id": ["a", "b", "c", "d", "e"],
            "label": [1, 0, 0, 1, 0],
            "flagged": [True, True, True, False, False],
            "reviewed": [True, True, False, True, True],
            "weight": [1.0, 1.0, 1.0, 10.0, 30.0],
        }
    )
    frame.attrs["sampling"] = {"seed": 3}
    rows, figures = fit_population(frame)
    assert rows["traveller_id"].tolist() == ["a", "b"]  # c unreviewed: unknown, not a 0
    assert rows.attrs["sampling"] == {"seed": 3}
    assert figures["population.travellers"] == 43.0  # weighted: 3 flagged + 10 + 30
    assert figures["population.flagged_unreviewed"] == 1.0
    # the reviewed unflagged: weighted recorded positive rate (10 * 1 + 30 * 0) / 40
    assert figures["population.unflagged_recorded_positive_rate"] == pytest.approx(0.25)


def test_keep_rows_is_seeded_and_weighted() -> None:
    flagged = np.zeros(1000, dtype=bool)
    flagged[:7] = True
    a, wa = _keep_rows(flagged, "2026-10-01", Sampling(50, seed=1), False)
    b, wb = _keep_rows(flagged, "2026-10-01", Sampling(50, seed=1), False)
    c, _ = _keep_rows(flagged, "2026-10-01", Sampling(50, seed=2), False)
    d, _ = _keep_rows(flagged, "2026-10-02", Sampling(50, seed=1), False)
    assert (a == b).all() and wa == wb == pytest.approx(993 / 50)
    assert a[:7].all() and int(a.sum()) == 57
    assert not (a == c).all() and not (a == d).all()  # another seed, another night: another draw
    everyone, w = _keep_rows(flagged, "2026-10-01", None, False)
    assert everyone.all() and w == 1.0
    only, _ = _keep_rows(flagged, "2026-10-01", Sampling(50, seed=1), True)
    assert (only == flagged).all()


def test_ece_noise_floor_shrinks_with_rows() -> None:
    rng = np.random.default_rng(0)
    small_p = rng.uniform(0.05, 0.95, 100)
    large_p = rng.uniform(0.05, 0.95, 10_000)
    small = ece_sampling((rng.random(100) < small_p).astype(int), small_p, draws=50)
    large = ece_sampling((rng.random(10_000) < large_p).astype(int), large_p, draws=50)
    # sqrt(p (1 - p) * 10 / n) * sqrt(2 / pi): about 0.11 at 100 rows, 0.011 at 10,000
    assert 0.07 < small["noise_floor"] < 0.16
    assert 0.006 < large["noise_floor"] < 0.017
    assert large["ci_low"] <= large["ece"] <= large["ci_high"]


def test_a_world_samples_reproducibly_and_labels_only_the_reviewed(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(world, WorldConfig(seed=4, nights=1, arrivals=300, history_nights=3))
    first = build_training_frame(world, sampling=Sampling(40, seed=9))
    again = build_training_frame(world, sampling=Sampling(40, seed=9))
    other = build_training_frame(world, sampling=Sampling(40, seed=10))
    cols = ["traveller_id", "flagged", "weight", "label", "reviewed"]
    pd.testing.assert_frame_equal(first[cols], again[cols])
    assert set(first["traveller_id"]) != set(other["traveller_id"])
    nights = first.attrs["sampling"]["nights"]
    assert first.attrs["sampling"]["seed"] == 9 and len(nights) == 3
    for info, (_night, part) in zip(nights, first.groupby("night"), strict=True):
        unflagged = part.loc[~part["flagged"]]
        assert len(unflagged) == 40 == info["unflagged_kept"]
        # the weights sum to the night's unflagged travellers
        assert unflagged["weight"].sum() == pytest.approx(info["travellers"] - info["flagged"])
    assert (first.loc[first["flagged"], "weight"] == 1.0).all()
    assert not first.loc[~first["reviewed"], "label"].any()


def test_the_sample_seed_and_weights_are_logged_in_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apiflag.model.registry import SAMPLING_ARTIFACT, log_and_register, mlflow_client
    from apiflag.model.train import train_scorecard

    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    frame = synthetic_frame(nights=8, per_night=600, seed=3)
    frame = frame.assign(flagged=True, reviewed=True, weight=1.0)
    sampling = {"seed": 21, "unflagged_per_night": 200, "nights": [{"night": "x", "w": 4.5}]}
    frame.attrs["sampling"] = sampling
    result = train_scorecard(frame, SPEC, ["booking.one_way", "booking.payment_cash"])
    reg = log_and_register(result, "test")
    client = mlflow_client()
    run = client.get_run(reg.run_id)
    assert run.data.params["sampling.seed"] == "21"
    assert run.data.params["sampling.unflagged_per_night"] == "200"
    assert "population.travellers" in run.data.metrics
    local = client.download_artifacts(reg.run_id, SAMPLING_ARTIFACT, str(tmp_path))
    assert json.loads(Path(local).read_text())["nights"] == sampling["nights"]


def test_the_calibration_gate_refuses_what_it_cannot_measure() -> None:
    from apiflag.model.registry import _calibration_gate

    measured = {"ece": 0.03, "ece_equal_mass_noise_floor": 0.012, "count.eval_rows": 900.0}
    assert _calibration_gate(measured, 0.05) == []
    assert _calibration_gate({**measured, "ece": 0.08}, 0.05) == ["ECE 0.0800 above the limit 0.05"]
    # 21 travellers: even a perfect model shows about 0.15, so a low ECE proves nothing
    few = {"ece": 0.04, "ece_equal_mass_noise_floor": 0.154, "count.eval_rows": 21.0}
    (why,) = _calibration_gate(few, 0.05)
    assert "cannot be measured to 0.05" in why and "21 reviewed flagged" in why
    assert _calibration_gate({"ece": float("nan")}, 0.05) == ["no calibration error (ece) recorded"]
