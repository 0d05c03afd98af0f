"""One normaliser per kind of value: every caller agrees on which values are the same."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from apiflag import features, ingest
from apiflag.matching.normalise import normalise_identifier
from apiflag.model.pipeline import label_travellers
from apiflag.normalise import (
    TRAVELLER_KEY,
    key_value,
    normalise_document,
    normalise_email,
    normalise_phone,
    phone_digits,
    traveller_key_frame,
)
from apiflag.privacy.keys import normalise as pseudonym_form
from apiflag.queue.combine import flag_id_for

SAME_PHONE = ["+66 81-111 2222", "0066811112222", "66811112222", "+66 (81) 111-2222"]


@pytest.mark.parametrize("written", SAME_PHONE)
def test_every_caller_reads_one_phone_the_same_way(written: str) -> None:
    assert normalise_phone(written) == "+66811112222"
    assert phone_digits(written) == "66811112222"
    assert ingest.normalize_contact("phone", written) == "66811112222"
    assert features._norm_contact("phone", written, None) == "phone:66811112222"
    assert pseudonym_form("phone", written) == "66811112222"
    assert normalise_identifier("phone", written) == "+66811112222"


def test_a_short_phone_keeps_its_digits_where_it_is_stored() -> None:
    assert normalise_phone("12-34") is None
    assert phone_digits("00 12-34") == "1234"
    assert features._norm_contact("phone", "12-34", None) is None


@pytest.mark.parametrize("written", [" Yuki.Sato@Example.JP", "yuki.sato @example.jp"])
def test_every_caller_reads_one_email_the_same_way(written: str) -> None:
    assert normalise_email(written) == "yuki.sato@example.jp"
    assert ingest.normalize_contact("email", written) == "yuki.sato@example.jp"
    assert features._norm_contact("email", written, None) == "email:yuki.sato@example.jp"
    assert pseudonym_form("email", written) == "yuki.sato@example.jp"
    assert normalise_email("YUKI..SATO//EXAMPLE.JP") == "yuki_sato@example.jp"


@pytest.mark.parametrize("written", ["ab-999 888", "AB999888", "ＡＢ９９９８８８", "ab<999.888"])
def test_every_caller_reads_one_document_the_same_way(written: str) -> None:
    assert normalise_document(written) == "AB999888"
    assert features._norm_doc(written) == "AB999888"
    assert pseudonym_form("document", written) == "AB999888"
    assert normalise_identifier("document", written) == "AB999888"


def test_the_traveller_key_ignores_case_spacing_and_date_types() -> None:
    assert key_value(dt.date(1990, 1, 2)) == key_value(pd.Timestamp("1990-01-02")) == "1990-01-02"
    assert key_value("  anna  maria ") == "ANNA MARIA"
    assert key_value(None) == key_value(float("nan")) == key_value(pd.NaT) == ""
    night = dt.date(2026, 11, 20)
    key = ["QK", "21", "SATO", "YUKI", dt.date(1990, 1, 2), "P1"]
    written = ["qk", "21", "sato ", "yuki", "1990-01-02", "p1"]
    assert flag_id_for(night, key, "protection") == flag_id_for(night, written, "protection")
    frame = pd.DataFrame(
        {
            "night": ["2026-11-20"],
            "carrier": ["qk"],
            "number": ["21"],
            "surname": ["sato"],
            "given_names": ["yuki  a"],
            "date_of_birth": pd.to_datetime(["1990-01-02"]),
            "document_number": [None],
        }
    )
    assert traveller_key_frame(frame).iloc[0].tolist() == [
        "2026-11-20", "QK", "21", "SATO", "YUKI A", "1990-01-02", "",
    ]  # fmt: skip


def test_outcomes_join_travellers_on_the_one_key() -> None:
    keys = pd.DataFrame(
        [["T1", "2026-11-20", "QK", "21", "SATO", "YUKI", "1990-01-02", "P1"]],
        columns=["traveller_id", *TRAVELLER_KEY],
    )
    outcomes = pd.DataFrame(
        [["2026-11-20", "qk", "21", "Sato", "Yuki", "1990-01-02", "p1", 1]],
        columns=[*TRAVELLER_KEY, "label"],
    )
    labels, unmatched = label_travellers(keys, outcomes)
    assert labels.to_dict() == {"T1": 1} and unmatched == 0
