from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiflag.errors import ApiflagError
from apiflag.queue.combine import CombineSettings, flag_id_for, sigmoid
from queue_helpers import EXPECTED_TRACKS, NIGHT, random_night, small_night


def _by_traveller(result):
    return result.travellers.set_index("traveller_id")


@pytest.mark.parametrize("traveller, track", sorted(EXPECTED_TRACKS.items()))
def test_each_traveller_gets_the_expected_track(traveller: str, track: str | None) -> None:
    row = _by_traveller(small_night().combine()).loc[traveller]
    assert (row["track"] if row["flagged"] else None) == track


def test_victim_match_is_protection_even_with_examination_rules() -> None:
    night = small_night()
    extra = pd.DataFrame(
        [("T3", "R-101", 1, "", "examination", 5.0, "{}")], columns=night.rule_hits.columns
    )
    night.rule_hits = pd.concat([night.rule_hits, extra], ignore_index=True)
    row = _by_traveller(night.combine()).loc["T3"]
    assert row["track"] == "protection"


@pytest.mark.parametrize("rule_track", ["examination", "document_integrity", "protection"])
def test_any_rule_on_a_minor_gives_protection(rule_track: str) -> None:
    night = small_night()
    night.rule_hits = pd.DataFrame(
        [("T2", "R-9", 1, "", rule_track, 3.0, "{}")], columns=night.rule_hits.columns
    )
    assert _by_traveller(night.combine()).loc["T2", "track"] == "protection"


def test_adult_with_same_rule_keeps_examination() -> None:
    night = small_night()
    night.rule_hits = pd.DataFrame(
        [("T1", "R-9", 1, "", "examination", 3.0, "{}")], columns=night.rule_hits.columns
    )
    assert _by_traveller(night.combine()).loc["T1", "track"] == "examination"


def test_minor_is_decided_by_age_on_the_night() -> None:
    night = small_night()
    night.travellers.loc[night.travellers["traveller_id"] == "T1", "date_of_birth"] = NIGHT.replace(
        year=NIGHT.year - 18
    )
    assert not _by_traveller(night.combine()).loc["T1", "minor"]
    night.travellers.loc[night.travellers["traveller_id"] == "T1", "date_of_birth"] = NIGHT.replace(
        year=NIGHT.year - 18, day=NIGHT.day + 1
    )
    row = _by_traveller(night.combine()).loc["T1"]
    assert row["minor"] and row["track"] == "protection"


def test_capacity_caps_the_queue_but_keeps_every_strong_case_match() -> None:
    result = small_night().combine(capacity=1)
    queued = set(result.travellers.loc[result.travellers["queued"], "traveller_id"])
    # T3, T4, T9 are matches >= 0.8; of T1, T2, T5, T7 only the best total (T7) fits
    assert queued == {"T3", "T4", "T9", "T7"}
    assert result.overflow == 3
    assert [f.priority for f in result.flags] == [1, 2, 3, 4]
    assert len(result.flags) == 4


def test_overflow_counts_what_capacity_left_out() -> None:
    night = random_night(3000, seed=5)
    result = night.combine(capacity=50)
    tv = result.travellers
    n_strong = int((tv["case_match_probability"] >= 0.8).sum())
    assert len(result.flags) == 50 + n_strong
    assert result.overflow == int(tv["flagged"].sum()) - len(result.flags)
    assert result.overflow > 0
    # the queue holds the best totals among the non-match flags
    rest = tv.loc[tv["flagged"] & ~(tv["case_match_probability"] >= 0.8)]
    worst_queued = rest.loc[rest["queued"], "total"].min()
    best_left = rest.loc[~rest["queued"], "total"].max()
    assert worst_queued >= best_left


def test_priorities_follow_total() -> None:
    result = small_night().combine()
    totals = [f.total for f in result.flags]
    assert totals == sorted(totals, reverse=True)
    assert [f.priority for f in result.flags] == list(range(1, len(result.flags) + 1))


def test_model_alone_never_flags() -> None:
    night = small_night()
    night.scores.loc[night.scores["traveller_id"] == "T6", "log_odds"] = 9.0
    assert not _by_traveller(night.combine()).loc["T6", "flagged"]


