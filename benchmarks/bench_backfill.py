"""Benchmark a backfill plain vs on a 2-worker local Dask cluster (issue 15), side by side.

Part 1 (overhead): a world of N nights x A arrivals is generated once (cached in
benchmarks/work/); ``apiflag backfill --orchestrator plain`` and ``apiflag backfill --cluster
local`` then run over all its nights, each in a fresh home in a subprocess, so wall time includes
start-up (the cluster's and Prefect's temporary server's too). Reported: wall and CPU time per
night (CPU of every process of the run: client, Prefect server, workers, parser pools), the
cluster's overhead per night against the plain run (goal <= 15 %), where the CPU went (per
process, sampled with psutil, and per stage), whether both warehouses came out byte-identical,
and the cost of each night against the number of history nights before it (every stage appends
its wall, CPU and its process's peak RSS to ``$APIFLAG_STAGE_TIMINGS``; see
:data:`apiflag.orchestration.stagecache.TIMINGS_ENV`).

Part 2 (memory against history): one night backfilled on the 2-worker cluster with 10, 30 and 90
history nights before it in the warehouse (links to the partitions part 1's plain run wrote, as
``bench_features`` part 2 does) and a 90-night features window, so that every history night is
read. The peak RSS per worker is what each worker process reports of itself
(``getrusage`` in the stage) after the night's stages ran there (goal: 90 nights <= 1.2x 10).

Sizes: APIFLAG_BENCH_BACKFILL_NIGHTS (default 30), APIFLAG_BENCH_BACKFILL_ARRIVALS (default
20000); APIFLAG_BENCH_BACKFILL_PARTS=1 or 2 runs one part only. The load average is recorded
around every run: the machine is shared.
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
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "backfill.json"
START = dt.date(2026, 11, 20)
GOAL_OVERHEAD = 0.15
GOAL_RATIO = 1.2
HISTORY = (10, 30, 90)

# The child runs the CLI and samples the CPU of its descendants (workers, Prefect's server,
# parser pools) every half second, so that the CPU can be split by process afterwards.
CHILD = """
import json, resource, sys, threading, time
import psutil
from apiflag.cli import main
me = psutil.Process()
seen = {}
def role(p):
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "other"
    if "prefect" in cmd and ("server" in cmd or "uvicorn" in cmd):
        return "prefect_server"
    if "spawn_main" in cmd or "multiprocessing" in cmd:
        return "worker_or_pool"
    return "other"
def sample_once():
    for p in me.children(recursive=True):
        try:
            t = p.cpu_times()
            key = (p.pid, p.create_time())
            if key not in seen:
                seen[key] = [role(p), 0.0]
            seen[key][1] = t.user + t.system
        except psutil.Error:
            pass
def sample():
    while True:
        sample_once()
        time.sleep(0.5)
threading.Thread(target=sample, daemon=True).start()
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
sample_once()  # Prefect's temporary server is still up: it stops at exit, unreaped
selfu = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
by_role = {}
for r, cpu in seen.values():
    by_role[r] = by_role.get(r, 0.0) + cpu
out = {
    "client_cpu_s": selfu.ru_utime + selfu.ru_stime,
    "children_cpu_s": kids.ru_utime + kids.ru_stime,
    "client_peak_rss_kb": selfu.ru_maxrss,
    "children_sampled_cpu_s": by_role,
    "children_sampled": len(seen),
}
print("RESULT " + json.dumps(out), file=sys.stderr)
"""


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    load = _load()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = [x for x in proc.stderr.splitlines() if x.startswith("RESULT ")][-1]
    raw = json.loads(line.removeprefix("RESULT "))
    # the workers and pools are reaped (counted by getrusage), Prefect's temporary server is not:
    # the sampled total (at most half a second short per process) then counts more
    sampled = sum(raw["children_sampled_cpu_s"].values())
    cpu = raw["client_cpu_s"] + max(raw["children_cpu_s"], sampled)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_client_s": round(raw["client_cpu_s"], 1),
        "cpu_children_s": round(raw["children_cpu_s"], 1),
        "cpu_children_sampled_s": {
            k: round(v, 1) for k, v in raw["children_sampled_cpu_s"].items()
        },
        "child_processes": raw["children_sampled"],
        "client_peak_rss_mb": round(raw["client_peak_rss_kb"] / 1024),
        "load_average_1min_before": load,
        "load_average_1min_after": _load(),
    }


def _warehouse_digest(home: Path) -> str:
    h = hashlib.sha256()
    base = home / "warehouse"
    for p in sorted(base.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(base)).encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _timings(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _per_stage(lines: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"wall_s": 0.0, "cpu_s": 0.0})
    for x in lines:
        out[x["stage"]]["wall_s"] += x["wall_s"]
        out[x["stage"]]["cpu_s"] += x["process_cpu_s"] + x["children_cpu_s"]
    return {k: {m: round(v, 1) for m, v in d.items()} for k, d in out.items()}


def _per_night(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each night's summed stage wall and CPU, with the number of history nights before it."""
    nights: dict[str, dict[str, float]] = defaultdict(lambda: {"wall_s": 0.0, "cpu_s": 0.0})
    for x in lines:
        nights[x["night"]]["wall_s"] += x["wall_s"]
        nights[x["night"]]["cpu_s"] += x["process_cpu_s"] + x["children_cpu_s"]
    return [
        {"night": n, "history_nights": i, **{k: round(v, 2) for k, v in nights[n].items()}}
        for i, n in enumerate(sorted(nights))
    ]


