from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from apiflag.audit import audit_events
from apiflag.queue import store
from queue_helpers import NIGHT, run_cli, saved_small_night


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFLAG_USER", "analyst-tests")


def _flag_of(result, traveller_id: str) -> str:
    return next(f.flag_id for f in result.flags if f.traveller_id == traveller_id)


def _audit_actions() -> list[tuple[str, str, str]]:
    engine = store.open_engine()
    with engine.connect() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    engine.dispose()
    return [(r.actor, r.action, r.object) for r in rows]


def test_list_json_items_have_the_documented_shape(capsys) -> None:
    result = saved_small_night()
    code, out, err = run_cli(
        ["queue", "list", "--night", NIGHT.isoformat(), "--format", "json"], capsys
    )
    assert code == 0, err
    items = json.loads(out)
    assert [i["flag_id"] for i in items] == [f.flag_id for f in result.flags]
    first = items[0]
    assert set(first) == {
        "flag_id",
        "night",
        "track",
        "priority",
        "policy_score",
        "probability",
        "match_probability",
        "model_version",
        "status",
        "traveller",
    }
    t3 = next(i for i in items if i["flag_id"] == _flag_of(result, "T3"))
    assert t3["traveller"] == {"surname": "NGUYEN", "given_names": "THI LAN", "flight": "PR428"}
    assert ("analyst-tests", "queue.list", "queue") in _audit_actions()


def test_list_text_and_status_filter(capsys) -> None:
    result = saved_small_night()
    code, out, _ = run_cli(["queue", "list"], capsys)
    # the ranking note, the header, one line per flag
    assert code == 0 and out.count("\n") == len(result.flags) + 2
    assert out.startswith("ranked by policy score (rule weights); prob = outcome probability")
    assert "NGUYEN, THI LAN (PR428)" in out
    code, out, _ = run_cli(["queue", "list", "--status", "cleared"], capsys)
    assert (code, out.strip()) == (0, "no flags")


def test_decide_then_reopen_then_decide(capsys) -> None:
    fid = saved_small_night().flags[0].flag_id
    code, out, err = run_cli(
        ["queue", "decide", fid, "--outcome", "victim_support", "--reason", "former_victim_return",
         "--analyst", "sato", "--note", "interpreter booked"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"{fid}: victim_support (former_victim_return) by sato" in out
    code, _, err = run_cli(
        [
            "queue",
            "decide",
            fid,
            "--outcome",
            "cleared",
            "--reason",
            "data_error",
            "--analyst",
            "x",
        ],
        capsys,
    )
    assert code == 1 and "already decided" in err and err.count("\n") == 1
    code, out, err = run_cli(
        ["queue", "reopen", fid, "--reason", "supervisor_review", "--analyst", "suzuki"], capsys
    )
    assert code == 0, err
    code, out, err = run_cli(
        ["queue", "decide", fid, "--outcome", "hearing", "--reason", "document_doubt", "--analyst", "sato"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    actions = [(a, act) for a, act, o in _audit_actions() if o == fid and act != "queue.insert"]
    assert actions == [
        ("sato", "queue.decide"),
        ("suzuki", "queue.reopen"),
        ("sato", "queue.decide"),
    ]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--outcome", "deport", "--reason", "data_error"],
         1, "unknown outcome 'deport': allowed outcomes are hearing, victim_support, cleared"),
        (["--outcome", "cleared", "--reason", "fine"],
         1, "unknown reason 'fine' for cleared: allowed reasons are family_or_known_relation, "
            "legitimate_purpose, different_person, data_error, no_indicators_on_review"),
    ],
)  # fmt: skip
def test_decide_errors_are_one_line_listing_allowed_values(
    capsys, args: list[str], code: int, message: str
) -> None:
    fid = saved_small_night().flags[0].flag_id
    got, out, err = run_cli(["queue", "decide", fid, *args, "--analyst", "sato"], capsys)
    assert got == code
    assert err == f"apiflag: {message}\n"
    assert out == ""


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["queue", "show", "F20261127-0000000000000000"], 1, "no flag 'F20261127-0000000000000000'"),
        (["queue", "list", "--status", "waiting"], 1, "unknown status 'waiting': allowed are new"),
        (["queue", "list", "--night", "27/11/2026"], 2, "--night '27/11/2026': expected YYYY-MM-DD"),
        (["queue", "list", "--format", "xml"], 2, "--format 'xml': allowed are text, json"),
        (["explain", "F-x", "--format", "pdf"], 2, "allowed are text, json, html"),
        (["queue", "reopen", "F-x", "--reason", "because", "--analyst", "a"], 1,
         "unknown reason 'because' for reopen"),
    ],
)  # fmt: skip
def test_user_mistakes_are_one_line(capsys, args: list[str], code: int, fragment: str) -> None:
    saved_small_night()
    got, _, err = run_cli(args, capsys)
    assert got == code
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_show_is_audited_as_a_view(capsys) -> None:
    fid = _flag_of(saved_small_night(), "T3")
    code, out, _ = run_cli(["queue", "show", fid], capsys)
    assert code == 0 and "NGUYEN, THI LAN" in out and "born 1995-07-09" in out
    assert ("analyst-tests", "flag.view", fid) in _audit_actions()


