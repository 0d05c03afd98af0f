"""Scale run for bench_matching: N travellers against M case persons, speed and quality.

The world is :func:`apiflag.synth.matchworld.match_world`: its truth is person identity, so
the accidental namesakes (same name and birth date, another person) are counted as the true
non-links they are. Reported, in one process (so peak RSS is its own):

- ``speed``: the shipped model at its default threshold, stage by stage (as production runs);
- ``shipped`` and ``population``: recall and precision on identity truth of the shipped model
  and of the model adapted to this population (:func:`apiflag.matching.estimate.for_population`:
  the travellers' term frequencies and a prior estimated without labels), at the default
  threshold, per variant kind, and how many same-birth-date namesakes were reported;
- ``equal_precision``: travellers split in two halves by index parity; each matcher's threshold
  is the lowest that reaches the target precision on the even half, and recall and precision are
  measured with it on the odd half (apiflag; Splink too with ``--splink``).

Run as ``python -m benchmarks.matching_scale N M [--splink] [--target 0.95] [--given-parts 2]``
(``--given-parts 2``: a first and a middle name per person, see ``match_world``); prints one
JSON line. ``python -m benchmarks.matching_scale --suite [--quick]`` runs :data:`SUITE` and
writes ``benchmarks/results/matching_scale.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apiflag.matching.estimate import for_population
from apiflag.matching.match import CHUNK, Matcher, traveller_side
from apiflag.matching.model import MatcherModel, load_model
from apiflag.matching.scoring import Side, prune_pairs
from apiflag.synth.matchworld import MatchWorld, match_world

FLOOR = 0.01
"""Lowest probability apiflag's pairs are kept at for the threshold sweep."""

SPLINK_FLOOR = 1e-6
"""The same for Splink, whose probabilities of true links here are mostly far below 0.01."""


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["traveller_id"], frame["person_id"], strict=True))


def _hits(matcher: Matcher, side: Side, threshold: float) -> pd.DataFrame:
    """Reported pairs (traveller_id, person_id, probability) at ``threshold``, no explanations."""
    ti, pi = matcher.candidates(side)
    keep = prune_pairs(side, matcher.persons, ti, pi, matcher.model, threshold, matcher.name_bound)
    ti, pi = ti[keep], pi[keep]
    parts = [
        matcher.reported(matcher.score(side, ti[i : i + CHUNK], pi[i : i + CHUNK]), threshold)
        for i in range(0, len(ti), CHUNK)
    ]
    hits = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["t", "p"])
    return pd.DataFrame(
        {
            "traveller_id": side.ids[hits["t"].to_numpy(dtype=np.int64)],
            "person_id": matcher.persons.ids[hits["p"].to_numpy(dtype=np.int64)],
            "probability": hits["probability"].to_numpy(dtype=np.float64)
            if len(hits)
            else np.zeros(0),
        }
    )


def quality(world: MatchWorld, hits: pd.DataFrame) -> dict[str, Any]:
    """Recall per kind, precision, and the same-birth-date namesakes among the reported pairs."""
    reported = _pairs(hits)
    truth = _pairs(world.truth)
    found = reported & truth
    kinds: dict[str, dict[str, float]] = {}
    for kind, group in world.truth.groupby("kind"):
        n_found = len(_pairs(group) & reported)
        kinds[str(kind)] = {
            "n": len(group),
            "found": n_found,
            "recall": round(n_found / len(group), 4),
        }
    return {
        "true_links": len(truth),
        "reported": len(reported),
        "true_reported": len(found),
        "recall": round(len(found) / max(len(truth), 1), 4),
        "precision": round(len(found) / max(len(reported), 1), 4),
        "namesakes_same_dob": len(world.namesakes),
        "namesakes_reported": len(reported & _pairs(world.namesakes)),
        "other_false": len(reported - truth - _pairs(world.namesakes)),
        "kinds": kinds,
    }


