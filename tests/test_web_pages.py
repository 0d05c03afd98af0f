"""The desk's pages over the hand-made night: queue filters, case file, decisions, audit, stats."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from apiflag.audit import read_events
from apiflag.queue import store
from apiflag.web.app import create_app
from apiflag.web.views import PAGE_SIZE, paginate
from queue_helpers import NIGHT, random_night
from web_helpers import NOW, SECRET, build_template, cheap_hashes, copy_world, sign_in


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("desk"))


@pytest.fixture()
def engine(template: Path, apiflag_home: Path) -> Iterator[Engine]:
    with cheap_hashes():
        yield copy_world(template, apiflag_home)


@pytest.fixture()
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(secret=SECRET, now=lambda: NOW)) as c:
        yield c


def _rows(html: str) -> list[str]:
    body = html.split('<table class="list" id="queue">')[1].split("</table>")[0]
    return re.findall(r'href="/flags/([^"]+)"', body)


def test_queue_is_sorted_by_priority_and_filters_narrow_it(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "ana")
    items = store.list_flags(engine, NIGHT)
    page = client.get("/queue").text
    assert _rows(page) == [i["flag_id"] for i in sorted(items, key=lambda i: i["priority"])]
    by_track = {i["track"] for i in items}
    for track in by_track:
        shown = _rows(client.get(f"/queue?track={track}").text)
        assert shown and shown == [i["flag_id"] for i in items if i["track"] == track]
    fl1 = [i["flag_id"] for i in items if i["traveller"]["flight"] == "PR428"]
    assert fl1 and _rows(client.get("/queue?flight=pr428").text) == fl1
    # FL1 lands at NRT, FL2 at KIX (web_helpers)
    assert _rows(client.get("/queue?airport=NRT").text) == fl1
    assert set(_rows(client.get("/queue?airport=KIX").text)) == {i["flag_id"] for i in items} - set(
        fl1
    )
    assert _rows(client.get("/queue?status=cleared").text) == []
    assert _rows(client.get("/queue?night=2026-01-01").text) == []
    assert client.get("/queue?night=yesterday").status_code == 400


def test_queue_shows_capacity_overflow_and_undecided_before_landing(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "ana")
    page = re.sub(r"\s+", " ", client.get("/queue").text)
    run = store.list_flags(engine, NIGHT)
    assert "<b>5</b> capacity" in page
    assert f"<b>{len(run)}</b> undecided" in page
    fl1 = [i for i in run if i["traveller"]["flight"] == "PR428"]
    assert f"<b>{len(fl1)}</b> undecided on flights not yet landed" in page
    assert "in 3.5 h" in page and "landed" in page  # FL1 lands 09:30, NOW is 06:00


def test_case_file_shows_chart_exonerating_conditions_versions_and_inputs(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "ana")
    item = next(i for i in store.list_flags(engine, NIGHT) if i["traveller"]["surname"] == "REYES")
    page = client.get(f"/flags/{item['flag_id']}").text
    view = store.get_flag(engine, item["flag_id"], actor="tests")
    parts = [c for c in view["contributions"] if c["source"] != "total"]
    assert page.count('class="bar-pos"') + page.count('class="bar-neg"') == len(parts)
    assert "the payer has the same surname (family pays)" in page
    assert view["flag"]["rules_digest"] in page
    assert all(h in page for h in view["flag"]["input_messages"])
    assert "REYES" in page and "P1006" in page  # the analyst sees the identity
    # the three figures, each under its own meaning, and each column's exact sum
    assert "policy score <b>" in page and "outcome probability <b>" in page
    assert "policy column: total" in page and "outcome column: total" in page
    assert "MISMATCH" not in page


def test_decision_form_records_and_a_decided_flag_needs_reopening(
    client: TestClient, engine: Engine
) -> None:
    csrf = sign_in(client, "ana")
    flag = store.list_flags(engine, NIGHT)[0]["flag_id"]
    done = client.post(
        f"/flags/{flag}/decide",
        data={"csrf": csrf, "decision": "cleared/legitimate_purpose", "seen": "0", "note": "ok"},
    )
    assert done.status_code == 200 and 'id="done"' in done.text
    history = store.get_flag(engine, flag, actor="tests")["history"]
    assert [(h["to"], h["reason"], h["analyst"]) for h in history] == [
        ("cleared", "legitimate_purpose", "ana")
    ]
    assert 'id="reopen-form"' in done.text and 'id="decide-form"' not in done.text
    again = client.post(
        f"/flags/{flag}/decide",
        data={"csrf": csrf, "decision": "hearing/document_doubt", "seen": "1"},
    )
    assert again.status_code == 409 and "re-open it first" in again.text
    reopened = client.post(
        f"/flags/{flag}/reopen", data={"csrf": csrf, "reason": "decision_error", "seen": "1"}
    )
    assert reopened.status_code == 200
    assert store.list_flags(engine, NIGHT)[0]["status"] == "in_review"
    bad = client.post(
        f"/flags/{flag}/decide", data={"csrf": csrf, "decision": "deport/x", "seen": "2"}
    )
    assert bad.status_code == 409 and "deport" in bad.text


def test_two_analysts_deciding_at_once_one_wins_the_other_is_told(
    engine: Engine,
) -> None:
    app = create_app(secret=SECRET, now=lambda: NOW)
    with TestClient(app) as first, TestClient(app) as second:
        csrf_a, csrf_b = sign_in(first, "ana"), sign_in(second, "ben")
        flag = store.list_flags(engine, NIGHT)[0]["flag_id"]
        seen_a = re.search(r'name="seen" value="(\d+)"', first.get(f"/flags/{flag}").text)
        seen_b = re.search(r'name="seen" value="(\d+)"', second.get(f"/flags/{flag}").text)
        assert seen_a and seen_b
        won = first.post(
            f"/flags/{flag}/decide",
            data={"csrf": csrf_a, "decision": "hearing/document_doubt", "seen": seen_a.group(1)},
        )
        lost = second.post(
            f"/flags/{flag}/decide",
            data={"csrf": csrf_b, "decision": "cleared/data_error", "seen": seen_b.group(1)},
        )
    assert won.status_code == 200 and lost.status_code == 409
    assert "changed since you opened it" in lost.text
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(store.dispositions)
            .where(store.dispositions.c.flag_id == flag)
        ).scalar_one()
    assert n == 1
    assert [e.actor for e in read_events(engine, object=flag, action="queue.decide")] == ["ana"]


def test_auditor_reads_pseudonyms_and_supervisor_holds(client: TestClient, engine: Engine) -> None:
    csrf = sign_in(client, "sue")
    flag = next(i for i in store.list_flags(engine, NIGHT) if i["traveller"]["surname"] == "REYES")
    fid = flag["flag_id"]
    client.post(
        f"/flags/{fid}/decide",
        data={"csrf": csrf, "decision": "victim_support/victim_indicators", "seen": "0"},
    )
    held = client.post(f"/flags/{fid}/hold", data={"csrf": csrf, "case_ref": "CASE-7"})
    assert held.status_code == 200
    assert [e.details["case_ref"] for e in read_events(engine, action="retention.hold")] == [
        "CASE-7"
    ]
    sign_in(client, "aud")
    page = client.get(f"/flags/{fid}").text
    assert "REYES" not in page and re.search(r"PSN:name:[0-9a-f]{16}", page)
    assert 'id="decide-form"' not in page


def test_audit_log_pages_filters_and_verifies_the_chain(
    client: TestClient, engine: Engine, apiflag_home: Path
) -> None:
    sign_in(client, "aud")
    total = len(read_events(engine))
    first = client.get("/audit").text
    shown = re.search(r"(\d+) rows", first)
    assert shown and int(shown.group(1)) == total
    assert "Chain intact" in client.get("/audit/verify").text
    only = client.get("/audit?action=account.add").text
    assert only.count("account.add") >= 5 and "queue.insert" not in only
    with sqlite3.connect(apiflag_home / "apiflag.db") as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    broken = client.get("/audit/verify").text
    assert "Chain broken at event 3" in broken


def test_pages_for_oversight_render(client: TestClient, engine: Engine) -> None:
    sign_in(client, "sue")
    assert "No report yet" in client.get("/reports").text
    assert client.get("/reports/2026-11-27").status_code == 404
    assert client.get("/reports/..%2Fapiflag.db").status_code in (400, 404)
    assert "No model registered yet" in client.get("/models").text
    stats = client.get("/stats?from=2026-11-01&to=2026-11-30").text
    assert "track" in stats and "&lt;5" in stats
    assert client.get("/stats?from=2026-12-01&to=2026-11-01").status_code == 400


def test_long_tables_are_paginated(engine: Engine) -> None:
    store.save_night(engine, random_night(1500, seed=3).combine(capacity=60))
    app = create_app(secret=SECRET, now=lambda: NOW)
    with TestClient(app) as c:
        sign_in(c, "ana")
        night = store.list_flags(engine)[0]["night"]
        everything = [i["flag_id"] for i in store.list_flags(engine, None) if i["night"] == night]
        assert len(everything) > PAGE_SIZE
        seen: list[str] = []
        for number in range(1, paginate(everything, 1).pages + 1):
            seen += _rows(c.get(f"/queue?night={night}&page={number}").text)
        assert seen == everything
        assert 'rel="next"' in c.get(f"/queue?night={night}").text


def test_linked_travellers_by_booking_document_phone_and_payer(apiflag_home: Path) -> None:
    import pandas as pd

    from apiflag import config
    from apiflag.web import views

    folder = config.warehouse_dir("2026-11-28")
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "traveller_id": ["A", "B", "C", "D", "E", "F"],
            "surname": ["AA", "BB", "CC", "DD", "EE", "FF"],
            "given_names": "X",
            "flight_id": "FL1",
            "booking_id": ["B1", "B1", "B2", "B3", "B4", "B5"],
            "document_number": ["D1", "D2", "D1", "D4", None, "D6"],
        }
    ).to_parquet(folder / "travellers.parquet")
    pd.DataFrame(
        {
            "booking_id": ["B1", "B3", "B5", "B4"],
            "kind": ["phone", "phone", "phone", "email"],
            "normalized": ["+8190", "+8190", "+8199", "+8190"],
        }
    ).to_parquet(folder / "booking_contacts.parquet")
    pd.DataFrame(
        {"booking_id": ["B1", "B4", "B5"], "payer_name": ["BROKER", "BROKER", None]}
    ).to_parquet(folder / "payments.parquet")
    found = {r["traveller_id"]: r["links"] for r in views.linked_travellers("2026-11-28", "A")}
    assert found == {"B": ["booking"], "C": ["document"], "D": ["phone"], "E": ["payer"]}
    assert views.linked_travellers("2026-11-28", "F") == []
    assert views.linked_travellers("2026-11-28", "nobody") == []


def test_case_file_says_which_fields_the_feed_could_not_be_read_in(
    client: TestClient, engine: Engine
) -> None:
    sign_in(client, "ana")
    item = next(i for i in store.list_flags(engine, NIGHT) if i["traveller"]["surname"] == "REYES")
    page = client.get(f"/flags/{item['flag_id']}").text
    assert "Could not be read in the feed" not in page
    with engine.begin() as conn:
        conn.execute(
            store.flags.update()
            .where(store.flags.c.flag_id == item["flag_id"])
            .values(degraded='["date_of_birth"]')
        )
    page = client.get(f"/flags/{item['flag_id']}").text
    assert (
        "Could not be read in the feed: birth date could not be read: age unknown "
        "(may be a minor), check the document in person" in page
    )
