"""Profile the features stage of the bench_features night (issue 12), and check it against a
reference table.

Uses the home :mod:`benchmarks.bench_features` prepares and caches in benchmarks/work/ (run
``python -m benchmarks.bench_features --skip-history`` once first). Prints the wall and CPU
time, the top functions by cumulative and own time, and, given ``--reference FILE``, the
columns that differ from that saved table (``--save FILE`` saves this run's table).

    python -m benchmarks.profile_features [--arrivals N] [--save F] [--reference F] [--top N]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

from benchmarks.bench_features import NIGHT, WORK


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=200_000)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    home = WORK / f"features-home-{args.arrivals}"
    if not (home / ".prepared").is_file():
        sys.exit(f"{home}: not prepared (run python -m benchmarks.bench_features first)")
    os.environ["APIFLAG_HOME"] = str(home)
    import pandas as pd

    from apiflag.features import build_night_features
    from apiflag.settings import load_settings

    settings = load_settings(history_days=30)
    prof = cProfile.Profile()
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    if args.no_profile:
        features = build_night_features(NIGHT, write=False, settings=settings)
    else:
        features = prof.runcall(build_night_features, NIGHT, write=False, settings=settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"wall {wall:.2f} s, cpu {cpu:.2f} s, load {load:.2f}, rows {len(features)}")
    if not args.no_profile:
        for key in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(args.top)
            print(buf.getvalue())
    if args.save:
        features.to_parquet(args.save)
    if args.reference:
        ref = pd.read_parquet(args.reference)
        mine = pd.read_parquet(args.save) if args.save else features
        bad = [c for c in ref.columns if c not in mine.columns or not ref[c].equals(mine[c])]
        print("columns differing:", bad or "none")


if __name__ == "__main__":
    main(sys.argv[1:])
