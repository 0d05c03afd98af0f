"""The habits of real senders: each hand-written fixture in tests/data/messages/habits parses
to exactly these values, warnings, losses and reconciliation (see that folder's README)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from apiflag.edifact import ParsedFile, contract_rows, parse_bytes
from apiflag.edifact.loss import read_warning

HABITS = Path(__file__).resolve().parent / "data" / "messages" / "habits"


def _parse(name: str) -> tuple[ParsedFile, list[dict[str, Any]]]:
    parsed = parse_bytes((HABITS / name).read_bytes(), name)
    return parsed, contract_rows(parsed, name)


def _codes(parsed: ParsedFile) -> Counter[str]:
    return Counter(read_warning(w).code for w in parsed.warnings)


def _reconciles(parsed: ParsedFile, clean: int, degraded: int, quarantined: int) -> None:
    assert parsed.travellers - parsed.degraded == clean
    assert parsed.degraded == degraded
    assert parsed.quarantined == quarantined
    assert parsed.declared == clean + degraded + quarantined


def _person(row: dict[str, Any]) -> tuple[Any, ...]:
    docs = tuple(
        (d["type"], d["number"], d["issuing_country"], d["expiry_date"]) for d in row["documents"]
    )
    return (
        row["surname"],
        row["given_names"],
        row["sex"],
        row["date_of_birth"],
        row["nationality"],
        docs,
        tuple(row["degraded"]),
    )


def _flight(row: dict[str, Any]) -> tuple[Any, ...]:
    f = row["flight"]
    return (
        f["carrier"],
        f["number"],
        f["departure_airport"],
        f["arrival_airport"],
        f["scheduled_departure"],
        f["scheduled_arrival"],
    )


def test_the_folder_lists_every_fixture_in_its_readme() -> None:
    readme = (HABITS / "README.md").read_text()
    files = sorted(p.name for p in HABITS.glob("*.edi"))
    assert len(files) >= 13
    assert [f for f in files if f"`{f}`" not in readme] == []


# ------------------------------------------------------------------------------- PAXLST


def test_blanks_between_tags_and_separators_and_around_terminators() -> None:
    text = (HABITS / "paxlst_blanks_around_tags.edi").read_text()
    assert "UNG *PAXLST" in text and "NAD *FL" in text and " '\n" in text and "\n  " in text
    parsed, rows = _parse("paxlst_blanks_around_tags.edi")
    assert [_person(r) for r in rows] == [
        ("KIM", "MIN JUN", "M", "1988-03-14", "KOR", (("P", "M12345678", "KOR", "2031-07-22"),), ()),
        ("PARK", "JI YEON", "F", "1995-06-07", "KOR", (("P", "M87654321", "KOR", "2029-02-03"),), ()),
    ]  # fmt: skip
    assert {_flight(r) for r in rows} == {
        ("OZ", "102", "ICN", "NRT", "2026-11-21T01:10", "2026-11-21T03:40")
    }
    assert parsed.manifests[0].reporting_party == "OZ API DESK"
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=2, degraded=0, quarantined=0)


def test_line_breaks_inside_elements_are_not_segment_boundaries() -> None:
    text = (HABITS / "paxlst_wrapped_elements.edi").read_text()
    assert "NGUY\nEN" in text and "DTM+329:9709\n22" in text and "O?\n'NEILL" in text
    parsed, rows = _parse("paxlst_wrapped_elements.edi")
    assert [_person(r) for r in rows] == [
        ("NGUYEN", "THI MAI ANH", "F", "1997-09-22", "VNM", (("P", "C4567890", "VNM", "2030-01-15"),), ()),
        ("O'NEILL-TRAN", "BAO", "M", "2001-04-30", "VNM", (("P", "C0011223", "VNM", "2032-11-09"),), ()),
        ("SRISAWAT", "KANYARAT", "F", "1985-01-18", "THA", (("P", "AA9876543", "THA", "2028-05-21"),), ()),
    ]  # fmt: skip
    assert {_flight(r) for r in rows} == {
        ("VN", "300", "SGN", "NRT", "2026-11-21T00:30", "2026-11-21T08:10")
    }
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=3, degraded=0, quarantined=0)


def test_a_una_of_five_characters_with_a_line_break_in_the_sixth_place() -> None:
    assert (HABITS / "paxlst_una_newline_sixth.edi").read_bytes().startswith(b"UNA:+.? \nUNB+")
    parsed, rows = _parse("paxlst_una_newline_sixth.edi")
    # Indonesian single names: the surname field holds the only name, no given names
    assert [_person(r) for r in rows] == [
        ("SETIAWATI", None, "F", "1979-08-11", "IDN", (("P", "B1234567", "IDN", "2030-04-01"),), ()),
        ("PURNOMO", None, "M", "1966-04-21", "IDN", (("P", "B7654321", "IDN", "2029-09-12"),), ()),
    ]  # fmt: skip
    assert _codes(parsed) == Counter({"W_UNA_MISMATCH": 1})
    assert "declares terminator '\\n'; the file uses \"'\"" in parsed.warnings[0]
    assert parsed.manifests[0].version == "D02B"
    _reconciles(parsed, clean=2, degraded=0, quarantined=0)


def test_a_una_whose_terminator_never_occurs_typographic_apostrophe() -> None:
    text = (HABITS / "paxlst_una_typographic_apostrophe.edi").read_text(encoding="utf-8")
    assert text.startswith("UNA:+.? '\n") and text.count("'") == 1 and text.count("\u2019") == 28
    parsed, rows = _parse("paxlst_una_typographic_apostrophe.edi")
    assert [_person(r) for r in rows] == [
        ("WANG", "XIAOMING", "M", "1990-01-02", "CHN", (("P", "E12345678", "CHN", "2033-09-18"),), ()),
        ("OUYANG", "LI NA", "F", "2003-07-16", "CHN", (("P", "E87654321", "CHN", "2028-11-30"),), ()),
    ]  # fmt: skip
    assert _codes(parsed) == Counter({"W_UNA_MISMATCH": 1})
    assert parsed.warnings[0].endswith("the file uses '\u2019'")
    _reconciles(parsed, clean=2, degraded=0, quarantined=0)


def test_a_multi_leg_flight_written_as_loc_92_on_every_stop() -> None:
    text = (HABITS / "paxlst_multileg_loc92.edi").read_text()
    assert text.count("LOC+92+") == 4 and "LOC+125" not in text and "LOC+87" not in text
    parsed, rows = _parse("paxlst_multileg_loc92.edi")
    legs = [(x.departure_airport, x.arrival_airport) for x in parsed.manifests[0].legs]
    assert legs == [("MNL", "KIX"), ("KIX", "NRT")]
    # each traveller's flight is the leg landing where that traveller gets off (LOC 179)
    assert [(r["surname"], r["given_names"], _flight(r)) for r in rows] == [
        ("DELA CRUZ", "JUAN MIGUEL", ("PR", "428", "MNL", "KIX", "2026-11-21T06:00", "2026-11-21T11:00")),
        ("SANTOS REYES", "MARIA CLARA", ("PR", "428", "KIX", "NRT", "2026-11-21T12:30", "2026-11-21T13:45")),
    ]  # fmt: skip
    assert [r["sex"] for r in rows] == ["M", "F"]
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=2, degraded=0, quarantined=0)


@pytest.mark.parametrize(
    ("name", "flight", "missing"),
    [
        (
            "paxlst_leg_departure_only.edi",
            ("VJ", "822", "HAN", None, "2026-11-21T01:20", None),
            "LOC 87 arrival_airport",
        ),
        (
            "paxlst_leg_arrival_only.edi",
            ("TG", "676", None, "NRT", None, "2026-11-21T08:30"),
            "LOC 125 departure_airport",
        ),
    ],
)
def test_a_leg_with_only_one_airport_keeps_the_other_null(
    name: str, flight: tuple[Any, ...], missing: str
) -> None:
    parsed, rows = _parse(name)
    assert [_flight(r) for r in rows] == [flight]
    assert _codes(parsed) == Counter({"W_MISSING_SEGMENT": 1})
    assert f"W_MISSING_SEGMENT: {missing}: flight leg" in parsed.warnings[0]
    assert rows[0]["degraded"] == []  # a flight fact, not a value of the traveller
    _reconciles(parsed, clean=1, degraded=0, quarantined=0)


def test_several_interchanges_where_one_is_broken_the_good_ones_load() -> None:
    parsed, rows = _parse("paxlst_interchanges_one_broken.edi")
    assert [(r["surname"], r["given_names"], r["source"]["message_ref"]) for r in rows] == [
        ("LEE", "SEO YEON", "HB8A"),
        ("CHEN", "YI TING", "HB8C"),
    ]
    assert [_flight(r)[:4] for r in rows] == [
        ("KE", "703", "ICN", "NRT"),
        ("CI", "100", "TPE", "NRT"),
    ]
    assert _codes(parsed) == Counter({"W_BAD_SEGMENT": 1, "W_ENVELOPE": 1, "W_NO_MESSAGE": 1})
    assert [(x.kind, x.code, x.first_segment, x.last_segment, x.travellers) for x in parsed.lost] == [
        ("message", "E_ENVELOPE", 25, 46, 2)
    ]  # fmt: skip
    _reconciles(parsed, clean=2, degraded=0, quarantined=2)


# ------------------------------------------------------------------------------- PNRGOV


def _bookings(parsed: ParsedFile) -> dict[str, Any]:
    return {b.record_locator: b for m in parsed.pnr_messages for b in m.bookings}


def test_rci_creation_date_in_other_positions_or_absent() -> None:
    parsed, rows = _parse("pnrgov_rci_positions.edi")
    assert [(r["record_locator"], r["booking_created"]) for r in rows] == [
        ("K4P2QX", "2026-10-20T14:05"),  # RCI+VN:K4P2QX:201026:1405 (date in the 3rd place)
        ("M7TZ3D", None),  # RCI+VN:M7TZ3D (no date: nothing to read, not a loss)
        ("R2WQ8H", "2026-10-15T09:30"),  # RCI+VN:R2WQ8H:::151026:0930 (5th and 6th)
    ]
    assert [_person(r)[:5] for r in rows] == [
        ("NGUYEN", "VAN AN", "M", "1988-07-05", "VNM"),
        ("PHAM", "THU HA", "F", "1993-09-19", "VNM"),
        ("LE", "MINH KHOA", "M", "2002-02-28", "VNM"),
    ]
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=3, degraded=0, quarantined=0)


def test_dat_and_tvl_dates_of_other_lengths() -> None:
    parsed, rows = _parse("pnrgov_dates_other_lengths.edi")
    flight = parsed.pnr_messages[0].flight  # TVL+21112026:0100:21112026:0850 (DDMMCCYY)
    assert (flight.scheduled_departure.isoformat(), flight.scheduled_arrival.isoformat()) == (
        "2026-11-21T01:00:00",
        "2026-11-21T08:50:00",
    )
    bookings = _bookings(parsed)
    last = {loc: b.last_transaction.isoformat() for loc, b in bookings.items()}
    assert last == {
        "T6YB4N": "2026-11-05T17:42:00",  # DAT+700:05112026:1742
        "W3KD9P": "2026-11-10T22:05:00",  # DAT+700:10NOV26:2205
        "Z8MC2R": "2026-11-14T16:15:00",  # DAT+700:1411261615 (date and time in one)
    }
    legs = [
        (x.departure_airport, x.scheduled_departure.isoformat(), x.scheduled_arrival.isoformat())
        for b in bookings.values()
        for x in b.itinerary
    ]
    assert legs == [
        ("SIN", "2026-11-21T01:00:00", "2026-11-21T08:50:00"),  # 21NOV26 (DDMMMYY)
        ("BKK", "2026-11-19T23:20:00", "2026-11-20T05:05:00"),  # 19NOV2026 (DDMMMCCYY)
        ("SIN", "2026-11-21T01:00:00", "2026-11-21T08:50:00"),
        ("SIN", "2026-11-21T01:00:00", "2026-11-21T08:50:00"),
    ]
    assert [r["surname"] for r in rows] == ["CHAROENSUK", "TANAKIT", "BOONMA"]
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=3, degraded=0, quarantined=0)


def test_org_and_add_with_fewer_components() -> None:
    parsed, rows = _parse("pnrgov_org_add_short.edi")
    agencies = [
        (a["airline"], a["location"], a["agency_id"], a["kind"])
        for a in (r["agency"] for r in rows)
    ]
    assert agencies == [
        ("TG", None, None, None),
        ("TG", "BKK", "35009876", None),
        ("TG", "BKK", None, "A"),
    ]
    bookings = _bookings(parsed)
    addresses = {
        loc: [c.value for c in b.contacts if c.kind == "address"] for loc, b in bookings.items()
    }
    assert addresses == {
        "B5NX7K": ["99 SUKHUMVIT SOI 21"],  # ADD++700:street, nothing after it
        "D9QP3M": ["12 CHAROEN KRUNG RD, BANGKOK, THA"],  # ADD+700:... (no empty first element)
        "F2HV6W": [],
    }
    billing = bookings["B5NX7K"].payments[0].billing_address
    assert (billing.street, billing.city, billing.country) == ("88 RAMA IV RD", "BANGKOK", None)
    assert parsed.pnr_messages[0].flight.departure_airport == "BKK"  # level-0 ORG+TG alone
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=3, degraded=0, quarantined=0)


def test_ssr_docs_free_text_habits() -> None:
    parsed, rows = _parse("pnrgov_docs_habits.edi")
    people = {(r["record_locator"], r["surname"], r["given_names"]): _person(r)[2:6] for r in rows}
    assert people == {
        # /////21APR66/M//KIM/SANG WOO: empty items stay empty, nothing shifts
        ("KR1A2B", "KIM", "SANG WOO"): ("M", "1966-04-21", None, ()),
        # no leading slash, ends after the single name (too few slashes)
        ("ID3C4D", "SUKMAWATI", None): ("F", "1984-05-12", "IDN", (("P", "B2345678", "IDN", "2031-02-03"),)),
        # //P/...: a doubled leading slash and trailing slashes; a surname with a space
        ("PH5E6F", "DELA CRUZ", "JOSE"): ("M", "1995-06-30", "PHL", (("P", "P3344556C", "PHL", "2030-08-01"),)),
        # an extra slash between the number and the nationality; a double surname
        ("ES7G8H", "GARCIA LOPEZ", "MARIA JOSE"): ("F", "1971-02-09", "ESP", (("P", "PAB123456", "ESP", "2029-11-19"),)),
        # four-digit years in the birth and expiry dates
        ("PT9J0K", "SOUSA SANTOS", "JOAO PEDRO"): ("M", "1958-08-17", "PRT", (("P", "CB987654", "PRT", "2032-03-04"),)),
        # the adult's own DOCS, and an infant's DOCS (FI) on the same TIF
        ("VN1L2M", "TRAN", "THI LINH"): ("F", "1991-02-14", "VNM", (("P", "C5566778", "VNM", "2033-12-20"),)),
        ("VN1L2M", "TRAN", "GIA HAN"): ("F", "2026-03-03", "VNM", (("P", "C9988776", "VNM", "2031-03-02"),)),
        # an infant's DOCS (MI) before the adult's own: the adult keeps his name
        ("TH3N4P", "SRISUK", "SOMCHAI"): ("M", "1985-10-01", "THA", (("P", "AA6655443", "THA", "2028-11-11"),)),
        ("TH3N4P", "SRISUK", "NAWIN"): ("M", "2025-06-10", "THA", (("P", "AA5544332", "THA", "2030-06-09"),)),
        # blanks around the names and a trailing slash
        ("CN5Q6R", "OUYANG", "MEI LING"): ("F", "2000-08-08", "CHN", (("P", "E55667788", "CHN", "2035-09-26"),)),
        # the issuer left out (too few slashes): read by shape, the issuer is null
        ("VN7S8T", "HOANG", "DUC ANH"): ("M", "1990-09-05", "VNM", (("P", "C7654321", None, "2029-01-12"),)),
    }  # fmt: skip
    assert len(rows) == 11
    bookings = _bookings(parsed)
    kinds = {loc: [(t.surname, t.given_names, t.passenger_type) for t in b.travellers]
             for loc, b in bookings.items() if len(b.travellers) > 1}  # fmt: skip
    assert kinds == {
        "VN1L2M": [("TRAN", "THI LINH", "A"), ("TRAN", "GIA HAN", "IN")],
        "TH3N4P": [("SRISUK", "SOMCHAI", "A"), ("SRISUK", "NAWIN", "IN")],
    }
    assert [r["title"] for r in rows if r["record_locator"] == "TH3N4P"] == ["MR", None]
    assert all(r["degraded"] == [] for r in rows)
    assert parsed.warnings == [] and parsed.lost == []
    _reconciles(parsed, clean=11, degraded=0, quarantined=0)


def test_pnrgov_interchanges_one_cut_short_the_good_ones_load() -> None:
    parsed, rows = _parse("pnrgov_interchanges_one_broken.edi")
    assert [(r["record_locator"], r["surname"], r["given_names"]) for r in rows] == [
        ("HQ2W3E", "YOON", "SEO JIN"),
        ("TW4R5T", "LIN", "CHIA HAO"),  # the cut interchange's complete booking still loads
        ("PH8I9O", "BAUTISTA", "ANGELICA"),
    ]
    assert [m.flight.number for m in parsed.pnr_messages] == ["102", "100", "428"]
    assert [(x.kind, x.code, x.first_segment, x.last_segment, x.travellers) for x in parsed.lost] == [
        ("booking", "E_TRUNCATED", 27, 30, 1)
    ]  # fmt: skip
    # the message without UNT and the interchange without UNZ; no W_EQN_MISMATCH for the
    # booking that was quarantined
    assert _codes(parsed) == Counter({"W_TRUNCATED": 2})
    _reconciles(parsed, clean=3, degraded=0, quarantined=1)


@pytest.mark.parametrize("name", sorted(p.name for p in HABITS.glob("*.edi")))
def test_each_carrier_adds_up_to_the_file(name: str) -> None:
    """The per-carrier accounts (conformance, ingest) add up to the file's reconciliation."""
    from apiflag.edifact.carriers import account_parsed

    parsed, _ = _parse(name)
    accounts = account_parsed(parsed)
    assert sum(a.declared or 0 for a in accounts) == parsed.declared
    assert sum(a.clean + a.degraded for a in accounts) == parsed.travellers
    assert sum(a.quarantined for a in accounts) == parsed.quarantined
