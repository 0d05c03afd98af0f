"""Scale run for bench_matching: N travellers against M case persons, in its own process.

Run as ``python -m benchmarks.matching_scale N M`` so its peak RSS is its own; prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import pandas as pd

from apiflag.casedb import CaseDatabase
from apiflag.matching.match import CHUNK, Matcher, traveller_side
from apiflag.matching.scoring import prune_pairs
from apiflag.synth.names import POOLS, VARIANT_KINDS, variant


def _people(rng: np.random.Generator, n: int, prefix: str) -> pd.DataFrame:
    nats = sorted(POOLS)
    nat = rng.choice(nats, n)
    sur = np.empty(n, dtype=object)
    giv = np.empty(n, dtype=object)
    for code in nats:
        idx = np.flatnonzero(nat == code)
        pool = POOLS[code]
        sur[idx] = rng.choice(np.array(pool.surnames, dtype=object), len(idx))
        givens = np.array(pool.male + pool.female, dtype=object)
        giv[idx] = rng.choice(givens, len(idx))
    days = rng.integers(0, 365 * 60, n)
    dob = pd.Timestamp("1950-01-01") + pd.to_timedelta(days, unit="D")
    docs = np.char.add(
        np.char.add("X", rng.integers(0, 9, n).astype(str)),
        rng.integers(10**7, 10**8, n).astype(str),
    )
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "surname": sur,
            "given_names": giv,
            "date_of_birth": dob.astype("datetime64[us]"),
            "nationality": nat,
            "doc": docs,
        }
    )


def world(n_travellers: int, n_persons: int, n_links: int, seed: int = 5):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    persons = _people(rng, n_persons, "P")
    trav = _people(rng, n_travellers, "T")
    # plant linked travellers: a case person travelling under a variant of the name
    picks = rng.choice(n_persons, n_links, replace=False)
    slots = rng.choice(n_travellers, n_links, replace=False)
    kinds = [VARIANT_KINDS[i % len(VARIANT_KINDS)] for i in range(n_links)]
    r = np.random.default_rng(seed + 1)
    for p, t, kind in zip(picks, slots, kinds, strict=True):
        s, g = variant(
            kind,
            persons.at[p, "surname"],
            persons.at[p, "given_names"],
            (),
            lambda k: int(r.integers(0, k)),
        )
        trav.loc[t, ["surname", "given_names", "date_of_birth", "nationality"]] = [
            s,
            g,
            persons.at[p, "date_of_birth"],
            persons.at[p, "nationality"],
        ]
    db = CaseDatabase(
        cases=pd.DataFrame(
            {
                "case_id": [f"C{i}" for i in range(n_persons // 3 + 1)],
                "typology": "labour",
                "year": 2020,
                "status": "closed",
            }
        ),
        persons=pd.DataFrame(
            {
                "person_id": persons["id"],
                "case_id": [f"C{i // 3}" for i in range(n_persons)],
                "role": rng.choice(["victim", "recruiter", "broker"], n_persons),
                "surname": persons["surname"],
                "given_names": persons["given_names"],
                "date_of_birth": persons["date_of_birth"],
                "nationality": persons["nationality"],
            }
        ),
        aliases=pd.DataFrame(columns=["person_id", "alias"]),
        documents=pd.DataFrame({"person_id": persons["id"][::3], "number": persons["doc"][::3]}),
        identifiers=pd.DataFrame(
            columns=["id", "case_id", "person_id", "kind", "value", "normalized"]
        ),
    )
    travellers = pd.DataFrame(
        {
            "traveller_id": trav["id"],
            "surname": trav["surname"],
            "given_names": trav["given_names"],
            "date_of_birth": trav["date_of_birth"],
            "nationality": trav["nationality"],
        }
    )
    documents = pd.DataFrame({"owner_kind": "api", "owner_id": trav["id"], "number": trav["doc"]})
    truth = set(zip(trav["id"].to_numpy()[slots], persons["id"].to_numpy()[picks], strict=True))
    return travellers, documents, db, truth


def main(argv: list[str]) -> None:
    n_t, n_p = int(argv[0]), int(argv[1])
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def mark(name: str, t: float, c: float) -> tuple[float, float]:
        times[name] = round(time.perf_counter() - t, 2)
        cpu[name] = round(time.process_time() - c, 2)
        return time.perf_counter(), time.process_time()

    t, c = time.perf_counter(), time.process_time()
    travellers, documents, db, truth = world(n_t, n_p, max(n_p // 100, 10))
    t, c = mark("generate", t, c)
    t_match, c_match = t, c
    matcher = Matcher(db)
    t, c = mark("prepare_persons", t, c)
    side = traveller_side(travellers, documents)
    t, c = mark("prepare_travellers", t, c)
    ti, pi = matcher.candidates(side)
    t, c = mark("blocking", t, c)
    thr = matcher.model.default_threshold
    keep = prune_pairs(side, matcher.persons, ti, pi, matcher.model, thr, matcher.name_bound)
    t, c = mark("pruning", t, c)
    parts = [
        matcher.reported(matcher.score(side, ti[keep][i : i + CHUNK], pi[keep][i : i + CHUNK]), thr)
        for i in range(0, int(keep.sum()), CHUNK)
    ]
    hits = pd.concat(parts, ignore_index=True)
    t, c = mark("scoring", t, c)
    result = matcher._result(side, hits)
    t, c = mark("explain", t, c)
    found = set(zip(result.matches["traveller_id"], result.matches["person_id"], strict=True))
    print(
        json.dumps(
            {
                "travellers": n_t,
                "persons": n_p,
                "stage_wall_s": times,
                "stage_cpu_s": cpu,
                "match_total_s": round(time.perf_counter() - t_match, 2),
                "match_total_cpu_s": round(time.process_time() - c_match, 2),
                "candidates": int(len(ti)),
                "scored_after_pruning": int(keep.sum()),
                "reported": len(found),
                "planted": len(truth),
                "planted_found": len(found & truth),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
