"""Features benchmark (issue 12: the features stage of a 200,000-arrival night in < 8 s on 2
cores; issue 15: memory flat as history grows, peak at 90 history nights <= 1.2x that at 10).

Part 1 (speed): the 200,000-arrival night of ``bench_nightly`` (same ``apiflag synth`` world,
cached in benchmarks/work/), ingested and case-matched once into its own home; then the
features stage (read the night and its history from the warehouse, build the table) runs in a
fresh subprocess for today's build and for the build before it side by side: the single
``features.py`` of commit :data:`BASELINE` (``git show``), loaded as a module. Each child
records its wall time, CPU time (user + system), peak RSS and the load average around it.

Part 2 (history): a world of 7 nights x 20,000 arrivals is ingested and matched once; homes with
10, 30 and 90 history nights before tonight are made of links to those partitions (history
nights repeat the 6 real ones), and the features stage runs with a 90-night window so that
every history night is read: lazily (``build_night_features``: a pyarrow dataset, projected
columns, one night at a time) and, at 10 and 30 nights, the old eager way (every history night's
full tables in pandas; 90 eager nights would need several GB on a shared machine).

    python -m benchmarks.bench_features [--arrivals N] [--history-arrivals N] [--skip-speed]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO = HERE.parent
RESULTS = HERE / "results" / "features.json"
WORK = HERE / "work"
NIGHT = "2026-11-20"
BASELINE = "cc902e0"
"""The last commit with the single src/apiflag/features.py (before the split and the speed-up)."""
GOAL_S = 8.0
GOAL_RATIO = 1.2

PREP = """
import datetime as dt, sys
from pathlib import Path
from apiflag import pipeline
world = Path(sys.argv[1])
for night in sorted(p.name for p in (world / "nights").iterdir() if p.is_dir()):
    pipeline.stage_ingest(dt.date.fromisoformat(night), world)
    pipeline.stage_matching(night, f"sqlite:///{world / 'casedb.sqlite'}")
"""

CHILD = """
import importlib.util, json, os, resource, sys, time
build, night, days = sys.argv[1], sys.argv[2], int(sys.argv[3])
from apiflag import warehouse
from apiflag.settings import load_settings
settings = load_settings(history_days=days)
if build == "baseline":
    spec = importlib.util.spec_from_file_location("baseline_features", sys.argv[4])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["baseline_features"] = mod
    spec.loader.exec_module(mod)
else:
    import apiflag.features as mod
load = os.getloadavg()[0]
wall, cpu = time.perf_counter(), time.process_time()
if build == "lazy":
    features = mod.build_night_features(night, write=False, settings=settings)
else:  # eager: every history night's whole tables in memory, as before
    tables = mod.NightTables.from_warehouse(night, with_matches=True)
    history = [
        mod.NightTables.from_warehouse(d, with_matches=True)
        for d in warehouse.nights_before(night, days)
    ]
    features = mod.build_features(
        tables, history, tables.matches, tables.identifier_matches, settings=settings
    )
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
if len(sys.argv) > 5:
    features.to_parquet(sys.argv[5])
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                  "peak_rss_mb": round(rss / 1024), "load_before": round(load, 2),
                  "load_after": round(os.getloadavg()[0], 2), "travellers": len(features)}))
