"""Benchmark the whole nightly job end to end on one night of 200,000 arrivals (issue 7).

Generates the world once (cached in benchmarks/work/), then runs `apiflag run --orchestrator
plain` in a fresh home in a subprocess, and the same night through the Prefect flow, so wall time
includes start-up, ingest, matching, features, rules, combine, queue and report. Peak RSS is the
child's own maximum resident set. Goal: <= 5 min and <= 4 GB on 2 cores.
Set APIFLAG_BENCH_NIGHTLY_ARRIVALS to change the size. Set APIFLAG_BENCH_BASELINE to another
checkout of apiflag (e.g. `git worktree add --detach ../base <commit>`) to run that build's plain
runner on the same night in the same run, side by side (its `src/` goes first on PYTHONPATH; it reads
its own `models/`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
NIGHT = "2026-11-20"
GOAL_S = 300.0
GOAL_MB = 4096

CHILD = (
    "import resource, sys, time\n"
    "from apiflag.cli import main\n"
    "t = time.perf_counter()\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    assert not e.code, e.code\n"
    "me = resource.getrusage(resource.RUSAGE_SELF)\n"
    "kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('WALL', time.perf_counter() - t, file=sys.stderr)\n"
    "print('RSS', max(me.ru_maxrss, kids.ru_maxrss), file=sys.stderr)\n"
    "cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime\n"
    "print('CPU', cpu, file=sys.stderr)\n"
)


def _child(args: list[str], env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    rss = max(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("RSS"))
    cpu = sum(float(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("CPU"))
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(rss / 1024, 0),
        "stdout": proc.stdout,
    }


def _describe(checkout: Path) -> str:
    """The commit a checkout is at (what a figure was measured on)."""
    proc = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return proc.stdout.strip()[:100] or str(checkout)


def main() -> None:
    arrivals = int(os.environ.get("APIFLAG_BENCH_NIGHTLY_ARRIVALS", "200000"))
    work = HERE / "work"
    world = work / f"nightly-world-{arrivals}"
    env = dict(os.environ)
    if not (world / "world.json").is_file():
        shutil.rmtree(world, ignore_errors=True)
        gen = ["synth", "--out", str(world), "--seed", "7", "--nights", "1"]
        gen += ["--arrivals", str(arrivals), "--history-nights", "0"]
        _child(gen, env)
    results: dict[str, object] = {
        "arrivals": arrivals,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    runs = [("plain", "plain", env), ("prefect", "prefect", env)]
    baseline = os.environ.get("APIFLAG_BENCH_BASELINE")
    if baseline:
        base_src = str(Path(baseline).resolve() / "src")
        runs.insert(0, ("baseline_plain", "plain", dict(env, PYTHONPATH=base_src)))
        results["baseline"] = _describe(Path(baseline))
    results["build"] = _describe(HERE.parent)
    results["load_average_before"] = os.getloadavg()[0]
    for label, orchestrator, env_b in runs:
        home = work / f"nightly-home-{label}"
        shutil.rmtree(home, ignore_errors=True)
        env_o = dict(env_b, APIFLAG_HOME=str(home))
        args = ["run", "--night", NIGHT, "--from", str(world), "--orchestrator", orchestrator]
        first = _child([*args, "--format", "json"], env_o)
        summary = json.loads(str(first.pop("stdout")))
        rerun = _child([*args, "--format", "json"], env_o)
        rerun.pop("stdout")
        results[label] = {
            "first_run": first,
            "rerun": rerun,
            "queued": summary["queued"],
            "overflow": summary["overflow"],
            "flagged_by_track": summary["flagged_by_track"],
            "arrivals_with_crew": summary["arrivals"],
        }
        print(
            f"   {label:15s} first run {first['wall_s']:7.1f} s "
            f"{first['cpu_s']:7.1f} CPU s {first['peak_rss_mb']:6.0f} MB; rerun {rerun['wall_s']:6.1f} s "
            f"(goal <= {GOAL_S:.0f} s, <= {GOAL_MB} MB)",
            flush=True,
        )
    results["load_average_after"] = os.getloadavg()[0]
    out = HERE / "results" / "nightly.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