def equal_precision(world: MatchWorld, scored: pd.DataFrame, target: float) -> dict[str, Any]:
    """Set the threshold on the even travellers to reach ``target`` precision; measure on the odd.

    Args:
        world: the world (its truth).
        scored: every pair the matcher gives probability >= its floor (:data:`FLOOR`,
            :data:`SPLINK_FLOOR`); ``floor_reached`` says when the threshold is the lowest
            probability seen (the recall might then be higher below the floor).
        target: the precision to reach on the tuning half.

    Returns:
        The threshold and both halves' recall and precision (``reached`` False when no
        threshold reaches the target on the tuning half: the highest-precision one is used).
    """
    truth = _pairs(world.truth)
    number = scored["traveller_id"].str[1:].astype(int).to_numpy()
    truth_t = world.truth["traveller_id"].str[1:].astype(int).to_numpy()
    is_true = np.array([p in truth for p in _pairs_list(scored)], dtype=bool)
    out: dict[str, Any] = {"target_precision": target}
    tune = number % 2 == 0
    order = np.argsort(-scored["probability"].to_numpy()[tune], kind="stable")
    prob = scored["probability"].to_numpy()[tune][order]
    tp = np.cumsum(is_true[tune][order])
    prec = tp / np.arange(1, len(prob) + 1)
    # the lowest threshold (most pairs) whose precision still reaches the target; ties kept whole
    last_of_tie = np.r_[prob[1:] != prob[:-1], True]
    ok = np.flatnonzero((prec >= target) & last_of_tie)
    reached = len(ok) > 0
    if reached:
        thr = float(prob[ok[-1]])
    else:
        thr = float(prob[int(np.argmax(np.where(last_of_tie, prec, -1)))]) if len(prob) else 1.0
    out["threshold"] = thr
    out["reached"] = reached
    out["floor_reached"] = bool(len(prob)) and thr <= float(prob[-1])
    for name, half, t_half in (
        ("tuning", tune, truth_t % 2 == 0),
        ("test", ~tune, truth_t % 2 == 1),
    ):
        sel = half & (scored["probability"].to_numpy() >= thr)
        n_true = int(t_half.sum())
        out[name] = {
            "true_links": n_true,
            "reported": int(sel.sum()),
            "recall": round(int(is_true[sel].sum()) / max(n_true, 1), 4),
            "precision": round(int(is_true[sel].sum()) / max(int(sel.sum()), 1), 4),
        }
    return out


def _pairs_list(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["traveller_id"], frame["person_id"], strict=True))


def _cpu() -> float:
    return time.process_time()


def _timed(fn: Any, *args: Any) -> tuple[Any, dict[str, float]]:
    t, c = time.perf_counter(), _cpu()
    out = fn(*args)
    return out, {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(_cpu() - c, 2)}