def test_rerun_gives_the_same_flag_ids_and_scores() -> None:
    a = small_night().combine()
    b = small_night().combine()
    assert [f.model_dump() for f in a.flags] == [f.model_dump() for f in b.flags]


def test_flag_id_ignores_case_and_spacing_but_not_track() -> None:
    key = ("PR", "428", "Santos", "maria  ", "2012-05-01", "P1")
    same = ("PR", "428", "SANTOS", "MARIA", "2012-05-01", "P1")
    assert flag_id_for(NIGHT, key, "protection") == flag_id_for(NIGHT, same, "protection")
    assert flag_id_for(NIGHT, key, "protection") != flag_id_for(NIGHT, key, "examination")
    assert flag_id_for(NIGHT, key, "protection").startswith("F20261127-")


def test_without_model_no_probability_is_shown_and_policy_ranks_alone() -> None:
    # by design (issue 12): no champion, no fitted probability; no base rate is made up
    result = small_night().without_model().combine()
    assert result.model_uri is None and result.model_version is None
    assert result.flags and all(f.probability is None for f in result.flags)
    assert all(f.outcome_log_odds is None for f in result.flags)
    assert result.travellers["probability"].isna().all()
    assert not (result.contributions["column"] == "outcome").any()
    assert not (result.contributions["source"].isin(["model", "prior"])).any()
    assert "policy weights alone" in result.ranked_by
    with_model = small_night().combine()
    assert "policy weights alone" not in with_model.ranked_by
    # the same people are queued, in the same policy order (the model only reorders ties)
    assert {f.traveller_id for f in result.flags} == {f.traveller_id for f in with_model.flags}
    assert [f.total for f in result.flags] == [f.total for f in with_model.flags]


def test_policy_weights_decide_the_order_and_the_model_only_breaks_ties() -> None:
    night = small_night()
    # T1 and T5 tie on policy (2.0); the model's outcome log-odds orders them
    night.scores.loc[night.scores["traveller_id"] == "T1", "calibration_step"] += 6.0
    night.scores.loc[night.scores["traveller_id"] == "T7", "calibration_step"] -= 9.0
    result = night.combine()
    order = [f.traveller_id for f in result.flags]
    assert order.index("T7") < order.index("T1") < order.index("T5")
    night.scores.loc[night.scores["traveller_id"] == "T1", "calibration_step"] -= 12.0
    order = [f.traveller_id for f in night.combine().flags]
    assert order.index("T5") < order.index("T1")
    policy = [f.total for f in result.flags]
    assert policy == sorted(policy, reverse=True)


def test_combine_reads_its_weights_from_the_evidence_table_only() -> None:
    from apiflag.evidence import EvidenceBatch
    from apiflag.provenance import stage_code_digests
    from apiflag.queue.combine import combine_evidence, gather_evidence

    night = small_night()
    evidence = gather_evidence(
        matches=night.matches,
        match_fields=night.match_fields,
        rule_hits=night.rule_hits,
        scores=night.scores,
        model_contributions=night.model_contributions,
    )
    rows = evidence.rows.copy()
    totals = evidence.totals.copy()
    # the policy board doubles R-102: only the evidence table says so
    rows.loc[rows["source_id"] == "R-102@1", "weight"] = 5.0
    t1 = (totals["traveller_id"] == "T1") & (totals["source"] == "rule")
    totals.loc[t1, "total"] = math.fsum(
        rows.loc[(rows["traveller_id"] == "T1") & (rows["source"] == "rule"), "weight"]
    )
    infos = {k: v for k, v in night.rule_info.items()}
    from apiflag.queue.combine import RuleInfo

    for rid, track in zip(night.rule_hits["rule_id"], night.rule_hits["track"], strict=True):
        infos[rid] = RuleInfo(infos[rid].title, track=track)
    result = combine_evidence(
        NIGHT,
        night.travellers,
        night.flights,
        EvidenceBatch(rows, totals),
        matches=night.matches,
        documents=night.documents,
        bookings=night.bookings,
        rules_digest="d",
        rule_info=infos,
        model=("m", "1"),
        settings=CombineSettings(capacity=1),
        code_digests=stage_code_digests(),
    )
    assert result.flags[0].traveller_id == "T1" and result.flags[0].total == 6.2
    assert "T1" in set(result.travellers.loc[result.travellers["queued"], "traveller_id"])


