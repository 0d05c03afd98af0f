"""Rules benchmark: catalogue speed on 1,000,000 travellers, and the catalogue report.

Part 1 (speed, issue 5 goal: 1,000,000 travellers through the catalogue in <= 5 s on 2 cores):
a synthetic feature frame typed exactly as ``FEATURE_SPEC`` (about 5 % nulls in every column,
hit-prone boolean rates, so the hits table and its ``observed`` JSON are large) goes through the
whole catalogue in a fresh subprocess, whose peak RSS is its own. Side by side, the same catalogue
runs through a row-at-a-time interpreter (the obvious alternative to vectorised masks) on a
sample, extrapolated to the full size.

Part 2 (catalogue report): ``apiflag synth`` writes a small world, the real ingest and case
matching stages load it, ``build_night_features`` builds the feature tables, and
``catalogue_report`` measures every rule against ``truth/`` into ``docs/rules-catalogue.md``.

    python -m benchmarks.bench_rules [--travellers N] [--nights N] [--arrivals N] [--no-world]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
REPO = HERE.parent
RESULTS = HERE / "results" / "rules.json"
REPORT = REPO / "docs" / "rules-catalogue.md"
FULL = 1_000_000
GOAL_S = 5.0
NIGHT = dt.date(2026, 11, 27)


def feature_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic feature table of ``n`` travellers typed by FEATURE_SPEC."""
    from apiflag.features import FEATURE_SPEC

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"traveller_id": pd.array([f"T{i:07d}" for i in range(n)], dtype="str")}
    for spec in FEATURE_SPEC:
        null = rng.random(n) < 0.05
        if spec.type == "bool":
            p = 0.08 if spec.name.endswith(("cash", "one_way", "identity", "database")) else 0.3
            vals = pd.array(rng.random(n) < p, dtype="boolean")
            vals[null] = pd.NA
        elif spec.type == "int":
            lam = 0.05 if "links" in spec.name or "shared" in spec.name else 1.5
            raw = rng.poisson(lam, n)
            if spec.name == "document.days_since_issue":
                raw = rng.integers(0, 3650, n)
            vals = pd.array(raw, dtype="Int64")
            vals[null] = pd.NA
        elif spec.type == "float":
            f = rng.exponential(200.0, n)
            if "probability" in spec.name or "confidence" in spec.name:
                f = rng.beta(0.3, 8.0, n)
            f[null] = np.nan
            vals = f
        elif spec.type == "date":
            days = rng.integers(0, 20000, n)
            vals = pd.array(
                pd.Timestamp("1950-01-01") + pd.to_timedelta(days, unit="D"), dtype="datetime64[us]"
            )
        else:
            choices = {
                "traveller.case_match_role": ["victim", "recruiter", "broker", "perpetrator", None],
                "traveller.role": ["passenger", "passenger", "passenger", "crew"],
            }.get(spec.name, ["A", "B", "C", None])
            vals = pd.array(rng.choice(np.array(choices, dtype=object), n), dtype="str")
        data[spec.name] = vals
    return pd.DataFrame(data)


def _reference_hits(rules: Any, frame: pd.DataFrame) -> int:
    """Row-at-a-time interpretation of the same rules (the baseline), counting hits."""
    from apiflag.rules.schema import AllOf, AnyOf, Condition

    def holds(node: Any, row: dict[str, Any]) -> bool:
        if isinstance(node, AllOf):
            return all(holds(c, row) for c in node.all)
        if isinstance(node, AnyOf):
            return any(holds(c, row) for c in node.any)
        assert isinstance(node, Condition)
        v = row[node.field]
        if node.op == "is_null":
            return (v is None) == (node.value in (None, True))
        rhs = row[node.ref] if node.ref else node.value
        if v is None or rhs is None:
            return False
        op = node.op
        if op == "eq":
            return bool(v == rhs)
        if op == "ne":
            return bool(v != rhs)
        if op == "lt":
            return bool(v < rhs)
        if op == "le":
            return bool(v <= rhs)
        if op == "gt":
            return bool(v > rhs)
        if op == "ge":
            return bool(v >= rhs)
        if op == "in":
            return v in rhs
        if op == "not_in":
            return v not in rhs
        if op == "between":
            return bool(rhs[0] <= v <= rhs[1])
        import re

        return re.search(rhs, str(v)) is not None

    n = 0
    for rec in frame.to_dict("records"):
        row = {
            k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in rec.items()
        }
        for rule in rules:
            if holds(rule.when, row) and not (rule.unless is not None and holds(rule.unless, row)):
                n += 1
    return n


