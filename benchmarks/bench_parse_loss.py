"""Parse loss: the share of travellers read clean, degraded and quarantined, and mutation survival.

Three measurements, written to ``benchmarks/results/parse_loss.json``:

* **fixtures** - every file under ``tests/data/messages`` (hand-written, real-world samples,
  and the senders' habits where that folder exists): travellers read clean, read degraded
  (a value lost), quarantined (a record lost), and the files refused whole;
* **mess night** - the current night of a synthetic world written with ``--mess-share 0.2``
  (``--arrivals``, default 3,000): the same shares, per message kind;
* **mutations** - the mutation property of ``tests/test_edifact_mutations.py`` over
  ``--mutants`` (default 10,200) mutants of its corpus: per class, how many mutants, how many
  files refused (only where the damage hit a header), the share of untouched travellers that
  came back value for value, and the share of mutants whose damage the reader reported.

Shares are of the travellers the files hold: read (clean + degraded) + quarantined. CPU
seconds and the load average are reported next to wall times (the machine is shared).

    python -m benchmarks.bench_parse_loss [--arrivals N] [--mutants N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
RESULTS = HERE / "results" / "parse_loss.json"
FIXTURES = REPO / "tests" / "data" / "messages"


def _shares(clean: int, degraded: int, quarantined: int) -> dict[str, Any]:
    total = clean + degraded + quarantined
    share = (lambda n: round(n / total, 4)) if total else (lambda n: 0.0)
    return {
        "travellers": total,
        "clean": clean,
        "degraded": degraded,
        "quarantined": quarantined,
        "clean_share": share(clean),
        "degraded_share": share(degraded),
        "quarantined_share": share(quarantined),
    }


def loss_shares(files: list[Path], root: Path) -> dict[str, Any]:
    """Parse each file; count travellers clean, degraded, quarantined (all and per kind)."""
    from apiflag.edifact import parse_bytes
    from apiflag.errors import ParseError

    counts: dict[str, list[int]] = {}
    refused: list[str] = []
    per_file = []
    for path in files:
        name = str(path.relative_to(root))
        try:
            parsed = parse_bytes(path.read_bytes(), name)
        except ParseError as exc:
            refused.append(f"{name}: {exc.code}")
            continue
        clean = parsed.travellers - parsed.degraded
        row = [clean, parsed.degraded, parsed.quarantined]
        for key in ("all", parsed.kind):
            acc = counts.setdefault(key, [0, 0, 0])
            for i, n in enumerate(row):
                acc[i] += n
        per_file.append({"file": name, "kind": parsed.kind, **_shares(*row)})
    return {
        "files": len(files),
        "refused_files": refused,
        **_shares(*counts.get("all", [0, 0, 0])),
        "per_kind": {k: _shares(*v) for k, v in counts.items() if k != "all"},
        "per_file": per_file,
    }


def fixture_loss() -> dict[str, Any]:
    """Loss shares on the hand-written and real-world fixtures (and habits, if present)."""
    files = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.suffix in (".edi", ".txt") and p.name != "README.md"
    )
    return loss_shares(files, FIXTURES)


def mess_night_loss(arrivals: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Write a world with a 20 % mess share and measure the loss on its current night."""
    world = workdir / "mess-world"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "apiflag.cli", "synth", "--out", str(world), "--seed", str(seed),
         "--arrivals", str(arrivals), "--history-nights", "0", "--mess-share", "0.2"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    synth_s = time.perf_counter() - started
    files = sorted(world.glob("nights/*/*/*.edi"))
    wall, cpu = time.perf_counter(), time.process_time()
    result = loss_shares(files, world)
    result.pop("per_file")
    counts = json.loads((world / "world.json").read_text()).get("counts", {})
    messy = sum(night.get("messy_files", 0) for night in counts.values())
    return {
        "arrivals": arrivals,
        "mess_share": 0.2,
        "seed": seed,
        "messy_files": messy,
        "synth_s": round(synth_s, 1),
        "parse_wall_s": round(time.perf_counter() - wall, 2),
        "parse_cpu_s": round(time.process_time() - cpu, 2),
        **result,
    }


def mutation_survival(count: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Run the mutation property over ``count`` mutants; per-class survival."""
    from mutation_helpers import corpus, report, run, write_worlds

    bases = corpus(write_worlds(workdir / "mutation-worlds"), FIXTURES)
    wall, cpu = time.perf_counter(), time.process_time()
    stats = run(bases, count, seed)
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    print(report(stats))
    classes = {
        cls: {
            "mutants": s.mutants,
            "refused": s.refused,
            "refused_codes": dict(s.refusals),
            "untouched_travellers": s.untouched,
            "survived": s.survived,
            "survival": round(s.share, 5),
            "noticed_share": round(s.noticed / s.mutants, 3) if s.mutants else None,
            "outcomes": dict(sorted(s.outcomes.items())),
            "breaches": len(s.failures),
        }
        for cls, s in stats.items()
    }
    untouched = sum(s.untouched for s in stats.values())
    survived = sum(s.survived for s in stats.values())
    return {
        "mutants": sum(s.mutants for s in stats.values()),
        "seed": seed,
        "bases": len(bases),
        "base_travellers": sum(len(b.keys) for b in bases),
        "survival": round(survived / untouched, 5) if untouched else None,
        "min_class_survival": min(c["survival"] for c in classes.values()),
        "breaches": sum(c["breaches"] for c in classes.values()),
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "classes": classes,
    }


def _line(label: str, r: dict[str, Any]) -> str:
    return (
        f"  {label}: {r['travellers']} travellers, clean {r['clean_share']:.1%}, "
        f"degraded {r['degraded_share']:.1%}, quarantined {r['quarantined_share']:.1%}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure, print and write ``benchmarks/results/parse_loss.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--arrivals", type=int, default=3000)
    ap.add_argument("--mutants", type=int, default=10_200)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench-parse-loss-") as tmp:
        workdir = Path(tmp)
        fixtures = fixture_loss()
        night = mess_night_loss(args.arrivals, args.seed, workdir)
        mutations = mutation_survival(args.mutants, args.seed, workdir)
    result: dict[str, Any] = {
        "benchmark": "parse_loss",
        "fixtures": fixtures,
        "mess_night": night,
        "mutations": mutations,
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"parse loss (load average {result['load_avg_1m']} on {result['cpus']} CPUs)\n"
        + _line(f"fixtures ({fixtures['files']} files, {len(fixtures['refused_files'])} refused)",
                fixtures) + "\n"
        + _line(f"mess night ({night['arrivals']} arrivals, 20 % mess)", night) + "\n"
        + f"  mutations: {mutations['mutants']} mutants, survival {mutations['survival']:.4%} "
        f"(lowest class {mutations['min_class_survival']:.4%}), {mutations['breaches']} breaches, "
        f"{mutations['cpu_s']} CPU-s"
    )  # fmt: skip
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