def test_case_match_weights_are_converted_from_log2() -> None:
    result = small_night().combine()
    fid = _by_traveller(result).loc["T4", "flag_id"]
    rows = result.contributions.loc[
        (result.contributions["flag_id"] == fid) & (result.contributions["source"] == "case_match")
    ]
    assert sorted(rows["weight"]) == sorted(w * math.log(2) for w in (-9.0, 6.0, 7.0, -1.0))
    assert set(rows["source_id"]) == {
        "case:C-2/prior",
        "case:C-2/surname",
        "case:C-2/date_of_birth",
        "case:C-2/nationality",
    }
    # the rows add up to the match's posterior log-odds (matcher prior + Bayes factors)
    assert math.fsum(rows["weight"]) == pytest.approx(3.0 * math.log(2))


def _column(rows: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    part = rows.loc[rows["column"] == column]
    return part.loc[part["source"] != "total", "weight"], part.loc[
        part["source"] == "total", "weight"
    ]


def test_contributions_sum_exactly_per_column_and_probability_is_the_sigmoid() -> None:
    result = small_night().combine()
    for flag in result.flags:
        rows = result.contributions.loc[result.contributions["flag_id"] == flag.flag_id]
        parts, total_row = _column(rows, "policy")
        assert len(total_row) == 1
        assert math.fsum(parts) == flag.total
        assert total_row.iloc[0] == flag.total
        parts, total_row = _column(rows, "outcome")
        assert len(total_row) == 1 and math.fsum(parts) == total_row.iloc[0]
        assert total_row.iloc[0] == flag.outcome_log_odds
        assert flag.probability == sigmoid(flag.outcome_log_odds)
        parts, total_row = _column(rows, "identity")
        if flag.match_probability is not None:
            assert len(total_row) == 1 and math.fsum(parts) == total_row.iloc[0]
        else:
            assert not len(total_row) and not len(parts)
        assert list(rows["order"]) == list(range(len(rows)))
        assert set(rows["column"]) <= {"policy", "outcome", "identity"}


@settings(max_examples=max(10, settings.default.max_examples // 3))  # combine is ~0.1 s a call
@given(
    rule_w=st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=6),
    feat_w=st.lists(st.floats(-3, 3, allow_nan=False), min_size=27, max_size=27),
    log_odds=st.lists(st.floats(-12, 12, allow_nan=False), min_size=9, max_size=9),
    match_w=st.lists(st.floats(-8, 12, allow_nan=False), min_size=16, max_size=16),
    with_model=st.booleans(),
)
def test_property_contributions_sum_exactly_to_total(
    rule_w: list[float],
    feat_w: list[float],
    log_odds: list[float],
    match_w: list[float],
    with_model: bool,
) -> None:
    night = small_night()
    night.rule_hits["weight"] = rule_w
    night.model_contributions["weight"] = feat_w
    night.scores["log_odds"] = log_odds
    night.scores["calibration_step"] = [x / 7 for x in log_odds]
    night.match_fields["weight"] = match_w
    if not with_model:
        night = night.without_model()
    result = night.combine(capacity=2)
    contributions = result.contributions
    assert len(result.people) == len(result.flags) == int(result.travellers["queued"].sum())
    assert set(contributions["flag_id"]) == {f.flag_id for f in result.flags}
    by_flag = result.travellers.set_index("flag_id")
    for fid, rows in contributions.groupby("flag_id"):
        parts, total = _column(rows, "policy")
        assert math.fsum(parts) == total.iloc[0] == by_flag.loc[fid, "total"]
        parts, total = _column(rows, "outcome")
        if with_model:
            assert math.fsum(parts) == total.iloc[0] == by_flag.loc[fid, "outcome_log_odds"]
            assert by_flag.loc[fid, "probability"] == sigmoid(total.iloc[0])
            assert rows.loc[rows["column"] == "outcome", "source"].iloc[0] == "prior"
        else:
            assert not len(total) and pd.isna(by_flag.loc[fid, "probability"])
        parts, total = _column(rows, "identity")
        if len(total):
            assert math.fsum(parts) == total.iloc[0]
        for _, col in rows.groupby("column", sort=False):
            assert col["source"].iloc[-1] == "total" and (col["source"] == "total").sum() == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n: n.rule_hits.drop(columns=["track"]), "rule_hits lacks column"),
        (lambda n: n.rule_hits.assign(track="deportation"), "is not one of"),
        (lambda n: n.rule_hits.assign(traveller_id="T99"), "not an arrival"),
    ],
)
def test_bad_inputs_are_named(change, message: str) -> None:
    night = small_night()
    night.rule_hits = change(night)
    with pytest.raises(ApiflagError, match=message):
        night.combine()


