"""Retention end to end on a home built by the real stages (see tests/privacy_helpers.py).

Ingest of rendered PAXLST/PNRGOV, stage outputs, the queue store with decisions, a report, an
MLflow artifact and the world's outcomes file: after ``retention apply`` past the masking period
no original of the old night may remain in plain text anywhere under $APIFLAG_HOME.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from tests.privacy_helpers import (
    AS_OF,
    MODEL_CARD,
    OLD,
    RECENT,
    State,
    build_state,
    cast,
    db_hits_outside,
    postgres_database,
    scan_database,
    scan_home,
)

from apiflag import config
from apiflag.audit import check_chain
from apiflag.cli import cli
from apiflag.errors import ApiflagError
from apiflag.privacy import store
from apiflag.privacy.keys import pseudonym
from apiflag.privacy.policy import RetentionSettings
from apiflag.privacy.reidentify import reidentify
from apiflag.privacy.retention import apply_retention, close_case, place_hold
from apiflag.queue.store import open_engine


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, State]]:
    """Build the state once; each test gets a copy of it as its own home."""
    home = tmp_path_factory.mktemp("privacy-template")
    saved = os.environ.get("APIFLAG_HOME")
    os.environ["APIFLAG_HOME"] = str(home)
    try:
        state = build_state()
    finally:
        if saved is None:
            os.environ.pop("APIFLAG_HOME", None)
        else:
            os.environ["APIFLAG_HOME"] = saved
    yield home, state


@pytest.fixture
def state(template: tuple[Path, State], apiflag_home: Path) -> State:
    shutil.copytree(template[0], apiflag_home, dirs_exist_ok=True)
    return template[1]


@pytest.fixture(scope="module")
def masked_template(template: tuple[Path, State], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same home after ``apply_retention(AS_OF)``: the old night masked."""
    home = tmp_path_factory.mktemp("privacy-masked") / "home"
    shutil.copytree(template[0], home)
    saved = os.environ.get("APIFLAG_HOME")
    os.environ["APIFLAG_HOME"] = str(home)
    try:
        apply_retention(AS_OF)
    finally:
        if saved is None:
            os.environ.pop("APIFLAG_HOME", None)
        else:
            os.environ["APIFLAG_HOME"] = saved
    return home


@pytest.fixture
def masked(template: tuple[Path, State], masked_template: Path, apiflag_home: Path) -> State:
    """A home where retention already ran as of AS_OF (see :func:`masked_template`)."""
    shutil.copytree(masked_template, apiflag_home, dirs_exist_ok=True)
    return template[1]


def audit_events(action_prefix: str) -> list[dict[str, object]]:
    engine = open_engine()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT action, object, details FROM audit_events ORDER BY seq")
        ).all()
    return [
        {"action": a, "object": o, "details": json.loads(d)}
        for a, o, d in rows
        if a.startswith(action_prefix)
    ]


def test_the_scan_sees_every_store_before_retention(state: State, apiflag_home: Path) -> None:
    """The scan can fail: before retention it finds the old night in every kind of store."""
    places = {place.split("/")[0] for place, _ in scan_home(apiflag_home, state.values(OLD))}
    assert {"warehouse", "archive", "apiflag.db", "reports", "mlartifacts", "world"} <= places


def test_no_masked_value_remains_anywhere(state: State, apiflag_home: Path) -> None:
    report = apply_retention(AS_OF)
    assert report.nights_masked == [OLD.isoformat()]
    assert scan_home(apiflag_home, state.values(OLD)) == []
    # the recent night is inside the period: still readable where it was
    recent = scan_home(apiflag_home, state.values(RECENT))
    assert {p.split("/")[0] for p, _ in recent} >= {"warehouse", "apiflag.db", "reports"}


def test_what_is_not_personal_is_left_alone(masked: State) -> None:
    card = next(config.mlflow_artifact_root().rglob("model_card.md"))
    assert card.read_text() == MODEL_CARD