def speed(world: MatchWorld, model: MatcherModel) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Match at the default threshold stage by stage; return the hits and the timings."""
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t, c = time.perf_counter(), _cpu()
    t0, c0 = t, c

    def mark(name: str) -> None:
        nonlocal t, c
        times[name] = round(time.perf_counter() - t, 2)
        cpu[name] = round(_cpu() - c, 2)
        t, c = time.perf_counter(), _cpu()

    matcher = Matcher(world.db, model)
    mark("prepare_persons")
    side = traveller_side(world.travellers, world.documents)
    mark("prepare_travellers")
    ti, pi = matcher.candidates(side)
    mark("blocking")
    thr = model.default_threshold
    keep = prune_pairs(side, matcher.persons, ti, pi, model, thr, matcher.name_bound)
    mark("pruning")
    parts = [
        matcher.reported(matcher.score(side, ti[keep][i : i + CHUNK], pi[keep][i : i + CHUNK]), thr)
        for i in range(0, int(keep.sum()), CHUNK)
    ]
    hits = pd.concat(parts, ignore_index=True)
    mark("scoring")
    result = matcher._result(side, hits)
    mark("explain")
    return result.matches, {
        "stage_wall_s": times,
        "stage_cpu_s": cpu,
        "match_total_s": round(time.perf_counter() - t0, 2),
        "match_total_cpu_s": round(_cpu() - c0, 2),
        "candidates": int(len(ti)),
        "scored_after_pruning": int(keep.sum()),
    }


def main(argv: list[str]) -> dict[str, Any]:
    """Run the scale benchmark; print and return its figures."""
    n_t, n_p = int(argv[0]), int(argv[1])
    target = float(argv[argv.index("--target") + 1]) if "--target" in argv else 0.95
    report: dict[str, Any] = {"travellers": n_t, "persons": n_p, "load_avg_start": os.getloadavg()}
    parts = int(argv[argv.index("--given-parts") + 1]) if "--given-parts" in argv else 1
    report["given_parts"] = parts
    world, report["generate"] = _timed(
        lambda: match_world(n_t, n_p, max(n_p // 100, 10), given_parts=parts)
    )
    report["planted"] = max(n_p // 100, 10)
    shipped = load_model()
    matches, report["speed"] = speed(world, shipped)
    report["shipped"] = {
        "threshold": shipped.default_threshold,
        "p_traveller_in_db": shipped.p_traveller_in_db,
        **quality(world, matches),
    }
    adapted, report["estimate_population"] = _timed(
        for_population, shipped, world.db, world.travellers, world.documents
    )
    side = traveller_side(world.travellers, world.documents)
    matcher = Matcher(world.db, adapted)
    hits, t_match = _timed(_hits, matcher, side, adapted.default_threshold)
    report["population"] = {
        "threshold": adapted.default_threshold,
        "p_traveller_in_db": adapted.p_traveller_in_db,
        "p_traveller_in_db_true": round(world.truth["traveller_id"].nunique() / n_t, 8),
        "match": t_match,
        **quality(world, hits),
    }
    scored = _hits(matcher, side, FLOOR)
    report["equal_precision"] = {"apiflag": equal_precision(world, scored, target)}
    report["ceiling"] = ceiling(world, matcher, side, target)
    if "--splink" in argv:
        from benchmarks.bench_matching import run_splink

        try:
            sp, sp_time = run_splink(world.travellers, world.documents, world.db, SPLINK_FLOOR)
            report["equal_precision"]["splink"] = {
                **equal_precision(world, sp[["traveller_id", "person_id", "probability"]], target),
                **sp_time,
            }
        except Exception as exc:  # the peer failing must not hide our own figures
            report["equal_precision"]["splink"] = {"error": repr(exc)}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["load_avg_end"] = os.getloadavg()
    print(json.dumps(report))
    return report


def ceiling(world: MatchWorld, matcher: Matcher, side: Side, target: float) -> dict[str, Any]:
    """What any matcher comparing these fields could reach: the best ranking of evidence patterns.

    Every blocked pair that passes the gate is reduced to its comparison vector (the level of
    each field). Pairs with the same vector are indistinguishable to a matcher that compares
    these fields, so the best it can do is report whole vectors in order of their true-link
    share *in this very world* (an optimistic bound: the order is fitted on the truth). Returns
    the highest recall whose precision reaches ``target``, the precision at recall 0.95, and the
    vectors where true links and same-birth-date namesakes meet.
    """
    truth = _pairs(world.truth)
    ti, pi = matcher.candidates(side)
    parts = []
    for start in range(0, len(ti), CHUNK):
        frame = matcher.score(side, ti[start : start + CHUNK], pi[start : start + CHUNK]).frame
        frame = frame[frame["gate"]]
        levels = frame[[c for c in frame.columns if c.endswith("_level")]].astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "vector": levels.agg("/".join, axis=1),
                    "true": [
                        p in truth
                        for p in zip(
                            side.ids[frame["t"]], matcher.persons.ids[frame["p"]], strict=True
                        )
                    ],
                }
            )
        )
    pairs = pd.concat(parts, ignore_index=True)
    groups = pairs.groupby("vector")["true"].agg(["size", "sum"])
    groups["share"] = groups["sum"] / groups["size"]
    groups = groups.sort_values(["share", "size"], ascending=[False, True])
    tp = groups["sum"].cumsum().to_numpy()
    n = groups["size"].cumsum().to_numpy()
    n_true = len(truth)
    recall, precision = tp / max(n_true, 1), tp / np.maximum(n, 1)
    ok = precision >= target
    at95 = recall >= 0.95
    mixed = groups[(groups["share"] > 0) & (groups["share"] < 1)]
    return {
        "true_links_gated": int(pairs["true"].sum()),
        "best_recall_at_target_precision": round(float(recall[ok].max()), 4) if ok.any() else 0.0,
        "best_precision_at_recall_0.95": round(float(precision[at95].max()), 4)
        if at95.any()
        else None,
        "mixed_vectors": {
            str(v): {"pairs": int(r["size"]), "true": int(r["sum"])} for v, r in mixed.iterrows()
        },
        "namesakes_same_dob": len(world.namesakes),
        "namesakes_without_passport_on_file": int(
            (~world.namesakes["person_id"].isin(set(world.db.documents["person_id"]))).sum()
        ),
    }


RESULTS = Path(__file__).parent / "results" / "matching_scale.json"
SUITE = (
    ("pools_1m", ["1000000", "100000"]),
    ("middle_names_1m", ["1000000", "100000", "--given-parts", "2"]),
    ("pools_100k_with_splink", ["100000", "10000", "--splink"]),
    ("middle_names_100k_with_splink", ["100000", "10000", "--given-parts", "2", "--splink"]),
)
"""The configurations of ``--suite``: Splink only at 100,000 x 10,000 (its surname blocking
makes about 10^8 pairs from the synthetic pools at full size)."""


def suite(quick: bool) -> dict[str, Any]:
    """Run every configuration in its own process; write ``results/matching_scale.json``."""
    out: dict[str, Any] = {}
    for name, args in SUITE:
        if quick:
            args = [str(int(args[0]) // 10), str(int(args[1]) // 10), *args[2:]]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.matching_scale", *args],
            capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=True,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        run["process_cpu_s"] = round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
        )
        out[name] = run
        RESULTS.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(name, json.dumps(run["equal_precision"]), flush=True)
    return out


if __name__ == "__main__":
    if "--suite" in sys.argv:
        suite("--quick" in sys.argv)
    else:
        main(sys.argv[1:])
