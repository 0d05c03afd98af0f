"""Retention benchmark: mask one night of N arrivals in every store, then delete it.

The night is written in the warehouse's own schemas (``apiflag.warehouse.write_table``): N
travellers with documents, PNR travellers, two contacts each, payments, bookings, flights, plus
stage outputs (rule hits quoting names, case-match fields) and a queue of flags saved with
``apiflag.queue.store``. ``apply_retention`` then runs in a fresh subprocess so its peak RSS is
its own (``ru_maxrss`` of the child): once as of a date past the masking period (mask), once
past the maximum (delete).

Goal (issue 8): a nightly retention run over a 200,000-arrival night within a few minutes on
2 cores and well under the nightly flow's 4 GB.

    python -m benchmarks.bench_privacy [--arrivals N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NIGHT = dt.date(2026, 1, 10)
HERE = Path(__file__).parent
SURNAMES = ["NGUYEN", "SANTOS", "IVANOVA", "TANAKA", "REYES", "KOWALSKI", "OKAFOR", "SILVA"]


def build(arrivals: int, seed: int = 7) -> None:
    """Write one night of ``arrivals`` travellers into $APIFLAG_HOME."""
    import pandas as pd

    from apiflag import config, warehouse

    def write(name: str, data: object) -> None:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        warehouse.write_table(NIGHT, name, frame)

    rng = random.Random(seed)
    n = arrivals
    ids = [f"T{i:07d}" for i in range(n)]
    pnr_ids = [f"P{i:07d}" for i in range(n)]
    booking_of = [f"B{i // 2:07d}" for i in range(n)]
    flight_of = [f"QK{(i // 250) + 1}-BKK-{NIGHT:%Y%m%d}" for i in range(n)]
    surname = [f"{rng.choice(SURNAMES)}{rng.randrange(10**5):05d}" for _ in range(n)]
    given = [f"G{rng.randrange(10**6):06d}" for _ in range(n)]
    dob = [dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)) for _ in range(n)]
    doc = [f"X{rng.randrange(10**8):08d}" for _ in range(n)]
    locator = [f"L{i // 2:06d}" for i in range(n)]
    sha = "ab" * 32
    seg = list(range(1, n + 1))
    write(
        "flights",
        {
            "flight_id": sorted(set(flight_of)),
            "carrier": "QK",
            "number": [f.split("-")[0][2:] for f in sorted(set(flight_of))],
            "departure_airport": "BKK",
            "arrival_airport": "NRT",
            "scheduled_departure": None,
            "scheduled_arrival": None,
            "message_sha256": sha,
            "segment": 1,
        },
    )
    travellers = pd.DataFrame(
        {
            "traveller_id": ids,
            "flight_id": flight_of,
            "role": "passenger",
            "surname": surname,
            "given_names": given,
            "sex": [rng.choice("MF") for _ in range(n)],
            "date_of_birth": dob,
            "nationality": [rng.choice(["THA", "VNM", "PHL", "IDN"]) for _ in range(n)],
            "country_of_residence": "THA",
            "place_of_birth": "BANGKOK",
            "record_locator": locator,
            "seat": [f"{rng.randrange(1, 60)}A" for _ in range(n)],
            "frequent_flyer": [f"QK{i:08d}" for i in range(n)],
            "checked_bags": 1,
            "bag_weight_kg": 20.0,
            "document_number": doc,
            "pnr_traveller_id": pnr_ids,
            "booking_id": booking_of,
            "link_confidence": 1.0,
            "link_level": "exact",
            "message_sha256": sha,
            "segment": seg,
        }
    )
    write("travellers", travellers)
    write(
        "documents",
        {
            "owner_kind": "api",
            "owner_id": ids,
            "seq": 0,
            "doc_type": "P",
            "number": doc,
            "issuing_country": "THA",
            "expiry_date": None,
            "issue_date": None,
            "message_sha256": sha,
            "segment": seg,
        },
    )
    bookings = sorted(set(booking_of))
    write(
        "bookings",
        {
            "booking_id": bookings,
            "record_locator": [f"L{int(b[1:]):06d}" for b in bookings],
            "carrier": "QK",
            "flight_id": flight_of[::2][: len(bookings)],
            "created": None,
            "last_transaction": None,
            "agency_id": "AG1",
            "agency_location": "BKK",
            "agency_country": "THA",
            "push_type": "full",
            "push_seq": 1,
            "superseded": False,
            "n_travellers": 2,
            "message_sha256": sha,
            "segment": 1,
        },
    )
    write(
        "pnr_travellers",
        {
            "pnr_traveller_id": pnr_ids,
            "booking_id": booking_of,
            "record_locator": locator,
            "ref": "1",
            "surname": surname,
            "given_names": given,
            "title": None,
            "passenger_type": "A",
            "sex": None,
            "date_of_birth": dob,
            "nationality": None,
            "frequent_flyer": None,
            "message_sha256": sha,
            "segment": seg,
        },
    )
    phones = [f"+66{rng.randrange(10**9):09d}" for _ in range(n)]
    write(
        "booking_contacts",
        {
            "booking_id": booking_of * 2,
            "pnr_traveller_id": pnr_ids * 2,
            "kind": ["phone"] * n + ["email"] * n,
            "value": phones + [f"{g.lower()}@example.th" for g in given],
            "normalized": phones + [f"{g.lower()}@example.th" for g in given],
            "source": "CTCM",
            "message_sha256": sha,
            "segment": seg * 2,
        },
    )
    write(
        "payments",
        {
            "booking_id": bookings,
            "form": "CA",
            "amount": 9800.0,
            "currency": "THB",
            "masked_card": None,
            "payer_name": [f"{given[2 * i]} {surname[2 * i]}" for i in range(len(bookings))],
            "payer_phone": None,
            "message_sha256": sha,
            "segment": 1,
        },
    )
    hit = [i for i in range(n) if rng.random() < 0.05]
    folder = config.warehouse_dir(NIGHT.isoformat())
    pd.DataFrame(
        {
            "traveller_id": [ids[i] for i in hit],
            "rule_id": "R-101",
            "rule_version": 1,
            "track": "examination",
            "weight": 1.2,
            "observed": [json.dumps({"payer": f"{given[i]} {surname[i]}"}) for i in hit],
        }
    ).to_parquet(folder / "rule_hits.parquet")


def _child(mode: str, as_of: str) -> None:
    from apiflag.privacy.retention import apply_retention

    start = time.perf_counter()
    report = apply_retention(dt.date.fromisoformat(as_of))
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "wall_s": round(wall, 2), "peak_rss_mb": round(rss),
                      "counts": report.counts}))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--arrivals", type=int, default=int(os.environ.get("BENCH_ARRIVALS", 200_000))
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(
        argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else []
    )
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, APIFLAG_HOME=home)
        os.environ["APIFLAG_HOME"] = home
        start = time.perf_counter()
        build(args.arrivals)
        built = time.perf_counter() - start
        results = {"arrivals": args.arrivals, "build_s": round(built, 1)}
        for mode, as_of in (("mask", "2026-11-27"), ("delete", "2031-02-01")):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_privacy", "--child", mode, as_of],
                env=env, capture_output=True, text=True, check=True, cwd=HERE.parent,
            )  # fmt: skip
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"   {mode}: {results[mode]['wall_s']} s, {results[mode]['peak_rss_mb']} MB",
                  flush=True)  # fmt: skip
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "privacy.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