def test_masked_night_keeps_its_shape_and_linkage(masked: State) -> None:
    travellers = pq.read_table(config.warehouse_dir(OLD.isoformat()) / "travellers.parquet")
    assert travellers.schema.field("date_of_birth").type == "date32[day]"
    frame = travellers.to_pandas()
    assert frame["date_of_birth"].isna().all()
    assert frame["nationality"].eq("THA").all()  # kept for fairness monitoring
    assert set(frame["surname"]) == {pseudonym("name", p.surname) for p in cast(OLD)}
    # the stage that reads the warehouse still can
    from apiflag import warehouse

    assert len(warehouse.read_table(OLD, "travellers")) == len(frame)
    # raw messages are gone; a tombstone per message keeps the hash and the size
    tombs = sorted(config.archive_dir().rglob("*.masked"))
    assert len(tombs) == 3
    tomb = json.loads(tombs[0].read_text())
    assert set(tomb) == {"sha256", "bytes", "night", "masked_at", "reason"}
    assert not (config.archive_dir() / tomb["sha256"][:2] / tomb["sha256"]).exists()


def test_pseudonyms_are_stable_across_nights(masked: State) -> None:
    frequent = cast(OLD)[-1]
    later = RECENT + dt.timedelta(days=200)
    apply_retention(later)
    tokens = []
    for night in (OLD, RECENT):
        frame = pd.read_parquet(config.warehouse_dir(night.isoformat()) / "travellers.parquet")
        tokens.append(set(frame["surname"]))
    assert pseudonym("name", frequent.surname) in tokens[0] & tokens[1]


def test_audit_chain_verifies_and_events_carry_counts_only(
    masked: State, apiflag_home: Path
) -> None:
    assert check_chain(open_engine()).broken_seq is None
    (event,) = audit_events("retention.mask")
    assert event["object"] == f"night:{OLD.isoformat()}"
    details = event["details"]
    assert isinstance(details, dict)
    assert details["warehouse"] > 0 and details["queue"] > 0 and details["archive"] == 3
    assert all(isinstance(v, int) for v in details.values())


