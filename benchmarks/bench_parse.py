"""Parse benchmark: a synthetic night of 200,000 arrivals, apiflag's full parse vs pydifact.

The night is written by the real ``apiflag synth`` (PAXLST passenger and crew lists and two
PNRGOV pushes per flight, some with telex headers, wrapping, custom separators and parts).
Two measurements run side by side in one run, each in a fresh subprocess so its wall time
and peak RSS (``ru_maxrss`` of the child) are its own:

* **apiflag** - ``parse_bytes`` on every file: tokenizing, PAXLST/PNRGOV reading, sensitive
  drop and pydantic records (the whole parse);
* **pydifact** (0.2.x) - its ``Tokenizer`` alone on the same files, handed the text from
  ``UNA`` on with line breaks already removed (it cannot read telex headers or wrapping). It
  walks characters in Python, so by default it runs on a deterministic share of the files
  (every k-th, at most ``--pydifact-mb`` MB); throughput is per byte, so MB/s compare.

Target (issue 3): the full parse at least 10x faster (MB/s) than pydifact's tokenizing.

    python -m benchmarks.bench_parse [--arrivals N] [--world DIR] [--pydifact-mb MB]
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
RESULTS = HERE / "results" / "parse.json"
FULL_ARRIVALS = 200_000
TARGET_SPEEDUP = 10.0

_APIFLAG_CHILD = """
import json, resource, sys, time
from apiflag.edifact import parse_bytes
files = [l for l in open(sys.argv[1]).read().splitlines() if l]
size = travellers = messages = 0
t = time.perf_counter()
for name in files:
    with open(name, 'rb') as fh:
        data = fh.read()
    size += len(data)
    parsed = parse_bytes(data, name)
    travellers += parsed.travellers
    messages += parsed.messages
wall = time.perf_counter() - t
print(json.dumps({'files': len(files), 'bytes': size, 'travellers': travellers,
                  'messages': messages, 'wall_s': wall,
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_PYDIFACT_CHILD = """
import json, resource, sys, time
from pydifact.control.characters import Characters
from pydifact.tokenizer import Tokenizer
files = [l for l in open(sys.argv[1]).read().splitlines() if l]
texts = []
for name in files:
    text = open(name, 'rb').read().decode('latin-1').replace('\\r', '').replace('\\n', '')
    start = text.find('UNA')
    texts.append((Characters.from_str(text[start:start + 9]), text[start + 9:]))
size = sum(len(t) + 9 for _, t in texts)
tokens = 0
t = time.perf_counter()
for chars, body in texts:
    for _ in Tokenizer().get_tokens(body, chars):
        tokens += 1
wall = time.perf_counter() - t
print(json.dumps({'files': len(files), 'bytes': size, 'tokens': tokens, 'wall_s': wall,
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, files: list[Path], workdir: Path, tag: str) -> dict[str, float]:
    listing = workdir / f"{tag}.txt"
    listing.write_text("\n".join(str(f) for f in files))
    done = subprocess.run(
        [sys.executable, "-c", code, str(listing)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _world(arrivals: int, workdir: Path) -> tuple[Path, float]:
    out = workdir / "world"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "apiflag.cli", "synth", "--out", str(out), "--seed", "1",
         "--arrivals", str(arrivals), "--history-nights", "0"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out, time.perf_counter() - start


def _share(files: list[Path], max_mb: float) -> list[Path]:
    """Every k-th file so that the share stays under ``max_mb`` (deterministic)."""
    total = sum(f.stat().st_size for f in files)
    k = max(1, int(total / (max_mb * 1e6)) + (1 if total > max_mb * 1e6 else 0))
    return files[::k]


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Measure, print and write ``benchmarks/results/parse.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--arrivals",
        type=int,
        default=int(os.environ.get("APIFLAG_BENCH_PARSE_ARRIVALS", FULL_ARRIVALS)),
    )
    ap.add_argument("--world", type=Path, default=None, help="reuse an existing synthetic world")
    ap.add_argument("--pydifact-mb", type=float, default=40.0)
    args = ap.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        workdir = Path(tmp)
        synth_s = None
        world = args.world
        if world is None:
            world, synth_s = _world(args.arrivals, workdir)
        files = sorted(world.glob("nights/*/*/*.edi"))
        if not files:
            raise SystemExit(f"no .edi files under {world}/nights")
        ours = _child(_APIFLAG_CHILD, files, workdir, "apiflag")
        share = _share(files, args.pydifact_mb)
        theirs = _child(_PYDIFACT_CHILD, share, workdir, "pydifact")
        ours_share = _child(_APIFLAG_CHILD, share, workdir, "apiflag-share")
    mb = ours["bytes"] / 1e6
    ours_mbps = mb / ours["wall_s"]
    theirs_mbps = theirs["bytes"] / 1e6 / theirs["wall_s"]
    share_mbps = ours_share["bytes"] / 1e6 / ours_share["wall_s"]
    result: dict[str, object] = {
        "benchmark": "parse",
        "arrivals": args.arrivals if args.world is None else None,
        "world": str(args.world) if args.world else None,
        "synth_s": synth_s,
        "files": int(ours["files"]),
        "mb": round(mb, 1),
        "messages": int(ours["messages"]),
        "travellers_parsed": int(ours["travellers"]),
        "apiflag_full_parse": {
            "wall_s": round(ours["wall_s"], 2),
            "mb_per_s": round(ours_mbps, 2),
            "travellers_per_s": round(ours["travellers"] / ours["wall_s"]),
            "peak_rss_mb": round(ours["peak_rss_mb"]),
        },
        "pydifact_tokenize_only": {
            "files": int(theirs["files"]),
            "mb": round(theirs["bytes"] / 1e6, 1),
            "tokens": int(theirs["tokens"]),
            "wall_s": round(theirs["wall_s"], 2),
            "mb_per_s": round(theirs_mbps, 2),
            "peak_rss_mb": round(theirs["peak_rss_mb"]),
        },
        "apiflag_on_pydifact_share_mb_per_s": round(share_mbps, 2),
        "speedup_vs_pydifact_tokenize": round(ours_mbps / theirs_mbps, 1),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": ours_mbps / theirs_mbps >= TARGET_SPEEDUP,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    a, p = result["apiflag_full_parse"], result["pydifact_tokenize_only"]
    print(
        f"parse: {result['files']} files, {result['mb']} MB, {result['travellers_parsed']} travellers\n"
        f"  apiflag full parse : {a['wall_s']} s, {a['mb_per_s']} MB/s, "  # type: ignore[index]
        f"{a['travellers_per_s']} travellers/s, peak {a['peak_rss_mb']} MB\n"  # type: ignore[index]
        f"  pydifact tokenize  : {p['mb']} MB in {p['wall_s']} s, {p['mb_per_s']} MB/s, "  # type: ignore[index]
        f"peak {p['peak_rss_mb']} MB\n"  # type: ignore[index]
        f"  speed-up {result['speedup_vs_pydifact_tokenize']}x (target >= {TARGET_SPEEDUP}x)"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
