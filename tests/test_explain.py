from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import pytest

from apiflag import explain as ex
from apiflag.queue import store
from queue_helpers import run_cli, saved_small_night


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFLAG_USER", "auditor-tests")


def _flag_of(result, traveller_id: str) -> str:
    return next(f.flag_id for f in result.flags if f.traveller_id == traveller_id)


def test_json_contract_and_exact_sum(capsys) -> None:
    result = saved_small_night()
    for flag in result.flags:
        code, out, err = run_cli(["explain", flag.flag_id, "--format", "json"], capsys)
        assert code == 0, err
        exp = json.loads(out)
        assert {"contributions", "total", "probability", "versions", "inputs"} <= set(exp)
        assert set(exp["versions"]) == {
            "rules_digest",
            "model_uri",
            "model_version",
            "matcher",
            "parser",
        }
        for row in exp["contributions"]:
            assert {"source", "column", "source_id", "weight", "sentence", "observed"} <= set(row)
        # each column sums exactly to its own total; columns are never added together
        for column, total in exp["totals"].items():
            parts = [
                r["weight"]
                for r in exp["contributions"]
                if r["source"] != "total" and r["column"] == column
            ]
            assert math.fsum(parts) == total
        assert exp["totals"]["policy"] == exp["total"] == flag.total
        assert exp["totals"]["outcome"] == flag.outcome_log_odds
        assert exp["totals"].get("identity") is None or flag.match_probability is not None
        assert exp["sum_check"]["exact"] is True
        assert exp["probability"] == flag.probability
        assert exp["match_probability"] == flag.match_probability
        assert exp["inputs"] == list(flag.input_messages)


def test_text_reads_like_a_case_file(capsys) -> None:
    result = saved_small_night()
    code, out, _ = run_cli(["explain", _flag_of(result, "T7")], capsys)
    assert code == 0
    fired = out.index("What fired")
    against = out.index("What speaks against it")
    assert fired < against
    assert "R-201@1" in out[fired:against] and "why it matters: Recruiters" in out
    # the exonerating conditions of the fired rules, and the negative model contribution
    assert "the payer has the same surname (family pays)" in out[against:]
    assert "feature:booking.lead_days" in out[against:]
    assert "REYES, JOSEFA" in out
    assert "(exact)" in out
    assert "models:/apiflag-scorecard@champion v3" in out
    # the policy weight and the fitted contribution of a rule sit side by side
    assert "policy  fitted identity" in out
    assert "Policy score +2.80" in out and "Outcome probability" in out


def test_case_match_explanation_names_the_case_and_fields(capsys) -> None:
    result = saved_small_night()
    code, out, _ = run_cli(["explain", _flag_of(result, "T4")], capsys)
    assert code == 0
    assert "case:C-2/date_of_birth" in out and "perpetrator record P-4" in out
    assert "case:C-2/nationality" in out[out.index("What speaks against it") :]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escapes_values(capsys, tmp_path) -> None:
    result = saved_small_night()
    fid = _flag_of(result, "T1")
    engine = store.open_engine()
    with engine.begin() as conn:
        conn.execute(
            store.contributions.update()
            .where(store.contributions.c.flag_id == fid, store.contributions.c.ord == 1)
            .values(observed="<script>alert(1)</script>")
        )
    out_file = tmp_path / "case.html"
    code, out, _ = run_cli(["explain", fid, "--format", "html", "--out", str(out_file)], capsys)
    assert code == 0 and out.strip() == f"wrote {out_file}"
    html = out_file.read_text()
    parser = _Collect()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "&lt;script&gt;" in html
    assert "What speaks against it" in html and "TANAKA" in html


def test_redacted_explanation_has_no_personal_data(capsys) -> None:
    result = saved_small_night()
    fid = _flag_of(result, "T1")
    code, out, _ = run_cli(["explain", fid, "--format", "json", "--redact"], capsys)
    assert code == 0
    assert "TANAKA" not in out and "+819011112222" not in out and "P1000" not in out
    exp = json.loads(out)
    assert exp["redacted"] is True and exp["sum_check"]["exact"] is True


def test_every_explanation_is_audited() -> None:
    result = saved_small_night()
    engine = store.open_engine()
    fid = result.flags[0].flag_id
    ex.explanation(engine, fid, actor="inspector-9")
    from sqlalchemy import select

    from apiflag.audit import audit_events

    with engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert (last.actor, last.action, last.object) == ("inspector-9", "flag.explain", fid)


def test_no_model_says_so(capsys) -> None:
    from queue_helpers import small_night

    result = small_night().without_model().combine()
    engine = store.open_engine()
    store.save_night(engine, result)
    exp = ex.explanation(engine, result.flags[0].flag_id, actor="a")
    text = ex.render_text(exp)
    # by design (issue 12): no champion, no probability at all, and the ranking says so
    assert "model none applied" in text and "ranked by policy weights alone" in text
    assert "Outcome probability: none shown" in text
    assert exp["probability"] is None and "outcome" not in exp["totals"]
    assert "policy weights alone" in exp["ranked_by"]


def test_base_rates_and_calibration_are_not_evidence(capsys) -> None:
    result = saved_small_night()
    code, out, _ = run_cli(["explain", _flag_of(result, "T4")], capsys)
    assert code == 0
    start, fired = out.index("Starting point"), out.index("What fired")
    against = out.index("What speaks against it")
    assert "case:C-2/prior" in out[start:fired] and "model:calibration" in out[start:fired]
    assert "case:C-2/prior" not in out[against:]
    assert "model:intercept" not in out[fired:]


def test_tiny_model_rows_are_folded_in_text_but_kept_in_json(capsys) -> None:
    from queue_helpers import small_night

    night = small_night()
    mc = night.model_contributions
    night.model_contributions = mc.assign(
        weight=mc["weight"].where(mc["feature"] != "booking.lead_days", 0.01)
    )
    result = night.combine()
    engine = store.open_engine()
    store.save_night(engine, result)
    fid = _flag_of(result, "T1")
    exp = ex.explanation(engine, fid, actor="a")
    assert "feature:booking.lead_days" in {r["source_id"] for r in exp["contributions"]}
    text = ex.render_text(exp)
    assert "+0.01  1 more model features, each under 0.05 in size: booking.lead_days" in text
    assert "[feature:booking.lead_days]" not in text
    assert "1 more model\nfeatures" in ex.render_html(exp)
