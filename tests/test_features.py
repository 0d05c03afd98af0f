"""The feature table on hand-built bookings, confounders included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiflag.features import (
    FEATURE_SPEC,
    FEATURES,
    NightTables,
    SwitchboardPolicy,
    build_features,
    feature_spec_yaml,
)
from rules_helpers import (
    NIGHT,
    NightBuilder,
    identifier_matches_frame,
    matches_frame,
    row,
    years_ago,
)

REPO = Path(__file__).resolve().parents[1]


def test_one_row_per_traveller_typed_by_spec() -> None:
    nb = NightBuilder()
    b = nb.booking("AAA111")
    ids = [
        nb.traveller("SANTOS", "MARIA", years_ago(30), booking_id=b),
        nb.traveller("LONE", "X", None),
    ]
    f = build_features(nb.tables())
    assert f["traveller_id"].tolist() == ids
    assert list(f.columns) == ["traveller_id", *(s.name for s in FEATURE_SPEC)]
    expected = {"bool": "boolean", "int": "Int64", "float": "float64", "str": "str"}
    for spec in FEATURE_SPEC:
        if spec.type in expected:
            assert str(f[spec.name].dtype) == expected[spec.type], spec.name


def test_unlinked_traveller_keeps_row_with_booking_features_null() -> None:
    nb = NightBuilder()
    t = nb.traveller("LONE", "WOLF", years_ago(40))
    r = row(build_features(nb.tables()), t)
    assert r["api_pnr.linked"] is False or r["api_pnr.linked"] == False  # noqa: E712
    for name in (
        "booking.one_way",
        "booking.payment_cash",
        "booking.party_size",
        "booking.lead_time_hours",
    ):
        assert r[name] is None, name


def test_protected_attributes_are_monitoring_only() -> None:
    monitoring = {s.name for s in FEATURE_SPEC if s.use == "monitoring"}
    assert {
        "traveller.nationality",
        "traveller.sex",
        "traveller.date_of_birth",
        "traveller.age",
        "traveller.age_band",
        "traveller.place_of_birth",
        "traveller.country_of_residence",
    } <= monitoring
    assert FEATURES["traveller.is_minor"].use == "protection_only"
    assert all(FEATURES[n].protected for n in monitoring | {"traveller.is_minor"})
    assert not FEATURES["booking.one_way"].protected


def test_feature_spec_file_is_in_sync() -> None:
    """models/features.yaml is the reviewable copy of FEATURE_SPEC."""
    assert (REPO / "models" / "features.yaml").read_text(encoding="utf-8") == feature_spec_yaml()


@pytest.mark.parametrize(
    ("payer", "surname", "payer_travelling", "same_surname"),
    [
        ("RECRUITER/JOE", "SANTOS", False, False),  # stranger pays
        ("SANTOS/ROSA", "SANTOS", False, True),  # mother pays for her son: family confounder
        ("SANTOS/MARIA", "SANTOS", True, True),  # pays for herself
        ("MARIA SANTOS", "SANTOS", True, True),  # payer written without a slash
        ("Mrs Maria Santos", "SANTOS", True, True),  # titles and case are ignored
        (None, "SANTOS", None, None),  # nobody named: unknown, not "not travelling"
        ("CHAN HUMAN RESOURCES CO", "CHAN", False, False),  # an organisation is no relative
        ("CHAN/SOPHEA", "CHAN", False, True),  # a person of that surname still is
    ],
)
def test_payer_travelling_and_same_surname(
    payer: str | None, surname: str, payer_travelling: bool | None, same_surname: bool | None
) -> None:
    nb = NightBuilder()
    b = nb.booking("AAA111", cash=True, payer=payer)
    t = nb.traveller(surname, "MARIA", years_ago(25), booking_id=b)
    r = row(build_features(nb.tables()), t)
    assert r["booking.payer_travelling"] == payer_travelling
    assert r["booking.payer_same_surname"] == same_surname
    assert r["booking.payer_known"] == (payer is not None)


def test_guide_paying_for_group_is_travelling_payer() -> None:
    """A tour guide pays for the group: the payer travels; only the guide shares the surname."""
    nb = NightBuilder()
    b = nb.booking("TOUR01", agency="AG-TOURS", cash=False, payer="TANAKA/KENJI")
    guide = nb.traveller("TANAKA", "KENJI", years_ago(45), booking_id=b)
    tourists = [nb.traveller(f"REYES{i}", "ANA", years_ago(30 + i), booking_id=b) for i in range(5)]
    f = build_features(nb.tables())
    assert row(f, guide)["booking.payer_same_surname"] is True
    for t in tourists:
        r = row(f, t)
        assert r["booking.payer_travelling"] is True
        assert r["booking.payer_same_surname"] is False
        assert r["booking.party_size"] == 6


def test_lead_time_one_way_and_stay() -> None:
    nb = NightBuilder()
    business = nb.booking("BIZ001", lead_hours=10, agency="AG-CORP", return_after_days=3)
    one_way = nb.booking("OW0001", lead_hours=200, return_after_days=None)
    tb = nb.traveller("SATO", "HIRO", years_ago(40), booking_id=business)
    to = nb.traveller("CRUZ", "ANA", years_ago(22), booking_id=one_way)
    f = build_features(nb.tables())
    rb, ro = row(f, tb), row(f, to)
    assert rb["booking.lead_time_hours"] == pytest.approx(10.0)
    assert rb["booking.one_way"] is False and rb["booking.stay_days"] == pytest.approx(3.0)
    assert ro["booking.one_way"] is True and ro["booking.stay_days"] is None
    assert ro["booking.lead_time_hours"] == pytest.approx(200.0)


def test_superseded_push_is_ignored() -> None:
    nb = NightBuilder()
    nb.booking("AAA111", cash=True, superseded=True)
    current = nb.booking("AAA111", cash=False)
    t = nb.traveller("SANTOS", "MARIA", years_ago(30), booking_id=current)
    r = row(build_features(nb.tables()), t)
    assert r["booking.payment_cash"] is False


@pytest.mark.parametrize(
    ("party", "minors", "adults", "unrelated"),
    [
        # family: parents and children share the surname
        ([("CRUZ", 40), ("CRUZ", 38), ("CRUZ", 9), ("CRUZ", 6)], 2, 2, 0),
        # compound surname: child GARCIA LOPEZ with mother LOPEZ is related
        ([("LOPEZ", 35), ("GARCIA LOPEZ", 8)], 1, 1, 0),
        # one adult with three minors of other surnames
        ([("SMITH", 33), ("AQUINO", 15), ("BAUTISTA", 16), ("DIAZ", 14)], 3, 1, 3),
        # minors alone: nobody to be unrelated to
        ([("AQUINO", 15), ("DIAZ", 14)], 2, 0, 0),
    ],
)
def test_party_composition(
    party: list[tuple[str, int]], minors: int, adults: int, unrelated: int
) -> None:
    nb = NightBuilder()
    b = nb.booking("FAM001")
    ids = [nb.traveller(s, "A", years_ago(age + 0.5), booking_id=b) for s, age in party]
    r = row(build_features(nb.tables()), ids[0])
    assert r["booking.party_size"] == len(party)
    assert r["booking.minors_in_party"] == minors
    assert r["booking.adults_in_party"] == adults
    assert r["booking.unrelated_minors_with_adult"] == unrelated


def test_infant_without_birth_date_counts_as_minor() -> None:
    nb = NightBuilder()
    b = nb.booking("INF001")
    nb.traveller("CRUZ", "ANA", years_ago(30), booking_id=b)
    nb.traveller("BABY", "X", None, booking_id=b, passenger_type="IN")
    f = build_features(nb.tables())
    assert f["booking.minors_in_party"].tolist() == [1, 1]
    assert f["booking.unrelated_minors_with_adult"].tolist() == [1, 1]


def _eighteenth(dob: dt.date) -> dt.date:
    if dob.month == 2 and dob.day == 29:
        return dt.date(dob.year + 18, 3, 1)
    return dob.replace(year=dob.year + 18)


@settings(max_examples=6)
@given(
    st.lists(
        st.one_of(
            st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2026, 11, 27)),
            # birthdays right around the night, the 18th birthday included
            st.integers(-3, 3).map(lambda d: dt.date(2008, 11, 27) + dt.timedelta(days=d)),
            st.just(dt.date(2008, 2, 29)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_is_minor_is_under_eighteen_on_the_night(dobs: list[dt.date]) -> None:
    nb = NightBuilder()
    ids = [nb.traveller("X", "Y", d.isoformat()) for d in dobs]
    f = build_features(nb.tables())
    night = dt.date.fromisoformat(NIGHT)
    for t, dob in zip(ids, dobs, strict=True):
        r = row(f, t)
        assert r["traveller.is_minor"] == (night < _eighteenth(dob)), dob
        assert r["traveller.age_band"] in {
            "0-11",
            "12-17",
            "18-24",
            "25-34",
            "35-49",
            "50-64",
            "65+",
        }


# ------------------------------------------------------------------ shared contacts


def test_shared_phone_across_unrelated_bookings_counts_other_bookings() -> None:
    nb = NightBuilder()
    ids = []
    for i, phone in enumerate(["+63 917 555 0101", "0063-917-555-0101", "639175550101"]):
        b = nb.booking(f"REC00{i}", cash=True, return_after_days=None, phones=(phone,))
        ids.append(nb.traveller(f"VICTIM{i}", "A", years_ago(20), booking_id=b))
    lone = nb.booking("OTHER1", phones=("+81 3 1234 5678",))
    tl = nb.traveller("OTHER", "B", years_ago(50), booking_id=lone)
    f = build_features(nb.tables())
    assert [row(f, t)["booking.shared_contact_bookings"] for t in ids] == [2, 2, 2]
    assert row(f, tl)["booking.shared_contact_bookings"] == 0


@pytest.mark.parametrize("desk_agency", ["AG-1", None])
def test_corporate_desk_phone_is_a_switchboard_but_recruiter_with_one_card_is_not(
    desk_agency: str | None,
) -> None:
    """One organisation (agency or company payer) and business-like bookings: a desk."""
    nb = NightBuilder()
    desk = []
    for i in range(4):
        b = nb.booking(
            f"CORP0{i}",
            agency=desk_agency,
            cash=False,
            payer="ACME GLOBAL HOLDINGS",
            phones=("+81 3 5555 0000",),
            lead_hours=12,
        )
        desk.append(nb.traveller(f"WORKER{i}", "A", years_ago(35), booking_id=b))
    rec = []
    for i in range(3):
        b = nb.booking(
            f"RECR0{i}",
            agency=desk_agency,
            cash=False,  # one card pays, but one-way: never business-like
            payer="BROKER/BOB",
            return_after_days=None,
            phones=("+63 900 111 2222",),
        )
        rec.append(nb.traveller(f"RECRUIT{i}", "A", years_ago(19), booking_id=b))
    f = build_features(nb.tables())
    for t in desk:
        assert row(f, t)["booking.shared_contact_bookings"] == 0
        assert row(f, t)["booking.switchboard_contacts"] == 1
        assert row(f, t)["booking.payer_is_company"] is True
    for t in rec:
        assert row(f, t)["booking.shared_contact_bookings"] == 2
        assert row(f, t)["booking.switchboard_contacts"] == 0
        assert row(f, t)["booking.payer_is_company"] is False


def test_unrelated_desk_bookings_from_different_payers_still_link() -> None:
    """Round trips by card but no common agency or payer: the shared phone still counts."""
    nb = NightBuilder()
    ids = []
    for i, payer in enumerate(["ABE/KEN", "CRUZ/ANA", "DIAZ/LUIS"]):
        b = nb.booking(f"MIX00{i}", cash=False, payer=payer, phones=("+63 900 333 4444",))
        ids.append(nb.traveller(f"T{i}", "A", years_ago(30), booking_id=b))
    f = build_features(nb.tables())
    assert f["booking.shared_contact_bookings"].tolist() == [2, 2, 2]


def test_is_payer_and_party_unrelated_to_payer() -> None:
    nb = NightBuilder()
    fam = nb.booking("FAM002", cash=True, payer="TANAKA/RYOTA")
    father = nb.traveller("TANAKA", "RYOTA", years_ago(44), booking_id=fam)
    son = nb.traveller("TANAKA", "DAICHI", years_ago(12), booking_id=fam)
    esc = nb.booking("ESC001", cash=True, payer="MORALES/JOSE", return_after_days=None)
    escort = nb.traveller("MORALES", "JOSE", years_ago(40), booking_id=esc)
    young = [nb.traveller(s, "A", years_ago(17), booking_id=esc) for s in ("LIM", "TAN", "GO")]
    f = build_features(nb.tables())
    assert (row(f, father)["traveller.is_payer"], row(f, son)["traveller.is_payer"]) == (
        True,
        False,
    )
    assert row(f, son)["booking.payer_same_surname"] is True
    assert row(f, father)["booking.party_unrelated_to_payer"] == 0
    assert row(f, escort)["traveller.is_payer"] is True
    assert row(f, escort)["booking.party_unrelated_to_payer"] == 3
    assert all(row(f, t)["traveller.is_payer"] is False for t in young)


def test_busy_contact_is_a_switchboard_by_volume() -> None:
    policy = SwitchboardPolicy(max_bookings_per_night=5)
    nb = NightBuilder()
    ids = []
    for i in range(6):
        b = nb.booking(f"BUSY0{i}", agency=f"AG-{i}", cash=True, emails=("desk@example.com",))
        ids.append(nb.traveller(f"T{i}", "A", years_ago(30), booking_id=b))
    f = build_features(nb.tables(), switchboard=policy)
    assert f["booking.shared_contact_bookings"].tolist() == [0] * 6
    f_default = build_features(nb.tables())
    assert f_default["booking.shared_contact_bookings"].tolist() == [5] * 6


def test_shared_contact_uses_thirty_days_of_history() -> None:
    def night_with(day: str, rl: str) -> NightTables:
        nb = NightBuilder(day)
        b = nb.booking(rl, emails=("boss@example.org",), cash=True)
        nb.traveller("OLD", rl, years_ago(30, day), booking_id=b)
        return nb.tables()

    recent = night_with("2026-11-17", "HIST10")
    old = night_with("2026-10-20", "HIST38")
    nb = NightBuilder()
    b = nb.booking("TONITE", emails=("Boss@Example.org",), cash=True)
    t = nb.traveller("NEW", "ONE", years_ago(20), booking_id=b)
    assert row(build_features(nb.tables()), t)["booking.shared_contact_bookings"] == 0
    f = build_features(nb.tables(), history=[recent, old])
    assert row(f, t)["booking.shared_contact_bookings"] == 1


def test_same_booking_in_history_is_not_another_booking() -> None:
    """A record locator pushed on an earlier night (another leg) is the same booking."""
    h = NightBuilder("2026-11-20")
    hb = h.booking("SAME01", phones=("+63 917 000 1111",))
    h.traveller("CRUZ", "ANA", years_ago(30, "2026-11-20"), booking_id=hb)
    nb = NightBuilder()
    b = nb.booking("SAME01", phones=("+63 917 000 1111",))
    t = nb.traveller("CRUZ", "ANA", years_ago(30), booking_id=b)
    assert (
        row(build_features(nb.tables(), history=[h.tables()]), t)["booking.shared_contact_bookings"]
        == 0
    )


# ------------------------------------------------------------------ documents


def test_document_seen_under_other_identity_but_not_common_names() -> None:
    nb = NightBuilder()
    kim1 = nb.traveller("KIM", "MIN", years_ago(30), document="M1234567")
    kim2 = nb.traveller(
        "KIM", "MIN", years_ago(41), document="M7654321"
    )  # common name, own passport
    lent_a = nb.traveller("REYES", "ANA", years_ago(24), document="P0000001")
    lent_b = nb.traveller(
        "REYES", "ANA", years_ago(19), document="P 000 0001"
    )  # same number, other DOB
    f = build_features(nb.tables())
    assert row(f, kim1)["document.seen_under_other_identity"] is False
    assert row(f, kim2)["document.seen_under_other_identity"] is False
    assert row(f, lent_a)["document.seen_under_other_identity"] is True
    assert row(f, lent_b)["document.seen_under_other_identity"] is True


def test_returning_traveller_with_own_document_is_not_other_identity() -> None:
    h = NightBuilder("2026-11-10")
    h.traveller("SATO", "HIRO", "1980-02-03", document="TK111")
    h2 = NightBuilder("2026-11-12")
    h2.traveller("DIAZ", "LUIS", "1990-05-06", document="TK222")
    nb = NightBuilder()
    same = nb.traveller("SATO", "HIRO", "1980-02-03", document="TK111")
    other = nb.traveller("PEREZ", "JUAN", "1990-05-06", document="TK222")
    f = build_features(nb.tables(), history=[h.tables(), h2.tables()])
    assert row(f, same)["document.seen_under_other_identity"] is False
    assert row(f, other)["document.seen_under_other_identity"] is True


def test_days_since_issue() -> None:
    nb = NightBuilder()
    t = nb.traveller("NEW", "PASS", years_ago(22), issued_days_ago=9)
    u = nb.traveller("NO", "ISSUE", years_ago(22), issued_days_ago=None)
    f = build_features(nb.tables())
    assert row(f, t)["document.days_since_issue"] == 9
    assert row(f, u)["document.days_since_issue"] is None


# ------------------------------------------------------------------ case matches


def test_case_match_features_take_the_best_match() -> None:
    nb = NightBuilder()
    a = nb.traveller("A", "A", years_ago(30))
    b = nb.traveller("B", "B", years_ago(30))
    m = matches_frame(
        [
            {
                "traveller_id": a,
                "person_id": "P1",
                "case_id": "C1",
                "role": "victim",
                "probability": 0.4,
                "protection_only": True,
            },
            {
                "traveller_id": a,
                "person_id": "P2",
                "case_id": "C2",
                "role": "broker",
                "probability": 0.9,
                "protection_only": False,
            },
        ]
    )
    f = build_features(nb.tables(), matches=m)
    ra, rb = row(f, a), row(f, b)
    assert ra["traveller.case_match_probability"] == pytest.approx(0.9)
    assert ra["traveller.case_match_role"] == "broker"
    assert ra["traveller.case_match_case_id"] == "C2"
    assert ra["traveller.case_match_protection_only"] is False
    assert rb["traveller.case_match_probability"] == 0.0
    assert rb["traveller.case_match_role"] is None
    assert np.isnan(build_features(nb.tables())["traveller.case_match_probability"]).all()


def test_identifier_matches_give_case_links_and_documents() -> None:
    nb = NightBuilder()
    b = nb.booking(
        "LINK01",
        agency="AG-9",
        payer="BOSS/BIG",
        payer_phone="+63 999 888 7777",
        phones=("+63 111",),
    )
    t = nb.traveller("CRUZ", "ANA", years_ago(20), booking_id=b, document="P-777")
    clean = nb.booking("CLEAN1")
    u = nb.traveller("SATO", "KEN", years_ago(50), booking_id=clean, document="V-1")
    idm = identifier_matches_frame(
        [
            {"booking_id": b, "kind": "agency", "value": "AG-9", "case_id": "C1"},
            {"booking_id": b, "kind": "agency", "value": "AG-9", "case_id": "C2"},
            {
                "booking_id": b,
                "kind": "card",
                "value": "XXXX1111",
                "case_id": "C3",
                "source": "payments",
            },
            {
                "booking_id": b,
                "kind": "phone",
                "value": "0063 999 888 7777",
                "case_id": "C4",
                "source": "payments",
            },
            {
                "booking_id": b,
                "kind": "email",
                "value": "x@y.z",
                "case_id": "C5",
                "source": "booking_contacts",
            },
            {
                "booking_id": b,
                "kind": "document",
                "value": "P777",
                "case_id": "C6",
                "source": "documents",
            },
            # a former victim's records: protection only, never in the other counts
            {
                "booking_id": b,
                "kind": "phone",
                "value": "+63 111",
                "case_id": "C7",
                "protection_only": True,
            },
            {
                "booking_id": None,
                "kind": "document",
                "value": "V1",
                "case_id": "C8",
                "protection_only": True,
            },
        ]
    )
    f = build_features(nb.tables(), identifier_matches=idm)
    r = row(f, t)
    assert r["booking.agency_case_links"] == 2
    assert r["booking.payer_case_links"] == 2  # card C3 and the payer's phone C4
    assert r["booking.contact_case_links"] == 1  # e-mail C5; the victim's phone C7 is not counted
    assert r["document.in_case_database"] is True
    assert r["booking.victim_identifier_links"] == 1  # C7
    ru = row(f, u)
    assert (ru["booking.agency_case_links"], ru["document.in_case_database"]) == (0, False)
    assert ru["booking.victim_identifier_links"] == 1  # his document is in victim case C8


def test_victim_and_offender_match_probabilities_are_kept_apart() -> None:
    nb = NightBuilder()
    a = nb.traveller("A", "A", years_ago(30))
    m = matches_frame(
        [
            {
                "traveller_id": a,
                "person_id": "P1",
                "case_id": "C1",
                "role": "victim",
                "probability": 0.95,
                "protection_only": True,
            },
            {
                "traveller_id": a,
                "person_id": "P2",
                "case_id": "C2",
                "role": "recruiter",
                "probability": 0.85,
                "protection_only": False,
            },
        ]
    )
    r = row(build_features(nb.tables(), matches=m), a)
    assert r["traveller.case_match_role"] == "victim"
    assert r["traveller.case_match_victim_probability"] == pytest.approx(0.95)
    assert r["traveller.case_match_offender_probability"] == pytest.approx(0.85)


def test_route_case_links_count_other_travellers_only() -> None:
    nb = NightBuilder()
    nb.flight("F2", route=("BKK", "KIX"))
    a = nb.traveller("A", "A", years_ago(30))
    b = nb.traveller("B", "B", years_ago(30))
    c = nb.traveller("C", "C", years_ago(30), flight_id="F2")
    m = matches_frame(
        [
            {
                "traveller_id": a,
                "person_id": "P1",
                "case_id": "C1",
                "role": "broker",
                "probability": 0.9,
                "protection_only": False,
            },
            {
                "traveller_id": b,
                "person_id": "P9",
                "case_id": "C9",
                "role": "broker",
                "probability": 0.2,
                "protection_only": False,
            },
        ]
    )
    f = build_features(nb.tables(), matches=m)
    assert row(f, a)["flight.route_case_links"] == 0  # its own match is not route context
    assert row(f, b)["flight.route_case_links"] == 1
    assert row(f, c)["flight.route_case_links"] == 0


@pytest.mark.parametrize(
    ("seats", "apart"),
    [
        (["6A", "9C", "12D"], True),  # escort pattern: nobody in the same row
        (["15A", "15B", "16C"], False),  # friends: two share a row
        (["06A", "6B"], False),  # leading zero is the same row
        (["6A", None, None], None),  # one known seat: unknown
    ],
)
def test_party_seated_apart(seats: list[str | None], apart: bool | None) -> None:
    nb = NightBuilder()
    b = nb.booking("SEAT01")
    ids = [
        nb.traveller(f"P{i}", "X", years_ago(30), booking_id=b, seat=s) for i, s in enumerate(seats)
    ]
    f = build_features(nb.tables())
    assert {row(f, t)["booking.party_seated_apart"] for t in ids} == {apart}


def test_crew_and_bags() -> None:
    nb = NightBuilder()
    crew = nb.traveller("PILOT", "P", years_ago(45), role="crew", bags=0)
    r = row(build_features(nb.tables()), crew)
    assert r["traveller.is_crew"] is True and r["traveller.role"] == "crew"
    assert r["bags.checked_count"] == 0


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown warehouse table"):
        NightTables.from_frames(NIGHT, flightz=pd.DataFrame())


def _story_night() -> NightTables:
    """A night with every confounder of the issue and a recruiter, for whole-table properties."""
    nb = NightBuilder()
    for i in range(3):  # recruiter: one phone, cash, one-way
        b = nb.booking(
            f"REC0{i}", cash=True, payer="BROKER/BOB", return_after_days=None, phones=("+63 900 1",)
        )
        nb.traveller(f"RECRUIT{i}", "A", years_ago(20 + i), booking_id=b, seat=f"{10 + i}A")
    fam = nb.booking("FAM001", cash=True, payer="CRUZ/ROSA", return_after_days=None)
    nb.traveller("CRUZ", "JUAN", years_ago(9), booking_id=fam, passenger_type="C")
    tour = nb.booking("TOUR01", agency="AG-T", payer="TANAKA/KENJI")
    nb.traveller("TANAKA", "KENJI", years_ago(40), booking_id=tour, seat="20A")
    for s in ("LIM", "GO", "TAN"):
        nb.traveller(s, "B", years_ago(33), booking_id=tour, seat="20B" if s == "LIM" else "21C")
    for i in range(3):  # corporate desk
        b = nb.booking(f"DESK0{i}", cash=False, payer="ACME HOLDINGS", phones=("+81 3 0000",))
        nb.traveller(f"EMP{i}", "C", years_ago(40), booking_id=b)
    biz = nb.booking("BIZ001", lead_hours=6, return_after_days=None, payer="SATO TRADING CO LTD")
    nb.traveller("SATO", "KEN", years_ago(50), booking_id=biz, document="DUP1")
    nb.traveller("KIM", "MIN", years_ago(31), document="DUP1")  # same number, other identity
    nb.traveller("KIM", "MIN", years_ago(44))  # common name
    return nb.tables()


@settings(max_examples=3)
@given(st.randoms(use_true_random=False))
def test_features_do_not_depend_on_row_order(rnd: Any) -> None:
    tables = _story_night()
    expected = build_features(tables).set_index("traveller_id").sort_index()
    shuffled = {
        name: getattr(tables, name)
        .sample(frac=1.0, random_state=rnd.randrange(2**31))
        .reset_index(drop=True)
        for name in (
            "flights",
            "travellers",
            "documents",
            "bookings",
            "pnr_travellers",
            "booking_contacts",
            "payments",
            "itinerary",
        )
    }
    got = build_features(NightTables.from_frames(tables.night, **shuffled)).set_index(
        "traveller_id"
    )
    pd.testing.assert_frame_equal(got.sort_index(), expected)


def test_is_minor_is_the_minors_decision_and_an_unknown_age_may_be_a_minor() -> None:
    """Issue 12: features and combine decide minors in one place (apiflag.minors)."""
    from apiflag.minors import minor_status, protection_only

    nb = NightBuilder()
    b = nb.booking("MIN001")
    unknown = nb.traveller("NODATE", "X", None, booking_id=b)
    adult = nb.traveller("GROWN", "UP", years_ago(30), booking_id=b)
    child = nb.traveller("SMALL", "ONE", years_ago(9), booking_id=b)
    pnr_only = nb.traveller("PNR", "CHILD", years_ago(12), booking_id=b)
    for r in nb.rows["travellers"]:  # the API lost this one's birth date; the PNR has it
        if r["traveller_id"] == pnr_only:
            r["date_of_birth"] = None
    for r in nb.rows["pnr_travellers"]:
        if r["surname"] == "NODATE":
            r["date_of_birth"] = None
    f = build_features(nb.tables()).set_index("traveller_id")
    got = f["traveller.is_minor"]
    assert got[unknown] == True  # noqa: E712 - may be a minor, never null
    assert got[adult] == False  # noqa: E712
    assert got[child] == True  # noqa: E712
    assert got[pnr_only] == True  # noqa: E712 - known only from the PNR
    assert pd.isna(f.loc[unknown, "traveller.age"])  # the age itself stays unknown
    travellers = pd.DataFrame(nb.rows["travellers"])
    pnr = pd.DataFrame(nb.rows["pnr_travellers"]).set_index("pnr_traveller_id")["date_of_birth"]
    pnr_dob = pnr.reindex(travellers["pnr_traveller_id"]).reset_index(drop=True)
    status, _ = minor_status(travellers["date_of_birth"], pd.Timestamp(NIGHT), pnr_dob)
    assert status.tolist() == ["unknown", "adult", "minor", "minor"]
    expected = protection_only(status)
    assert got.loc[travellers["traveller_id"]].to_numpy(bool).tolist() == expected.tolist()