def test_two_models_in_one_night_are_refused() -> None:
    night = small_night()
    night.scores.loc[0, "model_version"] = "4"
    with pytest.raises(ApiflagError, match="more than one model"):
        night.combine()


@pytest.mark.parametrize(
    "settings", [{"capacity": -1}, {"match_weight_base": 1.0}, {"case_match_threshold": 1.5}]
)
def test_settings_out_of_range(settings: dict) -> None:
    with pytest.raises(ApiflagError):
        CombineSettings(**settings)


def test_input_messages_are_the_api_and_pnr_hashes() -> None:
    result = small_night().combine()
    from queue_helpers import sha

    t3 = next(f for f in result.flags if f.traveller_id == "T3")
    assert set(t3.input_messages) == {sha("paxlst-FL1"), sha("pnrgov-FL1")}


def test_key_document_comes_from_travellers_or_the_first_api_document() -> None:
    with_column = small_night().combine()
    night = small_night()
    night.travellers = night.travellers.drop(columns=["document_number"])
    second = night.documents.assign(seq=1, number="OTHER")
    night.documents = pd.concat([second, night.documents], ignore_index=True)
    from_documents = night.combine()
    assert [f.flag_id for f in with_column.flags] == [f.flag_id for f in from_documents.flags]


def test_model_rows_are_intercept_features_and_calibration() -> None:
    result = small_night().combine()
    fid = _by_traveller(result).loc["T1", "flag_id"]
    rows = result.contributions.loc[result.contributions["flag_id"] == fid]
    rows = rows.loc[rows["column"] == "outcome"]
    assert rows.iloc[0]["source_id"] == "model:intercept" and rows.iloc[0]["weight"] == -4.5
    model = rows.loc[rows["source"] == "model"]
    assert "model:calibration" in set(model["source_id"])
    # intercept + features + calibration is the champion's log-odds for T1 (-4.0)
    parts = rows.loc[rows["source"].isin(["prior", "model"]), "weight"]
    assert math.fsum(parts) == pytest.approx(-4.0)


def test_without_intercept_columns_the_baseline_is_the_remainder() -> None:
    night = small_night()
    night.scores = night.scores.drop(columns=["intercept", "calibration_step"])
    result = night.combine()
    fid = _by_traveller(result).loc["T1", "flag_id"]
    rows = result.contributions.loc[result.contributions["flag_id"] == fid]
    rows = rows.loc[rows["column"] == "outcome"]
    assert rows.iloc[0]["source_id"] == "prior:model_baseline"
    parts = rows.loc[rows["source"].isin(["prior", "model"]), "weight"]
    assert math.fsum(parts) == pytest.approx(-4.0)


def test_model_rows_in_the_contributions_are_not_counted_twice() -> None:
    night = small_night()
    extra = pd.DataFrame(
        {
            "traveller_id": night.scores["traveller_id"],
            "source_id": "model:intercept",
            "feature": "intercept",
            "observed": None,
            "bin": None,
            "weight": -4.5,
        }
    )
    night.model_contributions = pd.concat([night.model_contributions, extra], ignore_index=True)
    a = small_night().combine()
    b = night.combine()
    assert [f.total for f in a.flags] == [f.total for f in b.flags]
    assert [f.outcome_log_odds for f in a.flags] == [f.outcome_log_odds for f in b.flags]


def test_strong_victim_match_wins_over_a_strong_offender_match() -> None:
    night = small_night()
    both = pd.DataFrame(
        [("T4", "P-V", "C-9", "victim", 0.85, 8.0, True)], columns=night.matches.columns
    )
    night.matches = pd.concat([night.matches, both], ignore_index=True)
    assert _by_traveller(night.combine()).loc["T4", "track"] == "protection"
