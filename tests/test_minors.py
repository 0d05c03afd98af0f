"""An unreadable birth date is age unknown, and an unknown age may be a minor: protection only."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from apiflag import ingest, warehouse
from apiflag.minors import minor_status, protection_only
from apiflag.queue.combine import combine
from apiflag.settings import DEFAULT_AGE_BANDS, age_bands_of
from ingest_helpers import NIGHT
from queue_helpers import small_night
from test_record_quarantine import _paxlst

ADULT = dt.date(1980, 3, 4)
CHILD = dt.date(2012, 5, 1)


def test_the_first_readable_birth_date_decides_and_none_is_unknown() -> None:
    api = pd.Series([ADULT, CHILD, None, None, None, "not a date"])
    pnr = pd.Series([CHILD, ADULT, ADULT, CHILD, None, None])
    status, age = minor_status(api, NIGHT, pnr)
    assert status.tolist() == ["adult", "minor", "adult", "minor", "unknown", "unknown"]
    assert age.isna().tolist() == [False, False, False, False, True, True]
    assert protection_only(status).tolist() == [False, True, False, True, True, True]
    alone, _ = minor_status(api, NIGHT)  # no PNR: the API alone
    assert alone.tolist() == ["adult", "minor", "unknown", "unknown", "unknown", "unknown"]


def test_the_eighteenth_birthday_is_the_line() -> None:
    night = dt.date(2026, 11, 21)
    status, _ = minor_status(pd.Series([dt.date(2008, 11, 21), dt.date(2008, 11, 22)]), night)
    assert status.tolist() == ["adult", "minor"]


def _t1_unreadable(pnr_dob: dt.date | None):  # type: ignore[no-untyped-def]
    night = small_night()
    tv = night.travellers
    tv.loc[tv["traveller_id"] == "T1", "date_of_birth"] = None
    tv["degraded"] = [["date_of_birth"] if t == "T1" else [] for t in tv["traveller_id"]]
    pnr = pd.DataFrame(
        {"pnr_traveller_id": tv["pnr_traveller_id"], "date_of_birth": [pnr_dob] + [None] * 8}
    )
    return combine(
        night.night, tv, night.flights, documents=night.documents, bookings=night.bookings,
        matches=night.matches, match_fields=night.match_fields, rule_hits=night.rule_hits,
        scores=night.scores, model_contributions=night.model_contributions,
        rules_digest="sha256:test", rule_info=night.rule_info, pnr_travellers=pnr,
    )  # fmt: skip


def test_an_adult_whose_birth_date_is_unreadable_may_be_a_minor_and_gets_protection() -> None:
    clean = small_night().combine().travellers.set_index("traveller_id")
    assert clean.loc["T1", "track"] == "examination"  # an adult by the API birth date
    result = _t1_unreadable(None).travellers.set_index("traveller_id")
    assert result.loc["T1", "track"] == "protection"
    assert result.loc["T1", "minor_status"] == "unknown" and bool(result.loc["T1", "minor"])
    assert result.loc["T1", "age_band"] == "unknown"  # never counted among adults
    assert result.loc["T6", "minor_status"] == "adult"


def test_the_pnr_birth_date_of_an_adult_keeps_the_track_the_evidence_gives() -> None:
    result = _t1_unreadable(dt.date(1980, 3, 4)).travellers.set_index("traveller_id")
    assert result.loc["T1", "track"] == "examination"
    assert result.loc["T1", "minor_status"] == "adult"
    (band,) = age_bands_of(DEFAULT_AGE_BANDS, np.array([46.0]))  # 46 on the night
    assert result.loc["T1", "age_band"] == band != "unknown"
    child = _t1_unreadable(dt.date(2014, 1, 1)).travellers.set_index("traveller_id")
    assert (child.loc["T1", "track"], child.loc["T1", "minor_status"]) == ("protection", "minor")


def test_from_real_edifact_a_typo_in_a_birth_date_keeps_the_protection_track(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    folder = tmp_path / "nights" / NIGHT.isoformat() / "paxlst"
    folder.mkdir(parents=True)
    (folder / "QK21_BKK_pax.edi").write_text(_paxlst())  # TRAVELLERA: DTM+329:00XX00
    ingest.ingest_night(NIGHT, tmp_path, workers=1)
    tv = warehouse.read_table(NIGHT, "travellers")
    ids = dict(zip(tv["surname"], tv["traveller_id"], strict=True))
    hits = pd.DataFrame(
        [(ids[s], "R-101", 1, "phone", "examination", 1.5, json.dumps({})) for s in
         ("TRAVELLERA", "TRAVELLERC")],
        columns=["traveller_id", "rule_id", "rule_version", "ref", "track", "weight", "observed"],
    )  # fmt: skip
    result = combine(
        NIGHT, tv, warehouse.read_table(NIGHT, "flights"), rule_hits=hits,
        rules_digest="sha256:test",
        pnr_travellers=warehouse.read_table(NIGHT, "pnr_travellers"),
    )  # fmt: skip
    tracks = result.travellers.set_index("traveller_id")["track"]
    assert tracks[ids["TRAVELLERA"]] == "protection"  # unreadable birth date: may be a minor
    assert tracks[ids["TRAVELLERC"]] == "examination"  # born 1982: an adult
    person = result.people.set_index("traveller_id").loc[ids["TRAVELLERA"]]
    assert json.loads(person["degraded"]) == ["date_of_birth"]
    assert person["age_band"] == "unknown"
