"""Benchmark a backfill plain vs on a 2-worker local Dask cluster (issue 15), side by side.

Generates a world of N nights x A arrivals once (cached in benchmarks/work/), then runs
``apiflag backfill --orchestrator plain`` and ``apiflag backfill --cluster local`` over all its
nights, each in a fresh home in a subprocess, so wall time includes start-up (the cluster's
too). Reports wall and CPU time per night, the cluster's overhead per night against the plain
run (goal <= 15 %), the peak RSS of the client and of the largest worker process, the load
average, and whether both warehouses came out byte-identical. On 2 shared cores the cluster is
not expected to be faster. Sizes: APIFLAG_BENCH_BACKFILL_NIGHTS (default 30) and
APIFLAG_BENCH_BACKFILL_ARRIVALS (default 20000).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
START = dt.date(2026, 11, 20)
GOAL_OVERHEAD = 0.15

CHILD = (
    "import resource, sys, time\n"
    "from apiflag.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    assert not e.code, e.code\n"
    "me = resource.getrusage(resource.RUSAGE_SELF)\n"
    "kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('CPU', me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, file=sys.stderr)\n"
    "print('RSS', me.ru_maxrss, kids.ru_maxrss, file=sys.stderr)\n"
)


def _child(args: list[str], env: dict[str, str]) -> dict[str, float]:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    lines = {line.split()[0]: line.split()[1:] for line in proc.stderr.splitlines() if line}
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(float(lines["CPU"][0]), 1),
        "client_peak_rss_mb": round(int(lines["RSS"][0]) / 1024),
        "largest_child_peak_rss_mb": round(int(lines["RSS"][1]) / 1024),
        "load_average_1min_before": round(load, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def _warehouse_digest(home: Path) -> str:
    h = hashlib.sha256()
    base = home / "warehouse"
    for p in sorted(base.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(base)).encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def main() -> None:
    nights = int(os.environ.get("APIFLAG_BENCH_BACKFILL_NIGHTS", "30"))
    arrivals = int(os.environ.get("APIFLAG_BENCH_BACKFILL_ARRIVALS", "20000"))
    work = HERE / "work"
    world = work / f"backfill-world-{nights}x{arrivals}"
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(work / "prefect"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PYTHONHASHSEED", "0")
    if not (world / "world.json").is_file():
        shutil.rmtree(world, ignore_errors=True)
        gen = ["synth", "--out", str(world), "--seed", "15", "--nights", str(nights)]
        gen += ["--arrivals", str(arrivals), "--history-nights", "0", "--start", str(START)]
        env["APIFLAG_HOME"] = str(work / "synth-home")
        _child(gen, env)
    end = START + dt.timedelta(days=nights - 1)
    base = ["backfill", "--start", str(START), "--end", str(end), "--from", str(world)]
    base.append("--no-report")
    runs: dict[str, dict[str, float]] = {}
    digests = {}
    for name, extra in (
        ("plain", ["--orchestrator", "plain"]),
        ("local_cluster", ["--cluster", "local"]),
    ):
        home = work / f"backfill-home-{name}"
        shutil.rmtree(home, ignore_errors=True)
        env["APIFLAG_HOME"] = str(home)
        runs[name] = _child([*base, *extra], env)
        runs[name]["wall_s_per_night"] = round(runs[name]["wall_s"] / nights, 2)
        runs[name]["cpu_s_per_night"] = round(runs[name]["cpu_s"] / nights, 2)
        digests[name] = _warehouse_digest(home)
    plain, local = runs["plain"], runs["local_cluster"]
    overhead = (local["wall_s"] - plain["wall_s"]) / plain["wall_s"]
    cpu_overhead = (local["cpu_s"] - plain["cpu_s"]) / plain["cpu_s"]
    result = {
        "benchmark": "backfill plain vs 2-worker LocalCluster (apiflag backfill)",
        "nights": nights,
        "arrivals_per_night": arrivals,
        "runs": runs,
        "overhead_per_night_wall": round(overhead, 3),
        "overhead_per_night_cpu": round(cpu_overhead, 3),
        "goal_overhead": GOAL_OVERHEAD,
        "goal_met": overhead <= GOAL_OVERHEAD,
        "warehouses_identical": digests["plain"] == digests["local_cluster"],
        "peak_rss_per_worker_mb": local["largest_child_peak_rss_mb"],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = HERE / "results" / "backfill.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