def test_rerun_changes_nothing(masked: State, apiflag_home: Path) -> None:

    def digest() -> dict[str, str]:
        return {
            str(p.relative_to(apiflag_home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(apiflag_home.rglob("*"))
            if p.is_file() and p.name != "apiflag.db"
        }

    before = digest()
    again = apply_retention(AS_OF)
    assert again.nights_masked == [] and again.counts == {}
    assert digest() == before


def _flag_of(state: State, night: dt.date, status: str) -> str:
    flags = state.flags[night]
    return str(flags.loc[flags["status"] == status, "flag_id"].iloc[0])


def test_a_held_flag_stays_readable_until_its_case_closes(state: State, apiflag_home: Path) -> None:
    flag_id = _flag_of(state, OLD, "hearing")
    flags = state.flags[OLD]
    held_tid = str(flags.loc[flags["flag_id"] == flag_id, "traveller_id"].iloc[0])
    path = config.warehouse_dir(OLD.isoformat()) / "travellers.parquet"
    names = dict(pd.read_parquet(path)[["traveller_id", "surname"]].itertuples(index=False))
    held_person = next(p for p in cast(OLD) if p.surname == names[held_tid])
    place_hold(flag_id, "C-2026-0042", actor="supervisor-1")
    report = apply_retention(AS_OF)
    assert report.held_travellers == 1
    after = dict(pd.read_parquet(path)[["traveller_id", "surname"]].itertuples(index=False))
    assert after[held_tid] == held_person.surname
    # the held flag keeps its whole record (its explanation may quote a co-traveller);
    # nothing else keeps anyone else's values
    others = [v for p in cast(OLD)[:4] if p != held_person for v in p.values()]
    night_dir = f"warehouse/night={OLD.isoformat()}"
    places = {place for place, _ in scan_home(apiflag_home, others)}
    assert places <= {"apiflag.db", f"{night_dir}/rule_hits.parquet"}
    assert db_hits_outside(apiflag_home / "apiflag.db", flag_id, others) == []
    hits = pd.read_parquet(apiflag_home / night_dir / "rule_hits.parquet")
    not_held = hits[hits["traveller_id"] != held_tid].astype(str).to_numpy().ravel()
    assert not [v for v in others for cell in not_held if v.upper() in str(cell).upper()]
    close_case("C-2026-0042", actor="supervisor-1")
    apply_retention(AS_OF)
    assert scan_home(apiflag_home, state.values(OLD)) == []
    assert check_chain(open_engine()).broken_seq is None


def test_only_decided_hearing_or_support_flags_can_be_held(state: State) -> None:
    with pytest.raises(ApiflagError, match="only flags decided hearing or victim_support"):
        place_hold(_flag_of(state, OLD, "cleared"), "C-1", actor="s")
    with pytest.raises(ApiflagError, match="no such flag"):
        place_hold("F-nope", "C-1", actor="s")
    with pytest.raises(ApiflagError, match="no open hold"):
        close_case("C-unknown", actor="s")


def test_everything_is_deleted_after_the_maximum(masked: State, apiflag_home: Path) -> None:
    from apiflag.alerts import ALERT_METADATA, alert_deliveries

    engine = open_engine()
    ALERT_METADATA.create_all(engine)
    with engine.begin() as conn:
        for night in (OLD, RECENT):
            flag = conn.execute(
                sa.text("SELECT flag_id FROM flags WHERE night = :n LIMIT 1"), {"n": night}
            ).scalar_one()
            conn.execute(
                alert_deliveries.insert().values(
                    flag_id=flag,
                    channel="email",
                    night=night.isoformat(),
                    status="sent",
                    attempts=1,
                    claimed_at=dt.datetime.now(dt.UTC),
                )
            )
    engine.dispose()
    far = OLD + dt.timedelta(days=5 * 366)
    report = apply_retention(far, RetentionSettings(180, 5))
    assert OLD.isoformat() in report.nights_deleted
    assert not config.warehouse_dir(OLD.isoformat()).exists()
    tombs = [json.loads(p.read_text()) for p in config.archive_dir().rglob("*.masked")]
    assert {t["night"] for t in tombs} == {RECENT.isoformat()}  # the old night's went too
    engine = open_engine()
    with engine.connect() as conn:
        flags = conn.execute(sa.text("SELECT night FROM flags")).scalars().all()
        vault_nights = conn.execute(sa.select(store.vault.c.night).distinct()).scalars().all()
        runs = conn.execute(sa.text("SELECT night FROM night_runs")).scalars().all()
        alerted = conn.execute(sa.select(alert_deliveries.c.night)).scalars().all()
    assert alerted == [RECENT.isoformat()]  # alert records go with their flags
    assert OLD.isoformat() not in {str(n)[:10] for n in flags}
    assert {str(n)[:10] for n in runs} == {RECENT.isoformat()}
    assert OLD.isoformat() not in vault_nights
    assert not list(config.reports_dir().glob(f"*{OLD.isoformat()}*"))
    assert check_chain(engine).broken_seq is None
    assert audit_events("retention.delete")[0]["object"] == f"night:{OLD.isoformat()}"
    # the recent night is past the masking period but inside the maximum: masked, not deleted
    assert RECENT.isoformat() in report.nights_masked
    assert scan_home(apiflag_home, masked.values(RECENT)) == []


# --------------------------------------------------------------------------- re-identification


def test_supervisor_with_a_case_reference_sees_the_originals(masked: State) -> None:
    flag_id = _flag_of(masked, OLD, "cleared")
    person = cast(OLD)[0]
    shown = reidentify(flag_id, case_ref="C-2026-7", role="supervisor", reason="court order 12")
    traveller = shown["values"]["travellers"][0]
    assert traveller["surname"] == person.surname
    assert traveller["date_of_birth"] == person.dob.isoformat()
    assert traveller["document_number"] == person.doc
    (event,) = audit_events("privacy.reidentify")
    assert event["object"] == f"flag:{flag_id}"
    details = event["details"]
    assert isinstance(details, dict) and details["case_ref"] == "C-2026-7"
    assert person.surname not in json.dumps(details)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "analyst", "--case-ref", "C-1", "--reason", "r"], "only supervisor"),
        (["--role", "auditor", "--case-ref", "C-1", "--reason", "r"], "only supervisor"),
        (["--role", "supervisor", "--reason", "r"], "case reference is required"),
        (["--role", "supervisor", "--case-ref", " ", "--reason", "r"], "case reference"),
        (["--role", "supervisor", "--case-ref", "C-1"], "reason is required"),
    ],
)
def test_reidentification_is_refused_and_audited(
    masked: State, args: list[str], message: str
) -> None:
    flag_id = _flag_of(masked, OLD, "cleared")
    result = CliRunner().invoke(cli, ["reidentify", flag_id, *args])
    assert result.exit_code == 1
    assert message in str(result.exception)
    assert cast(OLD)[0].surname not in result.output
    assert audit_events("privacy.reidentify_refused")


