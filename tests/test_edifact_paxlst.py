"""PAXLST: roles, documents, legs, multipart joining, two-digit years, errors and warnings."""

from __future__ import annotations

import datetime as dt

import pytest

from apiflag.edifact import contract_rows, parse_text
from apiflag.edifact.paxlst import parse_flight_id

HEADER = "BGM+745'NAD+MS+++DESK'TDT+20+QK0021+++QK'LOC+125+BKK'DTM+189:2611210005:201'LOC+87+NRT'DTM+232:2611210810:201'"
PAX = "NAD+FL+++SOMCHAI:NARONG'ATT+2++M'DTM+329:830415'NAT+2+THA'RFF+AVF:QKTT01'DOC+P:110:111+AB1'DTM+36:300101'LOC+91+THA'"


def message(body: str, unh_extra: str = "", ref: str = "M1") -> str:
    segments = [s for s in body.split("'") if s]
    return f"UNH+{ref}+PAXLST:D:05B:UN:IATA{unh_extra}'{body}UNT+{len(segments) + 2}+{ref}'"


def interchange(*messages: str, date: str = "261120") -> str:
    return (
        f"UNA:+.? 'UNB+UNOA:4+QK+JPNAPIS+{date}:1800+IC1'"
        + "".join(messages)
        + f"UNZ+{len(messages)}+IC1'"
    )


def parse(*messages: str, date: str = "261120") -> tuple[object, list[str]]:
    parsed = parse_text(interchange(*messages, date=date))
    assert len(parsed.manifests) == 1
    return parsed.manifests[0], parsed.warnings


@pytest.mark.parametrize(
    ("qualifier", "role"),
    [("FL", "passenger"), ("FM", "crew"), ("DDU", "transit_passenger"), ("DDT", "transit_crew")],
)
def test_nad_qualifier_gives_role(qualifier: str, role: str) -> None:
    m, _ = parse(message(HEADER + PAX.replace("NAD+FL", f"NAD+{qualifier}")))
    assert m.travellers[0].role == role  # type: ignore[attr-defined]


def test_several_documents_with_expiry_issue_and_issuer() -> None:
    body = HEADER + PAX + "DOC+V:110:111+JV1'DTM+182:250301'DTM+36:270301'LOC+91+JPN'"
    m, _ = parse(message(body))
    docs = m.travellers[0].documents  # type: ignore[attr-defined]
    assert [(d.type, d.number, d.issuing_country) for d in docs] == [
        ("P", "AB1", "THA"),
        ("V", "JV1", "JPN"),
    ]
    assert docs[1].issue_date == dt.date(2025, 3, 1)
    assert docs[1].expiry_date == dt.date(2027, 3, 1)


@pytest.mark.parametrize(
    ("birth", "expiry", "prepared", "want_birth", "want_expiry"),
    [
        ("830415", "300101", "261120", dt.date(1983, 4, 15), dt.date(2030, 1, 1)),
        ("261119", "461119", "261120", dt.date(2026, 11, 19), dt.date(2046, 11, 19)),
        ("261121", "470101", "261120", dt.date(1926, 11, 21), dt.date(1947, 1, 1)),
        ("000229", "991231", "010101", dt.date(2000, 2, 29), dt.date(1999, 12, 31)),
    ],
)
def test_two_digit_years_resolve_against_the_message_date(
    birth: str, expiry: str, prepared: str, want_birth: dt.date, want_expiry: dt.date
) -> None:
    """A birth date is in the past; an expiry is at most ~20 years ahead."""
    body = HEADER + PAX.replace("830415", birth).replace("DTM+36:300101", f"DTM+36:{expiry}")
    m, _ = parse(message(body), date=prepared)
    t = m.travellers[0]  # type: ignore[attr-defined]
    assert t.date_of_birth == want_birth
    assert t.documents[0].expiry_date == want_expiry


def test_multi_leg_flight_and_traveller_flight_is_their_debarkation_leg() -> None:
    header = (
        "BGM+745'TDT+20+QK21+++QK'LOC+125+DEL'DTM+189:2611202200:201'LOC+92+BKK'"
        "DTM+232:2611210300:201'DTM+189:2611210400:201'LOC+87+NRT'DTM+232:2611211200:201'"
    )
    body = header + PAX + "LOC+179+BKK'" + PAX.replace("QKTT01", "QKTT02") + "LOC+179+NRT'"
    text = interchange(message(body))
    parsed = parse_text(text)
    legs = parsed.manifests[0].legs
    assert [(leg.departure_airport, leg.arrival_airport) for leg in legs] == [
        ("DEL", "BKK"),
        ("BKK", "NRT"),
    ]
    assert legs[0].scheduled_arrival == dt.datetime(2026, 11, 21, 3, 0)
    assert legs[1].scheduled_departure == dt.datetime(2026, 11, 21, 4, 0)
    rows = contract_rows(parsed, "f")
    assert [r["flight"]["arrival_airport"] for r in rows] == ["BKK", "NRT"]


