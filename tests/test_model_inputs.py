"""The outcome model's inputs: each fact enters once, and the exclusion follows the catalogue."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from apiflag.model.data import load_feature_spec
from apiflag.model.evaluate import equal_mass_reliability, queue_decile_rates
from apiflag.model.inputs import (
    MATCH_LOGIT,
    default_inputs,
    flagged_mask,
    input_frame,
    input_spec,
    model_inputs,
    read_by_rules,
    rule_input,
)
from apiflag.rules import load_catalogue
from apiflag.rules.schema import Rule


def _columns() -> list[str]:
    rules = load_catalogue().rules
    spec = input_spec(load_feature_spec(), [r.id for r in rules])
    return [f.name for f in spec]


def test_no_default_input_is_a_field_a_rule_reads() -> None:
    rules = load_catalogue().rules
    spec, inputs = model_inputs(_columns())
    read = read_by_rules(rules)
    assert read and not (set(inputs) & read)
    assert [rule_input(r.id) for r in rules] == inputs[: len(rules)]
    assert MATCH_LOGIT in inputs
    assert not any(i.startswith("traveller.case_match_") for i in inputs)
    assert len(inputs) == len(set(inputs))
    # what is left is what the specification has that no rule reads (and is not protected)
    names = {f.name for f in spec if not f.protected}
    unread = set(inputs) - {MATCH_LOGIT} - {rule_input(r.id) for r in rules}
    assert unread and unread <= names - read


def test_a_new_rule_takes_what_it_reads_out_of_the_model() -> None:
    rules = list(load_catalogue().rules)
    spec = input_spec(load_feature_spec(), [r.id for r in rules])
    before = default_inputs(spec, [f.name for f in spec], rules)
    victim = next(i for i in reversed(before) if not i.startswith("rule.") and i != MATCH_LOGIT)
    new = Rule.model_validate(
        {
            **rules[0].model_dump(exclude={"examples"}),
            "id": "R-999",
            "when": {"field": victim, "op": "eq", "value": 1},
            "unless": None,
            "examples": [
                {"name": "hit", "input": {victim: 1}, "expect": "hit"},
                {"name": "miss", "input": {victim: 2}, "expect": "miss"},
            ],
        }
    )
    spec = input_spec(load_feature_spec(), [r.id for r in [*rules, new]])
    after = default_inputs(spec, [f.name for f in spec], [*rules, new])
    assert victim in before and victim not in after
    assert rule_input("R-999") in after


def test_input_frame_marks_hits_and_takes_the_logit_of_the_best_match() -> None:
    features = pd.DataFrame({"traveller_id": ["A", "B", "C"], "x": [1, 2, 3]})
    hits = pd.DataFrame({"traveller_id": ["A", "A", "C"], "rule_id": ["R-1", "R-2", "R-2"]})
    matches = pd.DataFrame({"traveller_id": ["B", "B"], "probability": [0.5, 0.8]})
    out = input_frame(features, hits, matches, ["R-1", "R-2", "R-3"])
    assert out["rule.R-1"].tolist() == [True, False, False]
    assert out["rule.R-2"].tolist() == [True, False, True]
    assert out["rule.R-3"].tolist() == [False, False, False]
    assert math.isnan(out[MATCH_LOGIT][0]) and math.isnan(out[MATCH_LOGIT][2])
    assert out[MATCH_LOGIT][1] == pytest.approx(math.log(0.8 / 0.2))
    assert flagged_mask(out, ["R-1", "R-2", "R-3"], 0.8).tolist() == [True, True, True]
    assert flagged_mask(out, ["R-1", "R-2", "R-3"], 0.81).tolist() == [True, False, True]
    assert out["x"].tolist() == [1, 2, 3]


def test_equal_mass_ece_bins_hold_equal_counts_and_see_miscalibration() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.6, 20_000)
    y = (rng.random(20_000) < p).astype(int)
    ece, table = equal_mass_reliability(y, p, 10)
    assert table["n"].tolist() == [2000] * 10
    assert ece < 0.02
    worse, _ = equal_mass_reliability(y, np.clip(p * 1.5, 0, 1), 10)
    assert worse > 0.1


def test_decile_rates_pool_each_nights_order() -> None:
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0] * 2)
    rank = np.array(list(range(1, 11)) * 2)
    nights = np.array(["a"] * 10 + ["b"] * 10)
    table = queue_decile_rates(y, rank, nights)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["n"].tolist() == [2] * 10
    assert table["rate"].tolist()[:3] == [1.0, 1.0, 0.0]
