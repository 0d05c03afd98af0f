"""The scorecard, its evaluation and its data rules, without MLflow."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apiflag.errors import ApiflagError
from apiflag.model.data import (
    check_no_protected,
    default_features,
    frame_digest,
    is_protected_name,
    load_feature_spec,
    split_by_time,
)
from apiflag.model.evaluate import (
    calibration_error,
    capacity_flags,
    cramers_v,
    group_metrics,
    reliability_table,
)
from apiflag.model.report import model_card
from apiflag.model.scorecard import (
    ISOTONIC_MIN_POSITIVES,
    FeatureBins,
    Scorecard,
    choose_calibration,
)
from apiflag.model.train import TrainSettings, train_scorecard
from model_helpers import MODEL_FEATURES, SPEC, synthetic_frame

KINDS = {f.name: f.kind for f in SPEC}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(nights=10, per_night=2000, seed=3)


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return train_scorecard(frame, SPEC, settings=TrainSettings(capacity=40))


@pytest.fixture(scope="module", params=["sigmoid", "isotonic"])
def fitted(request: pytest.FixtureRequest, frame: pd.DataFrame) -> Scorecard:
    half = len(frame) // 2
    model = Scorecard(MODEL_FEATURES, KINDS, calibration=request.param)
    return model.fit(
        frame.iloc[:half], frame["label"].iloc[:half], frame.iloc[half:], frame["label"].iloc[half:]
    )


# --------------------------------------------------------------------------- exact explanations

row_strategy = st.fixed_dictionaries(
    {
        "booking.one_way": st.sampled_from([True, False, None]),
        "booking.payment_cash": st.sampled_from([True, False, None]),
        "booking.payer_travelling": st.sampled_from([True, False, None]),
        "booking.lead_time_hours": st.one_of(
            st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False)
        ),
        "booking.n_travellers": st.one_of(st.none(), st.integers(1, 40).map(float)),
        "link.shared_contact_bookings": st.one_of(st.none(), st.integers(0, 30).map(float)),
        "traveller.bag_weight_kg": st.one_of(
            st.none(), st.floats(min_value=0, max_value=200, allow_nan=False)
        ),
        "booking.agency_country": st.one_of(
            st.none(), st.sampled_from(["JP", "PH", "VN", "ZZ", "never-seen"])
        ),
    }
)


def _rows_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=MODEL_FEATURES)
    for name in ("booking.one_way", "booking.payment_cash", "booking.payer_travelling"):
        frame[name] = frame[name].astype("boolean")
    for name in (
        "booking.lead_time_hours",
        "booking.n_travellers",
        "link.shared_contact_bookings",
        "traveller.bag_weight_kg",
    ):
        frame[name] = frame[name].astype("float64")
    return frame


@given(rows=st.lists(row_strategy, min_size=1, max_size=20))
def test_explanation_rows_sum_exactly_to_the_calibrated_log_odds(
    fitted: Scorecard, rows: list[dict[str, object]]
) -> None:
    X = _rows_frame(rows)
    ids = [f"T{i}" for i in range(len(X))]
    parts, long = fitted.explain(X, ids)
    assert len(long) == len(X) * (len(MODEL_FEATURES) + 2)
    for i, tid in enumerate(ids):
        mine = long.loc[long["traveller_id"] == tid].sort_values("order")
        weights = [float(w) for w in mine["weight"]]
        assert list(mine["source_id"].astype(str))[0] == "model:intercept"
        assert list(mine["source_id"].astype(str))[-1] == "model:calibration"
        assert sum(weights) == parts["log_odds"][i]  # exact, not approximate
        assert sum(weights[:-1]) == parts["raw"][i]
        assert math.isclose(
            1 / (1 + math.exp(-parts["log_odds"][i])), parts["probability"][i], rel_tol=1e-12
        )
        feature_rows = mine.iloc[1:-1]
        assert list(feature_rows["feature"].astype(str)) == MODEL_FEATURES
        for (_, r), name in zip(feature_rows.iterrows(), MODEL_FEATURES, strict=True):
            value = X[name].iloc[i]
            if pd.isna(value):
                assert r["bin"] == "missing" and r["observed"] == "missing"
            else:
                assert r["bin"] in next(b.labels for b in fitted.bins_ if b.name == name)


@given(raw=st.lists(st.floats(-30, 30, allow_nan=False), min_size=2, max_size=50))
def test_calibration_is_monotone(fitted: Scorecard, raw: list[float]) -> None:
    x = np.sort(np.asarray(raw))
    cal = fitted.calibrated_log_odds(x)
    assert np.all(np.diff(cal) >= 0)


def test_unseen_bins_weigh_nothing_and_unseen_levels_go_to_other(fitted: Scorecard) -> None:
    one_way = next(i for i, b in enumerate(fitted.bins_) if b.name == "booking.one_way")
    assert fitted.weights_[one_way][2] == 0.0  # no missing one_way in training
    agency = next(b for b in fitted.bins_ if b.name == "booking.agency_country")
    idx = agency.bin_index(pd.Series(["JP", "never-seen", None]))
    assert [agency.labels[i] for i in idx] == ["JP", "other", "missing"]


def test_weights_are_centred_on_the_average_training_traveller(frame: pd.DataFrame) -> None:
    model = Scorecard(MODEL_FEATURES, KINDS).fit(frame, frame["label"])
    idx, contrib = model._contributions(frame)
    for c in contrib:
        assert abs(float(np.mean(c))) < 1e-9


@pytest.mark.parametrize(
    ("values", "expected_labels"),
    [
        ([0.0] * 90 + [1.0] * 6 + [2.0] * 3 + [5.0], ("< 1", "[1, 2)", ">= 2", "missing")),
        (list(range(100)), ("< 19", "[19, 39)", "[39, 60)", "[60, 79)", ">= 79", "missing")),
        ([7.0] * 50, ("all", "missing")),
        ([np.nan] * 5, ("all", "missing")),
    ],
)
def test_numeric_bins_split_heavy_values_and_quantiles(
    values: list[float], expected_labels: tuple[str, ...]
) -> None:
    from apiflag.model.scorecard import _fit_bins

    bins = _fit_bins("x", "numeric", pd.Series(values, dtype="float64"), 5, 20)
    labels = tuple(label.replace(".0", "") for label in bins.labels)
    assert labels == expected_labels


def test_categorical_rare_levels_become_other() -> None:
    from apiflag.model.scorecard import _fit_bins

    values = pd.Series(["A"] * 30 + ["B"] * 25 + ["C"] * 3)
    bins = _fit_bins("x", "categorical", values, 5, 20)
    assert bins.labels == ("A", "B", "other", "missing")
    assert bins.bin_index(pd.Series(["C"])).tolist() == [2]


@pytest.mark.parametrize(
    ("positives", "negatives", "method"),
    [
        (10, 100_000, "sigmoid"),
        (ISOTONIC_MIN_POSITIVES - 1, 100_000, "sigmoid"),
        (ISOTONIC_MIN_POSITIVES, ISOTONIC_MIN_POSITIVES, "isotonic"),
        (50_000, 200, "sigmoid"),
    ],
)
def test_calibration_method_follows_data_size(positives: int, negatives: int, method: str) -> None:
    assert choose_calibration(positives, negatives) == method


def test_to_dict_documents_every_bin_weight(fitted: Scorecard) -> None:
    doc = fitted.to_dict()
    assert doc["calibration"]["method"] == fitted.calibration_method_
    for feature, bins in zip(doc["features"], fitted.bins_, strict=True):
        assert len(feature["weights"]) == len(feature["labels"]) == bins.n_bins


def test_boolean_bins_accept_nullable_and_plain_booleans() -> None:
    b = FeatureBins("f", "boolean")
    assert b.bin_index(pd.Series([True, False], dtype=bool)).tolist() == [1, 0]
    assert b.bin_index(pd.Series([True, None, False], dtype="boolean")).tolist() == [1, 2, 0]


# --------------------------------------------------------------------------- protected attributes


@pytest.mark.parametrize(
    ("name", "protected"),
    [
        ("traveller.nationality", True),
        ("traveller.sex", True),
        ("traveller.age_band", True),
        ("traveller.age", True),
        ("traveller.date_of_birth", True),
        ("traveller.place_of_birth", True),
        ("traveller.country_of_residence", True),
        ("traveller.is_minor", True),
        ("booking.ssr_meal_code", True),
        ("booking.agency_country", False),
        ("bags.weight_kg", False),
        ("booking.has_agency", False),
        ("booking.lead_time_hours", False),
        ("traveller.bag_weight_kg", False),
    ],
)
def test_protected_names_are_recognised(name: str, protected: bool) -> None:
    assert is_protected_name(name) is protected


@pytest.mark.parametrize("bad", ["traveller.nationality", "traveller.sex", "traveller.age_band"])
def test_a_feature_list_naming_a_protected_attribute_is_refused(bad: str) -> None:
    with pytest.raises(ApiflagError, match=f"protected attribute.*{bad}"):
        check_no_protected([*MODEL_FEATURES, bad], SPEC)


def test_training_refuses_protected_features(frame: pd.DataFrame) -> None:
    with pytest.raises(ApiflagError, match="traveller.sex"):
        train_scorecard(frame, SPEC, [*MODEL_FEATURES, "traveller.sex"])


def test_unknown_features_are_refused() -> None:
    with pytest.raises(ApiflagError, match="not in the feature specification: booking.nope"):
        check_no_protected(["booking.nope"], SPEC)


def test_the_real_feature_spec_keeps_protected_columns_out_of_the_default_features() -> None:
    spec = load_feature_spec()
    names = [f.name for f in spec]
    chosen = default_features(spec, names)
    assert chosen, "the feature specification offers no evidence features"
    assert not any(is_protected_name(f) for f in chosen)
    assert not any(f.startswith("traveller.case_match_") for f in chosen)
    protected = {f.name for f in spec if f.protected}
    assert {"traveller.nationality", "traveller.sex", "traveller.age_band"} <= protected
    assert not protected & set(chosen)


# --------------------------------------------------------------------------- time split


@given(
    days=st.sets(st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)), min_size=3, max_size=60),
    ev=st.floats(0.05, 0.6),
    cal=st.floats(0.05, 0.6),
)
def test_time_split_is_disjoint_ordered_and_complete(
    days: set[dt.date], ev: float, cal: float
) -> None:
    split = split_by_time(days, ev, cal)
    assert split.fit and split.calibration and split.evaluation
    assert max(split.fit) < min(split.calibration) <= max(split.calibration) < min(split.evaluation)
    assert set(split.fit) | set(split.calibration) | set(split.evaluation) == days
    assert len(split.fit) + len(split.calibration) + len(split.evaluation) == len(days)


def test_time_split_needs_three_nights() -> None:
    with pytest.raises(ApiflagError, match="at least 3 history nights"):
        split_by_time([dt.date(2026, 1, 1), dt.date(2026, 1, 2)])


# --------------------------------------------------------------------------- evaluation


def test_reliability_table_and_ece_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.55, 0.55])
    table = reliability_table(y, p)
    assert table["n"].tolist() == [2, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    # bins: |0 - 0.05| * 2, |0.5 - 0.55| * 2, |1 - 0.95| * 2 over 6
    assert calibration_error(y, p) == pytest.approx((0.1 + 0.1 + 0.1) / 6)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 50_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    assert calibration_error(y, p) < 0.01
    assert calibration_error(y, np.clip(p * 1.6, 0, 1)) > 0.1


def test_capacity_flags_take_the_top_scores_of_each_night() -> None:
    nights = np.array(["a"] * 5 + ["b"] * 3)
    score = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.3, np.nan, 0.1])
    flagged = capacity_flags(score, nights, 2)
    assert flagged.tolist() == [False, True, False, True, False, True, False, True]
    assert capacity_flags(score, nights, 3).sum() == 5  # NaN never flagged


def test_group_metrics_by_hand() -> None:
    frame = pd.DataFrame({"traveller.sex": ["F", "F", "M", "M", None]})
    flagged = np.array([True, False, True, False, True])
    y = np.array([1, 0, 0, 0, 1])
    table = group_metrics(frame, [("traveller.sex", "sex")], flagged, y).set_index("group")
    assert table.loc["F", ["n", "positives", "flagged"]].tolist() == [2, 1, 1]
    assert table.loc["F", "tpr"] == 1.0 and table.loc["F", "fpr"] == 0.0
    assert table.loc["M", "fpr"] == 0.5 and np.isnan(table.loc["M", "tpr"])
    assert table.loc["(missing)", "flag_rate"] == 1.0


def test_cramers_v_extremes() -> None:
    a = np.array(list("abcabcabc") * 20)
    assert cramers_v(a, a) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    assert cramers_v(rng.integers(0, 3, 5000), rng.integers(0, 4, 5000)) < 0.05


# --------------------------------------------------------------------------- training


def test_training_meets_the_calibration_and_rules_targets(result) -> None:  # type: ignore[no-untyped-def]
    m = result.metrics
    assert m["ece"] <= 0.05
    assert m["model_plus_rules.pr_auc"] > m["rules.pr_auc"]
    assert m["roc_auc"] > 0.6
    assert set(result.comparison["source"]) == {"model", "rules", "matches", "model_plus_rules"}
    assert m["flagged"] == 40 * len(result.split.evaluation)


def test_training_is_reproducible(frame: pd.DataFrame, result) -> None:  # type: ignore[no-untyped-def]
    again = train_scorecard(frame, SPEC, settings=TrainSettings(capacity=40))
    assert again.metrics == result.metrics
    assert again.data_digest == result.data_digest
    for a, b in zip(again.model.weights_, result.model.weights_, strict=True):
        assert np.array_equal(a, b)


def test_evaluation_uses_only_the_latest_nights(result) -> None:  # type: ignore[no-untyped-def]
    ev_nights = set(result.eval_scores["night"])
    assert ev_nights == set(result.split.evaluation)
    assert max(result.split.calibration) < min(ev_nights)


def test_proxy_audit_finds_the_planted_nationality_proxy(result) -> None:  # type: ignore[no-untyped-def]
    proxies = result.proxies.set_index("feature")
    assert proxies.loc["booking.agency_country", "nationality_cramers_v"] > 0.3
    assert proxies.loc["booking.one_way", "nationality_cramers_v"] < 0.1
    assert "(score)" in proxies.index
    assert {"nationality", "sex", "age_band"} == set(result.fairness["attribute"])


def test_model_card_states_purpose_calibration_limits_and_proxies(result) -> None:  # type: ignore[no-untyped-def]
    card = model_card(result, source="synthetic")
    for heading in ("## Purpose", "## Data", "## Features", "## Metrics", "## Limits"):
        assert heading in card
    assert f"Calibration: **{result.model.calibration_method_}**" in card
    assert "Strong proxies" in card and "booking.agency_country" in card
    assert "Not promoted" in card
    approved = model_card(result, source="s", approver="K. Sato", reason="ok", approved_at="t")
    assert "Approved by **K. Sato**" in approved


def test_a_slice_without_positives_is_refused(frame: pd.DataFrame) -> None:
    no_late_positives = frame.copy()
    late = no_late_positives["night"] >= sorted(set(frame["night"]))[-3]
    no_late_positives.loc[late, "label"] = 0
    with pytest.raises(ApiflagError, match="eval slice .* has no positive outcome"):
        train_scorecard(no_late_positives, SPEC)


def test_frame_digest_changes_with_any_label(frame: pd.DataFrame) -> None:
    cols = ["traveller_id", "night", "label", *MODEL_FEATURES]
    base = frame_digest(frame, cols)
    changed = frame.copy()
    changed.loc[changed.index[5], "label"] = 1 - changed.loc[changed.index[5], "label"]
    assert frame_digest(changed, cols) != base
    assert frame_digest(frame.copy(), cols) == base


@given(
    a=st.lists(st.sampled_from("abcd"), min_size=5, max_size=80),
    b=st.lists(st.sampled_from("xyz"), min_size=80, max_size=80),
)
def test_proxy_measures_agree_with_scikit_learn(a: list[str], b: list[str]) -> None:
    from sklearn.metrics import normalized_mutual_info_score, roc_auc_score

    from apiflag.model.evaluate import _one_feature_auc, normalized_mutual_information

    x = np.asarray(a)
    y = np.asarray(b[: len(a)])
    assume(len(set(x)) > 1 and len(set(y)) > 1)  # sklearn calls two constants "identical" (1.0)
    assert normalized_mutual_information(x, y) == pytest.approx(
        normalized_mutual_info_score(y, x), abs=1e-9
    )
    target = (y == "x").astype(np.int8)
    if 0 < target.sum() < len(target):
        rate = pd.Series(target).groupby(x).transform("mean").to_numpy()
        auc = roc_auc_score(target, rate)
        assert _one_feature_auc(x, target) == pytest.approx(max(auc, 1 - auc), abs=1e-12)
