"""The companion of a minor and relations beyond the surname (issue 14, items 1 and 2)."""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiflag.errors import ApiflagError
from apiflag.features import FEATURES, build_features
from apiflag.model.data import check_no_protected, load_feature_spec
from apiflag.rules import load_catalogue
from apiflag.rules.lint import lint_rule
from apiflag.rules.schema import Rule
from rules_helpers import NIGHT, NightBuilder, row, years_ago

COMPANION = ("companion.minors", "companion.unrelated_minors")


def _contact(nb: NightBuilder, booking_id: str, pnr_id: str, kind: str, value: str) -> None:
    """A contact given for one traveller (SSR DOCA / CTCM / CTCE)."""
    source = {"address": "DOCA", "phone": "CTCM", "email": "CTCE"}[kind]
    nb.rows["booking_contacts"].append(
        {
            "booking_id": booking_id,
            "pnr_traveller_id": pnr_id,
            "kind": kind,
            "value": value,
            "normalized": None,
            "source": source,
        }
    )


def _pnr_id(nb: NightBuilder, traveller_id: str) -> str:
    return next(
        t["pnr_traveller_id"] for t in nb.rows["travellers"] if t["traveller_id"] == traveller_id
    )


def _outbound_leg(nb: NightBuilder, booking_id: str, days_before: int = 10) -> None:
    """An earlier leg of the booking leaving the airport tonight's flight arrives at."""
    dep = pd.Timestamp(NIGHT) - pd.Timedelta(days=days_before)
    nb.rows["itinerary"].append(
        {
            "booking_id": booking_id,
            "leg_seq": 0,
            "carrier": "ZZ",
            "number": "100",
            "departure_airport": "NRT",
            "arrival_airport": "MNL",
            "scheduled_departure": dep,
            "scheduled_arrival": dep + pd.Timedelta(hours=5),
        }
    )


@functools.cache
def _catalogue() -> Any:
    return load_catalogue()


def _hits(features: pd.DataFrame) -> dict[str, set[str]]:
    hits = _catalogue().evaluate(features, night=NIGHT).hits
    return {str(t): set(g) for t, g in hits.groupby("traveller_id")["rule_id"]}


# ----------------------------------------------------------------------------- the companion


def test_adult_paying_one_way_for_an_unrelated_girl_is_examined_and_she_is_protected() -> None:
    nb = NightBuilder()
    b = nb.booking("MINOR1", payer="DOE/JOHN", return_after_days=None)
    man = nb.traveller("DOE", "JOHN", years_ago(41), booking_id=b, sex="M")
    girl = nb.traveller("REYES", "ANA", years_ago(15), booking_id=b)
    f = build_features(nb.tables())
    m, g = row(f, man), row(f, girl)
    assert (m["companion.minors"], m["companion.unrelated_minors"]) == (1, 1)
    assert g["companion.minors"] is None and g["companion.unrelated_minors"] is None
    hits = _hits(f)
    assert "R-021" in hits[man]
    assert "R-003" in hits[girl] and "R-021" not in hits.get(girl, set())


def test_the_companion_feature_reads_the_companions_age_never_the_adults() -> None:
    values = []
    for adult_age in (19, 35, 70):
        nb = NightBuilder()
        b = nb.booking("AGE001", payer="DOE/JOHN", return_after_days=None)
        a = nb.traveller("DOE", "JOHN", years_ago(adult_age), booking_id=b, sex="M")
        nb.traveller("REYES", "ANA", years_ago(12), booking_id=b)
        values.append(tuple(row(build_features(nb.tables()), a)[c] for c in COMPANION))
    assert values == [(1, 1)] * 3  # the adult's own age changes nothing
    nb = NightBuilder()
    b = nb.booking("AGE002", payer="DOE/JOHN", return_after_days=None)
    a = nb.traveller("DOE", "JOHN", years_ago(40), booking_id=b, sex="M")
    nb.traveller("REYES", "ANA", years_ago(19), booking_id=b)  # the companion is an adult
    assert tuple(row(build_features(nb.tables()), a)[c] for c in COMPANION) == (0, 0)


