"""Done-when check of issue 14 (items 1-3): companions, naming customs and institutions.

For each seed, ``apiflag synth`` writes a default world (2,000 arrivals a night), the real
nightly job runs its first current night (ingest of the history nights within the window,
matching, features, rules, combine, queue; without a champion the queue is ranked by policy
weights), and the queue is read against ``truth/``:

* the adult of every ``minor_unrelated_adult`` instance is queued on examination or protection;
* the escorted of every ``escort_group`` are queued (protection);
* no member of a ``naming_custom_family`` is queued on examination;
* no member of a ``school_trip``, ``sports_team`` or ``exchange_group`` is queued at all.

    python -m benchmarks.bench_companions [--seeds 1 2 3] [--history-nights N]

Figures go into ``benchmarks/results/companions.json`` with the load average and CPU time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "companions.json"
INSTITUTIONS = ("school_trip", "sports_team", "exchange_group")


def _truth(world: Path, night: str) -> pd.DataFrame:
    """Truth rows of the night keyed by warehouse traveller id (all truth columns)."""
    from apiflag import warehouse
    from apiflag.normalise import TRAVELLER_KEY, traveller_key_frame

    t = pd.read_csv(world / "truth" / "travellers.csv", dtype=str, keep_default_na=False)
    t = t.loc[t["night"] == night].reset_index(drop=True)
    tr = warehouse.read_table(night, "travellers", current=True)
    fl = warehouse.read_table(night, "flights", current=True)
    w = tr.merge(fl[["flight_id", "carrier", "number"]], on="flight_id", how="left")
    w["night"] = night
    wh = pd.concat([w[["traveller_id"]], traveller_key_frame(w)], axis=1)
    cols = ["truth_label", "pattern", "pattern_role", "pattern_group", "confounder"]
    tk = pd.concat([t[cols].reset_index(drop=True), traveller_key_frame(t)], axis=1)
    return wh.merge(tk, on=list(TRAVELLER_KEY), how="inner").drop_duplicates("traveller_id")


def check_world(seed: int, history_nights: int, root: Path) -> dict[str, Any]:
    """Generate one default world, run its first night, and measure where each group lands."""
    from apiflag import pipeline
    from apiflag.cli import main as cli

    world = root / f"world-{seed}"
    os.environ["APIFLAG_HOME"] = str(root / f"home-{seed}")
    cli(
        ["synth", "--out", str(world), "--seed", str(seed), "--history-nights", str(history_nights)]
    )
    meta = json.loads((world / "world.json").read_text())
    night = dt.date.fromisoformat(meta["parameters"]["start"])
    for i in range(history_nights, 0, -1):
        pipeline.stage_ingest(night - dt.timedelta(days=i), world)
    pipeline.run_night(night, world, f"sqlite:///{world / 'casedb.sqlite'}", write_report=False)
    key = str(night)
    combined = pd.read_parquet(
        Path(os.environ["APIFLAG_HOME"]) / "warehouse" / f"night={key}" / "combined.parquet"
    )
    t = _truth(world, key).merge(combined[["traveller_id", "track", "queued"]], on="traveller_id")
    t["queued"] = t["queued"].fillna(False).astype(bool)
    on = t["queued"]
    out: dict[str, Any] = {
        "seed": seed,
        "night": key,
        "arrivals": int(len(combined)),
        "queued": int(on.sum()),
    }
    adults = t.loc[(t["pattern"] == "minor_unrelated_adult") & (t["pattern_role"] == "adult")]
    adults_ok = adults["queued"] & adults["track"].isin(["examination", "protection"])
    out["minor_unrelated_adult"] = {
        "adults": int(len(adults)),
        "queued_exam_or_prot": int(adults_ok.sum()),
        "tracks": adults.loc[adults["queued"], "track"].value_counts().to_dict(),
    }
    minors = t.loc[(t["pattern"] == "minor_unrelated_adult") & (t["pattern_role"] == "minor")]
    out["minor_unrelated_minor"] = {
        "minors": int(len(minors)),
        "queued": int(minors["queued"].sum()),
    }
    esc = t.loc[t["pattern"] == "escort_group"]
    out["escort_group"] = {
        role: {
            "n": int(len(g)),
            "queued": int(g["queued"].sum()),
            "tracks": g.loc[g["queued"], "track"].value_counts().to_dict(),
        }
        for role, g in esc.groupby("pattern_role")
    }
    fam = t.loc[t["confounder"] == "naming_custom_family"]
    out["naming_custom_family"] = {
        "members": int(len(fam)),
        "families": int(fam["pattern_group"].nunique()),
        "queued_examination": int((fam["queued"] & (fam["track"] == "examination")).sum()),
        "queued_any": int(fam["queued"].sum()),
    }
    inst = t.loc[t["confounder"].isin(INSTITUTIONS)]
    out["institutions"] = {
        c: {
            "members": int((inst["confounder"] == c).sum()),
            "groups": int(inst.loc[inst["confounder"] == c, "pattern_group"].nunique()),
            "queued": int(inst.loc[inst["confounder"] == c, "queued"].sum()),
        }
        for c in INSTITUTIONS
    }
    involved = t.loc[t["truth_label"] != "none"]
    out["involved"] = {"n": int(len(involved)), "queued": int(involved["queued"].sum())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--history-nights", type=int, default=28)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (for inspection)")
    args = ap.parse_args(argv if argv is not None else [])
    load = os.getloadavg()
    start, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = []
    old = os.environ.get("APIFLAG_HOME")
    try:
        with tempfile.TemporaryDirectory(prefix="apiflag-companions-") as tmp:
            root = args.keep or Path(tmp)
            for seed in args.seeds:
                rows.append(check_world(seed, args.history_nights, root))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        if old is None:
            os.environ.pop("APIFLAG_HOME", None)
        else:
            os.environ["APIFLAG_HOME"] = old
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    ch0, ch1 = children0, resource.getrusage(resource.RUSAGE_CHILDREN)
    done = {
        "companion_adults_queued": f"{sum(r['minor_unrelated_adult']['queued_exam_or_prot'] for r in rows)}/{sum(r['minor_unrelated_adult']['adults'] for r in rows)}",
        "custom_family_members_on_examination": sum(
            r["naming_custom_family"]["queued_examination"] for r in rows
        ),
        "institution_members_queued": sum(
            v["queued"] for r in rows for v in r["institutions"].values()
        ),
        "custom_family_members_queued_any_track": sum(
            r["naming_custom_family"]["queued_any"] for r in rows
        ),
        "escorted_queued": f"{sum(r['escort_group'].get('escorted', {}).get('queued', 0) for r in rows)}"
        f"/{sum(r['escort_group'].get('escorted', {}).get('n', 0) for r in rows)}",
        "involved_queued": f"{sum(r['involved']['queued'] for r in rows)}"
        f"/{sum(r['involved']['n'] for r in rows)}",
    }
    result = {
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(
            cpu1.ru_utime
            + cpu1.ru_stime
            - cpu0.ru_utime
            - cpu0.ru_stime
            + ch1.ru_utime
            + ch1.ru_stime
            - ch0.ru_utime
            - ch0.ru_stime,
            1,
        ),
        "history_nights": args.history_nights,
        "done_when": done,
        "worlds": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
