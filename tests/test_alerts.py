"""Alerts for urgent flags, against a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from alert_helpers import Hook, MailBox, smtp_server, webhook_server
from apiflag import alerts
from apiflag.alerts import AlertSettings, EmailSettings, WebhookSettings, alert_deliveries
from apiflag.audit import read_events, verify
from apiflag.errors import ApiflagError
from apiflag.queue.combine import CombineResult
from apiflag.queue.store import flags as flags_table
from apiflag.queue.store import open_engine, save_night
from apiflag.settings import Settings
from queue_helpers import CAST, NIGHT, small_night

NOW = dt.datetime.combine(NIGHT, dt.time(6, 0))
CASE_URL = "https://desk.example/flags/{flag_id}"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture()
def receivers() -> Iterator[tuple[MailBox, int, Hook, str]]:
    with smtp_server() as (box, port), webhook_server() as (hook, url):
        yield box, port, hook, url


def _settings(port: int | None, url: str | None, **kw: Any) -> AlertSettings:
    base: dict[str, Any] = {"case_url": CASE_URL, "within_hours": 6.0, "backoff_seconds": 0.01}
    base.update(kw)
    return AlertSettings(
        email=None
        if port is None
        else EmailSettings(
            host="127.0.0.1", port=port, sender="apiflag@test", recipients=("duty@test",)
        ),
        webhook=None if url is None else WebhookSettings(url=url, timeout_seconds=5),
        **base,
    )


def _flights(fl1: dt.datetime | None, fl2: dt.datetime | None) -> pd.DataFrame:
    flights = small_night().flights.copy()
    flights["scheduled_arrival"] = pd.Series([fl1, fl2], dtype="datetime64[us]")
    return flights


def _night(**settings: Any) -> tuple[CombineResult, pd.DataFrame]:
    night = small_night()
    return night.combine(**settings), night.travellers


def _main(args: list[str]) -> int:
    from apiflag.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _flag_of(result: CombineResult, traveller: str) -> str:
    tv = result.travellers.set_index("traveller_id")
    return str(tv.loc[traveller, "flag_id"])


# ----------------------------------------------------------------------------- which flags


def test_urgent_flags_are_strong_matches_and_minors_on_protection_landing_soon() -> None:
    result, travellers = _night()
    # FL1 (T1, T2, T3, T7) lands in 2 h; FL2 (T4, T5, T6, T8, T9) in 30 h
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=30))
    found, outside = alerts.urgent_alerts(
        result.travellers, travellers, flights, _settings(None, "http://x"), str(NIGHT), NOW
    )
    # T2: a minor on the protection track; T3: strong match to a victim's record
    assert {a.flag_id: a.reasons for a in found} == {
        _flag_of(result, "T2"): ("minor_protection",),
        _flag_of(result, "T3"): ("strong_case_match",),
    }
    assert outside == 2  # T4 (strong match, case_match track) and T9 (strong, protection) on FL2
    assert {a.flight for a in found} == {"PR428"}
    assert all(
        a.landing == NOW + dt.timedelta(hours=2) and a.arrival_airport == "NRT" for a in found
    )
    # T1 (examination), T5 (document integrity) and T7 (protection, adult) are never urgent
    wide, _ = alerts.urgent_alerts(
        result.travellers,
        travellers,
        flights,
        _settings(None, "http://x", within_hours=48.0),
        str(NIGHT),
        NOW,
    )
    assert {a.flag_id for a in wide} == {_flag_of(result, t) for t in ("T2", "T3", "T4", "T9")}


def test_strong_and_minor_come_from_combine_settings_not_a_second_literal() -> None:
    flights = _flights(NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=1))
    wide = _settings(None, "http://x")
    # a stricter match threshold in combine: T4 (0.95) and T9 (0.90) are no longer strong
    result, travellers = _night(case_match_threshold=0.96)
    found, _ = alerts.urgent_alerts(result.travellers, travellers, flights, wide, str(NIGHT), NOW)
    assert {a.flag_id for a in found} == {_flag_of(result, t) for t in ("T2", "T3")}
    # a lower minor age in combine: T2 (14 on the night) is an adult, on the examination track
    result, travellers = _night(minor_age=12)
    found, _ = alerts.urgent_alerts(result.travellers, travellers, flights, wide, str(NIGHT), NOW)
    assert {a.flag_id for a in found} == {_flag_of(result, t) for t in ("T3", "T4", "T9")}


def test_a_minor_over_capacity_is_not_alerted_but_said_so(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    _box, _port, hook, url = receivers
    result, travellers = _night(capacity=0)  # only the strong case matches are queued
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=3))
    report = alerts.alert_night(
        result.travellers, travellers, flights, str(NIGHT), settings=_settings(None, url), now=NOW
    )
    assert sorted(b["flag_id"] for b in hook.bodies) == sorted(
        _flag_of(result, t) for t in ("T3", "T4", "T9")
    )
    assert report.over_capacity == 1  # T2, the minor
    assert report.warnings() == [
        "1 urgent flag(s) (protection flags on minors) are over capacity: not queued, so no "
        "case file and no alert; raise --capacity"
    ]


def test_window_includes_just_landed_and_unknown_landing_but_not_long_landed() -> None:
    result, travellers = _night()
    s = _settings(None, "http://x", landed_minutes=60.0)
    landed_30_min_ago = _flights(NOW - dt.timedelta(minutes=30), NOW - dt.timedelta(hours=3))
    found, outside = alerts.urgent_alerts(
        result.travellers, travellers, landed_30_min_ago, s, str(NIGHT), NOW
    )
    assert {a.flag_id for a in found} == {_flag_of(result, t) for t in ("T2", "T3")}
    assert outside == 2
    unknown = _flights(None, NOW + dt.timedelta(days=3))
    found, outside = alerts.urgent_alerts(
        result.travellers, travellers, unknown, s, str(NIGHT), NOW
    )
    assert [a.landing for a in found] == [None, None] and outside == 2
    assert "landing time unknown" in found[0].subject()


# ----------------------------------------------------------------------------- delivery, once


def _personal_values() -> list[str]:
    values = []
    for i, (_tid, surname, given, _sex, dob, _nat, _fl) in enumerate(CAST):
        values += [surname, given, f"P{1000 + i}", f"RL{_tid}"]
        if dob:
            values += [dob, dob.replace("-", "")]
    return values


def test_one_alert_per_flag_across_two_runs_by_email_and_webhook(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    box, port, hook, url = receivers
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=3))
    engine = open_engine()
    settings = _settings(port, url)
    try:
        save_night(engine, result)
        first = alerts.alert_night(
            result.travellers, travellers, flights, str(NIGHT), settings=settings, now=NOW
        )
        save_night(engine, result)  # the night is rerun
        second = alerts.alert_night(
            result.travellers, travellers, flights, str(NIGHT), settings=settings, now=NOW
        )
        urgent = {_flag_of(result, t) for t in ("T2", "T3", "T4", "T9")}
        assert (first.urgent, first.sent, first.already_sent, first.failed) == (4, 8, 0, [])
        assert (second.urgent, second.sent, second.already_sent, second.failed) == (4, 0, 8, [])
        assert "already sent 8" in second.line()
        # exactly one e-mail and one POST per urgent flag
        assert len(box.messages) == 4 and box.recipients == [["duty@test"]] * 4
        assert sorted(b["flag_id"] for b in hook.bodies) == sorted(urgent)
        for flag_id in urgent:
            assert sum(f"https://desk.example/flags/{flag_id}" in m for m in box.messages) == 1
        body = next(b for b in hook.bodies if b["flag_id"] == _flag_of(result, "T2"))
        assert body == {
            "event": "apiflag.urgent_flag",
            "flag_id": _flag_of(result, "T2"),
            "night": str(NIGHT),
            "track": "protection",
            "reasons": ["minor_protection"],
            "flight": "PR428",
            "arrival_airport": "NRT",
            "landing": f"{NIGHT}T08:00:00+09:00",
            "case_url": f"https://desk.example/flags/{_flag_of(result, 'T2')}",
        }
        # no surname, given name, birth date, document or booking in any body
        everything = "\n".join(box.messages + hook.raw).upper()
        leaked = [v for v in _personal_values() if v.upper() in everything]
        assert leaked == []
        # each delivery is an audit event; the chain still verifies
        sent = [e for e in read_events(engine) if e.action == "alert.sent"]
        assert sorted((e.object, e.details["channel"]) for e in sent) == sorted(
            (f, c) for f in urgent for c in ("email", "webhook")
        )
        assert verify(engine) is None
    finally:
        engine.dispose()


def test_failing_webhook_is_retried_with_backoff_then_reported_and_retried_next_run(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    _box, _port, hook, url = receivers
    hook.always = 503
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    settings = _settings(None, url, attempts=3, backoff_seconds=0.5)
    waits: list[float] = []
    engine = open_engine()
    try:
        alerts_now, _ = alerts.urgent_alerts(
            result.travellers, travellers, flights, settings, str(NIGHT), NOW
        )
        report = alerts.send_alerts(engine, alerts_now, settings, sleep=waits.append)
        first, second = (a.flag_id for a in alerts_now)
        # three attempts for the first flag, then the channel is taken as down for this run
        assert hook.tries == 3
        assert waits == [0.5, 1.0]  # exponential backoff between attempts
        assert report.sent == 0
        assert report.failed == [
            f"alert for flag {first} by webhook failed after 3 attempt(s): HTTP 503 Service "
            "Unavailable (recorded in the audit log; a rerun tries again)",
            f"alert for flag {second} by webhook failed after 0 attempt(s): not attempted: "
            f"webhook failed for flag {first} in this run (recorded in the audit log; a rerun "
            "tries again)",
        ]
        failed = [e for e in read_events(engine) if e.action == "alert.failed"]
        assert [(e.object, e.details["attempts"]) for e in failed] == [(first, 3), (second, 0)]
        assert failed[0].details["error"] == "HTTP 503 Service Unavailable"
        # the receiver is back: a rerun delivers what failed, once
        hook.always = None
        again = alerts.send_alerts(engine, alerts_now, settings, sleep=waits.append)
        assert (again.sent, again.failed, len(hook.bodies)) == (2, [], 2)
        third = alerts.send_alerts(engine, alerts_now, settings, sleep=waits.append)
        assert (third.sent, third.already_sent, len(hook.bodies)) == (0, 2, 2)
        with engine.connect() as conn:
            rows = conn.execute(select(alert_deliveries)).mappings().all()
        assert sorted((r["flag_id"], r["status"], r["attempts"]) for r in rows) == sorted(
            [(first, "sent", 4), (second, "sent", 1)]
        )
    finally:
        engine.dispose()


def test_smtp_temporary_refusal_is_retried_and_permanent_http_error_is_not(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    box, port, hook, url = receivers
    box.replies = ["451 4.3.0 try again later"]
    hook.always = 404
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    settings = _settings(port, url, attempts=3)
    engine = open_engine()
    try:
        found, _ = alerts.urgent_alerts(
            result.travellers, travellers, flights, settings, str(NIGHT), NOW
        )
        report = alerts.send_alerts(engine, found[:1], settings, sleep=lambda s: None)
        assert box.tries == 2 and len(box.messages) == 1  # refused once, accepted on retry
        assert hook.tries == 1  # a 404 will not get better: not retried
        assert report.sent == 1 and len(report.failed) == 1 and "HTTP 404" in report.failed[0]
    finally:
        engine.dispose()


def test_smtp_login_reads_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    with smtp_server(authenticator=authenticator, auth_require_tls=False) as (box, port):
        email = EmailSettings(
            host="127.0.0.1",
            port=port,
            username="apiflag",
            password_env="APIFLAG_TEST_SMTP_PASSWORD",
            sender="apiflag@test",
            recipients=("duty@test",),
        )
        settings = AlertSettings(case_url=CASE_URL, email=email, attempts=3, backoff_seconds=0)
        found, _ = alerts.urgent_alerts(
            result.travellers, travellers, flights, settings, str(NIGHT), NOW
        )
        # no password in the environment: refused at once, naming the variable, server untouched
        monkeypatch.delenv("APIFLAG_TEST_SMTP_PASSWORD", raising=False)
        ok, attempts, error = alerts.deliver(
            lambda: alerts.send_email(email, found[0]), 3, 0, lambda s: None
        )
        assert (ok, attempts, logins) == (False, 1, [])
        assert "APIFLAG_TEST_SMTP_PASSWORD (alerts.email.password_env) is not set" in error
        # a wrong password is a 535: permanent, not retried
        monkeypatch.setenv("APIFLAG_TEST_SMTP_PASSWORD", "wrong")
        ok, attempts, error = alerts.deliver(
            lambda: alerts.send_email(email, found[0]), 3, 0, lambda s: None
        )
        assert (ok, attempts) == (False, 1) and "535" in error
        monkeypatch.setenv("APIFLAG_TEST_SMTP_PASSWORD", "s3cret")
        alerts.send_email(email, found[0])
    assert logins[-1] == (b"apiflag", b"s3cret") and len(box.messages) == 1


def test_unreachable_smtp_server_is_reported_not_raised() -> None:
    from alert_helpers import free_port

    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    settings = _settings(free_port(), None, attempts=2, backoff_seconds=0.0)
    report = alerts.alert_night(
        result.travellers, travellers, flights, str(NIGHT), settings=settings, now=NOW
    )
    assert report.sent == 0 and len(report.failed) == 2
    assert "ConnectionRefusedError" in report.failed[0]
    assert "not attempted: email failed for flag" in report.failed[1]


def test_a_delivery_claimed_by_a_live_run_is_not_repeated_but_a_stale_claim_is(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    _box, _port, hook, url = receivers
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    settings = _settings(None, url)
    found, _ = alerts.urgent_alerts(
        result.travellers, travellers, flights, settings, str(NIGHT), NOW
    )
    engine = open_engine()
    try:
        alerts.ALERT_METADATA.create_all(engine)
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            for alert, claimed in zip(found, (now, now - dt.timedelta(hours=2)), strict=True):
                conn.execute(
                    alert_deliveries.insert().values(
                        flag_id=alert.flag_id,
                        channel="webhook",
                        night=str(NIGHT),
                        status="sending",
                        attempts=0,
                        claimed_at=claimed,
                    )
                )
        report = alerts.send_alerts(engine, found, settings)
        assert (report.in_progress, report.sent) == (1, 1)
        assert [b["flag_id"] for b in hook.bodies] == [found[1].flag_id]
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- settings


def _write_config(home: Path, alerts_section: Any) -> None:
    (home / "config.yaml").write_text(yaml.safe_dump({"alerts": alerts_section}))


GOOD = {
    "case_url": CASE_URL,
    "webhook": {"url": "https://hooks.example/apiflag"},
    "email": {"host": "smtp.example", "port": 587, "from": "a@example", "to": ["d@example"]},
}


def test_settings_are_read_from_config_yaml(apiflag_home: Path) -> None:
    assert alerts.load_settings() is None  # no config.yaml: no alerts
    _write_config(apiflag_home, {**GOOD, "within_hours": 4, "attempts": 5})
    s = alerts.load_settings()
    assert s is not None
    assert (s.within_hours, s.attempts, s.channels) == (4.0, 5, ("email", "webhook"))
    assert s.email is not None and s.email.recipients == ("d@example",) and s.email.port == 587
    assert s.link("F1") == "https://desk.example/flags/F1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"within_hours": "soon"}, "alerts.within_hours: 'soon' is not a number between 0 and 336"),
        ({"within_hours": -1}, "alerts.within_hours: -1 is not a number between"),
        ({"attempts": 0}, "alerts.attempts: 0 is not a whole number between 1 and 10"),
        ({"attempts": True}, "alerts.attempts: True is not a whole number"),
        ({"backoff_seconds": "2s"}, "alerts.backoff_seconds: '2s' is not a number"),
        ({"case_url": "desk/flags/{flag_id}"}, "alerts.case_url: 'desk/flags/{flag_id}' is not an http"),
        ({"case_url": "https://desk.example/"}, "has no {flag_id} placeholder"),
        ({"sms": {}}, "alerts.sms: unknown setting"),
        ({"webhook": {"url": "ftp://x"}}, "alerts.webhook.url: 'ftp://x' is not an http"),
        ({"webhook": "https://x"}, "alerts.webhook: must be a mapping"),
        ({"email": {**GOOD["email"], "port": 70000}}, "alerts.email.port: 70000 is not a whole number between 1 and 65535"),
        ({"email": {**GOOD["email"], "to": []}}, "alerts.email.to: [] is not an e-mail address or a non-empty list"),
        ({"email": {**GOOD["email"], "to": ["duty"]}}, "alerts.email.to: 'duty' is not an e-mail address"),
        ({"email": {**GOOD["email"], "starttls": "yes"}}, "alerts.email.starttls: 'yes' is not true or false"),
        ({"email": {**GOOD["email"], "username": "u"}}, "username and password_env go together"),
        ({"email": {"port": 25, "to": "d@x"}}, "alerts.email.host: missing (required)"),
        ({"email": None, "webhook": None}, "alerts: needs email, webhook or both"),
    ],
)  # fmt: skip
def test_each_bad_setting_is_one_clear_line(
    apiflag_home: Path, change: dict[str, Any], message: str
) -> None:
    _write_config(apiflag_home, {**GOOD, **change})
    with pytest.raises(ApiflagError) as err:
        alerts.load_settings()
    text = str(err.value)
    assert message in text, text
    assert "\n" not in text and text.startswith(str(apiflag_home / "config.yaml"))


def test_run_refuses_a_bad_alerts_section_before_the_night_starts(
    apiflag_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = tmp_path / "world"
    (world / "nights" / str(NIGHT) / "paxlst").mkdir(parents=True)
    (world / "casedb.sqlite").write_bytes(b"")
    _write_config(apiflag_home, {**GOOD, "attempts": "many"})
    code = _main(["run", "--night", str(NIGHT), "--from", str(world), "--orchestrator", "plain"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        f"apiflag: {apiflag_home / 'config.yaml'}: alerts.attempts: 'many' is not a whole number between 1 and 10"
    ]
    assert not (apiflag_home / "warehouse").exists()  # nothing of the night was started


def test_alerts_test_command_sends_on_every_channel(
    apiflag_home: Path,
    receivers: tuple[MailBox, int, Hook, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    box, port, hook, url = receivers
    _write_config(
        apiflag_home,
        {
            "case_url": CASE_URL,
            "email": {"host": "127.0.0.1", "port": port, "from": "a@test", "to": "duty@test"},
            "webhook": {"url": url},
        },
    )
    assert _main(["alerts", "test"]) == 0
    assert capsys.readouterr().out.splitlines() == ["email: sent", "webhook: sent"]
    assert len(box.messages) == 1 and "flags/TEST" in box.messages[0]
    assert hook.bodies[0]["flag_id"] == "TEST" and hook.bodies[0]["track"] == "test"
    engine = open_engine()
    try:
        tests = [e for e in read_events(engine) if e.action == "alert.test"]
    finally:
        engine.dispose()
    assert [(e.object, e.details["delivered"]) for e in tests] == [
        ("email", True),
        ("webhook", True),
    ]
    # a receiver that refuses: exit 1 and one line naming the channel
    hook.always = 500
    code = _main(["alerts", "test"])
    captured = capsys.readouterr()
    assert code == 1
    assert "webhook: HTTP 500" in captured.out
    assert captured.err.strip() == "apiflag: test alert not delivered by webhook (see above)"


def test_status_lists_deliveries(
    apiflag_home: Path,
    receivers: tuple[MailBox, int, Hook, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _box, _port, _hook, url = receivers
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(days=2))
    alerts.alert_night(
        result.travellers, travellers, flights, str(NIGHT), settings=_settings(None, url), now=NOW
    )
    assert _main(["alerts", "status", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["flag_id"] for r in rows) == sorted(_flag_of(result, t) for t in ("T2", "T3"))
    assert {(r["channel"], r["status"], r["attempts"]) for r in rows} == {("webhook", "sent", 1)}


# ----------------------------------------------------------------------------- the nightly job


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from apiflag.synth.world import WorldConfig, generate_world

    out = tmp_path_factory.mktemp("alerts-world") / "world"
    generate_world(out, WorldConfig(seed=11, nights=1, arrivals=300, history_nights=0))
    return out


def test_nightly_job_alerts_once_per_urgent_flag_however_often_it_reruns(
    apiflag_home: Path,
    world: Path,
    receivers: tuple[MailBox, int, Hook, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apiflag import config, pipeline

    box, port, hook, url = receivers
    night = dt.date(2026, 11, 20)
    # the run happens at midnight before the night: every flight of the night lands within 24 h
    monkeypatch.setattr(alerts, "service_now", lambda: dt.datetime.combine(night, dt.time(0, 0)))
    _write_config(
        apiflag_home,
        {
            "case_url": CASE_URL,
            "within_hours": 24,
            "email": {"host": "127.0.0.1", "port": port, "from": "a@test", "to": ["duty@test"]},
            "webhook": {"url": url},
        },
    )
    casedb = f"sqlite:///{world / 'casedb.sqlite'}"
    first = pipeline.run_night(night, world, casedb, settings=Settings(capacity=10))
    combined = pd.read_parquet(config.warehouse_dir(str(night)) / "combined.parquet")
    queued = combined[combined["queued"]]
    urgent = set(
        queued.loc[
            queued["strong_case_match"] | (queued["minor"] & (queued["track"] == "protection")),
            "flag_id",
        ]
    )
    assert len(urgent) >= 2  # the world plants case persons and minors every night
    assert first.alerts_sent == 2 * len(urgent) and first.alerts_failed == 0
    second = pipeline.run_night(night, world, casedb, settings=Settings(capacity=10))
    assert second.alerts_sent == 0
    assert f"already sent {2 * len(urgent)}" in second.alerts
    assert sorted(b["flag_id"] for b in hook.bodies) == sorted(urgent)
    assert len(box.messages) == len(urgent)
    # no traveller's surname, birth date or document number in any message
    engine = open_engine()
    try:
        with engine.connect() as conn:
            people = conn.execute(
                select(
                    flags_table.c.person_surname,
                    flags_table.c.person_date_of_birth,
                    flags_table.c.person_document_number,
                ).where(flags_table.c.flag_id.in_(sorted(urgent)))
            ).all()
    finally:
        engine.dispose()
    assert len(people) == len(urgent)
    everything = "\n".join(box.messages + hook.raw).upper()
    for surname, dob, document in people:
        for value in (surname, dob, document):
            assert value is None or str(value).upper() not in everything, value


@pytest.mark.postgres
def test_two_runs_at_once_on_postgresql_send_each_alert_once(
    receivers: tuple[MailBox, int, Hook, str],
) -> None:
    import threading

    from queue_helpers import postgres_database

    _box, _port, hook, url = receivers
    result, travellers = _night()
    flights = _flights(NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=3))
    settings = _settings(None, url)
    found, _ = alerts.urgent_alerts(
        result.travellers, travellers, flights, settings, str(NIGHT), NOW
    )
    with postgres_database("apiflag_alerts") as pg:
        engine = open_engine(pg)
        try:
            save_night(engine, result)
            reports: list[alerts.AlertReport] = []
            errors: list[BaseException] = []
            start = threading.Barrier(4)

            def run() -> None:
                start.wait()
                try:
                    reports.append(alerts.send_alerts(engine, found, settings))
                except BaseException as exc:  # the assertion below names it
                    errors.append(exc)

            threads = [threading.Thread(target=run) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == [] and len(reports) == 4
            assert sorted(b["flag_id"] for b in hook.bodies) == sorted(a.flag_id for a in found)
            assert sum(r.sent for r in reports) == len(found) == 4
            assert all(r.failed == [] for r in reports)
            sent = [e for e in read_events(engine) if e.action == "alert.sent"]
            assert len(sent) == 4 and verify(engine) is None
        finally:
            engine.dispose()
