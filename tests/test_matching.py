"""Matching travellers against case persons: every variant kind matches, every decoy does not.

The case database holds eleven target persons among 2,000 background persons with common names,
so the prior is realistic and common-name decoys have something to collide with.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from apiflag.matching.match import (
    FIELD_COLUMNS,
    MATCH_COLUMNS,
    Matcher,
    match_travellers,
    traveller_side,
)
from apiflag.matching.model import load_model
from matching_helpers import case_database, filler_persons


def _p(
    pid: str,
    role: str,
    surname: str,
    given: str | None,
    dob: str | None,
    nat: str | None,
    docs: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "person_id": pid,
        "case_id": f"C-{pid}",
        "role": role,
        "surname": surname,
        "given_names": given,
        "aliases": aliases,
        "date_of_birth": dob,
        "nationality": nat,
        "document_numbers": docs,
    }


TARGETS = [
    _p(
        "K-1",
        "recruiter",
        "PHETSRI",
        "NARONG",
        "1975-08-19",
        "THA",
        ("AA1112223",),
        ("SOMBAT, NARONG",),
    ),
    _p("K-2", "victim", "NGUYEN", "THI HUONG", "1999-03-04", "VNM", ("C1234567",)),
    _p("K-3", "broker", "DELA CRUZ", "JUAN MIGUEL", "1980-11-02", "PHL", ("P7654321",)),
    _p("K-4", "employer", "MÜLLER", "HANS", "1960-05-06", "DEU"),
    _p("K-5", "recruiter", "KHAN", "MOHAMMED IMRAN", "1985-07-07", "PAK"),
    _p("K-6", "victim", "IVANOVA", "YULIA", "1995-09-15", "RUS"),
    _p("K-7", "recruiter", "GARCIA LOPEZ", "MARIA", "1978-02-20", "ESP"),
    _p("K-8", "recruiter", "CHAIYAPORN", "SOMCHAI", "1983-04-15", "THA", ("AB1234567",)),
    _p("K-9", "broker", "WANG", "FANG", "1970-01-25", "CHN"),
    _p("K-10", "perpetrator", "O'BRIEN", "PATRICK", "1966-03-17", "IRL"),
    _p("K-11", "perpetrator", "LIM ISMAIL", "AHMAD FAIZ", "1983-04-23", "MYS"),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(case_database(TARGETS + filler_persons(2000)), load_model())


def _t(
    surname: str, given: str | None, dob: str | None, nat: str | None = None, doc: str | None = None
) -> dict[str, Any]:
    return {
        "surname": surname,
        "given_names": given,
        "date_of_birth": dob,
        "nationality": nat,
        "doc": doc,
    }


def _run(matcher: Matcher, travellers: list[dict[str, Any]], threshold: float | None = None):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(
        [
            {"traveller_id": f"T{i}", **{k: v for k, v in t.items() if k != "doc"}}
            for i, t in enumerate(travellers)
        ]
    )
    docs = pd.DataFrame(
        [
            {"owner_kind": "api", "owner_id": f"T{i}", "number": t["doc"]}
            for i, t in enumerate(travellers)
            if t.get("doc")
        ],
        columns=["owner_kind", "owner_id", "number"],
    )
    return matcher.match_side(traveller_side(frame, docs), threshold)


VARIANTS = [
    # (kind, traveller, expected person, expected levels)
    ("exact", _t("PHETSRI", "NARONG", "1975-08-19", "THA"), "K-1", {"surname": "exact"}),
    (
        "typo-phonetic PHETSRY/PHETSRI",
        _t("PHETSRY", "NARONG", "1975-08-19", "THA"),
        "K-1",
        {"surname": "phonetic"},
    ),
    (
        "typo-substituted consonant",
        _t("CHAIYAPORM", "SOMCHAI", "1983-04-15", "THA"),
        "K-8",
        {"surname": "jw_high"},
    ),
    (
        "transliteration-diacritics",
        _t("NGUYỄN", "THỊ HƯƠNG", "1999-03-04", "VNM"),
        "K-2",
        {"surname": "exact", "given_names": "exact"},
    ),
    (
        "transliteration-rule THA",
        _t("CHAIYAPHON", "SOMCHAY", "1983-04-15", "THA"),
        "K-8",
        {"given_names": "phonetic"},
    ),
    ("mrz-umlaut MUELLER", _t("MUELLER", "HANS", "1960-05-06", "DEU"), "K-4", {"surname": "exact"}),
    (
        "mrz-filler",
        _t("DELA<CRUZ", "JUAN<MIGUEL", "1980-11-02", "PHL"),
        "K-3",
        {"surname": "exact", "given_names": "exact"},
    ),
    ("title", _t("PHETSRI", "NARONG MR", "1975-08-19", "THA"), "K-1", {"given_names": "exact"}),
    (
        "punctuation O BRIEN",
        _t("O BRIEN", "PATRICK", "1966-03-17", "IRL"),
        "K-10",
        {"surname": "exact"},
    ),
    (
        "hyphen GARCIA-LOPEZ",
        _t("GARCIA-LOPEZ", "MARIA", "1978-02-20", "ESP"),
        "K-7",
        {"surname": "exact"},
    ),
    (
        "compound DELACRUZ",
        _t("DELACRUZ", "JUAN MIGUEL", "1980-11-02", "PHL"),
        "K-3",
        {"surname": "exact"},
    ),
    (
        "compound cut GARCIA",
        _t("GARCIA", "MARIA", "1978-02-20", "ESP"),
        "K-7",
        {"surname": "partial"},
    ),
    (
        # the kept word is shorter than the dropped one (missed before: issue 14's assess run)
        "compound cut to its first word LIM",
        _t("LIM", "AHMAD FAIZ", "1983-04-23", "MYS"),
        "K-11",
        {"surname": "partial"},
    ),
    (
        "placeholder FNU",
        _t("PHETSRI", "FNU", "1975-08-19", "THA", "AA1112223"),
        "K-1",
        {"given_names": "missing"},
    ),
    (
        "placeholder XX with document",
        _t("CHAIYAPORN", "XX", None, "THA", "AB1234567"),
        "K-8",
        {"given_names": "missing", "document": "exact"},
    ),
    (
        "swapped order",
        _t("NARONG", "PHETSRI", "1975-08-19", "THA"),
        "K-1",
        {"name_order": "swapped"},
    ),
    (
        "vietnamese order",
        _t("HUONG", "NGUYEN THI", "1999-03-04", "VNM"),
        "K-2",
        {"name_order": "reordered"},
    ),
    ("chinese order", _t("FANG", "WANG", "1970-01-25", "CHN"), "K-9", {"name_order": "swapped"}),
    (
        "variant MUHAMMAD",
        _t("KHAN", "MUHAMMAD IMRAN", "1985-07-07", "PAK"),
        "K-5",
        {"given_names": "phonetic"},
    ),
    (
        "variant IOULIA",
        _t("IVANOVA", "IOULIA", "1995-09-15", "RUS"),
        "K-6",
        {"given_names": "phonetic"},
    ),
    (
        "dropped middle name",
        _t("DELA CRUZ", "JUAN", "1980-11-02", "PHL"),
        "K-3",
        {"given_names": "dropped_middle"},
    ),
    (
        "dob day-month swap",
        _t("NGUYEN", "THI HUONG", "1999-04-03", "VNM", "C1234567"),
        "K-2",
        {"date_of_birth": "day_month_swapped"},
    ),
    (
        "dob year off by one",
        _t("PHETSRI", "NARONG", "1976-08-19", "THA", "AA1112223"),
        "K-1",
        {"date_of_birth": "one_part_off"},
    ),
    (
        "document one edit, no dob",
        _t("CHAIYAPORN", "SOMCHAI", None, "THA", "AB1234568"),
        "K-8",
        {"document": "one_edit"},
    ),
    (
        "document separators",
        _t("DELA CRUZ", "JUAN MIGUEL", None, "PHL", "P-765 4321"),
        "K-3",
        {"document": "exact"},
    ),
    ("alias", _t("SOMBAT", "NARONG", "1975-08-19", "THA"), "K-1", {"surname": "exact"}),
]


@pytest.mark.parametrize(
    ("traveller", "person", "levels"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_variant_kind_matches(
    matcher: Matcher, traveller: dict[str, Any], person: str, levels: dict[str, str]
) -> None:
    result = _run(matcher, [traveller])
    assert list(result.matches["person_id"]) == [person], result.fields.to_string()
    fields = result.fields.set_index("field")
    for field, level in levels.items():
        assert fields.loc[field, "level"] == level, fields.loc[field, "sentence"]


DECOYS = [
    ("common name other birth date", _t("NGUYEN", "THI HUONG", "1990-06-06", "VNM")),
    ("same name other dob and document", _t("PHETSRI", "NARONG", "1960-01-01", "THA", "ZZ9999999")),
    ("name only, no dob no document", _t("NGUYEN", "THI HUONG", None, "VNM")),
    ("name only via alias", _t("SOMBAT", "NARONG", None, "THA")),
    ("same dob, other person", _t("SATO", "YUKI", "1999-03-04", "JPN")),
    (
        "sibling: same surname and dob, other given name",
        _t("PHETSRI", "SOMCHAI", "1975-08-19", "THA"),
    ),
    ("same dob, similar but different name", _t("NGO", "THI LAN", "1999-03-04", "VNM")),
    (
        "victim's document under another identity",
        _t("SMITH", "JOHN", "1970-01-01", "GBR", "C1234567"),
    ),
]


@pytest.mark.parametrize("traveller", [d[1] for d in DECOYS], ids=[d[0] for d in DECOYS])
def test_decoy_kind_does_not_match(matcher: Matcher, traveller: dict[str, Any]) -> None:
    result = _run(matcher, [traveller])
    assert result.matches.empty, result.fields.to_string()


def test_name_only_evidence_never_reaches_any_threshold(matcher: Matcher) -> None:
    """Exact names without birth date or document stay unreported even at a threshold near 0."""
    result = _run(
        matcher,
        [_t("PHETSRI", "NARONG", None, "THA"), _t("NGUYEN", "THI HUONG", None, "VNM")],
        threshold=1e-9,
    )
    assert result.matches.empty
    ti, pi = matcher.candidates(
        traveller_side(
            pd.DataFrame(
                [
                    {
                        "traveller_id": "T",
                        "surname": "PHETSRI",
                        "given_names": "NARONG",
                        "date_of_birth": None,
                        "nationality": "THA",
                    }
                ]
            ),
            pd.DataFrame(columns=["owner_kind", "owner_id", "number"]),
        )
    )
    assert len(ti) == 0


def test_victim_match_is_protection_only_and_others_are_not(matcher: Matcher) -> None:
    result = _run(
        matcher,
        [
            _t("NGUYEN", "THI HUONG", "1999-03-04", "VNM"),
            _t("PHETSRI", "NARONG", "1975-08-19", "THA"),
        ],
    )
    by_person = result.matches.set_index("person_id")
    assert by_person.loc["K-2", "role"] == "victim" and bool(
        by_person.loc["K-2", "protection_only"]
    )
    assert by_person.loc["K-1", "role"] == "recruiter" and not bool(
        by_person.loc["K-1", "protection_only"]
    )


def test_output_columns_and_field_rows_sum_to_match_weight(matcher: Matcher) -> None:
    result = _run(matcher, [v[1] for v in VARIANTS])
    model = matcher.model
    assert list(result.matches.columns) == MATCH_COLUMNS
    assert list(result.fields.columns) == FIELD_COLUMNS
    assert len(result.matches) == len(VARIANTS)
    sums = result.fields.groupby(["traveller_id", "person_id"])["weight"].sum()
    for m in result.matches.itertuples():
        assert math.isclose(sums[(m.traveller_id, m.person_id)], m.match_weight, abs_tol=1e-9)
        z = model.calibration_slope * m.match_weight + model.calibration_intercept
        assert math.isclose(m.probability, 1 / (1 + 2**-z), rel_tol=1e-9)
    assert result.fields["sentence"].str.len().gt(10).all()


def test_match_travellers_reads_api_and_linked_pnr_documents() -> None:
    db = case_database(TARGETS + filler_persons(200))
    travellers = pd.DataFrame(
        [
            {
                "traveller_id": "A",
                "surname": "CHAIYAPORN",
                "given_names": "SOMCHAI",
                "date_of_birth": None,
                "nationality": "THA",
                "pnr_traveller_id": None,
            },
            {
                "traveller_id": "B",
                "surname": "DELA CRUZ",
                "given_names": "JUAN MIGUEL",
                "date_of_birth": None,
                "nationality": "PHL",
                "pnr_traveller_id": "PT-9",
            },
        ]
    )
    documents = pd.DataFrame(
        [
            {"owner_kind": "api", "owner_id": "A", "number": "AB1234567"},
            {"owner_kind": "pnr", "owner_id": "PT-9", "number": "P7654321"},
            {"owner_kind": "pnr", "owner_id": "A", "number": "P7654321"},  # not A's: A is an API id
        ]
    )
    result = match_travellers(travellers, documents, db)
    assert sorted(
        zip(result.matches["traveller_id"], result.matches["person_id"], strict=True)
    ) == [("A", "K-8"), ("B", "K-3")]


def test_threshold_outside_zero_one_is_a_usage_error(matcher: Matcher) -> None:
    from apiflag.errors import UsageError

    with pytest.raises(UsageError, match="between 0 and 1"):
        matcher.threshold_or_default(1.5)


ORDERED = {
    "surname": ["exact", "phonetic", "jw_mid", "different"],
    "given_names": ["exact", "phonetic", "jw_mid", "different"],
    "date_of_birth": ["exact", "day_month_swapped", "one_part_off", "year_only", "different"],
    "document": ["exact", "one_edit", "different"],
    "nationality": ["same", "different"],
}


@pytest.mark.parametrize("field", sorted(ORDERED))
def test_committed_model_weights_fall_with_weaker_agreement(field: str) -> None:
    """A reviewable sanity check of models/matcher.json: weaker agreement never weighs more."""
    model = load_model()
    weights = [model.weight(field, level) for level in ORDERED[field]]
    assert weights == sorted(weights, reverse=True), dict(zip(ORDERED[field], weights, strict=True))
    assert weights[0] > 0 > weights[-1]
    assert model.weight(field, "missing") == 0.0


def test_weak_dob_evidence_alone_is_weaker_than_exact(matcher: Matcher) -> None:
    """Same names: exact dob > day/month swapped > one part off, all else equal."""
    rows = [
        _t("PHETSRI", "NARONG", "1975-08-19", "THA"),
        _t("PHETSRI", "NARONG", "1975-09-19", "THA"),
        _t("PHETSRI", "NARONG", "1975-08-20", "THA"),
    ]
    result = _run(matcher, rows, threshold=1e-9)
    weights = result.matches.set_index("traveller_id")["match_weight"]
    assert weights["T0"] > weights["T1"] and weights["T0"] > weights["T2"]


def test_empty_inputs_give_empty_results_with_columns() -> None:
    db = case_database(TARGETS[:2])
    empty_t = pd.DataFrame(
        columns=["traveller_id", "surname", "given_names", "date_of_birth", "nationality"]
    )
    empty_d = pd.DataFrame(columns=["owner_kind", "owner_id", "number"])
    result = match_travellers(empty_t, empty_d, db)
    assert result.matches.empty and list(result.matches.columns) == MATCH_COLUMNS
    assert result.fields.empty and list(result.fields.columns) == FIELD_COLUMNS
    no_persons = case_database([])
    one = pd.DataFrame(
        [
            {
                "traveller_id": "T",
                **{k: v for k, v in _t("PHETSRI", "NARONG", "1975-08-19").items() if k != "doc"},
            }
        ]
    )
    assert match_travellers(one, empty_d, no_persons).matches.empty