def test_audit_verify_intact_then_tampered(capsys, apiflag_home) -> None:
    saved_small_night()
    code, out, _ = run_cli(["audit", "verify"], capsys)
    assert code == 0 and out.startswith("audit chain intact:")
    engine = store.open_engine()
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(
            audit_events.update()
            .where(audit_events.c.seq == 2)
            .values(details=json.dumps({"track": "cleared"}))
        )
    engine.dispose()
    code, out, err = run_cli(["audit", "verify"], capsys)
    assert code == 1
    assert err.startswith("apiflag: audit chain broken at event 2 (queue.insert F20261127-")
    assert "hash does not match" in err and err.count("\n") == 1


def test_reasons_table_lists_every_outcome(capsys) -> None:
    code, out, _ = run_cli(["queue", "reasons"], capsys)
    assert code == 0
    for outcome in ("hearing", "victim_support", "cleared", "reopen"):
        assert f"| {outcome} |" in out


def test_review_takes_a_new_flag_once(capsys) -> None:
    fid = _flag_of(saved_small_night(), "T5")
    code, out, _ = run_cli(["queue", "review", fid, "--analyst", "kato"], capsys)
    assert (code, out.strip()) == (0, f"{fid}: in_review by kato")
    code, out, _ = run_cli(["queue", "list", "--status", "in_review", "--format", "json"], capsys)
    assert [i["flag_id"] for i in json.loads(out)] == [fid]
    code, _, err = run_cli(["queue", "review", fid, "--analyst", "kato"], capsys)
    assert code == 1 and "is in_review, not new" in err


def test_auditor_sees_pseudonyms_and_may_not_decide(capsys, monkeypatch) -> None:
    result = saved_small_night()
    fid = _flag_of(result, "T3")
    monkeypatch.setenv("APIFLAG_ROLE", "auditor")
    code, out, err = run_cli(["queue", "list", "--format", "json"], capsys)
    assert code == 0, err
    t3 = next(i for i in json.loads(out) if i["flag_id"] == fid)
    assert t3["traveller"]["surname"].startswith("PSN:") and t3["traveller"]["flight"] == "PR428"
    code, out, _ = run_cli(["explain", fid, "--format", "json"], capsys)
    assert code == 0 and "NGUYEN" not in out and "1995-07-09" not in out
    assert json.loads(out)["sum_check"]["exact"] is True
    code, _, err = run_cli(
        [
            "queue",
            "decide",
            fid,
            "--outcome",
            "cleared",
            "--reason",
            "data_error",
            "--analyst",
            "x",
        ],
        capsys,
    )
    assert code == 1 and err.startswith("apiflag: role auditor: may not queue.decide")
    assert run_cli(["audit", "verify"], capsys)[0] == 0
    views = [a for a in _audit_actions() if a[1] in ("queue.list", "flag.explain")]
    assert len(views) == 2


def test_model_owner_never_lists_the_queue(capsys, monkeypatch) -> None:
    saved_small_night()
    monkeypatch.setenv("APIFLAG_ROLE", "model_owner")
    code, out, err = run_cli(["queue", "list"], capsys)
    assert code == 1 and "role model_owner: may not queue.list" in err and out == ""


def test_auditor_replays_who_did_what_to_a_flag(capsys, monkeypatch) -> None:
    fid = _flag_of(saved_small_night(), "T5")
    run_cli(
        ["queue", "decide", fid, "--outcome", "hearing", "--reason", "document_doubt", "--analyst", "sato"],
        capsys,
    )  # fmt: skip
    code, _, err = run_cli(["audit", "log"], capsys)
    assert code == 1 and "role analyst: may not audit.view" in err
    monkeypatch.setenv("APIFLAG_ROLE", "auditor")
    code, out, err = run_cli(["audit", "log", "--object", fid, "--format", "json"], capsys)
    assert code == 0, err
    events = json.loads(out)
    assert [(e["actor"], e["action"]) for e in events] == [
        ("apiflag-nightly", "queue.insert"),
        ("sato", "queue.decide"),
    ]
    assert events[1]["details"]["reason"] == "document_doubt"
    code, out, _ = run_cli(["audit", "log", "--action", "queue", "--limit", "2"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and "queue.decide" in lines[-1]
