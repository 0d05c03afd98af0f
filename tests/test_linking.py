"""API-PNR links: each documented level, the blocks, one-to-one, and order independence."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiflag.linking import LEVELS, given_agree, link_travellers, name_key

DOB = dt.date(2005, 6, 2)
OTHER = dt.date(2005, 6, 3)


def _api(*rows: tuple[str, str | None, str, str | None, dt.date | None]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["flight_id", "record_locator", "surname", "given_names", "date_of_birth"]
    )


def _pnr(*rows: tuple[str, str, str, str, str | None, dt.date | None]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "pnr_traveller_id",
            "booking_id",
            "record_locator",
            "surname",
            "given_names",
            "date_of_birth",
        ],
    )


def _bookings(*rows: tuple[str, str, bool]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["booking_id", "flight_id", "superseded"])


BOOKING = _bookings(("B1", "F1", False))


@pytest.mark.parametrize(
    ("api", "pnr", "level"),
    [
        (("F1", "ABC123", "KAEWKLA", "PIMCHANOK", DOB), ("KAEWKLA", "PIMCHANOK", DOB), "exact"),
        (("F1", "abc123 ", "Kaewkla", "Pimchanok", DOB), ("KAEWKLA", "PIMCHANOK", DOB), "exact"),
        (
            ("F1", "ABC123", "KAEWKLA", "PIMCHANOK DARA", DOB),
            ("KAEWKLA", "PIMCHANOK", DOB),
            "exact",
        ),
        (("F1", "ABC123", "VAN DER BERG", "ANNA", DOB), ("VANDERBERG", "ANNA", DOB), "exact"),
        (("F1", "ABC123", "MÜLLER", "JÖRG", DOB), ("MULLER", "JORG", DOB), "exact"),
        (
            ("F1", "ABC123", "KAEWKLA", "DARA", DOB),
            ("KAEWKLA", "PIMCHANOK", DOB),
            "locator_surname_dob",
        ),
        (
            ("F1", "ABC123", "KAEWKLA", None, DOB),
            ("KAEWKLA", "PIMCHANOK", DOB),
            "locator_surname_dob",
        ),
        (
            ("F1", "ABC123", "KAEWKLA", "PIMCHANOK", DOB),
            ("KAEWKLA", "PIMCHANOK", None),
            "locator_name",
        ),
        (("F1", None, "KAEWKLA", "PIMCHANOK", DOB), ("KAEWKLA", "PIMCHANOK", DOB), "name_dob"),
        (("F1", "ZZZ999", "KAEWKLA", "PIMCHANOK", DOB), ("KAEWKLA", "PIMCHANOK", DOB), "name_dob"),
        (
            ("F1", "ABC123", "KAEWKLA", "DARA", None),
            ("KAEWKLA", "PIMCHANOK", DOB),
            "locator_surname",
        ),
        # blocks
        (("F1", "ABC123", "KAEWKLA", "PIMCHANOK", OTHER), ("KAEWKLA", "PIMCHANOK", DOB), None),
        (("F1", "ABC123", "SATO", "PIMCHANOK", DOB), ("KAEWKLA", "PIMCHANOK", DOB), None),
        (("F2", "ABC123", "KAEWKLA", "PIMCHANOK", DOB), ("KAEWKLA", "PIMCHANOK", DOB), None),
        (("F1", None, "KAEWKLA", "PIMCHANOK", None), ("KAEWKLA", "PIMCHANOK", DOB), None),
        (("F1", None, "KAEWKLA", "DARA", DOB), ("KAEWKLA", "PIMCHANOK", DOB), None),
    ],
    ids=[
        "exact",
        "exact-case-and-spaces",
        "exact-middle-name-dropped",
        "exact-compound-surname",
        "exact-transliterated",
        "given-differs",
        "api-has-no-given",
        "pnr-has-no-dob",
        "no-locator",
        "wrong-locator",
        "locator-surname-only",
        "dob-conflict-blocks",
        "surname-differs",
        "other-flight",
        "no-locator-no-dob",
        "no-locator-given-differs",
    ],
)
def test_each_level_and_block(
    api: tuple[str, str | None, str, str | None, dt.date | None],
    pnr: tuple[str, str | None, dt.date | None],
    level: str | None,
) -> None:
    links = link_travellers(_api(api), _pnr(("P1", "B1", "ABC123", *pnr)), BOOKING)
    confidence = {lv.name: lv.confidence for lv in LEVELS}
    if level is None:
        assert links.loc[0, "link_level"] is None or pd.isna(links.loc[0, "link_level"])
        assert pd.isna(links.loc[0, "link_confidence"])
        assert pd.isna(links.loc[0, "pnr_traveller_id"])
    else:
        assert links.loc[0, "link_level"] == level
        assert links.loc[0, "link_confidence"] == confidence[level]
        assert links.loc[0, "pnr_traveller_id"] == "P1"
        assert links.loc[0, "booking_id"] == "B1"


def test_levels_are_ordered_and_within_unit_interval() -> None:
    values = [lv.confidence for lv in LEVELS]
    assert values == sorted(values, reverse=True)
    assert values[0] == 1.0 and all(0 < v <= 1 for v in values)


def test_superseded_pushes_are_never_linked() -> None:
    api = _api(("F1", "ABC123", "KAEWKLA", "PIMCHANOK", DOB))
    pnr = _pnr(
        ("P-old", "B-old", "ABC123", "KAEWKLA", "PIMCHANOK", DOB),
        ("P-new", "B-new", "ABC123", "KAEWKLA", "PIMCHANOK", None),
    )
    bookings = _bookings(("B-old", "F1", True), ("B-new", "F1", False))
    links = link_travellers(api, pnr, bookings)
    assert links.loc[0, "pnr_traveller_id"] == "P-new"
    assert links.loc[0, "link_level"] == "locator_name"


def test_two_equal_partners_are_ambiguous_not_guessed() -> None:
    api = _api(("F1", "ABC123", "NGUYEN", None, DOB))
    pnr = _pnr(
        ("P1", "B1", "ABC123", "NGUYEN", "AN", DOB),
        ("P2", "B1", "ABC123", "NGUYEN", "BINH", DOB),
    )
    links = link_travellers(api, pnr, BOOKING)
    assert links.loc[0, "link_level"] == "ambiguous"
    assert pd.isna(links.loc[0, "pnr_traveller_id"])


def test_locator_surname_needs_a_unique_surname_in_the_booking() -> None:
    api = _api(("F1", "ABC123", "NGUYEN", "CHI", None))
    pnr = _pnr(
        ("P1", "B1", "ABC123", "NGUYEN", "AN", DOB),
        ("P2", "B1", "ABC123", "NGUYEN", "BINH", DOB),
    )
    assert pd.isna(link_travellers(api, pnr, BOOKING).loc[0, "link_level"])


def test_a_pnr_traveller_is_linked_once_strongest_first() -> None:
    api = _api(
        ("F1", "ABC123", "KAEWKLA", "DARA", DOB),  # locator_surname_dob
        ("F1", "ABC123", "KAEWKLA", "PIMCHANOK", DOB),  # exact: wins the partner
    )
    pnr = _pnr(("P1", "B1", "ABC123", "KAEWKLA", "PIMCHANOK", DOB))
    links = link_travellers(api, pnr, BOOKING)
    assert list(links["link_level"].fillna("-")) == ["-", "exact"]


def test_name_helpers() -> None:
    assert name_key(" o'brien-smith ") == "O BRIEN SMITH"
    assert name_key(None) == ""
    assert given_agree("ANNA MARIA", "ANNA")
    assert not given_agree("ANNA", "MARIA")
    assert not given_agree("", "ANNA")


_people = st.lists(
    st.tuples(
        st.sampled_from(["F1", "F2"]),
        st.sampled_from(["AAA111", "BBB222", None]),
        st.sampled_from(["SATO", "NGUYEN", "KAEWKLA"]),
        st.sampled_from(["YUKI", "AN", "YUKI AN", None]),
        st.sampled_from([DOB, OTHER, None]),
    ),
    min_size=1,
    max_size=12,
)


@given(api_rows=_people, pnr_rows=_people, seed=st.randoms(use_true_random=False))
def test_links_are_one_to_one_valid_and_independent_of_pnr_row_order(
    api_rows: list[tuple[str, str | None, str, str | None, dt.date | None]],
    pnr_rows: list[tuple[str, str | None, str, str | None, dt.date | None]],
    seed: object,
) -> None:
    bookings = _bookings(("B-F1", "F1", False), ("B-F2", "F2", False))
    pnr = _pnr(
        *[
            (f"P{i}", f"B-{flight}", loc or "", sur, giv, dob)
            for i, (flight, loc, sur, giv, dob) in enumerate(pnr_rows)
        ]
    )
    api = _api(*api_rows)
    links = link_travellers(api, pnr, bookings)
    linked = links["pnr_traveller_id"].dropna()
    assert linked.is_unique
    allowed = {lv.confidence for lv in LEVELS}
    assert set(links["link_confidence"].dropna()) <= allowed
    for i in linked.index:  # a link never crosses flights
        pid = links.loc[i, "pnr_traveller_id"]
        assert (
            api.loc[i, "flight_id"] == pnr.set_index("pnr_traveller_id").loc[pid, "booking_id"][2:]
        )
    shuffled = pnr.sample(frac=1.0, random_state=seed.randint(0, 10**6))  # type: ignore[attr-defined]
    again = link_travellers(api, shuffled.reset_index(drop=True), bookings)
    pd.testing.assert_frame_equal(links, again)
