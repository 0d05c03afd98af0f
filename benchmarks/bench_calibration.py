"""Calibration of the outcome probability on held-out synthetic nights, against the world's truth.

Offline measurement only (this script, not the scorer, reads ``truth/``): a synthetic world's
history nights train the outcome model on the flagged population (labels from
``history/outcomes.csv``, never truth); the model is registered in MLflow, promoted through its
gates, and the real nightly job runs each held-out night with it. On those nights, over the
*flagged* travellers, against ``truth/travellers.csv``:

* ECE with equal-mass bins (goal <= 0.02) and the reliability table;
* the observed rate per decile of each night's queue order;
* precision at capacity (the queued travellers: capacity plus every strong case match);

each for the full model (the training recipe: Platt cross-fitted over every reviewed training
row through the review-error rate, taken as the world's ``outcome_noise``), the former recipe
(Platt on the calibration slice), the recipe trusting every recorded outcome, models fitted
without each evidence source (rule hits, the match logit, the features no rule reads), and the
queue ranked by policy weights alone.

Writes ``benchmarks/results/calibration.json`` and ``calibration.png`` (reliability diagram).
Run: ``python -m benchmarks.bench_calibration`` (about 5 minutes on 2 cores); ``--world DIR``
reuses a world; ``--small`` for a quick check; ``--big`` for enough flagged held-out travellers
(over 900, on held-out nights of the history nights' size) that an ECE of 0.02 can be told from
sampling noise, written to
``calibration_big.json`` (about 15 minutes on 2 busy cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _world(args: argparse.Namespace, root: Path) -> Path:
    if args.world:
        return Path(args.world)
    from apiflag.synth.world import WorldConfig, generate_world

    world = root / "world"
    generate_world(
        world,
        WorldConfig(
            seed=args.seed,
            nights=args.nights,
            arrivals=args.arrivals,
            history_nights=args.history_nights,
            history_arrivals=args.history_arrivals,
        ),
    )
    return world


def _variants(full: list[str]) -> dict[str, list[str]]:
    from apiflag.model.inputs import MATCH_LOGIT, RULE_PREFIX

    return {
        "all sources": full,
        "without rule hits": [f for f in full if not f.startswith(RULE_PREFIX)],
        "without match logit": [f for f in full if f != MATCH_LOGIT],
        "without unread features": [
            f for f in full if f.startswith(RULE_PREFIX) or f == MATCH_LOGIT
        ],
    }


def _outcome_noise(world: Path) -> float:
    """The world's share of wrong recorded outcomes (its config), 0 when not recorded."""
    try:
        meta = json.loads((world / "world.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0.0
    return float(meta.get("parameters", {}).get("outcome_noise", 0.0))


def _held_out(world: Path) -> list[str]:
    return sorted(p.name for p in (world / "nights").iterdir() if p.is_dir())


def _night_frame(night: str, truth: pd.DataFrame) -> pd.DataFrame:
    """The night's combined rows of flagged travellers, with their model inputs and truth."""
    from apiflag import config
    from apiflag.model.inputs import input_frame
    from apiflag.rules import load_catalogue

    part = config.warehouse_dir(night)
    combined = pd.read_parquet(part / "combined.parquet")
    flagged = combined.loc[combined["flagged"]].copy()
    features = pd.read_parquet(part / "features.parquet")
    hits = pd.read_parquet(part / "rule_hits.parquet")
    matches = pd.read_parquet(part / "matches.parquet")
    rule_ids = [r.id for r in load_catalogue().rules]
    inputs = input_frame(features, hits, matches, rule_ids)
    frame = flagged.merge(inputs, on="traveller_id", how="left", suffixes=("", "_f"))
    t = truth.drop_duplicates("traveller_id").set_index("traveller_id")["truth_label"]
    frame["truth"] = (frame["traveller_id"].map(t).fillna("none") != "none").astype(int)
    frame["night"] = night
    return frame


def _ranked(frame: pd.DataFrame, tie: np.ndarray | None, capacity: int, threshold: float):
    """Each night's queue order (policy, then ``tie`` descending, then id) and the queued."""
    order_key = frame.assign(
        _tie=-np.nan_to_num(tie, nan=-np.inf) if tie is not None else 0.0,
        _strong=frame["case_match_probability"].fillna(0.0) >= threshold,
    ).sort_values(["night", "total", "_tie", "flag_id"], ascending=[True, False, True, True])
    rank = order_key.groupby("night").cumcount().to_numpy() + 1
    others = (~order_key["_strong"]).groupby(order_key["night"]).cumsum().to_numpy()
    queued = order_key["_strong"].to_numpy() | (
        (~order_key["_strong"].to_numpy()) & (others <= capacity)
    )
    out = pd.DataFrame({"rank": rank, "queued": queued}, index=order_key.index).reindex(frame.index)
    return out["rank"].to_numpy(), out["queued"].to_numpy(dtype=bool)


def _measure(
    frame: pd.DataFrame, p: np.ndarray | None, capacity: int, threshold: float
) -> dict[str, Any]:
    from apiflag.model.evaluate import ece_sampling, equal_mass_reliability, queue_decile_rates

    y = frame["truth"].to_numpy()
    rank, queued = _ranked(frame, p, capacity, threshold)
    out: dict[str, Any] = {
        "flagged": len(frame),
        "positives": int(y.sum()),
        "base_rate_flagged": float(y.mean()) if len(y) else float("nan"),
        "queued": int(queued.sum()),
        "precision_at_capacity": float(y[queued].mean()) if queued.any() else float("nan"),
        "deciles": queue_decile_rates(y, rank, frame["night"].to_numpy()).to_dict("records"),
    }
    if p is not None:
        ece, table = equal_mass_reliability(y, p, 10)
        out["ece_equal_mass"] = ece
        spread = ece_sampling(y, p, 10, draws=300)
        out["ece_noise_floor"] = spread["noise_floor"]
        out["ece_noise_floor_p95"] = spread["noise_floor_p95"]
        out["ece_ci95"] = [spread["ci_low"], spread["ci_high"]]
        # against what a review would record: truth with the world's share of wrong outcomes
        e = float(frame.attrs.get("outcome_noise", 0.0))
        out["ece_equal_mass_vs_recorded"] = equal_mass_reliability(
            (1.0 - e) * y + e * (1.0 - y), p, 10
        )[0]
        out["mean_predicted"] = float(np.mean(p))
        out["reliability"] = table.to_dict("records")
        out["precision_top_capacity_by_probability"] = float(
            frame.assign(_p=p)
            .sort_values(["night", "_p"], ascending=[True, False])
            .groupby("night")
            .head(capacity)["truth"]
            .mean()
        )
    return out


def _former_recipe(frame: pd.DataFrame, shipped: Any) -> Any:
    """The scorecard as trained before cross-fitting: fit nights, then the calibration slice."""
    from apiflag.model.data import fit_population
    from apiflag.model.scorecard import Scorecard

    rows, _ = fit_population(frame)
    nights = {str(n) for n in rows["night"]}
    fit_n = {str(n) for n in shipped.split.fit} & nights
    cal_n = {str(n) for n in shipped.split.calibration} & nights
    night = rows["night"].astype(str)
    fit, cal = rows.loc[night.isin(fit_n)], rows.loc[night.isin(cal_n)]
    model = Scorecard(
        features=shipped.model.features,
        kinds=shipped.model.kinds,
        calibration="sigmoid",
        random_state=shipped.settings.seed,
    )
    return model.fit(fit, fit["label"], cal, cal["label"])


def _training_summary(
    frame: pd.DataFrame, trained: dict[str, Any], full: list[str], version: str, promotion: Any
) -> dict[str, Any]:
    """What the training saw and what its own evaluation slice said (recorded outcomes)."""
    flagged = frame["flagged"].to_numpy(dtype=bool)
    return {
        "flagged_rows": int(flagged.sum()),
        "reviewed_flagged_rows": int((frame["reviewed"].to_numpy(dtype=bool) & flagged).sum()),
        "positives_reviewed_flagged": int(frame.loc[flagged, "label"].sum()),
        "sampling": {k: v for k, v in frame.attrs["sampling"].items() if k != "nights"},
        "eval_slice": {
            name: {
                k: r.metrics.get(k)
                for k in ("ece", "ece_equal_mass", "ece_equal_mass_noise_floor", "roc_auc")
            }
            | {"eval_rows": r.counts["eval_rows"]}
            for name, r in trained.items()
        },
        "inputs": full,
        "calibration": trained["all sources"].model.calibration_method_,
        "calibration_rows": trained["all sources"].model.n_calibration_,
        "calibration_folds": trained["all sources"].counts.get("calibration_folds"),
        "outcome_error_rate": trained["all sources"].settings.outcome_error_rate,
        "promoted_version": version,
        "promotion": {k: v for k, v in promotion.items() if isinstance(v, (str, int, float))},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="apiflag-calibration-"))
    home = Path(args.home) if args.home else root / "home"
    if home.exists() and args.home:
        import shutil

        for stale in ("mlflow.db", "mlartifacts", "apiflag.db"):
            target = home / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    os.environ["APIFLAG_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from apiflag import pipeline
    from apiflag.errors import ApiflagError
    from apiflag.matching.model import load_model
    from apiflag.model.inputs import model_inputs
    from apiflag.model.pipeline import Sampling, build_training_frame
    from apiflag.model.registry import log_and_register, promote
    from apiflag.model.scoring import Champion, score
    from apiflag.model.train import TrainSettings, train_scorecard
    from apiflag.rules.report import truth_labels  # an offline truth reader
    from apiflag.settings import load_settings

    load0, cpu0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    world = _world(args, root)
    t_world = time.perf_counter() - t0
    frame = build_training_frame(world, sampling=Sampling(seed=args.seed))
    spec, full = model_inputs(frame.columns)
    # the world's share of wrong recorded outcomes stands for the operator's re-review audit
    # figure (config.yaml's outcome_error_rate): training calibrates through it
    noise = _outcome_noise(world)
    settings = TrainSettings(capacity=args.capacity, seed=args.seed, outcome_error_rate=noise)
    # the model is fitted on the flagged travellers with a recorded outcome (fit_population)
    trained = {
        name: train_scorecard(frame, spec, feats, settings)
        for name, feats in _variants(full).items()
    }
    if noise > 0:  # side by side: the same recipe trusting every recorded outcome
        trusting = TrainSettings(capacity=args.capacity, seed=args.seed)
        trained["all sources, review error rate not given"] = train_scorecard(
            frame, spec, full, trusting
        )
    # the former recipe, side by side: weights on the fit nights only, the Platt map fitted on
    # the later calibration slice alone (about a fifth of the reviewed rows), records trusted
    former_recipe = _former_recipe(frame, trained["all sources"])
    # the former label definition, side by side: an unreviewed flagged traveller counted as 0
    former = frame.assign(reviewed=frame["reviewed"] | frame["flagged"])
    trained["all sources, unreviewed as no concern"] = train_scorecard(former, spec, full, settings)
    reg = log_and_register(trained["all sources"], str(world))
    try:
        promotion: dict[str, Any] = promote(
            reg.version, "calibration-benchmark", "measure on held-out nights"
        )
    except ApiflagError as exc:  # the gate refused: the nights run without a champion
        promotion = {"refused": str(exc)}
    casedb = f"sqlite:///{(world / 'casedb.sqlite').resolve()}"
    nights = _held_out(world)
    for night in nights:
        pipeline.run_night(
            dt.date.fromisoformat(night),
            world,
            casedb,
            settings=load_settings(capacity=args.capacity),
            write_report=False,
        )
    truth = truth_labels(world, nights)
    held = pd.concat([_night_frame(n, truth) for n in nights], ignore_index=True)
    held.attrs["outcome_noise"] = _outcome_noise(world)
    threshold = float(load_model().default_threshold)
    results: dict[str, Any] = {}
    # the real queue: probabilities as the nightly job stored them (when the gate let it in)
    if "refused" not in promotion:
        results["nightly job (champion)"] = _measure(
            held, held["probability"].to_numpy(dtype=float), args.capacity, threshold
        )
    for name, result in trained.items():
        champ = Champion(result.model, f"variant:{name}", "0")
        scored = score(held, champ)
        assert scored is not None
        prob = scored[0]["probability"].to_numpy(dtype=float)
        held[f"p:{name}"] = prob
        results[f"model {name}"] = _measure(held, prob, args.capacity, threshold)
    champ = Champion(former_recipe, "variant:former", "0")
    scored = score(held, champ)
    assert scored is not None
    prob = scored[0]["probability"].to_numpy(dtype=float)
    held["p:former recipe"] = prob
    results["model all sources, former recipe (Platt on the calibration slice)"] = _measure(
        held, prob, args.capacity, threshold
    )
    results["policy weights alone (no model)"] = _measure(held, None, args.capacity, threshold)
    if args.dump:  # the scored held-out rows, for offline analysis of the figures above
        keep = ["night", "traveller_id", "flag_id", "total", "truth", "probability"]
        cols = [c for c in keep if c in held.columns] + [c for c in held if c.startswith("p:")]
        held[cols].to_parquet(args.dump)
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "benchmark": "calibration",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "world": {
            "seed": args.seed,
            "history_nights": args.history_nights,
            "held_out_nights": len(nights),
            "arrivals_per_night": args.arrivals,
            "history_arrivals_per_night": args.history_arrivals or args.arrivals,
            "reused": bool(args.world),
        },
        "capacity": args.capacity,
        "training": _training_summary(frame, trained, full, reg.version, promotion),
        "goal": {"ece_equal_mass_max": 0.02},
        "results": results,
        "machine": {
            "load_avg_start": load0,
            "load_avg_end": os.getloadavg()[0],
            "wall_s": time.perf_counter() - t0,
            "world_s": t_world,
            "cpu_s_main": time.process_time() - cpu0,
            "peak_rss_mb": self_ru.ru_maxrss / 1024,
            "cpus": os.cpu_count(),
        },
    }
    return report


def _figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    ax1.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    for name in ("model all sources", "model all sources, unreviewed as no concern"):
        rel = report["results"][name].get("reliability", [])
        if rel:
            ax1.plot(
                [r["mean_predicted"] for r in rel],
                [r["observed_rate"] for r in rel],
                marker="o",
                label=f"{name} (ECE {report['results'][name]['ece_equal_mass']:.3f})",
            )
    ax1.set_xlabel("mean predicted outcome probability (equal-mass bins)")
    ax1.set_ylabel("observed rate (truth)")
    ax1.set_title("Flagged travellers, held-out nights")
    ax1.legend(fontsize=8)
    for name in ("model all sources", "policy weights alone (no model)"):
        dec = report["results"][name]["deciles"]
        ax2.plot([d["decile"] for d in dec], [d["rate"] for d in dec], marker="o", label=name)
    ax2.set_xlabel("decile of the night's queue order (1 = top)")
    ax2.set_ylabel("observed rate (truth)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", help="reuse this world (its nights/ are the held-out nights)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--history-nights", type=int, default=28)
    parser.add_argument("--nights", type=int, default=8)
    parser.add_argument("--arrivals", type=int, default=4000)
    parser.add_argument(
        "--history-arrivals", type=int, default=None, help="per history night (default --arrivals)"
    )
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--home", help="APIFLAG_HOME to use (a rerun reuses its stage outputs)")
    parser.add_argument("--small", action="store_true", help="a quick check, not a measurement")
    parser.add_argument(
        "--big",
        action="store_true",
        help="held-out nights large enough to test ECE <= 0.02 (over 800 flagged travellers)",
    )
    parser.add_argument("--out", default=None)
    parser.add_argument("--dump", help="also write the scored held-out rows to this parquet")
    args = parser.parse_args(argv)
    if args.small and args.big:
        parser.error("--small and --big exclude each other")
    if args.small:
        args.history_nights, args.nights, args.arrivals = 10, 2, 800
    if args.big:
        # held-out nights drawn like the history nights (same size: the world plants each
        # pattern's minimum every night, so a bigger night has a lower share of true cases
        # among the flagged, a prior shift); about 26 flagged a night at 5,000 arrivals, so
        # 36 held-out nights give over 900 flagged travellers (noise floor near 0.02)
        args.history_nights, args.history_arrivals = 28, 5000
        args.nights, args.arrivals = 36, 5000
    if args.out is None:
        args.out = str(RESULTS / ("calibration_big.json" if args.big else "calibration.json"))
    report = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    _figure(report, out.with_suffix(".png"))
    for name, r in report["results"].items():
        ece = r.get("ece_equal_mass")
        print(
            f"{name:34} flagged {r['flagged']:5} base {r['base_rate_flagged']:.3f} "
            f"ECE {'  -  ' if ece is None else f'{ece:.4f}'} "
            f"precision@capacity {r['precision_at_capacity']:.3f}"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