def _worker_peaks(lines: list[dict[str, Any]]) -> dict[str, int]:
    """pid -> the largest peak RSS (MB) the process reported of itself after a stage."""
    peaks: dict[str, int] = {}
    for x in lines:
        peaks[str(x["pid"])] = max(peaks.get(str(x["pid"]), 0), int(x["peak_rss_mb"]))
    return peaks


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(work / "prefect"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _world(work: Path, nights: int, arrivals: int, env: dict[str, str]) -> Path:
    for cached in sorted(work.glob(f"backfill-world-*x{arrivals}")):
        size = cached.name.removeprefix("backfill-world-").split("x")[0]
        if size.isdigit() and int(size) >= nights and (cached / "world.json").is_file():
            return cached  # a longer world's first nights are the same backfill
    world = work / f"backfill-world-{nights}x{arrivals}"
    if not (world / "world.json").is_file():
        shutil.rmtree(world, ignore_errors=True)
        gen = ["synth", "--out", str(world), "--seed", "15", "--nights", str(nights)]
        gen += ["--arrivals", str(arrivals), "--history-nights", "0", "--start", str(START)]
        _child(gen, {**env, "APIFLAG_HOME": str(work / "synth-home")})
    return world


def _slope(points: list[dict[str, Any]], key: str) -> float:
    """Least-squares seconds per extra history night of ``key`` (0 with fewer than 2 points)."""
    if len(points) < 2:
        return 0.0
    xs = [p["history_nights"] for p in points]
    ys = [p[key] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx, 4)


def overhead(work: Path, world: Path, nights: int, env: dict[str, str]) -> dict[str, Any]:
    """Part 1: the same backfill plain and on the local cluster, side by side."""
    end = START + dt.timedelta(days=nights - 1)
    base = ["backfill", "--start", str(START), "--end", str(end), "--from", str(world)]
    base.append("--no-report")
    runs: dict[str, dict[str, Any]] = {}
    digests = {}
    for name, extra in (
        ("plain", ["--orchestrator", "plain"]),
        ("local_cluster", ["--cluster", "local"]),
    ):
        home = work / f"backfill-home-{name}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        log = work / f"backfill-timings-{name}.jsonl"
        log.unlink(missing_ok=True)
        run_env = {**env, "APIFLAG_HOME": str(home), "APIFLAG_STAGE_TIMINGS": str(log)}
        run = _child([*base, *extra], run_env)
        lines = _timings(log)
        run["wall_s_per_night"] = round(run["wall_s"] / nights, 2)
        run["cpu_s_per_night"] = round(run["cpu_s"] / nights, 2)
        stage_cpu = sum(x["process_cpu_s"] + x["children_cpu_s"] for x in lines)
        run["cpu_in_stages_s"] = round(stage_cpu, 1)
        run["cpu_outside_stages_s"] = round(run["cpu_s"] - stage_cpu, 1)
        run["per_stage"] = _per_stage(lines)
        run["per_night"] = _per_night(lines)
        run["stage_wall_slope_s_per_history_night"] = _slope(run["per_night"], "wall_s")
        run["stage_cpu_slope_s_per_history_night"] = _slope(run["per_night"], "cpu_s")
        peaks = _worker_peaks(lines)
        if name == "local_cluster":
            run["peak_rss_per_worker_mb"] = peaks
        runs[name] = run
        digests[name] = _warehouse_digest(home)
        print(f"   {name}: {run['wall_s']} s wall, {run['cpu_s']} s CPU", flush=True)
    plain, local = runs["plain"], runs["local_cluster"]
    return {
        "nights": nights,
        "runs": runs,
        "overhead_per_night_wall": round((local["wall_s"] - plain["wall_s"]) / plain["wall_s"], 3),
        "overhead_per_night_cpu": round((local["cpu_s"] - plain["cpu_s"]) / plain["cpu_s"], 3),
        "goal_overhead": GOAL_OVERHEAD,
        "goal_met_wall": local["wall_s"] <= plain["wall_s"] * (1 + GOAL_OVERHEAD),
        "goal_met_cpu": local["cpu_s"] <= plain["cpu_s"] * (1 + GOAL_OVERHEAD),
        "warehouses_identical": digests["plain"] == digests["local_cluster"],
    }


def history(work: Path, world: Path, env: dict[str, str]) -> dict[str, Any]:
    """Part 2: worker peak RSS for one night with 10, 30 and 90 history nights before it."""
    done = work / "backfill-home-plain" / "warehouse"
    parts = sorted(p for p in done.glob("night=*") if p.is_dir())
    if len(parts) < 2:
        raise RuntimeError(f"{done}: run part 1 first (its plain warehouse is the history)")
    tonight = parts[-1].name.removeprefix("night=")
    real = parts[:-1]
    night = dt.date.fromisoformat(tonight)
    out: dict[str, Any] = {"night": tonight, "window_days": 90, "runs": {}}
    for n in HISTORY:
        home = work / f"backfill-history-{n}"
        shutil.rmtree(home, ignore_errors=True)
        (home / "warehouse").mkdir(parents=True)
        (home / "config.yaml").write_text("history_days: 90\n", encoding="utf-8")
        for i in range(1, n + 1):
            source = real[(len(real) - i) % len(real)].resolve()
            (home / "warehouse" / f"night={night - dt.timedelta(days=i)}").symlink_to(source)
        log = work / f"backfill-timings-history-{n}.jsonl"
        log.unlink(missing_ok=True)
        run_env = {**env, "APIFLAG_HOME": str(home), "APIFLAG_STAGE_TIMINGS": str(log)}
        args = ["backfill", "--start", tonight, "--end", tonight, "--from", str(world)]
        run = _child([*args, "--cluster", "local"], run_env)
        lines = _timings(log)
        run["per_stage"] = _per_stage(lines)
        run["peak_rss_per_worker_mb"] = _worker_peaks(lines)
        run["peak_rss_largest_worker_mb"] = max(run["peak_rss_per_worker_mb"].values())
        out["runs"][str(n)] = run
        shutil.rmtree(home, ignore_errors=True)
        print(f"   {n} history nights: {run['peak_rss_largest_worker_mb']} MB", flush=True)
    peak = {n: r["peak_rss_largest_worker_mb"] for n, r in out["runs"].items()}
    out["ratio_90_to_10"] = round(peak["90"] / peak["10"], 3)
    out["ratio_30_to_10"] = round(peak["30"] / peak["10"], 3)
    out["goal_ratio"] = GOAL_RATIO
    out["met"] = out["ratio_90_to_10"] <= GOAL_RATIO
    return out


def main() -> None:
    nights = int(os.environ.get("APIFLAG_BENCH_BACKFILL_NIGHTS", "30"))
    arrivals = int(os.environ.get("APIFLAG_BENCH_BACKFILL_ARRIVALS", "20000"))
    parts = os.environ.get("APIFLAG_BENCH_BACKFILL_PARTS", "12")
    work = HERE / "work"
    env = _env(work)
    world = _world(work, nights, arrivals, env)
    result: dict[str, Any] = {}
    if RESULTS.is_file():
        result = json.loads(RESULTS.read_text(encoding="utf-8"))
        if result.get("arrivals_per_night") != arrivals or "overhead" not in result:
            result = {}
    result.update(
        {
            "benchmark": "backfill plain vs 2-worker LocalCluster (apiflag backfill)",
            "arrivals_per_night": arrivals,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if "1" in parts:
        result["overhead"] = overhead(work, world, nights, env)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if "2" in parts:
        result["history"] = history(work, world, env)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
