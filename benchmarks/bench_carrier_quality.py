"""What per-carrier data quality costs: the accounting beside the parse, and the nightly compare.

A synthetic night (``apiflag synth``, a fifth of the files messy) is parsed file by file in a
fresh single-threaded subprocess; for each file the per-carrier rows ingest stores
(:func:`apiflag.carrier_quality.file_rows`) are computed from what the reader returned, and
each is timed on its own clock. The two alternate ``--repeat`` times and each keeps its least
CPU time (CPU seconds drift with the load of a shared machine; both sides see the same drift).
Then the night's rows are stored as ``carrier_quality`` for 31 nights of a scratch warehouse and
:func:`apiflag.carrier_quality.carrier_trends` compares the last night with the 30 before it,
as the nightly report does.

    python -m benchmarks.bench_carrier_quality [--arrivals N] [--world DIR] [--repeat K]
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

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "carrier_quality.json"

_CHILD = """
import datetime as dt, json, os, resource, sys, time
from pathlib import Path
files = [l for l in open(sys.argv[1]).read().splitlines() if l]
repeat = int(sys.argv[2])
os.environ["APIFLAG_HOME"] = sys.argv[3]
from apiflag import warehouse
from apiflag.carrier_quality import DropRule, NightAccounts, carrier_trends, file_rows
from apiflag.edifact import parse_bytes
from apiflag.errors import ParseError
datas = [(n, open(n, 'rb').read()) for n in files]
parse_cpu, account_cpu, runs = [], [], []
for _ in range(repeat):
    accounts = NightAccounts()
    p = a = 0.0
    for name, data in datas:
        c = time.process_time()
        try:
            parsed = parse_bytes(data, name)
        except ParseError:
            p += time.process_time() - c
            continue
        c2 = time.process_time()
        accounts.add(file_rows(name, '0' * 64, parsed))
        a += time.process_time() - c2
        p += c2 - c
    parse_cpu.append(p); account_cpu.append(a)
tables = accounts.tables()
night = dt.date(2026, 11, 20)
for d in range(31):
    n = night - dt.timedelta(days=30 - d)
    warehouse.write_tables(n, {**tables, 'travellers': warehouse.empty_table('travellers')})
rule = DropRule(min_travellers=30, rise_points=10.0, window=30, min_history=7, lookback_days=180)
t, c = time.perf_counter(), time.process_time()
quality = carrier_trends(night, rule)
compare_wall, compare_cpu = time.perf_counter() - t, time.process_time() - c
q = tables['carrier_quality']
print(json.dumps({
    'files': len(files), 'bytes': sum(len(d) for _, d in datas),
    'carrier_rows': len(q['carrier']), 'deviation_rows': len(tables['carrier_deviations']['code']),
    'carriers': len(set(q['carrier'])), 'records': sum(q['clean']) + sum(q['degraded']) + sum(q['quarantined']),
    'degraded': sum(q['degraded']), 'quarantined': sum(q['quarantined']),
    'parse_cpu_s': parse_cpu, 'accounting_cpu_s': account_cpu,
    'compare_wall_s': compare_wall, 'compare_cpu_s': compare_cpu,
    'compared_carriers': len(quality.trends),
    'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _world(arrivals: int, workdir: Path) -> Path:
    out = workdir / "world"
    cmd = [sys.executable, "-m", "apiflag.cli", "synth", "--out", str(out), "--seed", "1"]
    cmd += ["--arrivals", str(arrivals), "--history-nights", "0", "--mess-share", "0.2"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, write ``results/carrier_quality.json`` and return the result."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrivals", type=int, default=20_000)
    ap.add_argument("--world", type=Path, default=None, help="reuse an existing synthetic world")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-carrier-quality-") as tmp:
        workdir = Path(tmp)
        world = args.world or _world(args.arrivals, workdir)
        files = sorted(p for p in (world / "nights").rglob("*.edi"))
        listing = workdir / "files.txt"
        listing.write_text("\n".join(map(str, files)) + "\n")
        load_before = os.getloadavg()
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(listing), str(args.repeat), str(workdir / "home")],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        child = json.loads(proc.stdout)
    parse, account = min(child["parse_cpu_s"]), min(child["accounting_cpu_s"])
    result: dict[str, object] = {
        "benchmark": "carrier_quality",
        "arrivals": args.arrivals if args.world is None else None,
        **child,
        "parse_cpu_min_s": round(parse, 3),
        "accounting_cpu_min_s": round(account, 3),
        "accounting_share_of_parse": round(account / parse, 4) if parse else None,
        "child_wall_s": round(wall, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"   {child['files']} files, {child['bytes'] / 1e6:.1f} MB, {child['records']} records:"
        f" parse {parse:.2f} CPU-s, per-carrier accounting {account:.3f} CPU-s"
        f" ({account / parse:.1%}); compare {child['compared_carriers']} carriers with 30"
        f" nights {child['compare_wall_s']:.2f} s; load {result['load_average_after']}"
    )
    return result


if __name__ == "__main__":
    main()