def test_multipart_message_is_joined_into_one_manifest() -> None:
    part1 = message(HEADER + PAX, "+QK21/261121+01:C")
    part2 = message(HEADER + PAX.replace("SOMCHAI", "KAEW") + "CNT+42:2'", "+QK21/261121+02:F")
    m, warnings = parse(part2, part1)
    assert [t.surname for t in m.travellers] == ["SOMCHAI", "KAEW"]  # type: ignore[attr-defined]
    assert m.parts == (1, 2) and m.complete  # type: ignore[attr-defined]
    assert m.declared_passengers == 2  # type: ignore[attr-defined]
    assert not any("W_CNT_MISMATCH" in w for w in warnings)


def test_multipart_with_a_missing_part_is_incomplete_not_an_error() -> None:
    m, warnings = parse(message(HEADER + PAX + "CNT+42:40'", "+QK21/261121+03:F"))
    assert m.parts == (3,) and not m.complete  # type: ignore[attr-defined]
    assert any("W_INCOMPLETE_PARTS" in w for w in warnings)
    assert not any("W_CNT_MISMATCH" in w for w in warnings)


@pytest.mark.parametrize("function", ["CP", "XR", "RP", "CLNB"])
def test_bgm_function_is_carried(function: str) -> None:
    m, _ = parse(message(HEADER.replace("BGM+745'", f"BGM+745+{function}'") + PAX))
    assert m.function == function  # type: ignore[attr-defined]


def test_cnt_mismatch_in_a_complete_message_is_a_warning() -> None:
    _, warnings = parse(message(HEADER + PAX + "CNT+42:5'"))
    assert any("W_CNT_MISMATCH: CNT declares 5 passengers" in w for w in warnings)


def test_free_text_is_dropped_and_counted_but_bag_tags_are_not_free_text() -> None:
    parsed = parse_text(
        interchange(message(HEADER + PAX + "FTX+BAG+++QK123'FTX+AAI+++WHEELCHAIR'"))
    )
    assert parsed.dropped == {"FTX:AAI": 1}
    assert "WHEELCHAIR" not in repr(parsed.manifests)


TWO = PAX + PAX.replace("SOMCHAI:NARONG", "NGUYEN:THI HUONG").replace("QKTT01", "QKTT02")


@pytest.mark.parametrize(
    ("change", "field", "tag"),
    [
        (("ATT+2++M", "ATT+2++Q"), "sex", "ATT"),
        (("NAT+2+THA", "NAT+2+TH"), "nationality", "NAT+2"),
        (("DTM+329:830415", "DTM+329:831345"), "date_of_birth", "DTM+329"),
        (("DTM+329:830415", "DTM+329:83O415"), "date_of_birth", "DTM+329"),
    ],
    ids=["sex", "nationality", "birth date", "letter in birth date"],
)
def test_an_unreadable_value_is_null_degraded_and_named(
    change: tuple[str, str], field: str, tag: str
) -> None:
    """One bad value of one traveller: that value is null, everything else loads."""
    m, warnings = parse(message(HEADER + TWO.replace(*change, 1) + "CNT+42:2'"))
    first, second = m.travellers  # type: ignore[attr-defined]
    assert getattr(first, field) is None
    assert first.degraded == (field,)
    assert (first.surname, first.documents[0].number) == ("SOMCHAI", "AB1")
    assert second.degraded == () and getattr(second, field) is not None
    (line,) = [w for w in warnings if "W_BAD_VALUE" in w]
    assert f": W_BAD_VALUE: {tag} {field}: " in line
    assert change[1].split(":")[-1].split("+")[-1] not in line  # the value is not repeated


def test_an_unreadable_birth_date_is_age_unknown_never_a_guess() -> None:
    m, _ = parse(message(HEADER + PAX.replace("DTM+329:830415", "DTM+329:1306")))
    t = m.travellers[0]  # type: ignore[attr-defined]
    assert (t.date_of_birth, t.degraded) == (None, ("date_of_birth",))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (("SOMCHAI:NARONG", ":NARONG"), "E_BAD_VALUE"),
        (("DOC+P:110:111+AB1", "DOC+P:110:111+AB1'RFF+AVF+" + "X" * 40), None),
    ],
    ids=["no surname", "odd segment"],
)
def test_a_traveller_that_cannot_be_read_is_quarantined_and_the_rest_load(
    change: tuple[str, str], code: str | None
) -> None:
    parsed = parse_text(interchange(message(HEADER + TWO.replace(*change, 1) + "CNT+42:2'")))
    (m,) = parsed.manifests
    if code is None:  # not a loss at all: an odd RFF is read as it is
        assert len(m.travellers) == 2 and not parsed.lost
        return
    assert [t.surname for t in m.travellers] == ["NGUYEN"]
    (loss,) = parsed.lost
    assert (loss.kind, loss.code, loss.travellers, loss.first_segment) == ("traveller", code, 1, 10)
    assert loss.last_segment == 17  # the whole NAD group, up to the next traveller
    assert (parsed.declared, parsed.travellers, parsed.quarantined) == (2, 1, 1)
    assert not any("W_CNT_MISMATCH" in w for w in parsed.warnings)  # the loss explains it


