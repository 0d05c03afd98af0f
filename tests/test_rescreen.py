"""Re-screening past nights (apiflag.rescreen) on a small world: real warehouse, real SQLite queue
and case database, real retention masking.

The template home holds two nights that already ran; each test gets its own copy of the home
and of the world's case database, then adds a case person the nights never saw.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from apiflag import config, pipeline
from apiflag.audit import check_chain, read_events
from apiflag.errors import ApiflagError
from apiflag.matching.normalise import normalise_identifier
from apiflag.privacy.keys import pseudonym
from apiflag.privacy.policy import RetentionSettings
from apiflag.privacy.retention import apply_retention
from apiflag.queue.store import decide, open_engine
from apiflag.rescreen import (
    CASE_FEATURES,
    grant_masked,
    nights_between,
    rescreen_night,
    rescreen_nights,
)
from apiflag.settings import Settings
from apiflag.synth.world import WorldConfig, generate_world

NIGHTS = ("2026-11-20", "2026-11-21")
SETTINGS = Settings(capacity=20)  # room left on each night for a rule added later


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A world and a home where both nights ran through the nightly job."""
    root = tmp_path_factory.mktemp("rescreen-template")
    world, home = root / "world", root / "home"
    home.mkdir(mode=0o700)
    generate_world(world, WorldConfig(seed=11, nights=2, arrivals=300, history_nights=0))
    with pytest.MonkeyPatch.context() as mp:
        # as the per-test home fixture does: nothing from an earlier test module's stores
        mp.setenv("APIFLAG_HOME", str(home))
        for name in ("APIFLAG_DB_URL", "MLFLOW_TRACKING_URI", "APIFLAG_RULES_DIR"):
            mp.delenv(name, raising=False)
        for night in NIGHTS:
            pipeline.run_night(
                dt.date.fromisoformat(night),
                world,
                f"sqlite:///{world / 'casedb.sqlite'}",
                settings=SETTINGS,
                write_report=False,
            )
    yield world, home


@pytest.fixture()
def casedb_url(template: tuple[Path, Path], apiflag_home: Path, tmp_path: Path) -> str:
    """Copy the template home into this test's home; return a private copy of the case DB."""
    world, home = template
    shutil.copytree(home, apiflag_home, dirs_exist_ok=True)
    db = tmp_path / "casedb.sqlite"
    shutil.copy(world / "casedb.sqlite", db)
    return f"sqlite:///{db}"


def _flags() -> pd.DataFrame:
    engine = open_engine()
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.text("SELECT * FROM flags ORDER BY flag_id"), conn)
    finally:
        engine.dispose()


def _unflagged_passenger(night: str) -> dict[str, Any]:
    """A passenger of ``night`` nobody flagged or matched, with a unique full name."""
    part = config.warehouse_dir(night)
    tr = pd.read_parquet(part / "travellers.parquet")
    combined = pd.read_parquet(part / "combined.parquet")
    matched = set(pd.read_parquet(part / "matches.parquet")["traveller_id"])
    flagged = set(combined.loc[combined["flagged"].astype(bool), "traveller_id"])
    names = tr.groupby(["surname", "given_names"])["traveller_id"].transform("size")
    ok = (
        (tr["role"] == "passenger")
        & tr["date_of_birth"].notna()
        & tr["given_names"].notna()
        & tr["document_number"].notna()
        & (names == 1)
        & ~tr["traveller_id"].isin(matched | flagged)
    )
    return dict(tr.loc[ok].iloc[0])


