"""Calibration against the truth when a known share of recorded outcomes is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apiflag.errors import ApiflagError
from apiflag.model.evaluate import equal_mass_reliability
from apiflag.model.scorecard import Scorecard

E = 0.1  # share of recorded outcomes that are wrong, either way


def _world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A level ``x`` (five, one weight each), the true chance ``t`` of a concern, and recorded outcomes with E flipped."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, n).astype(float)
    t = 1.0 / (1.0 + np.exp(-(-1.0 + 1.0 * x)))  # from 0.27 to 0.95: mostly concerns
    truth = rng.random(n) < t
    flip = rng.random(n) < E
    recorded = np.where(flip, ~truth, truth).astype(int)
    return pd.DataFrame({"x": x.astype(int).astype(str)}), t, recorded


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
def test_known_outcome_error_rate_calibrates_against_the_truth(calibration: str) -> None:
    X, _, y = _world(20000, 1)
    Xc, _, yc = _world(20000, 2)
    Xt, t, _ = _world(20000, 3)

    def fitted(e: float) -> Scorecard:
        model = Scorecard(
            ("x",), {"x": "categorical"}, calibration=calibration, outcome_error_rate=e
        )  # type: ignore[arg-type]
        return model.fit(X, y, Xc, yc)

    trusting, corrected = fitted(0.0), fitted(E)
    p_trusting, p_corrected = trusting.predict(Xt), corrected.predict(Xt)
    # trusting the records pulls every probability towards 0.5 by E |1 - 2t|
    assert float(np.mean(np.abs(p_trusting - t))) > 0.05
    assert float(np.mean(np.abs(p_corrected - t))) < 0.02
    # the same on the benchmark's measure: equal-mass ECE against true outcomes drawn from t
    truth = (np.random.default_rng(4).random(len(t)) < t).astype(float)
    assert equal_mass_reliability(truth, p_corrected)[0] < 0.02
    assert equal_mass_reliability(truth, p_trusting)[0] > 0.04
    # mapped back, the corrected model is calibrated against what reviews record
    back = corrected.recorded_probability(p_corrected)
    assert float(np.mean(np.abs(back - p_trusting))) < 0.01
    # the ranking is kept, and the explanation still sums exactly to the log-odds
    assert np.array_equal(
        np.argsort(p_corrected, kind="stable"), np.argsort(p_trusting, kind="stable")
    )
    parts = corrected.decompose(Xt)
    assert np.array_equal(parts["raw"] + parts["step"], parts["log_odds"])
    assert corrected.to_dict()["calibration"]["outcome_error_rate"] == E


def test_outcome_error_rate_of_one_half_or_more_is_refused() -> None:
    X, _, y = _world(500, 5)
    with pytest.raises(ApiflagError, match=r"outcome_error_rate must be in \[0, 0.5\), got 0.5"):
        Scorecard(("x",), {"x": "categorical"}, outcome_error_rate=0.5).fit(X, y)