def test_paying_for_a_minor_in_another_booking_counts_but_a_namesake_does_not() -> None:
    nb = NightBuilder()
    own = nb.booking("OWN001", payer="DOE/JOHN", return_after_days=None)
    man = nb.traveller("DOE", "JOHN", years_ago(45), booking_id=own, sex="M")
    other = nb.booking("KID001", payer="DOE/JOHN", return_after_days=None)
    nb.traveller("REYES", "ANA", years_ago(14), booking_id=other)
    f = build_features(nb.tables())
    assert (row(f, man)["companion.minors"], row(f, man)["companion.unrelated_minors"]) == (1, 1)
    assert "R-021" in _hits(f)[man]
    # a second JOHN DOE on the night: the payer name no longer names one traveller
    nb.traveller("DOE", "JOHN", years_ago(60), booking_id=nb.booking("NAME02"), sex="M")
    assert row(build_features(nb.tables()), man)["companion.minors"] == 0


@pytest.mark.parametrize("evidence", ["address", "phone", "returning", "history"])
def test_a_relation_shown_beyond_the_surname_exonerates(evidence: str) -> None:
    """A mother travelling one-way with her son of another surname (the father's)."""
    nb = NightBuilder()
    b = nb.booking("FAM001", payer="KIM/JIYEON", return_after_days=None)
    mother = nb.traveller("KIM", "JIYEON", years_ago(38), booking_id=b)
    son = nb.traveller("PARK", "MINJUN", years_ago(9), booking_id=b, sex="M")
    history = []
    if evidence in ("address", "phone"):
        value = "R/KOR/12 MAIN ST/SEOUL" if evidence == "address" else "+82 10 1234 5678"
        for t in (mother, son):
            _contact(nb, b, _pnr_id(nb, t), evidence, value)
    elif evidence == "returning":
        _outbound_leg(nb, b)
    else:
        before = NightBuilder(str((pd.Timestamp(NIGHT) - pd.Timedelta(days=12)).date()))
        hb = before.booking("FAM000", payer="KIM/JIYEON")
        before.traveller("KIM", "JIYEON", years_ago(38), booking_id=hb)
        before.traveller("PARK", "MINJUN", years_ago(9), booking_id=hb, sex="M")
        history.append(before.tables())
    f = build_features(nb.tables(), history=history)
    m, s = row(f, mother), row(f, son)
    assert m["companion.minors"] == 1 and m["companion.unrelated_minors"] == 0
    assert m["traveller.companions_related"] == 1 and s["traveller.companions_related"] == 1
    feature = {
        "address": "traveller.companions_shared_contact",
        "phone": "traveller.companions_shared_contact",
        "history": "traveller.companions_travelled_before",
        "returning": "booking.returning_together",
    }[evidence]
    assert m[feature] in (1, True)
    hits = _hits(f)
    assert not hits.get(mother) and not hits.get(son), hits


def test_the_same_surname_alone_is_no_relation() -> None:
    """Surnames are never read: a man and a girl of his surname, nothing else, still count."""
    nb = NightBuilder()
    b = nb.booking("SAME01", payer="DOE/JOHN", return_after_days=None)
    man = nb.traveller("DOE", "JOHN", years_ago(41), booking_id=b, sex="M")
    nb.traveller("DOE", "ANA", years_ago(15), booking_id=b)
    r = row(build_features(nb.tables()), man)
    assert r["companion.unrelated_minors"] == 1 and r["traveller.companions_related"] == 0