def _add_case_person(url: str, person_id: str, traveller: dict[str, Any]) -> None:
    """Record ``traveller`` as a broker of an existing case, as the case registry would."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        case_id = conn.execute(sa.text("SELECT case_id FROM cases ORDER BY case_id")).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO persons (person_id, case_id, role, surname, given_names, "
                "date_of_birth, nationality) VALUES (:p, :c, 'broker', :s, :g, :d, :n)"
            ),
            {
                "p": person_id,
                "c": case_id,
                "s": traveller["surname"].title(),  # written as the registry writes it
                "g": traveller["given_names"].title(),
                "d": pd.Timestamp(traveller["date_of_birth"]).date(),
                "n": traveller["nationality"],
            },
        )
    engine.dispose()


def test_a_new_case_person_queues_exactly_one_new_flag_and_a_rerun_nothing(
    casedb_url: str,
) -> None:
    before = _flags()
    # nothing changed: every stage is reused and nothing is queued
    unchanged = rescreen_nights(list(NIGHTS), casedb_url)
    assert [s.inserted for s in unchanged] == [0, 0]
    assert all({"matching", "features", "rules"} <= set(s.reused_stages) for s in unchanged)
    person = _unflagged_passenger(NIGHTS[1])
    _add_case_person(casedb_url, "P-RESCREEN-1", person)

    summaries = rescreen_nights(list(NIGHTS), casedb_url)

    after = _flags()
    new = after.loc[~after["flag_id"].isin(before["flag_id"])]
    assert list(new["traveller_id"]) == [person["traveller_id"]]
    assert str(new["night"].iloc[0])[:10] == NIGHTS[1]
    assert [s.inserted for s in summaries] == [0, 1]
    assert summaries[1].new_case_matches == 1 and "matching" not in summaries[1].reused_stages
    # the changed case database reached the matching digest; the first night gained nothing
    assert summaries[0].new_case_matches == 0
    # every flag queued before is still there, once
    assert after["flag_id"].is_unique and set(before["flag_id"]) <= set(after["flag_id"])

    again = rescreen_nights(list(NIGHTS), casedb_url)
    assert [s.inserted for s in again] == [0, 0]
    assert "matching" in again[1].reused_stages
    assert len(_flags()) == len(after)


def test_a_decided_flag_is_never_changed_by_a_rescreen(casedb_url: str) -> None:
    night = NIGHTS[1]
    before = _flags()
    target = before.loc[before["night"].astype(str).str[:10] == night].iloc[0]
    engine = open_engine()
    try:
        decide(engine, target["flag_id"], "cleared", "different_person", "tester")
    finally:
        engine.dispose()
    decided = _flags().set_index("flag_id").loc[target["flag_id"]]
    _add_case_person(casedb_url, "P-RESCREEN-2", _unflagged_passenger(night))
    summary = rescreen_night(night, casedb_url)
    assert summary.kept_decided >= 1 and summary.inserted == 1
    now = _flags().set_index("flag_id").loc[target["flag_id"]]
    pd.testing.assert_series_equal(now, decided)


def _phone_of_an_unflagged_booking(night: str) -> tuple[str, set[str]]:
    """A phone on one booking only, whose travellers are unflagged and not all payers."""
    part = config.warehouse_dir(night)
    contacts = pd.read_parquet(part / "booking_contacts.parquet")
    phones = contacts.loc[contacts["kind"] == "phone"]
    tr = pd.read_parquet(part / "travellers.parquet")
    combined = pd.read_parquet(part / "combined.parquet")
    features = pd.read_parquet(part / "features.parquet").set_index("traveller_id")
    flagged = set(combined.loc[combined["flagged"].astype(bool), "traveller_id"])
    everywhere = pd.concat(
        pd.read_parquet(config.warehouse_dir(n) / "booking_contacts.parquet") for n in NIGHTS
    )
    for value, booking in zip(phones["value"], phones["booking_id"], strict=True):
        if everywhere.loc[everywhere["value"] == value, "booking_id"].nunique() != 1:
            continue
        ids = set(tr.loc[tr["booking_id"] == booking, "traveller_id"])
        payer = features.loc[sorted(ids), "traveller.is_payer"].fillna(False)
        if ids and not ids & flagged and (payer == False).any():  # noqa: E712
            return str(value), ids
    raise AssertionError("the world has no suitable booking")


def test_a_new_case_phone_on_a_masked_night_is_found_by_its_pseudonym(casedb_url: str) -> None:
    night = NIGHTS[0]
    phone, travellers = _phone_of_an_unflagged_booking(night)
    _mask_both_nights()
    engine = sa.create_engine(casedb_url)
    with engine.begin() as conn:
        case_id = conn.execute(sa.text("SELECT case_id FROM cases ORDER BY case_id")).scalar()
        next_id = conn.execute(sa.text("SELECT max(id) + 1 FROM identifiers")).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO identifiers (id, case_id, person_id, kind, value, normalized) "
                "VALUES (:i, :c, NULL, 'phone', :v, :n)"
            ),
            {"i": next_id, "c": case_id, "v": phone, "n": normalise_identifier("phone", phone)},
        )
    engine.dispose()
    before = _flags()
    access = grant_masked("supervisor", "CASE-77", list(NIGHTS))

    first = rescreen_night(night, casedb_url, access=access)

    assert first.new_identifier_matches >= 1 and first.new_case_matches == 0
    idm = pd.read_parquet(config.warehouse_dir(night) / "identifier_matches.parquet")
    assert pseudonym("phone", phone) in set(idm["value"])
    assert phone not in idm.to_csv()
    after = _flags()
    new = after.loc[~after["flag_id"].isin(before["flag_id"])]
    assert first.inserted == len(new) >= 1 and set(new["traveller_id"]) <= travellers
    assert bool(new["masked"].all())


def _mask_both_nights() -> None:
    as_of = dt.date.fromisoformat(NIGHTS[1]) + dt.timedelta(days=200)
    report = apply_retention(as_of, RetentionSettings(masking_days=180, max_years=5))
    assert sorted(report.nights_masked) == list(NIGHTS)


def test_a_masked_night_is_rescreened_on_pseudonyms_by_a_supervisor_with_a_case_ref(
    casedb_url: str,
) -> None:
    night = NIGHTS[0]
    person = _unflagged_passenger(night)
    _mask_both_nights()
    masked_tr = pd.read_parquet(config.warehouse_dir(night) / "travellers.parquet")
    row = masked_tr.loc[masked_tr["traveller_id"] == person["traveller_id"]].iloc[0]
    assert row["surname"] == pseudonym("name", person["surname"])  # really masked
    _add_case_person(casedb_url, "P-RESCREEN-3", person)
    before = _flags()

    with pytest.raises(ApiflagError, match="supervisor"):
        rescreen_nights(list(NIGHTS), casedb_url)
    with pytest.raises(ApiflagError, match="may not rescreen.masked"):
        grant_masked("analyst", "CASE-42", list(NIGHTS))
    with pytest.raises(ApiflagError, match="case reference is required"):
        grant_masked("supervisor", "  ", list(NIGHTS))
    assert len(_flags()) == len(before)  # refusals queue nothing

    access = grant_masked("supervisor", "CASE-42", list(NIGHTS))
    summaries = rescreen_nights(list(NIGHTS), casedb_url, access=access)

    after = _flags()
    new = after.loc[~after["flag_id"].isin(before["flag_id"])]
    assert list(new["traveller_id"]) == [person["traveller_id"]]
    assert bool(new["masked"].iloc[0])
    assert new["person_surname"].iloc[0] == pseudonym("name", person["surname"])
    assert [s.inserted for s in summaries] == [1, 0] and all(s.masked for s in summaries)
    # the matches were made on pseudonyms: no original value is in the night's outputs
    part = config.warehouse_dir(night)
    for name in ("matches", "match_fields", "identifier_matches", "features"):
        text = pd.read_parquet(part / f"{name}.parquet").to_csv()
        assert person["surname"] not in text and person["document_number"] not in text
    features = pd.read_parquet(part / "features.parquet").set_index("traveller_id")
    assert features.loc[person["traveller_id"], "traveller.case_match_probability"] >= 0.8
    assert set(CASE_FEATURES) <= set(features.columns)
    engine = open_engine()
    try:
        events = read_events(engine, action="privacy.rescreen")
        refused = read_events(engine, action="privacy.rescreen_refused")
        assert check_chain(engine).broken_seq is None
    finally:
        engine.dispose()
    assert [e.object for e in events] == [f"night:{n}" for n in NIGHTS]
    details = [e.details for e in events]
    assert details[0]["case_ref"] == "CASE-42" and details[0]["inserted"] == 1
    assert [d["why"] for d in (e.details for e in refused)] == ["role", "no_case_ref"]
    logged = json.dumps(details + [e.details for e in refused])
    for value in (person["surname"], person["given_names"], person["document_number"]):
        assert value not in logged

    again = rescreen_nights(list(NIGHTS), casedb_url, access=access)
    assert [s.inserted for s in again] == [0, 0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-13-01", "--end", "2026-11-21"], "--start '2026-13-01': not a date"),
        (["--start", "2026-11-21", "--end", "2026-11-20"], "--end 2026-11-20 is before --start"),
        (["--start", "2025-01-01", "--end", "2025-01-31"], "no night between 2025-01-01"),
    ],
)
def test_a_bad_date_range_is_one_clear_line(
    casedb_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from apiflag.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["rescreen", *args, "--casedb", casedb_url])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_command_refuses_a_masked_night_without_a_supervisor_and_runs_with_one(
    casedb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from apiflag.cli import main

    _mask_both_nights()
    with pytest.raises(SystemExit) as exit_info:
        main(["rescreen", "--start", NIGHTS[0], "--end", NIGHTS[1], "--casedb", casedb_url])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1
    assert "masked night" in err and "supervisor" in err
    main(
        [
            "rescreen",
            "--start",
            NIGHTS[0],
            "--end",
            NIGHTS[1],
            "--casedb",
            casedb_url,
            "--role",
            "supervisor",
            "--case-ref",
            "CASE-7",
        ]
    )
    out = capsys.readouterr().out
    assert "2 night(s) re-screened (2 masked); 0 new flag(s)" in out


def test_nights_between_lists_only_warehouse_nights(casedb_url: str) -> None:
    assert nights_between(dt.date(2026, 11, 1), dt.date(2026, 11, 20)) == [NIGHTS[0]]
    assert nights_between(dt.date(2026, 11, 20), dt.date(2026, 12, 31)) == list(NIGHTS)


RULE = """id: R-921
version: 1
title: Test rule added after the nights ran
track: examination
weight: 5.0
rationale: >-
  A rule the catalogue gained after the nights ran (synthetic test only).