def child_speed(n: int, sample: int) -> dict[str, Any]:
    """Measure evaluation of the catalogue on ``n`` travellers (run in a fresh process)."""
    from apiflag.rules import load_catalogue

    t0 = time.perf_counter()
    frame = feature_frame(n)
    build_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    catalogue = load_catalogue()
    runs, cpu = [], []
    hits = 0
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        result = catalogue.evaluate(frame, night=NIGHT)
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        hits = len(result.hits)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    small = frame.iloc[:sample]
    t = time.perf_counter()
    ref_hits = _reference_hits(catalogue.rules, small)
    ref_s = time.perf_counter() - t
    vec_small = catalogue.evaluate(small, night=NIGHT)
    return {
        "travellers": n,
        "rules": len(catalogue.rules),
        "rules_digest": catalogue.digest,
        "frame_build_s": round(build_s, 2),
        "evaluate_s_first": round(runs[0], 3),
        "evaluate_s_best": round(min(runs), 3),
        "evaluate_cpu_s_best": round(min(cpu), 3),
        "hits": hits,
        "peak_rss_mb": round(rss, 1),
        "rss_before_evaluate_mb": round(rss_before, 1),
        "baseline_row_by_row": {
            "sample": sample,
            "seconds": round(ref_s, 2),
            "extrapolated_s_for_full": round(ref_s * n / sample, 1),
            "agrees_with_vectorised": ref_hits == len(vec_small.hits),
        },
        "goal_s": GOAL_S,
        "meets_goal": min(runs) <= GOAL_S,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def world_report(nights: int, arrivals: int, seed: int) -> dict[str, Any]:
    """Synthesise, ingest, match and featurise a small world; write the catalogue report."""
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        home = Path(tmp) / "home"
        env = {**os.environ, "APIFLAG_HOME": str(home)}
        cmd = [
            sys.executable, "-m", "apiflag.cli", "synth", "--out", str(world), "--seed", str(seed),
            "--nights", str(nights), "--arrivals", str(arrivals), "--history-nights", "0",
        ]  # fmt: skip
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        synth_s = time.perf_counter() - t
        old = os.environ.get("APIFLAG_HOME")
        os.environ["APIFLAG_HOME"] = str(home)
        try:
            return _measure_world(world, synth_s, seed, nights, arrivals)
        finally:
            if old is None:
                os.environ.pop("APIFLAG_HOME", None)
            else:
                os.environ["APIFLAG_HOME"] = old


def _measure_world(
    world: Path, synth_s: float, seed: int, n_nights: int, arrivals: int
) -> dict[str, Any]:
    from apiflag import pipeline
    from apiflag.features import build_night_features
    from apiflag.rules import load_catalogue
    from apiflag.rules.report import catalogue_report, rule_statistics, truth_labels

    meta = json.loads((world / "world.json").read_text())
    nights = sorted(p.name for p in (world / "nights").iterdir() if p.is_dir())
    url = f"sqlite:///{world / 'casedb.sqlite'}"
    frames = []
    t_ingest = t_match = t_feat = 0.0
    for night in nights:
        t = time.perf_counter()
        pipeline.stage_ingest(dt.date.fromisoformat(night), world)
        t_ingest += time.perf_counter() - t
        t = time.perf_counter()
        pipeline.stage_matching(night, url)
        t_match += time.perf_counter() - t
        t = time.perf_counter()
        frames.append(build_night_features(night))
        t_feat += time.perf_counter() - t
    features = pd.concat(frames, ignore_index=True)
    labels = truth_labels(world, nights)
    catalogue = load_catalogue()
    source = (
        f"synthetic world (`apiflag synth --seed {seed} --nights {n_nights} --arrivals {arrivals} "
        f"--history-nights 0`, nights {nights[0]} to {nights[-1]}), built by the real ingest, "
        "case matching and feature stages"
    )
    text = catalogue_report(catalogue, features, labels=labels, night=nights[-1], source=source)
    text += (
        "\n## Caveat\n\nThese figures come from a synthetic world whose planted patterns follow "
        "docs/INDICATORS.md, with far more trafficking than real traffic (prevalence "
        f"{meta.get('prevalence', 'see world.json')}). They show what each rule finds and which "
        "confounders it wrongly hits; they are not an estimate of real-world precision.\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    tmp = REPORT.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(REPORT)
    stats, _, _ = rule_statistics(catalogue, features, labels, nights[-1])
    return {
        "nights": nights,
        "travellers": len(features),
        "labelled": len(labels),
        "synth_s": round(synth_s, 1),
        "ingest_s": round(t_ingest, 1),
        "matching_s": round(t_match, 1),
        "features_s": round(t_feat, 1),
        "features_travellers_per_s": round(len(features) / t_feat, 0) if t_feat else None,
        "rules": json.loads(stats.drop(columns=["title"]).to_json(orient="records")),
        "report": str(REPORT.relative_to(REPO)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--travellers", type=int, default=FULL)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--arrivals", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-world", action="store_true")
    args = parser.parse_args([] if argv is None else argv)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_rules",
            "--child-speed",
            str(args.travellers),
            str(args.sample),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    speed = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(speed, indent=2), flush=True)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "speed": speed}
    if not args.no_world:
        result["world"] = world_report(args.nights, args.arrivals, args.seed)
        print(json.dumps({k: v for k, v in result["world"].items() if k != "rules"}, indent=2))
    if args.travellers == FULL:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-speed":
        print(json.dumps(child_speed(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main(sys.argv[1:])
