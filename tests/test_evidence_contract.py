"""The evidence contract, checked on every evidence source (in the spirit of check_estimator).

Each source (the real case matcher, the real rule catalogue, a real fitted scorecard) emits its
rows through :mod:`apiflag.evidence`; the same checks run on each: the documented columns and
types, valid records, finite weights, the source's one target, sentences, and rows that sum
exactly to the source's own total. Corrupting a batch must make the check fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EVIDENCE_COLUMNS,
    SOURCE_TARGET,
    TOTAL_COLUMNS,
    EvidenceBatch,
    check_batch,
    match_evidence,
    model_evidence,
    rule_evidence,
)
from apiflag.records import Evidence


def _match_source() -> tuple[EvidenceBatch, pd.Series]:
    from apiflag.matching.match import Matcher
    from apiflag.matching.model import load_model
    from matching_helpers import case_database, filler_persons
    from test_matching import TARGETS, VARIANTS, _run

    matcher = Matcher(case_database(TARGETS + filler_persons(300)), load_model())
    result = _run(matcher, [v[1] for v in VARIANTS])
    # the matcher's own total: the best match's weight, converted from log2 to natural log-odds
    best = result.matches.sort_values(
        ["traveller_id", "probability", "person_id"], ascending=[True, False, True]
    ).drop_duplicates("traveller_id")
    own = pd.Series(best["match_weight"].to_numpy() * math.log(2), index=best["traveller_id"])
    return match_evidence(result.matches, result.fields), own


def _rule_source() -> tuple[EvidenceBatch, pd.Series]:
    from apiflag.rules import load_catalogue
    from rules_helpers import NIGHT, random_features

    catalogue = load_catalogue()
    hits = catalogue.evaluate(random_features(3000, seed=3), night=NIGHT).hits
    titles = {r.id: r for r in catalogue.rules}
    own = hits.groupby(hits["traveller_id"].astype(str))["weight"].apply(
        lambda w: math.fsum(w.tolist())
    )
    return rule_evidence(hits, titles), own


def _model_source() -> tuple[EvidenceBatch, pd.Series]:
    from apiflag.model.scoring import Champion, score
    from apiflag.model.train import TrainSettings, train_scorecard
    from model_helpers import SPEC, synthetic_frame

    frame = synthetic_frame(nights=8, per_night=1500, seed=5)
    trained = train_scorecard(frame, SPEC, settings=TrainSettings(capacity=20))
    champion = Champion(trained.model, "models:/apiflag-scorecard/1", "1")
    scored = score(frame.head(400), champion)
    assert scored is not None
    scores, contributions = scored
    own = pd.Series(scores["log_odds"].to_numpy(), index=scores["traveller_id"])
    return model_evidence(scores, contributions), own


SOURCES: dict[str, Callable[[], tuple[EvidenceBatch, pd.Series]]] = {
    "match": _match_source,
    "rule": _rule_source,
    "model": _model_source,
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(request: pytest.FixtureRequest) -> tuple[str, EvidenceBatch, pd.Series]:
    batch, own = SOURCES[request.param]()
    return request.param, batch, own


def test_rows_have_the_documented_columns_and_types(source: Any) -> None:
    name, batch, _ = source
    rows = batch.rows
    assert len(rows) > 0
    assert tuple(rows.columns) == EVIDENCE_COLUMNS
    assert tuple(batch.totals.columns) == TOTAL_COLUMNS
    assert rows["traveller_id"].map(type).eq(str).all()
    assert rows["source_id"].map(lambda v: isinstance(v, str) and v != "").all()
    assert rows["weight"].dtype == np.float64 and np.isfinite(rows["weight"]).all()
    assert rows["sentence"].map(lambda v: isinstance(v, str) and len(v.strip()) > 10).all()
    assert rows["observed"].map(lambda v: v is None or isinstance(v, str)).all()


def test_every_row_is_a_valid_evidence_record(source: Any) -> None:
    _, batch, _ = source
    for rec in batch.rows.to_dict("records"):
        Evidence.model_validate(rec)


def test_one_source_one_known_target(source: Any) -> None:
    name, batch, _ = source
    assert set(batch.rows["source"]) == {name}
    assert set(batch.rows["target"]) == {SOURCE_TARGET[name]}
    assert set(batch.totals["target"]) == {SOURCE_TARGET[name]}


def test_rows_sum_exactly_to_the_total_and_match_the_sources_own_figure(source: Any) -> None:
    name, batch, own = source
    check_batch(batch)
    totals = batch.total_of(name)
    assert set(totals.index) == set(batch.rows["traveller_id"])
    for tid, rows in batch.rows.groupby("traveller_id"):
        assert math.fsum(rows["weight"].tolist()) == totals[tid]
    # the same figure the source itself reports (exactly for rules; the model's and matcher's
    # own sums were made in another order or in log2, so to the last bits)
    common = sorted(set(own.index) & set(totals.index))
    assert len(common) == len(totals)
    for tid in common:
        if name == "rule":
            assert totals[tid] == own[tid]
        else:
            assert totals[tid] == pytest.approx(own[tid], abs=1e-9)


def test_the_same_input_gives_the_same_rows(source: Any) -> None:
    name, batch, _ = source
    again, _ = SOURCES[name]()
    pd.testing.assert_frame_equal(batch.rows, again.rows)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda r: r.assign(weight=r["weight"].where(r.index != 0, np.nan)), "weight"),
        (lambda r: r.assign(weight=r["weight"].where(r.index != 0, r["weight"] + 1.0)), "sum"),
        (lambda r: r.assign(target="guilt"), "target"),
        (lambda r: r.assign(target=r["target"].map({"identity": "outcome",
                                                    "outcome": "identity"})), "target"),
        (lambda r: r.assign(sentence=""), "sentence"),
        (lambda r: r.assign(source="hunch"), "source"),
        (lambda r: r.drop(columns=["observed"]), "missing column"),
    ],
)  # fmt: skip
def test_a_corrupted_batch_is_refused(source: Any, corrupt: Any, message: str) -> None:
    _, batch, _ = source
    with pytest.raises(ApiflagError, match=message):
        check_batch(EvidenceBatch(corrupt(batch.rows.copy()), batch.totals))
