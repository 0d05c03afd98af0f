"""Hand-made nights in exactly the shapes the other stages write (docs/ARCHITECTURE.md).

``small_night()`` is a named cast where each traveller exercises one combine decision;
``random_night(n, seed)`` is a reproducible crowd for capacity tests and the benchmark.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from apiflag.queue.combine import CombineResult, CombineSettings, RuleInfo, combine

NIGHT = dt.date(2026, 11, 27)
DIGEST = "sha256:" + "ab" * 32
MODEL_URI = "models:/apiflag-scorecard@champion"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Night:
    night: dt.date
    travellers: pd.DataFrame
    flights: pd.DataFrame
    documents: pd.DataFrame
    bookings: pd.DataFrame
    matches: pd.DataFrame
    match_fields: pd.DataFrame
    rule_hits: pd.DataFrame
    scores: pd.DataFrame | None
    model_contributions: pd.DataFrame | None
    rule_info: dict[str, RuleInfo] = field(default_factory=dict)

    def combine(self, **settings: Any) -> CombineResult:
        return combine(
            self.night,
            self.travellers,
            self.flights,
            documents=self.documents,
            bookings=self.bookings,
            matches=self.matches,
            match_fields=self.match_fields,
            rule_hits=self.rule_hits,
            scores=self.scores,
            model_contributions=self.model_contributions,
            rules_digest=DIGEST,
            rule_info=self.rule_info,
            settings=CombineSettings(**settings),
        )

    def without_model(self) -> Night:
        return replace(self, scores=None, model_contributions=None)


RULE_INFO = {
    "R-101": RuleInfo(
        "Same phone number on unrelated bookings",
        "Controllers often book several recruits with one phone (IATA 2018).",
        ("the phone is a travel agency switchboard",),
    ),
    "R-102": RuleInfo("Cash payment for a one-way ticket", "Facilitators pay cash.", ()),
    "R-201": RuleInfo(
        "Ticket paid by someone who is not travelling",
        "Recruiters often pay one-way fares for the people they recruit.",
        ("the payer has the same surname (family pays)", "the payer is in the same booking"),
    ),
    "R-301": RuleInfo(
        "Document number seen under another identity",
        "A lent or forged document is a sign of a controlled traveller.",
        (),
    ),
}

# traveller_id, surname, given, sex, dob, nationality, flight
CAST: list[tuple[str, str, str, str, str | None, str, str]] = [
    ("T1", "TANAKA", "HIROSHI", "M", "1980-03-04", "JPN", "FL1"),
    ("T2", "SANTOS", "MARIA", "F", "2012-05-01", "PHL", "FL1"),
    ("T3", "NGUYEN", "THI LAN", "F", "1995-07-09", "VNM", "FL1"),
    ("T4", "PETROV", "IVAN", "M", "1970-01-15", "RUS", "FL2"),
    ("T5", "GARCIA", "ANA", "F", "1990-11-30", "MEX", "FL2"),
    ("T6", "SMITH", "JOHN", "M", "1985-06-06", "USA", "FL2"),
    ("T7", "REYES", "JOSEFA", "F", "1999-02-02", "PHL", "FL1"),
    ("T8", "KIM", "MINJUN", "M", None, "KOR", "FL2"),
    ("T9", "WANG", "LEI", "M", "1988-08-08", "CHN", "FL2"),
]


def small_night(night: dt.date = NIGHT) -> Night:
    """Nine travellers; the expected track of each is in ``EXPECTED_TRACKS``."""
    travellers = pd.DataFrame(
        {
            "traveller_id": [c[0] for c in CAST],
            "flight_id": [c[6] for c in CAST],
            "role": "passenger",
            "surname": [c[1] for c in CAST],
            "given_names": [c[2] for c in CAST],
            "sex": [c[3] for c in CAST],
            "date_of_birth": [dt.date.fromisoformat(c[4]) if c[4] else None for c in CAST],
            "nationality": [c[5] for c in CAST],
            "document_number": [f"P{1000 + i}" for i in range(len(CAST))],
            "record_locator": [f"RL{c[0]}" for c in CAST],
            "pnr_traveller_id": [f"P{c[0]}" for c in CAST],
            "booking_id": [f"B{c[0]}" for c in CAST],
            "link_confidence": 0.99,
            "message_sha256": [sha(f"paxlst-{c[6]}") for c in CAST],
            "segment": range(10, 10 + len(CAST)),
        }
    )
    flights = pd.DataFrame(
        {
            "flight_id": ["FL1", "FL2"],
            "carrier": ["PR", "SU"],
            "number": ["428", "262"],
            "departure_airport": ["MNL", "SVO"],
            "arrival_airport": ["NRT", "NRT"],
            "message_sha256": [sha("paxlst-FL1"), sha("paxlst-FL2")],
        }
    )
    documents = pd.DataFrame(
        {
            "owner_kind": "api",
            "owner_id": [c[0] for c in CAST],
            "seq": 0,
            "doc_type": "P",
            "number": [f"P{1000 + i}" for i in range(len(CAST))],
            "issuing_country": [c[5] for c in CAST],
        }
    )
    bookings = pd.DataFrame(
        {
            "booking_id": [f"B{c[0]}" for c in CAST],
            "record_locator": [f"RL{c[0]}" for c in CAST],
            "superseded": False,
            "message_sha256": [sha(f"pnrgov-{c[6]}") for c in CAST],
        }
    )
    matches = pd.DataFrame(
        {
            "traveller_id": ["T3", "T4", "T8", "T9", "T4"],
            "person_id": ["P-3", "P-4", "P-8", "P-9", "P-44"],
            "case_id": ["C-1", "C-2", "C-3", "C-4", "C-5"],
            "role": ["victim", "perpetrator", "perpetrator", "broker", "recruiter"],
            "probability": [0.97, 0.95, 0.40, 0.90, 0.30],
            "match_weight": [14.0, 12.0, 2.0, 9.0, 1.0],
            "protection_only": [True, False, False, True, False],
        }
    )
    mf_rows = []
    for tid, pid, fields in [
        ("T3", "P-3", [("prior", -9.0), ("surname", 6.5), ("given_names", 4.0), ("date_of_birth", 3.5)]),
        ("T4", "P-4", [("prior", -9.0), ("surname", 6.0), ("date_of_birth", 7.0), ("nationality", -1.0)]),
        ("T8", "P-8", [("prior", -9.0), ("surname", 3.0), ("date_of_birth", -1.0)]),
        ("T9", "P-9", [("prior", -9.0), ("surname", 5.0), ("document_number", 4.0)]),
        ("T4", "P-44", [("prior", -9.0), ("surname", 1.0)]),
    ]:  # fmt: skip
        for f, w in fields:
            mf_rows.append(
                {
                    "traveller_id": tid,
                    "person_id": pid,
                    "field": f,
                    "level": "exact" if w > 0 else "different",
                    "weight": w,
                    "sentence": f"{f} {'agrees' if w > 0 else 'differs'}",
                    "observed": f"{f}-of-{tid}",
                }
            )
    match_fields = pd.DataFrame(mf_rows)
    rule_hits = pd.DataFrame(
        [
            ("T1", "R-101", 1, "phone:+81-90", "examination", 1.2, {"phone": "+819011112222"}),
            ("T1", "R-102", 1, "booking:BT1", "examination", 0.8, {"cash": True}),
            ("T2", "R-101", 1, "phone:+81-90", "examination", 1.2, {"phone": "+819011112222"}),
            ("T5", "R-301", 2, "doc:P1004", "document_integrity", 2.0, {"seen_as": "2 others"}),
            ("T7", "R-201", 1, "booking:BT7", "protection", 1.6, {"payer": "X Y"}),
            ("T7", "R-101", 1, "phone:+81-90", "examination", 1.2, {"phone": "+819011112222"}),
        ],
        columns=["traveller_id", "rule_id", "rule_version", "ref", "track", "weight", "observed"],
    )
    rule_hits["observed"] = rule_hits["observed"].map(json.dumps)
    ids = [c[0] for c in CAST]
    log_odds = [-4.0, -3.5, -5.0, -4.5, -3.0, 1.5, -2.0, -5.5, -4.2]
    scores = pd.DataFrame(
        {
            "traveller_id": ids,
            "log_odds": log_odds,
            "probability": [1 / (1 + np.exp(-x)) for x in log_odds],
            "model_uri": MODEL_URI,
            "model_version": "3",
            "intercept": -4.5,
            # log_odds = intercept + features (0.7 - 0.3 + lo/10) + calibration_step
            "calibration_step": [lo - (-4.5) - (0.4 + lo / 10) for lo in log_odds],
        }
    )
    mc_rows = []
    for tid, lo in zip(ids, log_odds, strict=True):
        mc_rows.append((tid, "booking.one_way", "true", "true", 0.7))
        mc_rows.append((tid, "booking.lead_days", "12", "7-30", -0.3))
        mc_rows.append((tid, "booking.bags", "0", "0", lo / 10))
    model_contributions = pd.DataFrame(
        mc_rows, columns=["traveller_id", "feature", "observed", "bin", "weight"]
    )
    model_contributions.insert(1, "source_id", "feature:" + model_contributions["feature"])
    return Night(
        night,
        travellers,
        flights,
        documents,
        bookings,
        matches,
        match_fields,
        rule_hits,
        scores,
        model_contributions,
        dict(RULE_INFO),
    )


EXPECTED_TRACKS: dict[str, str | None] = {
    "T1": "examination",
    "T2": "protection",  # a minor: examination rule, protection track
    "T3": "protection",  # victim record
    "T4": "case_match",
    "T5": "document_integrity",
    "T6": None,  # model alone never flags
    "T7": "protection",  # protection rule outweighs the examination rule
    "T8": None,  # weak case match, no rule
    "T9": "protection",  # protection_only match
}


def random_night(n: int, seed: int = 0, hit_rate: float = 0.05, n_features: int = 8) -> Night:
    """A crowd of ``n`` arrivals with random rule hits, a few case matches and a model."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"T{i:07d}" for i in range(n)], dtype=object)
    n_flights = max(1, n // 200)
    flight_of = rng.integers(0, n_flights, n)
    years = rng.integers(1940, 2024, n)
    travellers = pd.DataFrame(
        {
            "traveller_id": ids,
            "flight_id": [f"FL{f}" for f in flight_of],
            "role": "passenger",
            "surname": [f"SURNAME{i}" for i in range(n)],
            "given_names": [f"GIVEN{i % 997}" for i in range(n)],
            "sex": rng.choice(np.array(["M", "F", "X"], dtype=object), n, p=[0.49, 0.49, 0.02]),
            "date_of_birth": pd.to_datetime(
                [f"{y}-{m:02d}-15" for y, m in zip(years, rng.integers(1, 13, n), strict=True)]
            ).date,
            "nationality": rng.choice(
                np.array(["JPN", "PHL", "VNM", "CHN", "USA", "KOR", "THA"], dtype=object), n
            ),
            "booking_id": [f"B{i}" for i in range(n)],
            "message_sha256": [sha(f"m{f}") for f in flight_of],
        }
    )
    flights = pd.DataFrame(
        {
            "flight_id": [f"FL{f}" for f in range(n_flights)],
            "carrier": "NH",
            "number": [str(100 + f) for f in range(n_flights)],
        }
    )
    documents = pd.DataFrame(
        {"owner_kind": "api", "owner_id": ids, "number": [f"D{i}" for i in range(n)]}
    )
    hit = np.flatnonzero(rng.random(n) < hit_rate)
    rule_ids = np.array(["R-101", "R-102", "R-201", "R-301"], dtype=object)
    tracks = {
        "R-101": "examination",
        "R-102": "examination",
        "R-201": "protection",
        "R-301": "document_integrity",
    }
    chosen = rng.choice(rule_ids, len(hit))
    rule_hits = pd.DataFrame(
        {
            "traveller_id": ids[hit],
            "rule_id": chosen,
            "rule_version": 1,
            "ref": "",
            "track": [tracks[r] for r in chosen],
            "weight": np.round(rng.uniform(0.3, 2.5, len(hit)), 3),
            "observed": "{}",
        }
    )
    n_match = max(1, n // 2000)
    mids = rng.choice(ids, n_match, replace=False)
    matches = pd.DataFrame(
        {
            "traveller_id": mids,
            "person_id": [f"P{i}" for i in range(n_match)],
            "case_id": [f"C{i}" for i in range(n_match)],
            "role": rng.choice(np.array(["victim", "perpetrator"], dtype=object), n_match),
            "probability": rng.uniform(0.5, 1.0, n_match),
            "match_weight": 10.0,
            "protection_only": False,
        }
    )
    match_fields = pd.DataFrame(
        {
            "traveller_id": np.repeat(mids, 2),
            "person_id": np.repeat(matches["person_id"].to_numpy(), 2),
            "field": ["surname", "date_of_birth"] * n_match,
            "level": "exact",
            "weight": rng.uniform(-2, 8, 2 * n_match),
            "sentence": "agrees",
            "observed": "x",
        }
    )
    log_odds = rng.normal(-5, 1.5, n)
    scores = pd.DataFrame(
        {
            "traveller_id": ids,
            "log_odds": log_odds,
            "probability": 1 / (1 + np.exp(-log_odds)),
            "model_uri": MODEL_URI,
            "model_version": "1",
        }
    )
    feat_w = rng.normal(0, 0.5, (n, n_features))
    model_contributions = pd.DataFrame(
        {
            "traveller_id": np.repeat(ids, n_features),
            "source_id": [f"feature:f{k}" for k in range(n_features)] * n,
            "feature": [f"f{k}" for k in range(n_features)] * n,
            "observed": "1",
            "bin": "1",
            "weight": feat_w.ravel(),
        }
    )
    return Night(
        NIGHT,
        travellers,
        flights,
        documents,
        pd.DataFrame(columns=["booking_id", "message_sha256"]),
        matches,
        match_fields,
        rule_hits,
        scores,
        model_contributions,
        dict(RULE_INFO),
    )


@contextmanager
def postgres_database(prefix: str = "apiflag_queue") -> Iterator[str]:
    """Create a throw-away database on the APIFLAG_TEST_PG_URL server; yield its URL."""
    base = os.environ.get("APIFLAG_TEST_PG_URL")
    if not base:
        pytest.skip("APIFLAG_TEST_PG_URL is not set")
    url = make_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``apiflag ARGS`` in-process; return (exit status, stdout, stderr)."""
    from apiflag.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def saved_small_night() -> CombineResult:
    """Combine ``small_night()`` and save it in the queue database of $APIFLAG_HOME."""
    from apiflag.queue import store

    result = small_night().combine()
    engine = store.open_engine()
    store.save_night(engine, result)
    engine.dispose()
    return result


@contextmanager
def engine_for(kind: str, pg_url: str | None = None) -> Iterator[Engine]:
    """A fresh queue database: SQLite under $APIFLAG_HOME, or empty tables in ``pg_url``."""
    from apiflag.audit import AUDIT_METADATA
    from apiflag.queue import store

    if kind == "sqlite":
        eng = store.open_engine()
    else:
        assert pg_url is not None
        eng = store.open_engine(pg_url)
        store.METADATA.drop_all(eng)
        AUDIT_METADATA.drop_all(eng)
        eng.dispose()
        eng = store.open_engine(pg_url)
    try:
        yield eng
    finally:
        eng.dispose()
