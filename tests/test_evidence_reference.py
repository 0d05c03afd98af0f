"""The model's evidence rows and the batch check, against the row-by-row first implementation.

``model_evidence`` and ``check_batch`` were rewritten for speed (column lists instead of
``iterrows``/``to_dict`` rows, one dict of groups instead of a pandas groupby per traveller).
The reference below is the first implementation, kept verbatim; on random scores and
contributions (with and without intercepts, source ids, bins, calibration steps, missing values,
model rows and travellers without scores) both must give the same rows, in the same order, with
the same types, and the check must name the same first traveller whose rows do not add up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from apiflag.errors import ApiflagError
from apiflag.evidence import (
    EVIDENCE_COLUMNS,
    MODEL_ROW_IDS,
    EvidenceBatch,
    _fmt_observed,
    check_batch,
    concat,
    model_evidence,
    validate_evidence,
)


def _reference_batch(rows: list[dict[str, Any]]) -> EvidenceBatch:
    frame = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    frame = frame.astype({"weight": float})
    frame = frame.assign(
        observed=frame["observed"].astype(object).where(frame["observed"].notna(), None)
    )
    if not len(frame):
        raise AssertionError("the random cases always have rows")
    sums = {
        tid: math.fsum(g.tolist()) for tid, g in frame.groupby("traveller_id", sort=True)["weight"]
    }
    totals = pd.DataFrame(
        {
            "traveller_id": list(sums),
            "source": "model",
            "target": "outcome",
            "total": list(sums.values()),
        }
    )
    return EvidenceBatch(frame, totals)


def _row(
    tid: Any, source_id: str, weight: float, sentence: str, observed: str | None = None
) -> dict[str, Any]:
    return {
        "traveller_id": str(tid),
        "source": "model",
        "source_id": source_id,
        "target": "outcome",
        "weight": weight,
        "sentence": sentence,
        "observed": observed,
    }


def reference_model_evidence(
    scores: pd.DataFrame, contributions: pd.DataFrame | None
) -> EvidenceBatch:
    """The first implementation of :func:`apiflag.evidence.model_evidence` (row by row)."""
    sc = scores.drop_duplicates("traveller_id").set_index(scores["traveller_id"].astype(str))
    by: dict[str, list[dict[str, Any]]] = {}
    if contributions is not None and len(contributions):
        mc = contributions.assign(
            traveller_id=contributions["traveller_id"].astype(str),
            weight=contributions["weight"].astype(float),
        )
        if "source_id" in mc.columns:
            mc = mc.loc[~mc["source_id"].astype(str).isin(MODEL_ROW_IDS)]
        mc = mc.assign(_abs=mc["weight"].abs()).sort_values(
            ["traveller_id", "_abs", "feature"], ascending=[True, False, True]
        )
        for r in mc.to_dict("records"):
            by.setdefault(r["traveller_id"], []).append(r)
    has_intercept = "intercept" in sc.columns
    rows: list[dict[str, Any]] = []
    for tid, s in sc.iterrows():
        uri = s["model_uri"]
        feats = by.get(str(tid), [])
        if has_intercept and pd.notna(s["intercept"]):
            rows.append(
                _row(
                    tid,
                    "model:intercept",
                    float(s["intercept"]),
                    f"Model {uri} intercept: the outcome rate it learned on flagged travellers",
                )
            )
        else:
            rest = float(s["log_odds"]) - math.fsum(float(r["weight"]) for r in feats)
            rows.append(
                _row(
                    tid,
                    "prior:model_baseline",
                    rest,
                    f"Model {uri} baseline (log-odds {float(s['log_odds']):+.2f} before its inputs)",
                )
            )
        for r in feats:
            sid = _fmt_observed(r.get("source_id")) or f"feature:{r['feature']}"
            if not sid.startswith("feature:"):
                sid = f"feature:{sid}"
            obs = _fmt_observed(r["observed"])
            bin_ = _fmt_observed(r.get("bin"))
            sentence = f"{r['feature']} = {obs if obs is not None else 'missing'}" + (
                f" (bin {bin_})" if bin_ is not None else ""
            )
            rows.append(_row(tid, sid, float(r["weight"]), sentence, obs))
        step = s.get("calibration_step") if "calibration_step" in sc.columns else None
        if step is not None and pd.notna(step) and float(step) != 0.0:
            rows.append(
                _row(
                    tid,
                    "model:calibration",
                    float(step),
                    "Calibration step (maps the scorecard to observed rates)",
                )
            )
    return _reference_batch(rows)


def _random_case(seed: int, prefix: str = "T") -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    ids = [f"{prefix}{i:03d}" for i in rng.permutation(n + 5)[:n]]
    scores = pd.DataFrame({"traveller_id": ids})
    scores["log_odds"] = rng.normal(-2, 1, len(scores))
    scores["model_uri"] = pd.Categorical(["models:/apiflag-scorecard/3"] * len(scores))
    scores["model_version"] = "3"
    if rng.random() < 0.7:
        intercept = rng.normal(-3, 0.5, len(scores))
        intercept[rng.random(len(scores)) < 0.2] = np.nan  # then the baseline row
        scores["intercept"] = intercept
    if rng.random() < 0.7:
        step = rng.normal(0, 0.3, len(scores))
        step[rng.random(len(scores)) < 0.4] = 0.0  # a zero step has no row
        step[rng.random(len(scores)) < 0.1] = np.nan
        scores["calibration_step"] = step
    m = int(rng.integers(0, 6 * n))
    features = ["age", "cash", "one_way", "party_size", "rule.R-001"]
    contributions = pd.DataFrame(
        {
            "traveller_id": rng.choice(ids + [f"{prefix}999"], m),  # 999 has no score
            "feature": pd.Categorical(rng.choice(features, m)),
            "observed": pd.array(
                [None if rng.random() < 0.2 else f"v{int(rng.integers(0, 9))}" for _ in range(m)],
                dtype="str",
            ),
            "weight": np.round(rng.normal(0, 1, m), int(rng.integers(1, 4))),  # ties in |weight|
        }
    )
    if rng.random() < 0.6:
        sid = rng.choice(["", "rule.R-001", "feature:age", "model:intercept", "x"], m)
        contributions["source_id"] = pd.array([None if s == "" else s for s in sid], dtype=object)
    if rng.random() < 0.6:
        contributions["bin"] = pd.array(
            [None if rng.random() < 0.3 else f"[{int(rng.integers(0, 5))}, 9)" for _ in range(m)],
            dtype="str",
        )
    return scores, contributions


@pytest.mark.parametrize("seed", range(40))
def test_model_evidence_equals_the_row_by_row_reference(seed: int) -> None:
    scores, contributions = _random_case(seed)
    got = model_evidence(scores, contributions)
    want = reference_model_evidence(scores, contributions)
    pd.testing.assert_frame_equal(got.rows, want.rows, check_exact=True)
    pd.testing.assert_frame_equal(got.totals, want.totals, check_exact=True)
    check_batch(got)


def test_model_evidence_without_contributions_equals_the_reference() -> None:
    scores, _ = _random_case(3)
    for contributions in (None, _random_case(3)[1].iloc[:0]):
        got = model_evidence(scores, contributions)
        want = reference_model_evidence(scores, contributions)
        pd.testing.assert_frame_equal(got.rows, want.rows, check_exact=True)
        pd.testing.assert_frame_equal(got.totals, want.totals, check_exact=True)


def _reference_check(batch: EvidenceBatch) -> str | None:
    """The first implementation's sum check: the message for the first bad group, else None."""
    validate_evidence(batch.rows)
    expect = {
        (str(t), str(s)): float(v)
        for t, s, v in batch.totals[["traveller_id", "source", "total"]].itertuples(index=False)
    }
    for (tid, source), g in batch.rows.groupby(["traveller_id", "source"], sort=False):
        want = expect.get((str(tid), str(source)))
        got = math.fsum(g["weight"].astype(float).tolist())
        if want is None or got != want:
            return (
                f"evidence: {source} rows of traveller {tid} sum to {got!r}, its total is {want!r}"
            )
    return None


@pytest.mark.parametrize("seed", range(12))
def test_check_batch_names_the_same_first_bad_traveller_as_the_groupby(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    batch = concat(
        *(model_evidence(*_random_case(seed * 7 + k, prefix=f"N{k}-")) for k in range(2))
    )
    rows = batch.rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    weights = rows["weight"].to_numpy().copy()
    bad = rng.choice(len(rows), size=min(3, len(rows)), replace=False)
    weights[bad] += 1e-9  # these travellers' rows no longer add up to their totals
    broken = EvidenceBatch(rows.assign(weight=weights), batch.totals)
    want = _reference_check(broken)
    assert want is not None
    with pytest.raises(ApiflagError) as err:
        check_batch(broken)
    assert str(err.value) == want
    check_batch(EvidenceBatch(rows, batch.totals))  # shuffled rows still add up