def test_a_school_paying_return_tickets_exonerates_pupils_and_teachers() -> None:
    nb = NightBuilder()
    b = nb.booking("SCHOOL", payer="RIVERSIDE HIGH SCHOOL", agency="AG1")
    teachers = [nb.traveller(f"TEACH{i}", "A", years_ago(40 + i), booking_id=b) for i in range(2)]
    pupils = [nb.traveller(f"PUPIL{i}", "B", years_ago(14), booking_id=b) for i in range(6)]
    f = build_features(nb.tables())
    assert row(f, teachers[0])["companion.unrelated_minors"] == 6
    assert row(f, pupils[0])["booking.unrelated_minors_with_adult"] == 6
    hits = _hits(f)
    assert not any(hits.get(t) for t in teachers + pupils), hits


def test_the_escorts_group_is_protected_and_the_escort_examined() -> None:
    nb = NightBuilder()
    b = nb.booking("ESC001", payer="DOE/JOHN", cash=True, return_after_days=None)
    escort = nb.traveller("DOE", "JOHN", years_ago(44), booking_id=b, sex="M", seat="12A")
    young = [
        nb.traveller(name, "X", years_ago(age), booking_id=b, seat=f"{14 + 2 * i}C")
        for i, (name, age) in enumerate((("REYES", 19), ("CRUZ", 20), ("LIM", 16)))
    ]
    hits = _hits(build_features(nb.tables()))
    assert {"R-014", "R-021"} <= hits[escort]
    for t in young:
        assert "R-022" in hits[t], hits.get(t)


# ----------------------------------------------------------------------------- the use level


def test_companion_features_are_their_own_use_level_enforced_by_the_linter() -> None:
    assert {FEATURES[c].use for c in COMPANION} == {"companion_of_minor"}
    assert all(FEATURES[c].protected for c in COMPANION)
    base: dict[str, Any] = {
        "id": "R-900",
        "version": 1,
        "title": "An adult with an unrelated minor",
        "weight": 1.0,
        "rationale": "Palermo Protocol art. 3(c)-(d): a child moved by an unrelated adult.",
        "when": {"all": [{"field": "companion.unrelated_minors", "op": "ge", "value": 1}]},
        "approved_by": "policy-board",
        "review_by": "2027-06-30",
        "examples": [
            {"name": "h", "input": {"companion.unrelated_minors": 1}, "expect": "hit"},
            {"name": "m", "input": {"companion.unrelated_minors": 0}, "expect": "miss"},
        ],
    }
    for track in ("protection", "document_integrity"):
        codes = [
            f.code for f in lint_rule("R-900-x.yaml", Rule.model_validate({**base, "track": track}))
        ]
        assert codes == ["E_COMPANION_ONLY"], (track, codes)
    assert lint_rule("R-900-x.yaml", Rule.model_validate({**base, "track": "examination"})) == []


def test_no_model_may_read_the_companion_features() -> None:
    spec = load_feature_spec()
    with pytest.raises(ApiflagError, match="companion.unrelated_minors"):
        check_no_protected(["booking.one_way", "companion.unrelated_minors"], spec)


# ----------------------------------------------------------------------------- naming customs


def _names(custom: str, role: str, i: int) -> tuple[str, str]:
    """(surname, given names) of a family member written by ``custom``."""
    given = {"father": "MINHO", "mother": "JIYEON"}.get(role, f"CHILD{'ABC'[i]}")
    if custom == "shared":
        return "SANTOS", given
    if custom == "mother_keeps":
        return ("KIM" if role == "mother" else "PARK"), given
    if custom == "double_spanish":
        return {"father": "GARCIA LOPEZ", "mother": "MARTINEZ RUIZ"}.get(
            role, "GARCIA MARTINEZ"
        ), given
    if custom == "double_short":  # one surname written: the child's is the father's
        return {"mother": "MARTINEZ"}.get(role, "GARCIA"), given
    return (given, "")  # single name, written as the surname