def test_a_document_number_the_contract_cannot_hold_drops_that_document_only() -> None:
    body = HEADER + PAX.replace("DOC+P:110:111+AB1", "DOC+P:110:111+" + "X" * 40)
    parsed = parse_text(interchange(message(body)), "f.edi")
    t = parsed.manifests[0].travellers[0]
    assert (t.surname, t.documents, t.degraded) == ("SOMCHAI", (), ("documents",))
    assert any(w.startswith("segment 15: W_BAD_VALUE: DOC documents: ") for w in parsed.warnings)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (HEADER.replace("QK0021", "Q"), "E_BAD_VALUE"),
        (
            HEADER.replace(
                "TDT+20+QK0021+++QK'LOC+125+BKK'DTM+189:2611210005:201'LOC+87+NRT'DTM+232:2611210810:201'",
                "",
            ),
            "E_MISSING_SEGMENT",
        ),
    ],
    ids=["flight id", "no TDT"],
)
def test_a_message_whose_flight_cannot_be_read_is_one_message_loss(header: str, code: str) -> None:
    good = message(HEADER + PAX, ref="M2")
    parsed = parse_text(interchange(message(header + TWO), good))
    assert [len(m.travellers) for m in parsed.manifests] == [1]  # the other message loads
    (loss,) = parsed.lost
    assert (loss.kind, loss.code, loss.travellers, loss.message_ref) == ("message", code, 2, "M1")


def test_header_values_that_cannot_be_read_are_null_or_inferred() -> None:
    no_bgm = HEADER.replace("BGM+745'", "").replace("2611210005", "26112100")
    m, warnings = parse(message(no_bgm + PAX + "TDT+20+QK22'"))
    assert m.document_code == "745"  # type: ignore[attr-defined]
    assert m.legs[0].scheduled_departure is None  # type: ignore[attr-defined]
    assert m.travellers[0].surname == "SOMCHAI"  # type: ignore[attr-defined]
    codes = {w.split(": ")[1] for w in warnings}
    assert {"W_MISSING_SEGMENT", "W_BAD_VALUE", "W_UNEXPECTED_SEGMENT"} <= codes


@pytest.mark.parametrize(
    ("locs", "want"),
    [
        (
            "LOC+92+MNL'DTM+189:2611210005:201'LOC+92+NRT'DTM+232:2611210810:201'",
            [("MNL", "NRT")],
        ),
        (
            "LOC+92+DEL'DTM+189:2611202200:201'LOC+92+BKK'DTM+232:2611210300:201'"
            "DTM+189:2611210400:201'LOC+92+NRT'DTM+232:2611211200:201'",
            [("DEL", "BKK"), ("BKK", "NRT")],
        ),
        ("LOC+125+MNL'DTM+189:2611210005:201'", [("MNL", None)]),
        ("LOC+87+NRT'DTM+232:2611210810:201'", [(None, "NRT")]),
        ("LOC+125+MNL'LOC+130+NRT'", [("MNL", "NRT")]),
    ],
    ids=["92 on each end", "92 on every stop", "only departure", "only arrival", "130"],
)
def test_legs_as_other_senders_write_them(
    locs: str, want: list[tuple[str | None, str | None]]
) -> None:
    header = "BGM+745'TDT+20+QK21+++QK'" + locs
    m, warnings = parse(message(header + PAX))
    assert [(leg.departure_airport, leg.arrival_airport) for leg in m.legs] == want  # type: ignore[attr-defined]
    missing = sum(x is None for pair in want for x in pair)
    assert sum("W_MISSING_SEGMENT: LOC" in w for w in warnings) == missing


def test_unknown_party_group_is_skipped_with_a_warning() -> None:
    m, warnings = parse(message(HEADER + "NAD+ZZZ+++SOMEONE'ATT+2++F'" + PAX))
    assert [t.surname for t in m.travellers] == ["SOMCHAI"]  # type: ignore[attr-defined]
    assert any("W_UNKNOWN_PARTY" in w for w in warnings)


@pytest.mark.parametrize(
    ("flight_id", "carrier", "want"),
    [
        ("QK0021", "QK", ("QK", "21")),
        ("B2740", None, ("B2", "740")),
        ("A92707", None, ("A9", "2707")),
        ("TKX 12A", None, ("TKX", "12A")),
        ("0021", "QK", ("QK", "21")),
        ("QK", None, None),
    ],
)
def test_flight_ids(flight_id: str, carrier: str | None, want: tuple[str, str] | None) -> None:
    assert parse_flight_id(flight_id, carrier) == want


def test_a_damaged_part_number_is_an_incomplete_message_not_a_huge_allocation() -> None:
    """A part number of ten digits (a damaged UNH) must not size anything."""
    m, warnings = parse(message(HEADER + PAX, "+QK21/261121+2108270031:C"))
    assert m.parts == (2108270031,) and not m.complete  # type: ignore[attr-defined]
    assert any("W_INCOMPLETE_PARTS" in w for w in warnings)
