"""What the nightly job finds on default worlds, measured against their truth (issue 14, item 4).

For each seed (default 1, 2, 3): a default world (`apiflag synth --seed S`: one night of 2,000
arrivals, 28 history nights), a fresh home, a scorecard trained on the world's history and
promoted if its gates pass (as `apiflag demo` does), the night run with the plain runner at the
default capacity, then `apiflag assess` twice: nights of the world's size, and nights of Japan's
size (``JAPAN_PER_NIGHT`` arrivals: about 30 million a year). Every step is the real CLI in a
fresh process. Writes benchmarks/results/assess.json: per seed the assessment, and pooled over
the seeds the recall per pattern and role (counts summed) and the precision rows side by side.

Set APIFLAG_BENCH_ASSESS_SEEDS=1,2 to change the seeds. Run: ``python -m benchmarks.bench_assess``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NIGHT = "2026-11-20"
JAPAN_PER_NIGHT = 82_000  # ~30 million arrivals a year (foreign visitors and returning residents)


def _cli(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "apiflag.cli", *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"apiflag {' '.join(args[:2])}: {proc.stderr[-2000:]}")
    return proc.stdout


def _seed_run(seed: int, work: Path) -> dict[str, Any]:
    world = work / f"assess-world-{seed}"
    home = work / f"assess-home-{seed}"
    env = dict(os.environ)
    if not (world / "world.json").is_file():
        shutil.rmtree(world, ignore_errors=True)
        _cli(["synth", "--out", str(world), "--seed", str(seed)], env)
    shutil.rmtree(home, ignore_errors=True)
    env["APIFLAG_HOME"] = str(home)
    steps: dict[str, float] = {}
    t = time.perf_counter()
    trained = json.loads(_cli(["model", "train", "--world", str(world), "--format", "json"], env))
    steps["train_s"] = round(time.perf_counter() - t, 1)
    promoted: str | None = None
    try:
        why = "bench_assess: the night is scored as apiflag demo scores it"
        _cli(
            ["model", "promote", str(trained["version"]), "--approver", "bench", "--reason", why],
            env,
        )
        promoted = str(trained["version"])
    except RuntimeError as exc:
        promoted = None
        steps["promotion_refused"] = str(exc)[-300:]  # type: ignore[assignment]
    t = time.perf_counter()
    run = ["run", "--night", NIGHT, "--from", str(world), "--orchestrator", "plain"]
    summary = json.loads(_cli([*run, "--format", "json"], env))
    steps["night_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    own = json.loads(_cli(["assess", "--world", str(world), "--format", "json"], env))
    steps["assess_s"] = round(time.perf_counter() - t, 1)
    japan = json.loads(
        _cli(
            ["assess", "--world", str(world), "--format", "json"]
            + ["--arrivals-per-night", str(JAPAN_PER_NIGHT)],
            env,
        )
    )
    own["world"] = japan["world"] = str(world.relative_to(HERE.parent))
    return {
        "seed": seed,
        "model_version": promoted,
        "model_metrics": {k: trained["metrics"].get(k) for k in ("roc_auc", "pr_auc", "ece")},
        "queued": summary.get("queued"),
        "overflow": summary.get("overflow"),
        "steps": steps,
        "assessment": own,
        "japan_precision": japan["precision"],
    }


def _pool_roles(runs: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    from apiflag.assess import wilson

    pooled: dict[tuple[str, ...], dict[str, Any]] = {}
    for run in runs:
        for r in run["assessment"]["recall"][table]:
            key = tuple(
                str(r.get(k, ""))
                for k in ("pattern", "pattern_role", "truth_label", "target_track")
            )
            p = pooled.setdefault(key, {"planted": 0, "flagged": 0, "queued": 0, "on_track": 0})
            p["planted"] += r["planted"]
            p["flagged"] += r["flagged"]
            p["queued"] += r["queued"]
            p["on_track"] += r["queued_on_target_track"]
    out = []
    for key, p in sorted(pooled.items()):
        lo, hi = wilson(p["queued"], p["planted"])
        names = ("pattern", "pattern_role", "truth_label", "target_track")
        out.append(
            {
                **{n: v for n, v in zip(names, key, strict=True) if v},
                **p,
                "recall": p["queued"] / p["planted"] if p["planted"] else None,
                "recall_low": lo,
                "recall_high": hi,
            }
        )
    return out


def japan_year(runs: list[dict[str, Any]], prevalence: float = 3e-7) -> dict[str, Any]:
    """A year at Japan's volume: the seeds' Japan-sized nights at ``prevalence``, times 365."""
    rows = [
        next(p for p in run["japan_precision"] if abs(p["prevalence"] - prevalence) < 1e-12)
        for run in runs
    ]

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in rows) / len(rows)

    return {
        "prevalence": prevalence,
        "arrivals_per_year": JAPAN_PER_NIGHT * 365,
        "involved_per_year": mean("involved_per_night") * 365,
        "queued_per_year": mean("queue_per_night") * 365,
        "involved_queued_per_year": mean("involved_queued_per_night") * 365,
        "precision_by_seed": [
            [r["precision"], r["precision_low"], r["precision_high"]] for r in rows
        ],
    }


def _pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2g} %" if 0 < x < 0.01 else f"{100 * x:.1f} %"


def markdown(result: dict[str, Any]) -> str:
    """The README's tables: recall per pattern and role pooled over the seeds, and precision."""
    lines = [
        "| pattern | role | label | planted | flagged | queued | on its track | recall (95 % Wilson) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["pooled_recall_by_role"]:
        lines.append(
            f"| {r['pattern']} | {r['pattern_role']} | {r['truth_label']} | {r['planted']} | "
            f"{r['flagged']} | {r['queued']} | {r['on_track']} | **{r['recall']:.2f}** "
            f"({r['recall_low']:.2f}-{r['recall_high']:.2f}) |"
        )
    seeds = result["seeds"]
    head = " | ".join(f"seed {s}" for s in seeds)
    lines += ["", f"| prevalence | {head} | queued per night (seed {seeds[0]}) |"]
    lines.append("|---|" + "---|" * (len(seeds) + 1))
    own = [run["assessment"]["precision"] for run in result["runs"]]
    japan = [run["japan_precision"] for run in result["runs"]]
    for label, table in (("world's night", own), (f"{JAPAN_PER_NIGHT:,} a night", japan)):
        for i, row in enumerate(table[0]):
            cells = [
                f"{_pct(t[i]['precision'])} ({_pct(t[i]['precision_low'])}-"
                f"{_pct(t[i]['precision_high'])})"
                for t in table
            ]
            prev = "own" if i == 0 else f"{row['prevalence']:.0e}"
            lines.append(
                f"| {prev}, {label} | " + " | ".join(cells) + f" | {row['queue_per_night']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    seeds = [int(s) for s in os.environ.get("APIFLAG_BENCH_ASSESS_SEEDS", "1,2,3").split(",")]
    work = HERE / "work"
    work.mkdir(exist_ok=True)
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        print(f"   seed {seed}", flush=True)
        runs.append(_seed_run(seed, work))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "seeds": seeds,
        "night": NIGHT,
        "japan_arrivals_per_night": JAPAN_PER_NIGHT,
        "load_avg_1m_start": round(load_start, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s_children": round(kids.ru_utime + kids.ru_stime, 1),
        "pooled_recall_by_role": _pool_roles(runs, "role"),
        "pooled_recall_by_pattern": _pool_roles(runs, "pattern"),
        "pooled_recall_by_track": _pool_roles(runs, "track"),
        "japan_year": japan_year(runs),
        "runs": runs,
    }
    out = HERE / "results" / "assess.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for r in result["pooled_recall_by_role"]:
        print(f"   {r['pattern']:<22} {r['pattern_role']:<16} {r['queued']}/{r['planted']}")
    print(f"   wrote {out}")
    print(markdown(result))


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:  # the README tables from the last run's JSON
        print(markdown(json.loads((HERE / "results" / "assess.json").read_text(encoding="utf-8"))))
    else:
        main()
