"""Benchmark `apiflag synth`: one night of 200,000 and of 1,000,000 arrivals.

Each size runs in a fresh subprocess (the real CLI), so wall time includes start-up and the
case-database load, and peak RSS is the child's own maximum resident set. Goals (issue 2):
200,000 arrivals <= 60 s and <= 2 GB; 1,000,000 <= 5 min. Set APIFLAG_BENCH_SYNTH_SIZES to
override the sizes (comma-separated), e.g. ``20000`` for a quick look.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
GOALS = {200_000: 60.0, 1_000_000: 300.0}
MAX_RSS_MB = 2048


def run_once(arrivals: int, workdir: Path) -> dict[str, float | int | bool]:
    out = workdir / f"world-{arrivals}"
    code = (
        "import resource, sys, time\n"
        "from apiflag.cli import main\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "me = resource.getrusage(resource.RUSAGE_SELF)\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print('WALL', time.perf_counter() - t)\n"
        "print('CPU', me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime)\n"
        "print('SELFCPU', me.ru_utime + me.ru_stime)\n"
        "print('RSS', max(me.ru_maxrss, kids.ru_maxrss))\n"
    )
    args = [
        sys.executable,
        "-c",
        code,
        "synth",
        "--out",
        str(out),
        "--seed",
        "7",
        "--nights",
        "1",
        "--arrivals",
        str(arrivals),
        "--history-nights",
        "0",
    ]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    fields = dict(
        line.split(" ", 1)
        for line in proc.stdout.splitlines()
        if line.startswith(("WALL", "CPU", "SELFCPU", "RSS"))
    )
    rss_mb = int(fields["RSS"]) / 1024
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    n_files = sum(1 for _ in (out / "nights").rglob("*.edi"))
    shutil.rmtree(out, ignore_errors=True)
    goal = GOALS.get(arrivals)
    return {
        "arrivals": arrivals,
        "wall_s": round(wall, 1),
        "in_process_s": round(float(fields["WALL"]), 1),
        "cpu_s": round(float(fields["CPU"]), 1),
        # main process plus half the two workers' CPU: the wall time on an idle 2-core machine
        "idle_2core_estimate_s": round(
            float(fields["SELFCPU"]) + (float(fields["CPU"]) - float(fields["SELFCPU"])) / 2, 1
        ),
        "peak_rss_mb": round(rss_mb, 1),
        "files": n_files,
        "bytes": size,
        "goal_s": goal or 0.0,
        "meets_goal": bool(goal is None or (wall <= goal and rss_mb <= MAX_RSS_MB)),
        "meets_goal_when_idle": bool(
            goal is None
            or (
                float(fields["SELFCPU"]) + (float(fields["CPU"]) - float(fields["SELFCPU"])) / 2
                <= goal
                and rss_mb <= MAX_RSS_MB
            )
        ),
    }


def main() -> None:
    sizes = [
        int(s)
        for s in os.environ.get("APIFLAG_BENCH_SYNTH_SIZES", "200000,1000000").split(",")
        if s
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for arrivals in sizes:
            row = run_once(arrivals, Path(tmp))
            results.append(row)
            print(
                f"   synth {arrivals:>9,} arrivals: {row['wall_s']:>6.1f} s wall, {row['cpu_s']:>6.1f} s CPU "
                f"(~{row['idle_2core_estimate_s']:.0f} s on an idle 2-core machine), "
                f"{row['peak_rss_mb']:>7.1f} MB peak, {row['files']} files, "
                f"{int(row['bytes']) / 1e6:.0f} MB written, goal {'met' if row['meets_goal'] else 'missed'} "
                f"({'met' if row['meets_goal_when_idle'] else 'missed'} by the idle estimate)",
                flush=True,
            )
    report = {
        "benchmark": "synth",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "synth.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
