"""Features and rules on a synthetic world, through the real ingest and case-matching stages."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from apiflag import pipeline, warehouse
from apiflag.cli import main
from apiflag.features import FEATURE_SPEC, build_night_features
from apiflag.rules import load_catalogue
from apiflag.rules.report import truth_labels

NIGHT = "2026-11-20"


@pytest.fixture(scope="module")
def world_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    import os

    root = tmp_path_factory.mktemp("rules-world")
    home = root / "home"
    old = os.environ.get("APIFLAG_HOME")
    os.environ["APIFLAG_HOME"] = str(home)
    try:
        world = root / "world"
        args = ["synth", "--out", str(world), "--seed", "11", "--nights", "1"]
        args += ["--arrivals", "1500", "--history-nights", "0", "--min-per-pattern", "1"]
        main(args)
        pipeline.stage_ingest(dt.date.fromisoformat(NIGHT), world)
        pipeline.stage_matching(NIGHT, f"sqlite:///{world / 'casedb.sqlite'}")
        features = build_night_features(NIGHT)
        labels = truth_labels(world, [NIGHT])
        n_travellers = len(warehouse.read_table(NIGHT, "travellers"))
    finally:
        if old is None:
            os.environ.pop("APIFLAG_HOME", None)
        else:
            os.environ["APIFLAG_HOME"] = old
    assert len(features) == n_travellers
    return features, labels


@pytest.mark.slow
def test_features_cover_the_world(world_night: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, labels = world_night
    assert list(features.columns) == ["traveller_id", *(s.name for s in FEATURE_SPEC)]
    linked = features.loc[features["api_pnr.linked"].fillna(False).astype(bool)]
    assert len(linked) > 0.8 * len(features.loc[features["traveller.role"] == "passenger"])
    for name in ("booking.one_way", "booking.payment_cash", "booking.lead_time_hours"):
        assert linked[name].notna().mean() > 0.9, name
    assert len(labels) == len(features)  # every traveller found in truth by the traveller key


@pytest.mark.slow
def test_planted_patterns_are_hit_and_confounders_are_exonerated(
    world_night: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, labels = world_night
    hits = load_catalogue().evaluate(features, night=NIGHT).hits
    lab = labels.set_index("traveller_id")
    hit_by = hits.groupby("traveller_id")["rule_id"].agg(set)
    for pattern, group in lab.loc[lab["pattern"] != ""].groupby("pattern"):
        assert any(t in hit_by.index for t in group.index), f"no rule hits {pattern}"
    exonerated = {
        "family_pays": {"R-001", "R-002", "R-006", "R-007", "R-008"},
        "last_minute_business": {"R-006", "R-008"},
        "corporate_shared_phone": {"R-002", "R-016"},
        "guide_pays_group": {"R-014", "R-016"},
    }
    for confounder, rules in exonerated.items():
        people = lab.index[lab["confounder"] == confounder]
        for t in people:
            assert not (hit_by.get(t, set()) & rules), (confounder, t, hit_by.get(t))
    corporate = features.set_index("traveller_id").loc[
        lab.index[lab["confounder"] == "corporate_shared_phone"], "booking.shared_contact_bookings"
    ]
    assert (corporate.fillna(0) == 0).all()