"""


def _run(code: str, args: list[str], home: Path) -> str:
    env = dict(os.environ, APIFLAG_HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout


def _features(build: str, home: Path, night: str, days: int, *extra: str) -> dict[str, Any]:
    out = _run(CHILD, [build, night, str(days), *extra], home)
    return dict(json.loads(out.strip().splitlines()[-1]))


def _world(path: Path, args: list[str]) -> Path:
    if not (path / "world.json").is_file():
        shutil.rmtree(path, ignore_errors=True)
        cmd = [sys.executable, "-m", "apiflag.cli", "synth", "--out", str(path), *args]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return path


def _home(world: Path, home: Path) -> Path:
    if not (home / ".prepared").is_file():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        _run(PREP, [str(world)], home)
        (home / ".prepared").write_text("ok")
    return home


def _baseline_module() -> Path | None:
    path = WORK / f"features-{BASELINE}.py"
    if not path.is_file():
        proc = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BASELINE}:src/apiflag/features.py"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(proc.stdout, encoding="utf-8")
    return path


def speed(arrivals: int) -> dict[str, Any]:
    """Today's features stage against the baseline's on one night of ``arrivals``."""
    import pandas as pd

    world = _world(
        WORK / f"nightly-world-{arrivals}",  # the world bench_nightly makes and caches
        ["--seed", "7", "--nights", "1", "--arrivals", str(arrivals), "--history-nights", "0"],
    )
    home = _home(world, WORK / f"features-home-{arrivals}")
    out: dict[str, Any] = {"arrivals": arrivals, "night": NIGHT}
    mine = WORK / "features-current.parquet"
    out["current"] = _features("lazy", home, NIGHT, 30, "-", str(mine))
    baseline = _baseline_module()
    if baseline is None:
        out["baseline"] = "git not available: baseline not measured"
        return out
    theirs = WORK / "features-baseline.parquet"
    out["baseline"] = _features("baseline", home, NIGHT, 30, str(baseline), str(theirs))
    out["baseline"]["commit"] = BASELINE
    a, b = pd.read_parquet(theirs), pd.read_parquet(mine)
    out["columns_differing"] = {
        c: int((a[c].astype(object).fillna("<NA>") != b[c].astype(object).fillna("<NA>")).sum())
        for c in a.columns
        if not a[c].equals(b[c])
    }
    out["goal_s"] = GOAL_S
    out["met"] = out["current"]["wall_s"] < GOAL_S
    return out


def history(arrivals: int) -> dict[str, Any]:
    """Peak memory of the features stage with 10, 30 and 90 history nights."""
    world = _world(
        WORK / f"features-history-world-{arrivals}",
        ["--seed", "11", "--nights", "7", "--arrivals", str(arrivals), "--history-nights", "0"],
    )
    base = _home(world, WORK / f"features-history-home-{arrivals}")
    parts = sorted((base / "warehouse").glob("night=*"))
    tonight, real = parts[-1], parts[:-1]
    night = tonight.name.removeprefix("night=")
    out: dict[str, Any] = {"arrivals_per_night": arrivals, "window_days": 90, "runs": {}}
    for n in (10, 30, 90):
        home = WORK / f"features-history-{n}"
        shutil.rmtree(home, ignore_errors=True)
        (home / "warehouse").mkdir(parents=True)
        (home / "warehouse" / tonight.name).symlink_to(tonight.resolve())
        for i in range(1, n + 1):
            day = dt.date.fromisoformat(night) - dt.timedelta(days=i)
            source = real[(len(real) - i) % len(real)].resolve()
            (home / "warehouse" / f"night={day}").symlink_to(source)
        run = {"lazy": _features("lazy", home, night, 90)}
        if n <= 30:
            run["eager"] = _features("eager", home, night, 90)
        out["runs"][str(n)] = run
        shutil.rmtree(home, ignore_errors=True)
    lazy = {n: r["lazy"]["peak_rss_mb"] for n, r in out["runs"].items()}
    out["lazy_ratio_90_to_10"] = round(lazy["90"] / lazy["10"], 3)
    out["goal_ratio"] = GOAL_RATIO
    out["met"] = out["lazy_ratio_90_to_10"] <= GOAL_RATIO
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=200_000)
    parser.add_argument("--history-arrivals", type=int, default=20_000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-history", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if RESULTS.is_file():
        results = {**json.loads(RESULTS.read_text()), **results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.skip_speed:
        results["speed"] = speed(args.arrivals)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")  # kept if history fails
    if not args.skip_history:
        results["history"] = history(args.history_arrivals)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
