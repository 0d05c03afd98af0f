"""Rules: the catalogue, the linter's refusals, the operator table and the evaluator."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apiflag.cli import main
from apiflag.errors import ApiflagError
from apiflag.features import FEATURE_SPEC, FEATURES, build_features, write_features
from apiflag.rules import load_catalogue, read_hits, rule_mask, run_rules
from apiflag.rules.catalogue import catalogue_digest, default_rules_dir
from apiflag.rules.evaluate import HITS_COLUMNS, evaluate
from apiflag.rules.lint import example_frame, lint_paths
from apiflag.rules.operators import OPERATORS, Column, operators_markdown
from apiflag.rules.report import catalogue_report
from apiflag.rules.schema import AllOf, AnyOf, Condition, Rule
from rules_helpers import NightBuilder, random_features, years_ago

RULES_DIR = default_rules_dir()
CATALOGUE = load_catalogue()
TODAY = dt.date(2026, 11, 27)
CASE_FIELDS = {
    "traveller.case_match_offender_probability",
    "traveller.case_match_victim_probability",
    "booking.payer_case_links",
    "document.in_case_database",
    "booking.agency_case_links",
    "booking.contact_case_links",
    "booking.victim_identifier_links",
}


# ------------------------------------------------------------------ the catalogue


def test_catalogue_lints_clean_and_is_big_enough() -> None:
    report = lint_paths([RULES_DIR], today=TODAY)
    assert report.findings == ()
    assert len(CATALOGUE.rules) >= 15
    assert {r.track for r in CATALOGUE.rules} == {"protection", "examination", "document_integrity"}


@pytest.mark.parametrize("rule", CATALOGUE.rules, ids=lambda r: r.id)
def test_rule_examples_hold(rule: Rule) -> None:
    """Every catalogue rule gives the result its own examples promise."""
    for example in rule.examples:
        fired = bool(rule_mask(rule, example_frame(rule, example))[0])
        assert fired == (example.expect == "hit"), example.name


@pytest.mark.parametrize("rule", CATALOGUE.rules, ids=lambda r: r.id)
def test_rule_is_exonerable_or_rests_on_a_documented_case_link(rule: Rule) -> None:
    """A rule without `unless` may only rest on documented case-database links."""
    if rule.unless is None:
        assert set(rule.when.fields()) <= CASE_FIELDS, rule.id


@pytest.mark.parametrize("rule", CATALOGUE.rules, ids=lambda r: r.id)
def test_rule_uses_no_protected_attribute_outside_protection(rule: Rule) -> None:
    for name in rule.fields():
        spec = FEATURES[name]
        assert spec.use != "monitoring", name
        if spec.use == "protection_only":
            assert rule.track == "protection", name


def test_digest_is_the_files_and_only_the_files(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(RULES_DIR, copy)
    assert load_catalogue([copy]).digest == CATALOGUE.digest  # location does not matter
    target = next(copy.glob("R-001-*.yaml"))
    target.write_text(target.read_text() + "# reviewed again\n")
    assert load_catalogue([copy]).digest != CATALOGUE.digest  # any byte does
    assert catalogue_digest(CATALOGUE.files) == CATALOGUE.digest
    assert len(CATALOGUE.digest) == 64


# ------------------------------------------------------------------ the linter's refusals

GOOD = yaml.safe_load((RULES_DIR / "R-001-stranger-pays-cash-one-way.yaml").read_text())
MINOR_RULE = yaml.safe_load((RULES_DIR / "R-003-minor-with-unrelated-adult.yaml").read_text())


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc, default=str))
    keys = path.split("/")
    node: Any = out
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


_DELETE = object()
COND0 = "when/all/0"

BAD_CASES = [
    # (id, mutation path, value, code, text that must appear)
    (
        "unknown-field",
        f"{COND0}/field",
        "booking.payer_travels",
        "E_UNKNOWN_FIELD",
        "booking.payer_travels",
    ),
    (
        "nationality",
        f"{COND0}",
        {"field": "traveller.nationality", "op": "eq", "value": "PHL"},
        "E_PROTECTED_FIELD",
        "traveller.nationality' is a protected",
    ),
    (
        "sex",
        f"{COND0}",
        {"field": "traveller.sex", "op": "eq", "value": "F"},
        "E_PROTECTED_FIELD",
        "protected",
    ),
    (
        "age-band",
        f"{COND0}",
        {"field": "traveller.age_band", "op": "in", "value": ["12-17"]},
        "E_PROTECTED_FIELD",
        "traveller.age_band",
    ),
    ("no-rationale", "rationale", _DELETE, "E_RATIONALE", "no rationale"),
    ("blank-rationale", "rationale", "   ", "E_RATIONALE", "rationale"),
    (
        "failing-example",
        "examples/0/expect",
        "miss",
        "E_EXAMPLE_FAILED",
        "'stranger-pays-cash' expects miss",
    ),
    ("review-past", "review_by", "2025-01-31", "E_REVIEW_PAST", "review_by 2025-01-31 is past"),
    ("unknown-key", "severity", "high", "E_SCHEMA", "severity"),
    ("unknown-op", f"{COND0}/op", "equals", "E_SCHEMA", "unknown op 'equals'"),
    (
        "between-three",
        f"{COND0}",
        {"field": "booking.lead_time_hours", "op": "between", "value": [1, 2, 3]},
        "E_SCHEMA",
        "[low, high]",
    ),
    ("bool-vs-text", f"{COND0}/value", "no", "E_OPERAND_TYPE", "true/false"),
    (
        "lt-on-bool",
        f"{COND0}",
        {"field": "booking.one_way", "op": "lt", "value": 1},
        "E_OPERAND_TYPE",
        "does not apply",
    ),
    (
        "matches-bad-regex",
        f"{COND0}",
        {"field": "traveller.case_match_role", "op": "matches", "value": "(vic"},
        "E_SCHEMA",
        "regular expression",
    ),
    (
        "example-extra-field",
        "examples/0/input/booking.party_size",
        3,
        "E_EXAMPLE_FIELD",
        "does not read",
    ),
    (
        "only-hit-examples",
        "examples",
        [
            {
                "name": "a",
                "input": {
                    "booking.one_way": True,
                    "booking.payment_cash": True,
                    "booking.payer_travelling": False,
                },
                "expect": "hit",
            },
            {
                "name": "b",
                "input": {
                    "booking.one_way": True,
                    "booking.payment_cash": True,
                    "booking.payer_travelling": False,
                },
                "expect": "hit",
            },
        ],
        "E_EXAMPLES",
        "'miss' example",
    ),
    ("bad-track", "track", "intelligence", "E_SCHEMA", "track"),
    ("weight-zero", "weight", 0, "E_SCHEMA", "weight"),
    (
        "value-and-ref",
        f"{COND0}",
        {"field": "booking.party_size", "op": "gt", "value": 1, "ref": "booking.adults_in_party"},
        "E_SCHEMA",
        "not both",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "code", "text"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_lint_refuses_with_reason(
    tmp_path: Path, path: str, value: Any, code: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "R-001-bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(GOOD, path, value), sort_keys=False))
    report = lint_paths([bad], today=TODAY)
    assert code in {f.code for f in report.findings}, report.findings
    assert any(text in f.message for f in report.findings if f.code == code), report.findings
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "lint", str(bad), "--today", TODAY.isoformat()])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert code in err and str(bad) in err and len(err.strip().splitlines()) == len(report.findings)


@pytest.mark.parametrize(
    ("track", "refused"),
    [("protection", False), ("examination", True), ("document_integrity", True)],
)
def test_is_minor_only_in_protection_track(tmp_path: Path, track: str, refused: bool) -> None:
    f = tmp_path / "R-003-x.yaml"
    f.write_text(yaml.safe_dump(_mutate(MINOR_RULE, "track", track), sort_keys=False))
    findings = lint_paths([f], today=TODAY).findings
    if refused:
        assert {x.field for x in findings if x.code == "E_PROTECTION_ONLY"} >= {
            "traveller.is_minor"
        }
        assert any("protected" in x.message and track in x.message for x in findings)
    else:
        assert findings == ()


def test_duplicate_ids_and_file_names(tmp_path: Path) -> None:
    (tmp_path / "R-001-a.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "R-001-b.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "wrong-name.yaml").write_text(yaml.safe_dump(_mutate(GOOD, "id", "R-099")))
    (tmp_path / "R-002-not-yaml.yaml").write_text("id: [unclosed\n")
    codes = [f.code for f in lint_paths([tmp_path], today=TODAY).findings]
    assert sorted(codes) == ["E_DUPLICATE_ID", "E_FILENAME", "E_YAML"]


def test_lint_cli_clean_catalogue_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["rules", "lint", str(RULES_DIR), "--today", "2026-11-27"])
    assert f"{len(CATALOGUE.rules)} rules: ok" in capsys.readouterr().out
    main(["rules", "lint", "--format", "json", "--today", "2026-11-27"])
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"ok": True, "rules": len(CATALOGUE.rules), "findings": []}


def test_lint_cli_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "lint", str(RULES_DIR), "--today", "yesterday"])
    assert exit_info.value.code == 2
    assert "--today" in capsys.readouterr().err


def test_load_refuses_a_bad_catalogue(tmp_path: Path) -> None:
    (tmp_path / "R-001-x.yaml").write_text(
        yaml.safe_dump(_mutate(GOOD, f"{COND0}/field", "traveller.nationality"))
    )
    with pytest.raises(ApiflagError, match="E_PROTECTED_FIELD.*traveller.nationality"):
        load_catalogue([tmp_path])


# ------------------------------------------------------------------ operators


def _col(values: list[Any], type_: str) -> Column:
    dtype = {"bool": "boolean", "int": "Int64", "float": "float64", "str": "str"}[type_]
    return Column.of(pd.Series(values, dtype=dtype), type_)


OPERATOR_CASES = [
    ("eq", "bool", [True, False, None], True, [True, False, False]),
    ("ne", "bool", [True, False, None], True, [False, True, False]),
    ("eq", "str", ["victim", "broker", None], "victim", [True, False, False]),
    ("ne", "str", ["victim", "broker", None], "victim", [False, True, False]),
    ("lt", "int", [1, 5, None], 3, [True, False, False]),
    ("le", "int", [3, 5, None], 3, [True, False, False]),
    ("gt", "float", [1.0, 5.0, None], 3, [False, True, False]),
    ("ge", "float", [3.0, 2.9, None], 3, [True, False, False]),
    ("in", "str", ["a", "b", None], ["a", "c"], [True, False, False]),
    ("not_in", "str", ["a", "b", None], ["a", "c"], [False, True, False]),
    ("in", "int", [1, 2, None], [2, 3], [False, True, False]),
    ("not_in", "int", [1, 2, None], [2, 3], [True, False, False]),
    ("between", "float", [0.0, 14.0, 15.0, None], [0, 14], [True, True, False, False]),
    ("is_null", "int", [1, None], True, [False, True]),
    ("is_null", "int", [1, None], False, [True, False]),
    ("matches", "str", ["recruiter", "broker", None], "^rec", [True, False, False]),
]


@pytest.mark.parametrize(("op", "type_", "values", "operand", "expected"), OPERATOR_CASES)
def test_operator_table(
    op: str, type_: str, values: list[Any], operand: Any, expected: list[bool]
) -> None:
    mask = OPERATORS[op].apply(_col(values, type_), operand)
    assert mask.dtype == bool and mask.tolist() == expected


def test_every_operator_is_tested_and_documented() -> None:
    assert {c[0] for c in OPERATOR_CASES} == set(OPERATORS)
    doc = operators_markdown()
    assert all(f"`{name}`" in doc for name in OPERATORS)


def test_ref_compares_two_fields() -> None:
    features = pd.DataFrame(
        {
            "traveller_id": ["a", "b", "c"],
            "booking.minors_in_party": pd.array([3, 1, None], dtype="Int64"),
            "booking.adults_in_party": pd.array([1, 2, 1], dtype="Int64"),
        }
    )
    rule = Rule.model_validate(
        _mutate(
            MINOR_RULE,
            "when",
            {
                "all": [
                    {
                        "field": "booking.minors_in_party",
                        "op": "gt",
                        "ref": "booking.adults_in_party",
                    }
                ]
            },
        )
        | {"unless": None}
    )
    assert rule_mask(rule, features).tolist() == [True, False, False]


def _reference(node: Any, values: dict[str, Any]) -> bool:
    """A row-at-a-time interpreter: the evaluator must agree with it."""
    if isinstance(node, AllOf):
        return all(_reference(c, values) for c in node.all)
    if isinstance(node, AnyOf):
        return any(_reference(c, values) for c in node.any)
    assert isinstance(node, Condition)
    v = values[node.field]
    if node.op == "is_null":
        return (v is None) == (node.value in (None, True))
    if v is None:
        return False
    rhs = values[node.ref] if node.ref else node.value
    if rhs is None:
        return False
    return {
        "eq": lambda: v == rhs,
        "ne": lambda: v != rhs,
        "lt": lambda: v < rhs,
        "le": lambda: v <= rhs,
        "gt": lambda: v > rhs,
        "ge": lambda: v >= rhs,
        "in": lambda: v in rhs,
        "not_in": lambda: v not in rhs,
        "between": lambda: rhs[0] <= v <= rhs[1],
        "matches": lambda: __import__("re").search(rhs, v) is not None,
    }[node.op]()


@settings(max_examples=8)
@given(st.integers(0, 2**31 - 1))
def test_evaluator_agrees_with_row_by_row_reference(seed: int) -> None:
    features = random_features(300, seed=seed)
    result = CATALOGUE.evaluate(features, night=TODAY)
    got = set(zip(result.hits["traveller_id"], result.hits["rule_id"], strict=True))
    records = features.to_dict("records")
    want = set()
    for rec in records:
        values = {
            k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in rec.items()
        }
        for rule in CATALOGUE.rules:
            if _reference(rule.when, values) and not (
                rule.unless and _reference(rule.unless, values)
            ):
                want.add((rec["traveller_id"], rule.id))
    assert got == want


# ------------------------------------------------------------------ hits and digest


def test_hits_table_carries_rule_track_weight_observed_and_digest() -> None:
    nb = NightBuilder()
    b = nb.booking("REC001", cash=True, payer="BROKER/BOB", return_after_days=None)
    t = nb.traveller("SANTOS", "MARIA", years_ago(22), booking_id=b)
    fam = nb.booking("FAM001", cash=True, payer="SANTOS/ROSA", return_after_days=None)
    nb.traveller("SANTOS", "JUAN", years_ago(25), booking_id=fam)
    features = build_features(nb.tables())
    result = CATALOGUE.evaluate(features, night=TODAY)
    assert tuple(result.hits.columns) == HITS_COLUMNS
    r001 = result.hits.loc[result.hits["rule_id"] == "R-001"]
    assert r001["traveller_id"].tolist() == [t]  # the family booking is exonerated
    hit = r001.iloc[0]
    assert (hit["ref"], hit["track"], hit["weight"], hit["rule_version"]) == (
        "R-001@1",
        "protection",
        1.6,
        1,
    )
    assert hit["rules_digest"] == CATALOGUE.digest == result.rules_digest
    assert json.loads(hit["observed"]) == {
        "booking.payer_travelling": False,
        "booking.payment_cash": True,
        "booking.one_way": True,
        "booking.payer_same_surname": False,
    }


def test_observed_values_round_trip_for_every_type() -> None:
    features = random_features(2000, seed=3)
    result = CATALOGUE.evaluate(features, night=TODAY)
    assert len(result.hits) > 0
    by_id = features.set_index("traveller_id")
    for rec in result.hits.sample(200, random_state=1, replace=True).to_dict("records"):
        observed = json.loads(rec["observed"])
        rule = CATALOGUE.by_ref()[rec["ref"]]
        assert list(observed) == rule.fields()
        for name, value in observed.items():
            expected = by_id.at[rec["traveller_id"], name]
            if pd.isna(expected):
                assert value is None
            else:
                assert value == pytest.approx(expected), name


def test_overdue_rule_is_skipped_with_a_warning() -> None:
    features = random_features(500, seed=5)
    late = dt.date(2027, 7, 1)  # after every review_by of the catalogue
    result = CATALOGUE.evaluate(features, night=late)
    assert result.hits.empty
    assert set(result.skipped) == {r.ref for r in CATALOGUE.rules}
    assert all("review_by 2027-06-30 is before night 2027-07-01" in w for w in result.warnings)
    assert CATALOGUE.evaluate(features, night=TODAY).skipped == ()


def test_rule_text_is_data_not_code() -> None:
    features = pd.DataFrame(
        {
            "traveller_id": ["a"],
            "traveller.case_match_role": pd.array(["__import__('os')"], dtype="str"),
        }
    )
    rule = Rule.model_validate(
        _mutate(
            GOOD,
            "when",
            {
                "all": [
                    {"field": "traveller.case_match_role", "op": "eq", "value": "__import__('os')"}
                ]
            },
        )
        | {"unless": None}
    )
    assert rule_mask(rule, features).tolist() == [True]  # compared as text, nothing executed


def test_missing_column_is_named() -> None:
    with pytest.raises(KeyError, match="feature table has no column 'booking"):
        evaluate(CATALOGUE.rules, pd.DataFrame({"traveller_id": ["a"]}), rules_digest="x")


def test_run_rules_writes_hits_with_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    night = "2026-11-27"
    write_features(random_features(400, seed=9), night)
    result = run_rules(night)
    hits, meta = read_hits(night)
    assert len(hits) == len(result.hits) > 0
    assert meta["rules_digest"] == CATALOGUE.digest and meta["skipped"] == []
    main(["rules", "evaluate", "--night", night, "--format", "json"])
    assert json.loads(capsys.readouterr().out)["hits"] == len(hits)


def test_run_rules_without_features_is_refused() -> None:
    with pytest.raises(ApiflagError, match="no feature table"):
        run_rules("2026-01-01")


def test_catalogue_report_counts_hits_and_precision() -> None:
    features = random_features(3000, seed=11)
    result = CATALOGUE.evaluate(features, night=TODAY)
    victims = set(result.hits.loc[result.hits["rule_id"] == "R-001", "traveller_id"][:2])
    labels = pd.DataFrame(
        {
            "traveller_id": features["traveller_id"],
            "truth_label": ["victim" if t in victims else "none" for t in features["traveller_id"]],
            "pattern": [
                "recruitment_network" if t in victims else "" for t in features["traveller_id"]
            ],
            "confounder": "",
        }
    )
    text = catalogue_report(CATALOGUE, features, labels=labels, night=str(TODAY), source="test")
    n001 = (result.hits["rule_id"] == "R-001").sum()
    line = next(x for x in text.splitlines() if x.startswith("| `R-001@1`"))
    assert f"| {n001:,} |" in line
    assert f"{2 / n001:.0%}" in line and "recruitment_network 2" in line
    assert CATALOGUE.digest in text
    for rule in CATALOGUE.rules:
        assert f"`{rule.ref}`" in text


def test_feature_spec_names_are_unique_dotted_paths() -> None:
    names = [s.name for s in FEATURE_SPEC]
    assert len(names) == len(set(names))
    assert all(n.count(".") == 1 and n == n.lower() for n in names)


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (
            {"all": [{"field": "booking.one_way", "op": "eq", "value": True}]},
            "booking.one_way is true",
        ),
        (
            {
                "any": [
                    {"field": "booking.party_size", "op": "gt", "ref": "booking.adults_in_party"},
                    {"field": "bags.checked_count", "op": "is_null"},
                ]
            },
            "booking.party_size > booking.adults_in_party or bags.checked_count is unknown",
        ),
        (
            {
                "all": [
                    {"field": "booking.payment_cash", "op": "eq", "value": True},
                    {
                        "any": [
                            {"field": "booking.lead_time_hours", "op": "between", "value": [0, 72]},
                            {"field": "traveller.case_match_role", "op": "in", "value": ["broker"]},
                        ]
                    },
                ]
            },
            "booking.payment_cash is true and (booking.lead_time_hours between [0, 72] or traveller.case_match_role in ['broker'])",
        ),
    ],
)
def test_criteria_read_as_a_sentence(when: dict[str, Any], text: str) -> None:
    rule = Rule.model_validate(_mutate(GOOD, "when", when) | {"unless": None})
    assert rule.criteria() == f"fires when {text}"


def test_report_cli_writes_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_features(random_features(300, seed=2), "2026-11-26")
    write_features(random_features(300, seed=4), "2026-11-27")
    out = tmp_path / "catalogue.md"
    main(["rules", "report", "--out", str(out)])
    text = out.read_text()
    assert "600 travellers" in text and CATALOGUE.digest in text
    assert "nights 2026-11-26, 2026-11-27" in text
    assert all(f"`{r.ref}`" in text for r in CATALOGUE.rules)
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "report", "--night", "2026-01-01"])
    assert exit_info.value.code == 1
    assert "no feature table for night 2026-01-01" in capsys.readouterr().err


def test_rules_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFLAG_RULES_DIR", str(tmp_path / "missing"))
    with pytest.raises(
        ApiflagError, match="missing: no such rule file or folder .*APIFLAG_RULES_DIR"
    ):
        load_catalogue()
    shutil.copytree(RULES_DIR, tmp_path / "missing")
    assert load_catalogue().digest == CATALOGUE.digest