def test_a_user_not_configured_as_supervisor_is_refused(
    state: State, apiflag_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (apiflag_home / "config.yaml").write_text("roles:\n  kenji: analyst\n")
    monkeypatch.setenv("APIFLAG_USER", "kenji")
    with pytest.raises(ApiflagError, match="may not act as supervisor"):
        reidentify(_flag_of(state, OLD, "cleared"), case_ref="C-1", role="supervisor", reason="r")


def test_without_the_vault_key_the_originals_are_gone(masked: State, apiflag_home: Path) -> None:
    (apiflag_home / "secrets" / "vault.key").unlink()
    from apiflag.privacy import keys

    keys._cipher_for.cache_clear()
    with pytest.raises(ApiflagError, match="does not open the vault"):
        reidentify(_flag_of(masked, OLD, "cleared"), case_ref="C-1", role="supervisor", reason="r")


# --------------------------------------------------------------------------- CLI


def test_cli_apply_reports_counts_as_json(state: State) -> None:
    result = CliRunner().invoke(
        cli,
        ["retention", "apply", "--as-of", AS_OF.isoformat(), "--masking-days", "30",
         "--max-years", "5", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["masking_days"] == 30
    assert data["nights_masked"] == [OLD.isoformat()]  # RECENT is 7 days old


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--as-of", "27/11/2026"], 2, "not a date"),
        (["--masking-days", "2000", "--max-years", "5"], 2, "shorter than"),
        (["--max-years", "0"], 2, "at least 1"),
    ],
)
def test_cli_apply_refuses_bad_arguments(args: list[str], code: int, message: str) -> None:
    from apiflag.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "apply", *args])
    assert exit_info.value.code == code


def test_stats_count_without_personal_data(masked: State, apiflag_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["stats", "--from", "2026-01-01", "--to", "2026-12-31"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {(r["dimension"], r["value"]): r for r in data["rows"]}
    assert rows[("nationality", "THA")]["arrivals"] == 10
    assert rows[("age_band", "12-17")]["arrivals"] == "<5"
    assert ("rule", "R-101") in rows and ("track", "case_match") in rows
    everyone = [v for n in (OLD, RECENT) for p in cast(n) for v in p.values()]
    assert not [v for v in everyone if v in result.output]
    csv_out = runner.invoke(
        cli, ["stats", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "csv"]
    )
    assert csv_out.output.splitlines()[0] == "dimension,value,arrivals,flags"


@pytest.mark.postgres
def test_retention_on_a_postgresql_queue(
    apiflag_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same guarantees when the queue, audit log and vault live in PostgreSQL."""
    with postgres_database() as url:
        monkeypatch.setenv("APIFLAG_DB_URL", url)
        built = build_state()
        assert scan_database(url, built.values(OLD))  # the scan can fail
        apply_retention(AS_OF)
        assert scan_database(url, built.values(OLD)) == []
        assert scan_home(apiflag_home, built.values(OLD)) == []
        assert check_chain(open_engine(url)).broken_seq is None
        flag_id = _flag_of(built, OLD, "cleared")
        shown = reidentify(flag_id, case_ref="C-PG-1", role="supervisor", reason="pg check")
        assert shown["values"]["travellers"][0]["surname"] == cast(OLD)[0].surname
        far = OLD + dt.timedelta(days=5 * 366)
        assert OLD.isoformat() in apply_retention(far).nights_deleted
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT night FROM flags")).scalars().all()
            nights = {str(n)[:10] for n in rows}
        engine.dispose()
        assert OLD.isoformat() not in nights and RECENT.isoformat() in nights
