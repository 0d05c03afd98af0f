"""Case matching: quality and time against Splink 5 (DuckDB) on one synthetic world, and scale.

1. Quality world: ``apiflag synth`` (seed 2, 2 nights x 5,000 arrivals, prevalence 0.05, most of
   it known-person variants and former victims returning: about 250 true links and 1,150
   common-name decoys). The matcher's parameters were estimated on a different world (seed 11).
   Travellers are the parsed PAXLST files; truth comes from ``truth/case_links.csv``.
   apiflag and Splink read the same travellers and case persons; quality per variant and decoy
   kind and wall/CPU time are reported side by side.
2. Scale: 1,000,000 travellers against 100,000 case persons (generated from the same name pools,
   truth by identity), in a subprocess (``benchmarks.matching_scale``) so its peak RSS is its
   own; its quality figures and the comparison with Splink at equal precision are in
   ``benchmarks/results/matching_scale.json`` (``python -m benchmarks.matching_scale --suite``).

Writes ``benchmarks/results/matching.json``. ``python -m benchmarks.bench_matching [--quick]``
(quick: scale 100,000 x 10,000).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from apiflag.casedb import load
from apiflag.matching.estimate import labelled_pairs, quality, world_travellers
from apiflag.matching.match import Matcher, traveller_side
from apiflag.matching.model import load_model

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "matching.json"
WORLD_ARGS = [
    "--seed", "2", "--nights", "2", "--arrivals", "5000", "--history-nights", "0",
    "--prevalence", "0.05", "--share", "known_person_variant=0.5",
    "--share", "former_victim_return=0.3",
]  # fmt: skip


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _clean(value: object) -> str:
    """Basic cleaning a Splink user would do: upper case, letters and digits, single spaces."""
    if not isinstance(value, str):
        return ""
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9 ]", " ", value.upper())).strip()


def run_splink(
    travellers: pd.DataFrame, documents: pd.DataFrame, db: Any, threshold: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Link travellers to case persons with Splink 5 on DuckDB, configured as its docs advise.

    ForenameSurnameComparison (with a full-name column for term frequencies, swapped names
    handled), DateOfBirthComparison, Levenshtein on the document number, exact nationality;
    aliases as extra person rows; u by random sampling, lambda from a deterministic rule, m by
    EM on two blocking rules; predictions blocked on surname, given names, birth date, document.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    first_doc = documents.drop_duplicates("owner_id").set_index("owner_id")["number"]
    left = pd.DataFrame(
        {
            "unique_id": travellers["traveller_id"],
            "surname": travellers["surname"].map(_clean),
            "given_names": travellers["given_names"].map(_clean),
            "date_of_birth": travellers["date_of_birth"].fillna("").astype(str),
            "nationality": travellers["nationality"].fillna("").astype(str),
            "document_number": travellers["traveller_id"].map(first_doc).fillna("").map(_clean),
        }
    )
    persons = db.persons
    pdoc = db.documents.drop_duplicates("person_id").set_index("person_id")["number"]
    base = pd.DataFrame(
        {
            "unique_id": persons["person_id"],
            "person_id": persons["person_id"],
            "surname": persons["surname"].map(_clean),
            "given_names": persons["given_names"].map(_clean),
            "date_of_birth": persons["date_of_birth"].dt.strftime("%Y-%m-%d").fillna(""),
            "nationality": persons["nationality"].fillna("").astype(str),
            "document_number": persons["person_id"].map(pdoc).fillna("").map(_clean),
        }
    )
    alias_rows = []
    by_id = base.set_index("person_id")
    for n, (pid, alias) in enumerate(
        zip(db.aliases["person_id"], db.aliases["alias"], strict=True)
    ):
        sur, _, giv = str(alias).partition(",")
        row = by_id.loc[pid].to_dict()
        row.update(
            {
                "unique_id": f"{pid}~{n}",
                "person_id": pid,
                "surname": _clean(sur),
                "given_names": _clean(giv),
            }
        )
        alias_rows.append(row)
    right = pd.concat([base, pd.DataFrame(alias_rows)], ignore_index=True).drop(columns="person_id")
    for frame in (left, right):
        frame["full_name"] = (frame["given_names"] + " " + frame["surname"]).str.strip()
        for c in frame.columns:
            frame[c] = frame[c].astype(object).where(frame[c].astype(str) != "", None)
    alias_owner = dict(
        zip(right["unique_id"], [u.split("~")[0] for u in right["unique_id"]], strict=True)
    )

    start, cpu0 = time.perf_counter(), _cpu()
    api = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_names", "surname", forename_surname_concat_col_name="full_name"
            ),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.LevenshteinAtThresholds("document_number", [1]),
            cl.ExactMatch("nationality"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("surname"),
            block_on("given_names"),
            block_on("date_of_birth"),
            block_on("document_number"),
        ],
    )
    linker = Linker(
        [
            api.register(left, dataset_display_name="travellers"),
            api.register(right, dataset_display_name="persons"),
        ],
        settings,
        log_level=None,
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on("surname", "given_names", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    pred = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu0
    if pred.empty:
        matches = pd.DataFrame(columns=["traveller_id", "person_id", "probability"])
    else:
        trav_left = pred["source_dataset_l"] == "travellers"
        t = pred["unique_id_l"].where(trav_left, pred["unique_id_r"])
        p = pred["unique_id_r"].where(trav_left, pred["unique_id_l"]).map(alias_owner)
        matches = (
            pd.DataFrame(
                {"traveller_id": t, "person_id": p, "probability": pred["match_probability"]}
            )
            .sort_values("probability", ascending=False)
            .drop_duplicates(["traveller_id", "person_id"])
        )
    case_of = dict(zip(persons["person_id"], persons["case_id"], strict=True))
    matches["case_id"] = matches["person_id"].map(case_of)
    return matches, {"wall_s": round(elapsed, 2), "cpu_s": round(cpu, 2)}


def run_scale(n_travellers: int, n_persons: int) -> dict[str, Any]:
    """Run ``benchmarks.matching_scale`` in a subprocess; return its figures plus CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.matching_scale", str(n_travellers), str(n_persons)],
        capture_output=True, text=True, cwd=HERE.parent, check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = round(time.perf_counter() - start, 2)
    out["process_cpu_s"] = round(
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    from apiflag.cli import main as cli_main

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        try:
            cli_main(["synth", "--out", str(world), *WORLD_ARGS])
        except SystemExit as exc:  # click exits 0 after a successful command in some modes
            if exc.code not in (0, None):
                raise
        model = load_model()
        thr = model.default_threshold
        db = load(f"sqlite:///{world / 'casedb.sqlite'}")
        travellers, documents = world_travellers(world)
        links = labelled_pairs(world, travellers)
        start, cpu0 = time.perf_counter(), _cpu()
        matcher = Matcher(db, model)
        ours = matcher.match_side(traveller_side(travellers, documents), thr).matches
        ours_time = {
            "wall_s": round(time.perf_counter() - start, 2),
            "cpu_s": round(_cpu() - cpu0, 2),
        }
        report["world"] = {
            "args": WORLD_ARGS,
            "travellers": len(travellers),
            "case_persons": len(db.persons),
            "true_links": int((links["person_id"] != "").sum()),
            "decoys": int((links["person_id"] == "").sum()),
        }
        report["apiflag"] = {
            "threshold": thr,
            "model_version": model.version,
            **ours_time,
            **quality(links, ours),
        }
        try:
            sp, sp_time = run_splink(travellers, documents, db, thr)
            report["splink"] = {
                "threshold": thr,
                "version": _splink_version(),
                **sp_time,
                **quality(links, sp),
            }
            sp5, _ = run_splink(travellers, documents, db, 0.5)
            report["splink_at_0.5"] = {
                k: v
                for k, v in quality(links, sp5).items()
                if k in ("recall", "precision", "reported")
            }
        except Exception as exc:  # the peer failing must not hide our own figures
            report["splink"] = {"error": repr(exc)}
    n_t, n_p = (100_000, 10_000) if quick else (1_000_000, 100_000)
    report["scale"] = run_scale(n_t, n_p)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for side in ("apiflag", "splink"):
        report.get(side, {}).pop("missed", None)
        report.get(side, {}).pop("false", None)
    RESULTS.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    _print(report)
    return report


def _splink_version() -> str:
    import splink

    return str(splink.__version__)


def _print(report: dict[str, Any]) -> None:
    w = report["world"]
    print(f"   quality world: {w['travellers']} travellers, {w['case_persons']} case persons, "
          f"{w['true_links']} true links, {w['decoys']} decoys")  # fmt: skip
    for side in ("apiflag", "splink"):
        r = report.get(side, {})
        if "error" in r:
            print(f"   {side}: FAILED {r['error']}")
            continue
        print(f"   {side:8s} recall {r['recall']:.3f} precision {r['precision']:.3f} "
              f"reported {r['reported']} wall {r['wall_s']} s cpu {r['cpu_s']} s")  # fmt: skip
        for kind, v in sorted(r["variants"].items()):
            print(f"      variant {kind:18s} {v['found']}/{v['n']} recall {v['recall']:.3f}")
        for kind, v in sorted(r["decoys"].items()):
            print(f"      decoy   {kind:18s} {v['reported']}/{v['n']} reported")
    s = report["scale"]
    sp = s["speed"]
    print(f"   scale {s['travellers']:,} x {s['persons']:,}: match {sp['match_total_s']} s wall, "
          f"{sp['match_total_cpu_s']} s cpu, peak RSS {s['peak_rss_mb']} MB, "
          f"candidates {sp['candidates']:,}, scored {sp['scored_after_pruning']:,}")  # fmt: skip
    for side in ("shipped", "population"):
        q = s[side]
        print(f"      {side:10s} recall {q['recall']:.3f} precision {q['precision']:.3f} "
              f"({q['reported']:,} reported, {q['namesakes_reported']} same-birth-date namesakes)")  # fmt: skip


if __name__ == "__main__":
    main()
