"""Labels from recorded outcomes: reading, joining on the traveller key, and a world end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from apiflag.cli import main
from apiflag.errors import ApiflagError
from apiflag.model.pipeline import KEY, OUTCOME_COLUMNS, label_travellers, read_outcomes

HEADER = ",".join(OUTCOME_COLUMNS)


def _write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "outcomes.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


ROW = "2026-10-23,RA,387,GURUNG,ANJALI,1971-10-16,053604815,A584ZT,no_concern,0"


@pytest.mark.parametrize(
    ("lines", "header", "message"),
    [
        ([ROW.replace(",0", ",2")], HEADER, r"row 2: field 'label': value '2': expected 0 or 1"),
        ([ROW], HEADER.replace(",label", ""), "missing column\\(s\\) label"),
        (
            [ROW, ROW.replace(",0", ",yes")],
            HEADER,
            r"row 3: field 'label': value 'yes'",
        ),
    ],
)
def test_bad_outcomes_are_refused_with_row_and_field(
    tmp_path: Path, lines: list[str], header: str, message: str
) -> None:
    with pytest.raises(ApiflagError, match=message):
        read_outcomes(_write(tmp_path, lines, header))


def test_missing_outcomes_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ApiflagError, match="no outcomes file"):
        read_outcomes(tmp_path / "outcomes.csv")


def test_outcomes_join_on_the_whole_traveller_key(tmp_path: Path) -> None:
    outcomes = read_outcomes(
        _write(
            tmp_path,
            [
                ROW.replace("no_concern,0", "victim_identified,1"),
                # same person, other flight: must not label the first traveller
                ROW.replace(",387,", ",388,"),
                # no given names in the PAXLST: empty string on both sides
                "2026-10-23,RA,387,TANAKA,,1980-01-01,X1,B1,no_concern,0",
                # recorded twice: the last row wins
                "2026-10-23,RA,387,LEE,MIN,1990-02-02,X2,B2,no_concern,0",
                "2026-10-23,RA,387,LEE,MIN,1990-02-02,X2,B2,trafficking_confirmed,1",
            ],
        )
    )
    keys = pd.DataFrame(
        [
            ["T1", "2026-10-23", "RA", "387", "GURUNG", "ANJALI", "1971-10-16", "053604815"],
            ["T2", "2026-10-23", "RA", "387", "TANAKA", "", "1980-01-01", "X1"],
            ["T3", "2026-10-23", "RA", "387", "LEE", "MIN", "1990-02-02", "X2"],
            ["T4", "2026-10-23", "RA", "387", "OTHER", "PERSON", "1990-02-02", "X3"],
        ],
        columns=["traveller_id", *KEY],
    )
    labels, unmatched = label_travellers(keys, outcomes)
    assert labels.to_dict() == {"T1": 1, "T2": 0, "T3": 1}
    assert unmatched == 1  # the RA388 outcome has no traveller


@pytest.mark.slow
def test_a_small_world_trains_promotes_and_scores(tmp_path: Path) -> None:
    """End to end on a real synthetic world: synth, history through every stage, train, promote."""
    world = tmp_path / "world"
    # the model is fitted on flagged travellers only (about 10 a night here): enough nights for
    # positives in the fit, calibration and evaluation slices
    main_ok(["synth", "--out", str(world), "--history-nights", "12", "--arrivals", "2000"])
    from apiflag.model.pipeline import build_training_frame

    frame = build_training_frame(world)
    assert frame["traveller_id"].is_unique
    assert {"label", "rules.score", "match.score", "traveller.nationality"} <= set(frame.columns)
    outcomes = pd.read_csv(world / "history" / "outcomes.csv")
    assert frame["label"].sum() + frame.attrs["unmatched_outcomes"] >= outcomes["label"].sum() - 5
    assert frame.attrs["unmatched_outcomes"] <= len(outcomes) * 0.1
    # the model's inputs: each rule hit, the match logit; training keeps the flagged only
    assert {"rule.R-001", "match.logit", "flagged", "reviewed"} <= set(frame.columns)
    rules = frame[[c for c in frame.columns if c.startswith("rule.")]].to_numpy(dtype=bool)
    assert (frame["flagged"].to_numpy() >= rules.any(axis=1)).all()
    assert (frame["flagged"] == (rules.any(axis=1) | (frame["match.score"] >= 0.8))).all()
    out = main_ok(["model", "train", "--world", str(world), "--format", "json"])
    summary = json.loads(out)
    assert summary["version"] == "1"
    # fitted on the flagged travellers with a recorded outcome only (unreviewed: unknown)
    assert summary["counts"]["rows"] == int((frame["flagged"] & frame["reviewed"]).sum())
    assert summary["counts"]["rows"] < int(frame["flagged"].sum())


def main_ok(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main(argv)
        except SystemExit as exc:
            assert not exc.code, f"{argv} exited {exc.code}"
    return buf.getvalue()
