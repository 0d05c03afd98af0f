"""Combine and review benchmark: a 200,000-arrival night through combine, the queue store,
the nightly report, and the audit chain.

Each size runs in a fresh subprocess so its peak RSS is its own. Measured: ``combine`` (tracks,
totals, ranking, exact explanations of the queued flags), ``save_night`` into SQLite (one
transaction, audited inserts), the rerun of the same night (idempotent: nothing inserted),
``build_report`` (HTML with the inline plot, markdown), then ``append_event`` one event per
transaction (the decision path) and ``verify`` of the whole chain.

    python -m benchmarks.bench_queue [--arrivals N] [--events N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO = HERE.parent
RESULTS = HERE / "results" / "queue.json"
FULL_ARRIVALS = 200_000
FULL_EVENTS = 2_000


def child(arrivals: int, events: int, hit_rate: float) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from apiflag.audit import append_event, check_chain
    from apiflag.queue import store
    from apiflag.report import build_report
    from queue_helpers import random_night

    out: dict[str, Any] = {"arrivals": arrivals, "hit_rate": hit_rate}
    night = random_night(arrivals, seed=7, hit_rate=hit_rate)
    out["rule_hits"] = len(night.rule_hits)
    mc = night.model_contributions
    out["model_contribution_rows"] = 0 if mc is None else len(mc)

    t = time.perf_counter()
    result = night.combine()
    out["combine_s"] = round(time.perf_counter() - t, 3)
    out["flagged"] = int(result.travellers["flagged"].sum())
    out["queued"] = len(result.flags)
    out["overflow"] = result.overflow

    engine = store.open_engine()
    t = time.perf_counter()
    saved = store.save_night(engine, result)
    out["save_night_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    again = store.save_night(engine, night.combine())
    out["rerun_combine_and_save_s"] = round(time.perf_counter() - t, 3)
    out["rerun_inserted"] = again.inserted
    out["inserted"] = saved.inserted

    t = time.perf_counter()
    path, markdown = build_report(night.night, result, night.travellers, rule_hits=night.rule_hits)
    out["report_s"] = round(time.perf_counter() - t, 3)
    out["report_kb"] = round(path.stat().st_size / 1024, 1)

    t = time.perf_counter()
    for i in range(events):
        append_event(engine, "bench", "flag.view", f"F-{i}", {"i": i})
    elapsed = time.perf_counter() - t
    out["append_events"] = events
    out["append_per_s"] = round(events / elapsed, 1)
    t = time.perf_counter()
    check = check_chain(engine)
    out["verify_s"] = round(time.perf_counter() - t, 3)
    out["chain_events"] = check.checked
    assert check.broken_seq is None
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run_child(arrivals: int, events: int, hit_rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="apiflag-bench-queue-") as home:
        env = {**os.environ, "APIFLAG_HOME": home}
        env.pop("APIFLAG_DB_URL", None)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_queue", "--child",
             "--arrivals", str(arrivals), "--events", str(events), "--hit-rate", str(hit_rate)],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        data["wall_s"] = round(time.perf_counter() - start, 2)
        return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrivals", type=int, default=FULL_ARRIVALS)
    parser.add_argument("--events", type=int, default=FULL_EVENTS)
    parser.add_argument("--hit-rate", type=float, default=0.02)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    if args.child:
        print(json.dumps(child(args.arrivals, args.events, args.hit_rate)))
        return
    runs = [run_child(args.arrivals, args.events, rate) for rate in (0.02, 0.10)]
    load = os.getloadavg()
    report = {"runs": runs, "cpus": os.cpu_count(), "load_avg_1m": round(load[0], 2)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for r in runs:
        print(
            f"   {r['arrivals']:,} arrivals, hit rate {r['hit_rate']:.0%}: combine {r['combine_s']} s, "
            f"save {r['save_night_s']} s ({r['queued']} queued, overflow {r['overflow']}), "
            f"rerun {r['rerun_combine_and_save_s']} s (inserted {r['rerun_inserted']}), "
            f"report {r['report_s']} s, audit {r['append_per_s']}/s appends, verify "
            f"{r['chain_events']} events {r['verify_s']} s, peak RSS {r['peak_rss_mb']} MB, "
            f"wall {r['wall_s']} s"
        )
    print(f"   load average {report['load_avg_1m']} on {report['cpus']} cpus -> {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