when:
  all:
    - {field: traveller.is_crew, op: eq, value: true}
approved_by: policy-board
review_by: 2027-06-30
examples:
  - name: hit
    input: {traveller.is_crew: true}
    expect: hit
  - name: miss
    input: {traveller.is_crew: false}
    expect: miss
"""


def test_a_changed_catalogue_recomputes_rules_and_queues_only_its_new_hits(
    casedb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apiflag.rules.catalogue import default_rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    monkeypatch.setenv("APIFLAG_RULES_DIR", str(rules))
    night = NIGHTS[1]
    first = rescreen_night(night, casedb_url)  # same rules, read from another folder
    assert first.inserted == 0 and first.new_rule_hits == 0
    assert "rules" in rescreen_night(night, casedb_url).reused_stages
    before = _flags()
    (rules / "R-921-test.yaml").write_text(RULE)

    summary = rescreen_night(night, casedb_url)

    assert "rules" not in summary.reused_stages and summary.new_rule_hits > 0
    hits = pd.read_parquet(config.warehouse_dir(night) / "rule_hits.parquet")
    fired = set(hits.loc[hits["rule_id"] == "R-921", "traveller_id"])
    after = _flags()
    new = after.loc[~after["flag_id"].isin(before["flag_id"])]
    assert summary.inserted == len(new) > 0 and set(new["traveller_id"]) <= fired
    assert after["flag_id"].is_unique and set(before["flag_id"]) <= set(after["flag_id"])
    again = rescreen_night(night, casedb_url)
    assert again.inserted == 0 and "rules" in again.reused_stages


@pytest.mark.slow  # two local clusters and a Prefect server: about 4 min on 2 busy cores
def test_on_a_local_dask_cluster_the_same_flag_is_queued_and_a_plain_rerun_reuses_it(
    casedb_url: str,
) -> None:
    from apiflag.rescreen import cluster_mapper

    before = _flags()
    person = _unflagged_passenger(NIGHTS[0])
    _add_case_person(casedb_url, "P-RESCREEN-4", person)

    summaries = rescreen_nights(list(NIGHTS), casedb_url, mapper=cluster_mapper("local"))

    assert [s.inserted for s in summaries] == [1, 0]
    after = _flags()
    new = after.loc[~after["flag_id"].isin(before["flag_id"])]
    assert list(new["traveller_id"]) == [person["traveller_id"]]
    # the workers wrote what the plain runner would have: a plain rerun reuses every stage
    plain = rescreen_nights(list(NIGHTS), casedb_url)
    assert [s.inserted for s in plain] == [0, 0]
    assert all({"matching", "features", "rules"} <= set(s.reused_stages) for s in plain)


def test_a_bad_cluster_value_is_one_line(
    casedb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from apiflag.cli import main

    args = ["rescreen", "--start", NIGHTS[0], "--end", NIGHTS[1], "--casedb", casedb_url]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--cluster", "tcp://10.0.0.1:8786"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code != 0 and len(err.splitlines()) == 1 and "unencrypted" in err
