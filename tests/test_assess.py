"""`apiflag assess`: the nightly job measured against a synthetic world's truth.

One small world is run once with the plain runner (as tests/test_nightly_e2e.py does); the
command's figures are checked against counts made here from the truth file, the queue database
(sqlite3, by flight, document number and birth date) and combined.parquet, and the reweighting
against a hand-built night whose answer is known in closed form.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from apiflag import pipeline
from apiflag.assess import (
    INVOLVED,
    Assessment,
    precision_at_capacity,
    wilson,
)
from apiflag.cli import cli, main
from apiflag.settings import Settings
from apiflag.synth.world import WorldConfig, generate_world

NIGHT = dt.date(2026, 11, 20)
CAPACITY = 10


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("assess")
    world = root / "world"
    generate_world(world, WorldConfig(seed=11, nights=1, arrivals=300, history_nights=0))
    home = root / "home"
    home.mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("APIFLAG_HOME", str(home))
        pipeline.run_night(
            NIGHT,
            world,
            f"sqlite:///{world / 'casedb.sqlite'}",
            settings=Settings(capacity=CAPACITY),
            write_report=False,
        )
    return {"world": world, "home": home}


@pytest.fixture()
def home(state: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APIFLAG_HOME", str(state["home"]))
    return state["home"]


def _assess(world: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    res = CliRunner().invoke(
        cli, ["assess", "--world", str(world), "--format", "json", "--replicates", "200", *extra]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.output)  # type: ignore[no-any-return]


def _truth(world: Path) -> list[dict[str, str]]:
    with (world / "truth" / "travellers.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _queued_keys(home: Path) -> dict[tuple[str, str, str], str]:
    """(flight, document number, birth date) -> track, straight from the queue database."""
    with sqlite3.connect(home / "apiflag.db") as conn:
        rows = conn.execute(
            "select flight, person_document_number, person_date_of_birth, track from flags"
        ).fetchall()
    return {(f, d or "", b or ""): t for f, d, b, t in rows}


def _key(row: dict[str, str]) -> tuple[str, str, str]:
    return (row["carrier"] + row["number"], row["document_number"], row["date_of_birth"])


def test_recall_per_role_and_pattern_matches_an_independent_count(
    state: dict[str, Path], home: Path
) -> None:
    out = _assess(state["world"])
    queued = _queued_keys(home)
    truth = [r for r in _truth(state["world"]) if r["truth_label"] in INVOLVED]
    planted = Counter((r["pattern"], r["pattern_role"]) for r in truth)
    found = Counter((r["pattern"], r["pattern_role"]) for r in truth if _key(r) in queued)
    target = {"victim": "protection", "trafficker": "examination"}
    on_track = Counter(
        (r["pattern"], r["pattern_role"])
        for r in truth
        if queued.get(_key(r)) == target[r["truth_label"]]
    )
    got = {(r["pattern"], r["pattern_role"]): r for r in out["recall"]["role"]}
    assert set(got) == set(planted)
    assert len(planted) >= 9  # every pattern of a default world, each role of it
    for key, n in planted.items():
        assert got[key]["planted"] == n
        assert got[key]["queued"] == found[key], key
        assert got[key]["queued_on_target_track"] == on_track[key], key
        assert got[key]["recall"] == pytest.approx(found[key] / n)
        assert got[key]["recall_low"] <= got[key]["recall"] <= got[key]["recall_high"]
    # a role nobody queues shows as 0, and some roles are queued: the figure discriminates
    assert 0 < sum(found.values()) < sum(planted.values())
    per_pattern = {r["pattern"]: r for r in out["recall"]["pattern"]}
    for pattern in {p for p, _ in planted}:
        assert per_pattern[pattern]["queued"] == sum(
            v for (p, _), v in found.items() if p == pattern
        )
    overall = out["recall"]["overall"][0]
    assert (overall["planted"], overall["queued"]) == (len(truth), sum(found.values()))
    tracks = {r["target_track"]: r for r in out["recall"]["track"]}
    for label, track in target.items():
        rows = [r for r in truth if r["truth_label"] == label]
        assert tracks[track]["planted"] == len(rows)
        assert tracks[track]["queued"] == sum(_key(r) in queued for r in rows)


def test_every_planted_traveller_carries_a_role_in_truth(state: dict[str, Path]) -> None:
    rows = _truth(state["world"])
    involved = [r for r in rows if r["truth_label"] in INVOLVED]
    assert involved and all(r["pattern"] and r["pattern_role"] for r in involved)
    assert all(r["pattern_role"] for r in rows if r["pattern"])


def test_precision_queue_shares_and_fairness_match_independent_counts(
    state: dict[str, Path], home: Path
) -> None:
    out = _assess(state["world"])
    queued = _queued_keys(home)
    rows = _truth(state["world"])
    in_queue = [r for r in rows if _key(r) in queued]
    assert len(in_queue) == len(queued) == out["queued"]
    own = out["precision"][0]
    assert own["prevalence"] == pytest.approx(out["involved"] / out["arrivals"])
    bad = sum(r["truth_label"] in INVOLVED for r in in_queue)
    assert own["precision"] == pytest.approx(bad / len(queued))
    assert own["queue_per_night"] == pytest.approx(len(queued))
    assert own["precision_low"] <= own["precision"] <= own["precision_high"]
    # all prevalences asked for are there; the rarer the involved, never a higher precision
    ps = [p["prevalence"] for p in out["precision"]]
    assert ps[1:] == [1e-3, 1e-4, 1e-5, 1e-6, 3e-7]
    precisions = [p["precision"] for p in out["precision"]]
    assert precisions == sorted(precisions, reverse=True)
    shares = {c["kind"]: c for c in out["confounders"]}
    kinds = {r["confounder"] for r in rows if r["confounder"]}
    assert {f"confounder:{k}" for k in kinds} <= set(shares) and len(kinds) >= 6
    for k in kinds:
        n = sum(r["confounder"] == k and _key(r) in queued for r in rows)
        assert shares[f"confounder:{k}"]["queued"] == n
        assert shares[f"confounder:{k}"]["queue_share"] == pytest.approx(n / len(queued))
    combined = pd.read_parquet(home / "warehouse" / f"night={NIGHT}" / "combined.parquet")
    overall = combined["flagged"].mean()
    fair = {(r["attribute"], r["group"]): r for r in out["fairness"]}
    for sex, g in combined.groupby("sex"):
        assert fair[("sex", sex)]["ratio"] == pytest.approx(g["flagged"].mean() / overall)
    bands = set(combined["age_band"])
    assert {g for a, g in fair if a == "age_band"} == bands
    assert bands <= {*Settings().age_band_labels, "unknown"}


def test_text_report_names_each_role_and_the_realistic_rates(
    state: dict[str, Path], home: Path
) -> None:
    res = CliRunner().invoke(cli, ["assess", "--world", str(state["world"]), "--replicates", "50"])
    assert res.exit_code == 0, res.output
    for text in ("escorted", "minor", "recruit", "3 in 10,000,000", "confounder:family_pays"):
        assert text in res.output
    assert "flag-rate ratios" in res.output and "age_band" in res.output


def _hand_night(capacity: int, strong_involved: bool = False) -> Assessment:
    """1,000 arrivals: 10 involved (4 flagged, ranked first), 40 uninvolved flagged after them."""
    n = 1000
    involved = np.zeros(n, dtype=bool)
    involved[:10] = True
    flagged = np.zeros(n, dtype=bool)
    flagged[:4] = True
    flagged[10:50] = True
    priority = pd.array([None] * n, dtype="Int64")
    order = [*range(4), *range(10, 50)]
    for rank, i in enumerate(order, start=1):
        priority[i] = rank
    strong = np.zeros(n, dtype=bool)
    if strong_involved:
        strong[0] = True
    frame = pd.DataFrame(
        {
            "traveller_id": [f"t{i}" for i in range(n)],
            "night": "2026-11-20",
            "truth_label": np.where(involved, "victim", "none"),
            "pattern": np.where(involved, "p", ""),
            "pattern_role": np.where(involved, "r", ""),
            "pattern_group": [f"g{i}" if i < 10 else "" for i in range(n)],
            "confounder": "",
            "flagged": flagged,
            "queued": False,
            "queue_track": None,
            "strong": strong,
            "priority": priority,
        }
    )
    return Assessment(frame, frame.iloc[:0], {"2026-11-20": capacity}, None)


def test_reweighting_gives_the_closed_form_answer_when_the_queue_is_full() -> None:
    # involved weigh a = p*1000/10, uninvolved b = (1-p)*1000/990; the 4 involved flagged rank
    # first, so the queue of 20 holds 4a of them: precision 4a/20 = 20p while 4a < 20
    rows = precision_at_capacity(_hand_night(20), [0.01, 1e-3, 1e-4, 3e-7], replicates=300)
    for row in rows:
        p = row["prevalence"]
        assert row["precision"] == pytest.approx(20 * p)
        assert row["queue_per_night"] == pytest.approx(20)
        assert row["involved_queued_per_night"] == pytest.approx(400 * p)
        assert row["recall"] == pytest.approx(0.4)
        assert row["precision_low"] <= row["precision"] <= row["precision_high"]
    assert rows[0]["precision"] == pytest.approx(4 / 20)  # the world's own: weights 1


def test_reweighting_when_the_queue_is_not_full_and_with_a_strong_match() -> None:
    # capacity 100 > 44 flagged: the queue is every flag, 4a + 40b of them
    for p in (0.01, 1e-3, 1e-5):
        a, b = p * 1000 / 10, (1 - p) * 1000 / 990
        (row,) = precision_at_capacity(_hand_night(100), [p], replicates=50)
        assert row["precision"] == pytest.approx(4 * a / (4 * a + 40 * b))
        assert row["queue_per_night"] == pytest.approx(4 * a + 40 * b)
    # a strong match is queued besides capacity: capacity 5 holds 3a + (5 - 3a) b-mass
    p = 1e-3
    a = p * 1000 / 10
    (row,) = precision_at_capacity(_hand_night(5, strong_involved=True), [p], replicates=50)
    assert row["queue_per_night"] == pytest.approx(5 + a)
    assert row["precision"] == pytest.approx(4 * a / (5 + a))


def test_wilson_interval_known_values() -> None:
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert wilson(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_missing_world_truth_or_results_are_one_line_errors(
    state: dict[str, Path],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(world: Path) -> str:
        with pytest.raises(SystemExit) as info:
            main(["assess", "--world", str(world)])
        captured = capsys.readouterr()
        assert info.value.code == 1 and captured.out == ""
        assert "Traceback" not in captured.err
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    assert "no such world folder" in run(tmp_path / "nowhere")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(state["world"] / "world.json", bare / "world.json")
    assert "truth" in run(bare) and "travellers.csv" in run(bare)
    # a home where the night was never run
    monkeypatch.setenv("APIFLAG_HOME", str(tmp_path / "fresh"))
    assert "no night" in run(state["world"])
    # a home with the night's results but no queue database
    other = tmp_path / "noqueue"
    shutil.copytree(home, other)
    (other / "apiflag.db").unlink()
    monkeypatch.setenv("APIFLAG_HOME", str(other))
    assert "no nightly run recorded for night 2026-11-20" in run(state["world"])
    res = CliRunner().invoke(cli, ["assess", "--world", str(state["world"]), "--prevalences", "2"])
    assert res.exit_code == 2 and "--prevalences" in res.output
