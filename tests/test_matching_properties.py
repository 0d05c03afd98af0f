"""Properties of scoring and blocking (Hypothesis).

- The explanation rows of any pair sum to its match weight.
- A pair's score is the same whether scored alone or in a batch, found by blocking or not.
- Blocking and pruning lose nothing: brute force over every pair reports the same matches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from apiflag.matching.match import Matcher, traveller_side
from apiflag.matching.model import FIELDS, load_model
from apiflag.matching.scoring import explain_pair
from matching_helpers import case_database

SURNAMES = [
    "NGUYEN",
    "PHETSRI",
    "DELA CRUZ",
    "GARCIA LOPEZ",
    "KIM",
    "WANG",
    "MÜLLER",
    "O'BRIEN",
    "IVANOVA",
    "CHAIYAPORN",
]
GIVEN = [
    "THI HUONG",
    "NARONG",
    "JUAN MIGUEL",
    "MARIA",
    "MINJUN",
    "FANG",
    "HANS",
    "PATRICK",
    "YULIA",
    "SOMCHAI",
    None,
]
DOBS = ["1975-08-19", "1975-09-19", "1976-08-19", "1999-03-04", "1999-04-03", "1980-11-02", None]
DOCS = ["AA1112223", "AA1112228", "C1234567", "P7654321", None]
NATS = ["THA", "VNM", "PHL", None]
MODEL = load_model()


def _typo(name: str, pos: int) -> str:
    if len(name) < 4:
        return name
    i = 1 + pos % (len(name) - 2)
    return name[:i] + ("E" if name[i] != "E" else "A") + name[i + 1 :]


@st.composite
def person(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "surname": draw(st.sampled_from(SURNAMES)),
        "given_names": draw(st.sampled_from(GIVEN)),
        "date_of_birth": draw(st.sampled_from(DOBS)),
        "nationality": draw(st.sampled_from(NATS)),
        "doc": draw(st.sampled_from(DOCS)),
    }


@st.composite
def variant_of(draw: st.DrawFn, p: dict[str, Any]) -> dict[str, Any]:
    t = dict(p)
    kind = draw(st.sampled_from(["exact", "swap", "typo", "join", "drop", "dob", "nodoc"]))
    if kind == "swap" and t["given_names"]:
        t["surname"], t["given_names"] = t["given_names"], t["surname"]
    elif kind == "typo":
        t["surname"] = _typo(t["surname"], draw(st.integers(0, 20)))
    elif kind == "join":
        t["surname"] = t["surname"].replace(" ", "")
    elif kind == "drop" and t["given_names"]:
        t["given_names"] = t["given_names"].split()[0]
    elif kind == "dob":
        t["date_of_birth"] = draw(st.sampled_from(DOBS))
    elif kind == "nodoc":
        t["doc"] = None
    return t


@st.composite
def world(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    persons = draw(st.lists(person(), min_size=1, max_size=8))
    travellers = [draw(variant_of(p)) for p in persons if draw(st.booleans())]
    travellers += draw(st.lists(person(), max_size=6))
    return persons, travellers


def _matcher(persons: list[dict[str, Any]]) -> Matcher:
    rows = [
        {
            "person_id": f"P{i}",
            "case_id": f"C{i}",
            "role": "victim" if i % 3 == 0 else "broker",
            "surname": p["surname"],
            "given_names": p["given_names"],
            "aliases": (),
            "date_of_birth": p["date_of_birth"],
            "nationality": p["nationality"],
            "document_numbers": (p["doc"],) if p["doc"] else (),
        }
        for i, p in enumerate(persons)
    ]
    return Matcher(case_database(rows), MODEL)


def _side(travellers: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(
        [
            {"traveller_id": f"T{i}", **{k: v for k, v in t.items() if k != "doc"}}
            for i, t in enumerate(travellers)
        ],
        columns=["traveller_id", "surname", "given_names", "date_of_birth", "nationality"],
    )
    docs = pd.DataFrame(
        [
            {"owner_kind": "api", "owner_id": f"T{i}", "number": t["doc"]}
            for i, t in enumerate(travellers)
            if t["doc"]
        ],
        columns=["owner_kind", "owner_id", "number"],
    )
    return traveller_side(frame, docs)


def _all_pairs(n_t: int, n_p: int) -> tuple[np.ndarray, np.ndarray]:
    ti, pi = np.meshgrid(np.arange(n_t), np.arange(n_p), indexing="ij")
    return ti.ravel(), pi.ravel()


@given(world())
@settings(max_examples=15)
def test_field_rows_sum_to_match_weight_for_every_pair(
    w: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    persons, travellers = w
    if not travellers:
        return
    matcher = _matcher(persons)
    side = _side(travellers)
    ti, pi = _all_pairs(len(travellers), len(persons))
    frame = matcher.score(side, ti, pi).frame
    for _, row in frame.iterrows():
        rows = explain_pair(row, side, matcher.persons, matcher.model)
        assert [r["field"] for r in rows] == ["prior", *FIELDS]
        assert math.isclose(sum(r["weight"] for r in rows), row["match_weight"], abs_tol=1e-9)


@given(world())
@settings(max_examples=15)
def test_blocking_never_changes_a_score_and_loses_no_match(
    w: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    persons, travellers = w
    if not travellers:
        return
    matcher = _matcher(persons)
    side = _side(travellers)
    thr = matcher.model.default_threshold
    ti, pi = _all_pairs(len(travellers), len(persons))
    brute = matcher.score(side, ti, pi).frame.set_index(["t", "p"])
    bt, bp = matcher.candidates(side)
    blocked = matcher.score(side, bt, bp).frame.set_index(["t", "p"])
    # same pair, same score, whether found by blocking or by brute force
    common = brute.loc[blocked.index]
    assert np.allclose(
        common["match_weight"].to_numpy(), blocked["match_weight"].to_numpy(), atol=1e-12
    )
    assert (common["gate"].to_numpy() == blocked["gate"].to_numpy()).all()
    # brute force over every pair reports exactly what blocking reports
    want = set(brute.index[(brute["gate"] & (brute["probability"] >= thr)).to_numpy()])
    got = set(blocked.index[(blocked["gate"] & (blocked["probability"] >= thr)).to_numpy()])
    assert got == want
    # the production path (blocking, bound pruning, chunked scoring) reports the same pairs
    result = matcher.match_side(side, thr)
    reported = set(zip(result.matches["traveller_id"], result.matches["person_id"], strict=True))
    assert reported == {(side.ids[t], matcher.persons.ids[p]) for t, p in want}
    # and a pair scored on its own scores the same as in the batch
    if len(bt):
        alone = matcher.score(side, bt[:1], bp[:1]).frame
        assert alone["match_weight"].iloc[0] == blocked["match_weight"].iloc[0]


@given(st.text(max_size=40))
def test_name_normalisation_is_idempotent_and_ascii(text: str) -> None:
    from apiflag.matching.normalise import normalise_name

    once = normalise_name(text)
    assert normalise_name(once) == once
    assert once.isascii() and once == once.upper().strip()
    assert "  " not in once
