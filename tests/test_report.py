from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from apiflag.audit import append_event, check_chain
from apiflag.queue import store
from apiflag.report import build_report, fairness_table
from queue_helpers import CAST, NIGHT, random_night, small_night


def _skewed_night():
    """Every THA arrival gets a rule hit; others at the base hit rate."""
    night = random_night(1500, seed=11, hit_rate=0.03)
    tha = night.travellers.loc[night.travellers["nationality"] == "THA", "traveller_id"]
    extra = pd.DataFrame(
        {
            "traveller_id": tha,
            "rule_id": "R-999",
            "rule_version": 1,
            "ref": "",
            "track": "examination",
            "weight": 0.5,
            "observed": "{}",
        }
    )
    night.rule_hits = pd.concat([night.rule_hits, extra], ignore_index=True)
    return night


def test_report_file_is_self_contained_and_counts_add_up(apiflag_home) -> None:
    night = small_night()
    result = night.combine(capacity=2)
    quarantine = pd.DataFrame(
        {"file": ["a.edi", "b.edi"], "message_sha256": ["0" * 64] * 2,
         "code": ["E_UNB_MISSING", "E_UNB_MISSING"], "segment": [0, 0], "message": ["x", "y"]}
    )  # fmt: skip
    engine = store.open_engine()
    saved = store.save_night(engine, result)
    path, markdown = build_report(
        NIGHT,
        result,
        night.travellers,
        rule_hits=night.rule_hits,
        quarantine=quarantine,
        saved={"inserted": saved.inserted, "kept": saved.kept},
        audit_head=check_chain(engine),
    )
    assert path == apiflag_home / "reports" / "2026-11-27.html"
    html = path.read_text()
    # self-contained: no external resources, the plot is an inline PNG
    assert not re.search(r'(src|href)="(?!data:)', html)
    png = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert png and base64.b64decode(png.group(1)).startswith(b"\x89PNG")
    assert not list(path.parent.glob("*.tmp"))
    row = markdown.split("\n")[4]
    assert (
        row
        == f"| 9 | 9 | 2 | {int(result.travellers['flagged'].sum())} | {len(result.flags)} | {result.overflow} |"
    )
    assert "protection 4/3" in markdown and "`R-101@1` 3" in markdown
    assert "E_UNB_MISSING x2" in markdown and "E_UNB_MISSING x2" in html
    assert "models:/apiflag-scorecard@champion version 3" in markdown
    assert "intact, head" in markdown and check_chain(engine).head_hash in html


def test_report_holds_no_personal_data() -> None:
    night = small_night()
    result = night.combine()
    path, markdown = build_report(NIGHT, result, night.travellers, rule_hits=night.rule_hits)
    html = path.read_text()
    assert "data:image/png;base64," in html
    for _tid, surname, given, _sex, dob, _nat, _fl in CAST:
        for value in (surname, given, dob):
            if value:
                assert value not in html and value not in markdown
    assert "P1000" not in html and "+819011112222" not in html


def test_without_model_the_report_says_so() -> None:
    night = small_night().without_model()
    _, markdown = build_report(NIGHT, night.combine(), night.travellers, plot=False)
    assert "**Model:** no model applied" in markdown
    assert "no champion model" in markdown
    assert "ranked by policy weights alone and no outcome probability is shown" in markdown


def test_with_a_model_the_report_says_how_the_queue_is_ranked() -> None:
    night = small_night()
    _, markdown = build_report(NIGHT, night.combine(), night.travellers, plot=False)
    assert "queue ranked by policy weights; outcome probability from" in markdown
    assert "policy weights alone" not in markdown


def test_fairness_monitor_names_groups_over_twice_the_overall_rate() -> None:
    night = _skewed_night()
    result = night.combine()
    rows = fairness_table(result.travellers)
    tha = next(r for r in rows if r.attribute == "nationality" and r.group == "THA")
    jpn = next(r for r in rows if r.attribute == "nationality" and r.group == "JPN")
    assert tha.over_twice and not jpn.over_twice
    assert tha.rate == 1.0
    path, markdown = build_report(
        NIGHT, result, night.travellers, rule_hits=night.rule_hits, plot=False
    )
    assert "nationality THA" in markdown.split("**Fairness:**")[1]
    assert "nationality JPN" not in markdown
    assert "Flagged at more than twice the overall rate" in path.read_text()


def test_fairness_rates_are_counted_per_group() -> None:
    combined = pd.DataFrame(
        {
            "traveller_id": [f"t{i}" for i in range(8)],
            "flagged": [True, False, False, False, True, True, False, False],
            "queued": [True, False, False, False, False, True, False, False],
            "nationality": ["AAA"] * 4 + ["BBB"] * 4,
            "sex": ["F", "M"] * 4,
            "age_band": ["<18"] * 2 + ["18-29"] * 6,
        }
    )
    rows = {(r.attribute, r.group): r for r in fairness_table(combined)}
    assert (rows["nationality", "AAA"].flagged, rows["nationality", "AAA"].arrivals) == (1, 4)
    assert rows["nationality", "BBB"].rate == 0.5
    assert rows["nationality", "BBB"].ratio == pytest.approx(0.5 / (3 / 8))
    assert rows["age_band", "<18"].queued == 1 and rows["age_band", "<18"].small


def test_monitoring_columns_of_the_feature_table_take_precedence() -> None:
    combined = pd.DataFrame(
        {
            "traveller_id": ["a", "b"],
            "flagged": [True, False],
            "queued": [True, False],
            "nationality": ["AAA", "AAA"],
            "sex": ["F", "F"],
            "age_band": ["18-29", "18-29"],
        }
    )
    monitoring = pd.DataFrame({"traveller_id": ["a", "b"], "traveller.sex": ["M", "F"]})
    rows = {(r.attribute, r.group): r for r in fairness_table(combined, monitoring)}
    assert rows["sex", "M"].flagged == 1 and rows["sex", "F"].flagged == 0


def test_broken_audit_chain_is_reported() -> None:
    engine = store.open_engine()
    append_event(engine, "a", "x", "y")
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET actor = 'b'"))
    night = small_night()
    _, markdown = build_report(
        NIGHT, night.combine(), night.travellers, audit_head=check_chain(engine), plot=False
    )
    assert "BROKEN at event 1" in markdown


def test_unlinked_passengers_are_noted_but_crew_are_not() -> None:
    night = small_night()
    tv = night.travellers.copy()
    tv.loc[tv["traveller_id"] == "T6", "role"] = "crew"
    tv.loc[tv["traveller_id"].isin(["T6", "T8"]), "pnr_traveller_id"] = None
    _, markdown = build_report(NIGHT, night.combine(), tv, plot=False)
    assert "- 1 of 8 passengers (12.5%) have no linked PNR" in markdown
