"""Why the outcome probability misses ECE <= 0.02 on held-out nights: the suspects separated.

Offline analysis on a kept calibration run (``bench_calibration.py --home H --world W``): the
same history training table and the same held-out flagged rows, with the calibration refitted
in several ways, so each suspect is switched off in turn without rerunning any night:

* **calibration rows** — the shipped Platt map is fitted on the calibration slice only (about
  a quarter of the history nights); refitted on out-of-fold raw scores of *every* reviewed
  flagged history row (cross-fitting by night), Platt and isotonic;
* **label noise** — the same, fitted on the world's truth instead of recorded outcomes;
* **prior shift** (history nights smaller than held-out nights) — the truth rate among flagged
  travellers, history vs held-out, and an *oracle* recalibration fitted on the held-out nights
  themselves (leave one night out): if only the oracle reaches the noise floor, the held-out
  nights are drawn unlike the history; if the history refit does too, the map was the cause.

Evaluation code only (it reads ``truth/``). Writes ``benchmarks/results/calibration_gap.json``.
Run: ``python -m benchmarks.calibration_gap --home H --world W``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from apiflag.model.scorecard import fit_platt

    return fit_platt(raw, y, 0.0)


def _platt_noisy(raw: np.ndarray, y: np.ndarray, e: float) -> tuple[float, float]:
    """Platt fitted through the review-error model: P(recorded concern) = e + (1 - 2e) sigmoid."""
    from apiflag.model.scorecard import fit_platt

    return fit_platt(raw, y, e)


def _iso(raw: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip")
    iso.fit(raw, y)
    return np.asarray(iso.predict(x), dtype=float)


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _ece(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from apiflag.model.evaluate import ece_sampling, equal_mass_reliability

    ece, table = equal_mass_reliability(y, p, 10)
    spread = ece_sampling(y, p, 10, draws=200)
    return {
        "ece_equal_mass": round(float(ece), 4),
        "noise_floor": round(float(spread["noise_floor"]), 4),
        "ci95": [round(float(spread["ci_low"]), 4), round(float(spread["ci_high"]), 4)],
        "mean_predicted": round(float(np.mean(p)), 4),
        "bins_predicted": [round(float(v), 3) for v in table["mean_predicted"]],
        "bins_observed": [round(float(v), 3) for v in table["observed_rate"]],
    }


def _oof_raw(
    fit: pd.DataFrame, y: np.ndarray, nights: np.ndarray, feats: list[str], kinds: dict, folds: int
) -> np.ndarray:
    """Out-of-fold raw log-odds: nights cut into ``folds`` blocks, each scored by the others."""
    from apiflag.model.scorecard import Scorecard

    return Scorecard(features=tuple(feats), kinds=kinds).out_of_fold_raw(fit, y, nights, folds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["APIFLAG_HOME"] = str(Path(args.home))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from apiflag.model.data import fit_population
    from apiflag.model.inputs import model_inputs
    from apiflag.model.pipeline import Sampling, build_training_frame
    from apiflag.model.scorecard import Scorecard
    from apiflag.model.train import TrainSettings, train_scorecard
    from apiflag.rules.report import truth_labels
    from benchmarks.bench_calibration import _held_out, _night_frame, _outcome_noise

    load0, cpu0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    world = Path(args.world)
    frame = build_training_frame(world, sampling=Sampling(seed=args.seed))
    spec, full = model_inputs(frame.columns)
    history_nights = sorted({str(n) for n in frame["night"]})
    t_hist = truth_labels(world, history_nights).drop_duplicates("traveller_id")
    tmap = t_hist.set_index("traveller_id")["truth_label"]
    frame["truth"] = (frame["traveller_id"].map(tmap).fillna("none") != "none").astype(int)
    nights = _held_out(world)
    truth = truth_labels(world, nights)
    held = pd.concat([_night_frame(n, truth) for n in nights], ignore_index=True)
    yh = held["truth"].to_numpy()

    flagged = frame.loc[frame["flagged"].to_numpy(dtype=bool)]
    fit, _ = fit_population(frame)  # reviewed flagged rows: what training sees
    per_night_h = flagged.groupby("night").size()
    prevalence = {
        "history_flagged": len(flagged),
        "history_flagged_per_night": round(float(per_night_h.mean()), 1),
        "history_truth_rate_flagged": round(float(flagged["truth"].mean()), 4),
        "history_truth_rate_reviewed_flagged": round(float(fit["truth"].mean()), 4),
        "history_recorded_rate_reviewed_flagged": round(float(fit["label"].mean()), 4),
        "held_out_flagged": len(held),
        "held_out_flagged_per_night": round(len(held) / len(nights), 1),
        "held_out_truth_rate_flagged": round(float(yh.mean()), 4),
        "outcome_noise": _outcome_noise(world),
    }

    from benchmarks.bench_calibration import _former_recipe

    settings = TrainSettings(capacity=args.capacity, seed=args.seed)
    base_res = train_scorecard(frame, spec, full, settings)
    variants: dict[str, Any] = {}
    base = _former_recipe(frame, base_res)
    p_ship = base.predict_proba(held[list(base.features)])[:, 1]
    variants["former recipe: Platt on calibration slice"] = {
        "calibration_rows": int(base.n_calibration_),
        **_ece(yh, p_ship),
    }
    trusting = base_res.model
    variants["training recipe, error rate 0: cross-fitted over the training nights"] = {
        "calibration_rows": int(trusting.n_calibration_),
        **_ece(yh, trusting.predict_proba(held[list(trusting.features)])[:, 1]),
    }
    raw_h = base.raw_log_odds(held[list(base.features)])

    feats, kinds = list(base.features), dict(base.kinds or {})
    yr = fit["label"].to_numpy(dtype=int)
    yt = fit["truth"].to_numpy(dtype=int)
    fn = np.array([str(n) for n in fit["night"]])
    oof = _oof_raw(fit, yr, fn, feats, kinds, args.folds)
    allw = Scorecard(features=tuple(feats), kinds=kinds).fit(fit, yr)  # weights on every row
    raw_all = allw.raw_log_odds(held[feats])
    for lab_name, lab in (("recorded outcomes", yr), ("truth", yt)):
        a, b = _platt(oof, lab)
        variants[f"cross-fitted Platt, all history rows, {lab_name}"] = {
            "calibration_rows": len(lab),
            "platt": [round(a, 3), round(b, 3)],
            **_ece(yh, _sig(a * raw_all + b)),
        }
        variants[f"cross-fitted isotonic, all history rows, {lab_name}"] = {
            "calibration_rows": len(lab),
            **_ece(yh, _iso(oof, lab, raw_all)),
        }
    e = _outcome_noise(world)
    if e > 0:  # the review error rate known: inside the calibration likelihood, not after it
        a, b = _platt_noisy(oof, yr, e)
        variants["cross-fitted Platt, all history rows, recorded, error rate in likelihood"] = {
            "calibration_rows": len(yr),
            "platt": [round(a, 3), round(b, 3)],
            **_ece(yh, _sig(a * raw_all + b)),
        }
        cal = fit.loc[fit["night"].isin(list(base_res.split.calibration))]
        shipped = TrainSettings(capacity=args.capacity, seed=args.seed, outcome_error_rate=e)
        known = train_scorecard(frame, spec, full, shipped).model
        p_known = known.predict_proba(held[list(known.features)])[:, 1]
        variants["training recipe, error rate known: cross-fitted over the training nights"] = {
            "calibration_rows": int(known.n_calibration_),
            **_ece(yh, p_known),
        }
        a, b = _platt_noisy(base.raw_log_odds(cal[feats]), cal["label"].to_numpy(int), e)
        variants["calibration slice only, error rate in likelihood"] = {
            "calibration_rows": int(base.n_calibration_),
            "platt": [round(a, 3), round(b, 3)],
            **_ece(yh, _sig(a * raw_h + b)),
        }
    # oracle: the shipped weights, the map fitted on the held-out nights (leave one night out)
    hn = held["night"].to_numpy()
    for method in ("Platt", "isotonic"):
        p = np.empty(len(held))
        for n in nights:
            tr, te = hn != n, hn == n
            if method == "Platt":
                a, b = _platt(raw_h[tr], yh[tr])
                p[te] = _sig(a * raw_h[te] + b)
            else:
                p[te] = _iso(raw_h[tr], yh[tr], raw_h[te])
        variants[f"oracle: {method} refitted on held-out nights (truth, leave one night out)"] = {
            "calibration_rows": int(len(held) - len(held) / len(nights)),
            **_ece(yh, p),
        }
    # history raw-score mass vs held-out: the same weights, where the travellers fall
    raw_hist = base.raw_log_odds(flagged[feats])
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    shift = {
        "raw_log_odds_quantiles_history_flagged": [
            round(float(v), 3) for v in np.quantile(raw_hist, qs)
        ],
        "raw_log_odds_quantiles_held_out_flagged": [
            round(float(v), 3) for v in np.quantile(raw_h, qs)
        ],
        "quantiles": qs,
    }
    return {
        "analysis": "calibration_gap",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "world": str(world),
        "prevalence": prevalence,
        "raw_score_shift": shift,
        "variants": variants,
        "machine": {
            "load_avg_start": load0,
            "load_avg_end": os.getloadavg()[0],
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - cpu0, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--world", required=True)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "calibration_gap.json"))
    args = parser.parse_args(argv)
    report = run(args)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["prevalence"], indent=1))
    print(json.dumps(report["raw_score_shift"], indent=1))
    for name, v in report["variants"].items():
        print(
            f"{name:75} ECE {v['ece_equal_mass']:.4f} floor {v['noise_floor']:.4f} n_cal "
            f"{v['calibration_rows']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
