"""The identity-truth matching world and the model adapted to a population without labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from apiflag.matching.estimate import estimate_prior, for_population, term_frequencies
from apiflag.matching.match import Matcher, traveller_side
from apiflag.matching.model import MatcherModel, load_model
from apiflag.matching.scoring import _omits_tokens
from apiflag.synth.matchworld import MatchWorld, match_world
from apiflag.synth.names import VARIANT_KINDS

KEY = ["nationality", "surname", "given_names", "date_of_birth"]


@pytest.fixture(scope="module")
def pools_world() -> MatchWorld:
    return match_world(30_000, 3_000, 60, seed=3, copy_share=0.05)


@pytest.fixture(scope="module")
def middle_world() -> MatchWorld:
    return match_world(20_000, 2_000, 40, seed=4, given_parts=2)


@pytest.fixture(scope="module")
def adapted(middle_world: MatchWorld) -> MatcherModel:
    w = middle_world
    return for_population(load_model(), w.db, w.travellers, w.documents)


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["traveller_id"], frame["person_id"], strict=True))


def test_truth_is_identity_planted_variants_and_copies(pools_world: MatchWorld) -> None:
    w = pools_world
    first = w.truth[~w.truth["kind"].str.startswith("copy:")]
    assert len(first) == 60 and first["traveller_id"].is_unique
    assert set(first["kind"]) == set(VARIANT_KINDS)
    joined = w.truth.merge(w.travellers, on="traveller_id").merge(
        w.db.persons, on="person_id", suffixes=("_t", "_p")
    )
    # a planted traveller keeps the person's birth date and nationality, whatever the name
    assert (joined["date_of_birth_t"] == joined["date_of_birth_p"]).all()
    assert (joined["nationality_t"] == joined["nationality_p"]).all()
    exact = joined[joined["kind"] == "exact"]
    assert (exact["surname_t"] == exact["surname_p"]).all()
    # a copy is a second record of one person in another case: same name, other case
    for _, copy in w.truth[w.truth["kind"].str.startswith("copy:")].iterrows():
        original = first.loc[first["traveller_id"] == copy["traveller_id"], "person_id"].item()
        a = w.db.persons.set_index("person_id").loc[[original, copy["person_id"]]]
        assert a["surname"].nunique() == 1 and a["date_of_birth"].nunique() == 1
        assert a["case_id"].nunique() == 2


def test_namesakes_are_every_same_name_same_birth_date_pair_outside_truth(
    pools_world: MatchWorld,
) -> None:
    w = pools_world
    same = w.travellers.merge(w.db.persons, on=KEY)
    expected = _pairs(same) - _pairs(w.truth)
    assert _pairs(w.namesakes) == expected
    assert len(expected) > 0  # the small name pools do produce accidental namesakes
    assert not _pairs(w.namesakes) & _pairs(w.truth)


def test_middle_names_widen_the_space_of_full_names() -> None:
    one = match_world(30_000, 3_000, 30, seed=8)
    two = match_world(30_000, 3_000, 30, seed=8, given_parts=2)
    names = ["nationality", "surname", "given_names"]
    assert len(two.travellers.drop_duplicates(names)) > 3 * len(
        one.travellers.drop_duplicates(names)
    )
    assert (two.travellers["given_names"].str.split().str.len() >= 2).mean() > 0.99


def test_term_frequencies_are_shares_of_travellers_with_rare_values_left_out() -> None:
    frame = pd.DataFrame(
        {
            "surname": ["Dela Cruz", "DELACRUZ", "DELA CRUZ", "SATO", "SATO", "KIM", None],
            "given_names": ["JOSE", "JOSE", "JOSE", "JOSE", "ANA", "ANA", "ANA"],
        }
    )
    tf = term_frequencies(frame)
    assert tf["surname"] == {"DELACRUZ": round(3 / 7, 8)}
    assert tf["given_names"] == {"JOSE": round(4 / 7, 8), "ANA": round(3 / 7, 8)}


def test_prior_estimate_finds_the_planted_share_from_any_start(
    middle_world: MatchWorld, adapted: MatcherModel
) -> None:
    w = middle_world
    side = traveller_side(w.travellers, w.documents)
    true_share = w.truth["traveller_id"].nunique() / len(w.travellers)
    assert 0.7 * true_share <= adapted.p_traveller_in_db <= 1.5 * true_share
    for start in (true_share / 20, 0.05):
        model = replace(adapted, p_traveller_in_db=start)
        got = estimate_prior(Matcher(w.db, model), side)
        assert got == pytest.approx(adapted.p_traveller_in_db, rel=0.05)


def test_population_model_keeps_m_and_policy_and_reestimates_u(
    middle_world: MatchWorld, adapted: MatcherModel
) -> None:
    w = middle_world
    shipped = load_model()
    for field, levels in adapted.levels.items():
        for name, level in levels.items():
            assert level.m == shipped.levels[field][name].m
    assert (
        adapted.levels["given_names"]["phonetic"].u != shipped.levels["given_names"]["phonetic"].u
    )
    assert adapted.levels["name_order"] == shipped.levels["name_order"]
    assert adapted.calibration_intercept == shipped.calibration_intercept
    assert adapted.term_frequencies == term_frequencies(w.travellers)
    assert adapted.estimation["population"]["travellers"] == len(w.travellers)


def test_population_model_is_more_precise_than_the_shipped_one(
    middle_world: MatchWorld, adapted: MatcherModel
) -> None:
    w = middle_world
    side = traveller_side(w.travellers, w.documents)
    truth = _pairs(w.truth)
    figures = {}
    for name, model in (
        ("shipped", load_model()),
        ("population", adapted),
    ):
        matches = Matcher(w.db, model).match_side(side).matches
        found = _pairs(matches)
        figures[name] = (len(found & truth) / len(truth), len(found & truth) / len(found))
    assert figures["population"][1] >= 0.95, figures
    assert figures["population"][1] > figures["shipped"][1], figures
    assert figures["population"][0] >= 0.85, figures


@pytest.mark.parametrize(
    ("a", "b", "omits"),
    [
        ("JOHN PAUL", "JOHN", True),
        ("MARIA", "MARIA JOSE ANA", True),
        ("MARIA ANA", "MARIA JOSE ANA", True),
        ("JOHN PAUL", "JOHN MARK PETER", False),
        ("ANA MARIA", "MARIA JOSE ANA", False),
    ],
)
def test_dropped_middle_name_means_tokens_left_out(a: str, b: str, omits: bool) -> None:
    got = _omits_tokens(np.array([a], dtype=object), np.array([b], dtype=object))
    assert got.tolist() == [omits]
