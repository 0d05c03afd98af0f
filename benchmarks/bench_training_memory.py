"""Peak memory of building the training table and fitting, as history grows (issue 15, item 2).

Goal: peak RSS at 90 history nights <= 1.2 x that at 10. For 10, 30 and 90 history nights of
``--arrivals`` passengers each (default 1,000: smaller nights than a hub's, so 90 nights fit the
shared machine's time; the per-night memory does not change the comparison), a world is
generated, then in fresh interpreters (each peak RSS is its own):

1. ``replay``: every history night through ingest, matching, features and rules into the
   warehouse (the live stages; their per-night memory is the stages' own);
2. ``train``: the training table read back from the warehouse night by night (cached stage
   outputs), keeping the flagged and a seeded sample of 200 unflagged a night with weights,
   then the fit: what ``apiflag model train`` does after the replay;
3. ``train, every row kept``: the same with every unflagged traveller kept (the former
   behaviour, the whole history in memory), side by side.

The machine is shared: load average and CPU time are recorded with each figure.
Run: ``python -m benchmarks.bench_training_memory`` (``make bench``); ``--small`` for a check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REPO = HERE.parent


def part(world: str, mode: str) -> dict[str, Any]:
    """Run one measured part in this interpreter and return its figures."""
    from apiflag.model.pipeline import Sampling, build_training_frame

    cpu0, t0 = time.process_time(), time.perf_counter()
    out: dict[str, Any] = {}
    if mode == "replay":
        frame = build_training_frame(Path(world), flagged_only=True)
    else:
        from apiflag.model.inputs import model_inputs
        from apiflag.model.train import train_scorecard

        sampling = Sampling(seed=0) if mode == "train" else None
        frame = build_training_frame(Path(world), sampling=sampling)
        from apiflag.errors import ApiflagError

        spec, full = model_inputs(frame.columns)
        try:
            out["fit_rows"] = train_scorecard(frame, spec, full).counts["rows"]
        except ApiflagError as exc:  # too few reviewed positives in a slice: no fit
            out["fit_error"] = str(exc)
    out.update(
        {
            "table_rows": len(frame),
            "table_mb": float(frame.memory_usage(deep=True).sum()) / 2**20,
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - cpu0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
    return out


def _run_part(world: Path, home: Path, mode: str) -> dict[str, Any]:
    env = {**os.environ, "APIFLAG_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_training_memory", "--part", mode, str(world)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load_avg_start"] = load
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from apiflag.synth.world import WorldConfig, generate_world

    root = Path(tempfile.mkdtemp(prefix="apiflag-trainmem-"))
    rows: dict[str, Any] = {}
    for nights in args.nights:
        world = root / f"world-{nights}"
        t0 = time.perf_counter()
        generate_world(
            world,
            WorldConfig(seed=3, nights=1, arrivals=args.arrivals, history_nights=nights),
        )
        home = root / f"home-{nights}"
        entry: dict[str, Any] = {"world_s": time.perf_counter() - t0}
        for mode in ("replay", "train", "train-all-rows"):
            entry[mode] = _run_part(world, home, mode)
            print(f"{nights:3} nights {mode:15} {json.dumps(entry[mode])}", flush=True)
        rows[str(nights)] = entry
    first, last = str(args.nights[0]), str(args.nights[-1])
    ratios = {
        mode: rows[last][mode]["peak_rss_mb"] / rows[first][mode]["peak_rss_mb"]
        for mode in ("replay", "train", "train-all-rows")
    }
    return {
        "benchmark": "training_memory",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arrivals_per_night": args.arrivals,
        "history_nights": args.nights,
        "unflagged_sampled_per_night": 200,
        "goal": {"peak_rss_ratio_last_to_first_max": 1.2},
        "results": rows,
        f"peak_rss_ratio_{last}_to_{first}": ratios,
        "machine": {"cpus": os.cpu_count(), "load_avg_end": os.getloadavg()[0]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("world", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--arrivals", type=int, default=1000)
    parser.add_argument("--nights", type=int, nargs="+", default=[10, 30, 90])
    parser.add_argument("--small", action="store_true", help="a quick check, not a measurement")
    parser.add_argument("--out", default=str(RESULTS / "training_memory.json"))
    args = parser.parse_args(argv)
    if args.part:
        print(json.dumps(part(args.world, args.part)))
        return 0
    if args.small:
        args.arrivals, args.nights = 300, [4, 8]
    report = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