@st.composite
def families(draw: st.DrawFn) -> dict[str, Any]:
    one_way = draw(st.booleans())
    evidence = draw(st.sampled_from(["address", "phone", "returning", "history", "return_ticket"]))
    if evidence == "return_ticket":
        one_way = False  # a return ticket a travelling parent pays: the relation needs no proof
    return {
        "parents": draw(st.sampled_from([("father", "mother"), ("mother",), ("father",)])),
        "kids": draw(st.integers(1, 3)),
        "kid_ages": draw(st.lists(st.integers(0, 17), min_size=3, max_size=3)),
        "one_way": one_way,
        "cash": draw(st.booleans()),
        "agency": draw(st.booleans()),
        "evidence": evidence,
        "custom": draw(
            st.sampled_from(["mother_keeps", "double_spanish", "double_short", "single"])
        ),
    }


def _family_hits(fam: dict[str, Any], custom: str) -> dict[str, bool]:
    """Whether each member is flagged (any rule) when the family is named by ``custom``."""
    members = [(p, 0) for p in fam["parents"]] + [("child", i) for i in range(fam["kids"])]
    lead_sur, lead_given = _names(custom, members[0][0], 0)
    payer = f"{lead_sur}/{lead_given}" if lead_given else lead_sur
    nb = NightBuilder()
    b = nb.booking(
        "FAMILY",
        payer=payer,
        cash=fam["cash"],
        agency="AG1" if fam["agency"] else None,
        return_after_days=None if fam["one_way"] else 10,
    )
    ids, people = [], []
    for role, i in members:
        sur, given = _names(custom, role, i)
        age = fam["kid_ages"][i] if role == "child" else 40
        ids.append(
            nb.traveller(
                sur, given, years_ago(age + 0.5), booking_id=b, seat=f"20{'ABCDEF'[len(ids)]}"
            )
        )
        people.append((sur, given, years_ago(age + 0.5)))
    history = []
    if fam["evidence"] in ("address", "phone"):
        value = "R/KOR/12 MAIN ST/SEOUL" if fam["evidence"] == "address" else "+82 10 1234 5678"
        for t in ids:
            _contact(nb, b, _pnr_id(nb, t), fam["evidence"], value)
    elif fam["evidence"] == "returning":
        _outbound_leg(nb, b)
    elif fam["evidence"] == "history":
        before = NightBuilder(str((pd.Timestamp(NIGHT) - pd.Timedelta(days=20)).date()))
        hb = before.booking("FAMOLD", payer=payer)
        for sur, given, dob in people:
            before.traveller(sur, given, dob, booking_id=hb)
        history.append(before.tables())
    hits = _hits(build_features(nb.tables(), history=history))
    return {f"{role}{i}": bool(hits.get(t)) for (role, i), t in zip(members, ids, strict=True)}


@settings(max_examples=25)  # two nights built and scored per example
@given(families())
def test_renaming_a_family_by_its_custom_does_not_change_who_is_flagged(
    fam: dict[str, Any],
) -> None:
    assert _family_hits(fam, fam["custom"]) == _family_hits(fam, "shared")


# ----------------------------------------------------------------------------- organisation payers


def test_trainee_sharing_a_word_with_the_paying_organisation_is_not_exonerated() -> None:
    """CHAN HUMAN RESOURCES CO paying for trainees CHAN and MEAS: both are protected (R-007).

    The organisation's name shares a word with one trainee's surname; before, that counted as
    "a relative pays" and left the CHAN trainees of a labour_exploitation group unflagged.
    """
    nb = NightBuilder()
    b = nb.booking("TRAIN1", payer="CHAN HUMAN RESOURCES CO", return_after_days=None)
    chan = nb.traveller("CHAN", "VANNAK", years_ago(24), booking_id=b, issued_days_ago=9)
    meas = nb.traveller("MEAS", "SOPHEAP", years_ago(22), booking_id=b, issued_days_ago=12)
    hits = _hits(build_features(nb.tables()))
    assert "R-007" in hits.get(chan, set())
    assert "R-007" in hits.get(meas, set())
