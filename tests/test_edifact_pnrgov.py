"""PNRGOV: booking groups, contacts, payments, itinerary, check-in, splits, titles, drops."""

from __future__ import annotations

import datetime as dt

import pytest

from apiflag.edifact import contract_rows, parse_text
from apiflag.edifact.pnrgov import decode_email, split_title
from apiflag.errors import ParseError
from apiflag.records import PnrBooking

LEVEL0 = "MSG+:22'ORG+QK:BKK'TVL+211126:2330:221126:0730+BKK+NRT+QK+21'EQN+1'"

BOOKING = (
    "SRC'RCI+QK:ABC123::191126:2210'SSR+WCHR:HK:1:QK'DAT+700:201126:0900'"
    "ORG+QK:BKK+77001234:BKK+++T+TH:THB'IFT+4:28::QK+CTCM ?+66 81 111 2222'"
    "IFT+4:28::QK+PAX NEEDS HALAL FOOD'ADD++700:1 SUKHUMVIT RD:BANGKOK::::10110'"
    "TIF+DOE+JANEMRS:A:1'FTI+QK:123456789'"
    "SSR+DOCS:HK:1:QK:::::/P/THA/AA111/THA/01JAN90/F/01JAN30/DOE/JANE/MARY'"
    "SSR+DOCO:HK:1:QK:::::/BANGKOK/V/JV99/BANGKOK/01OCT26/JPN'"
    "SSR+DOCA:HK:1:QK:::::/R/THA/1 SILOM RD/BANGKOK/BK/10500'"
    "SSR+CTCE:HK:1:QK:::::/JANE..DOE./X//MAIL.EXAMPLE.COM'"
    "SSR+MOML:HK:1:QK'SSR+INFT:HK:1:QK:::::/DOE/BABY/15MAR26'"
    "TKT+2170000000001:T:1'FOP+CC::50000.00:VI:XXXXXXXXXXXX1234:0129+CA::100.00'"
    "IFT+4:43+JOHN PAYER+66822223333'ADD++700:9 PAYER ST:BANGKOK'"
    "TIF+DOE+ALEKSANDR:A:2'"
    "TVL+211126:2330::0730+BKK+NRT+QK+21:Y'RPI+1+HK'SSR+SEAT:HK:1:QK:::BKK:NRT+12A::1'"
    "DAT+2:211126:2000'ORG+QK:BKK'TRI++1:::1'TIF+DOE+JANEMRS:A:1'SSD+14C'TBD++2:40:700'"
    "TVL+251126:1000:251126:1500+NRT+BKK+QK+22:Y'SSR+VGML:HK:1:QK'"
    "EQN+1'RCI+QK:SPL999'MSG+:ZZ'TVL+211126:0900::1000+NRT+TYO+HTL+1'"
    "ABI+4+:AGENT'DAT+ZT:191126:2210'SAC+++X'TVL+111126:1000::1100+BKK+HKT+QK+99'"
    "LTS+0/O/28/OSI QK FREE TEXT'"
)


def pnr(body: str = BOOKING, level0: str = LEVEL0, unh: str = "") -> str:
    segments = [s for s in (level0 + body).split("'") if s]
    return (
        "UNA:+.? 'UNB+IATA:1+QK+JPNPNR+261120:0005+IC2'"
        f"UNH+1+PNRGOV:13:1:IA{unh}'{level0}{body}UNT+{len(segments) + 2}+1'UNZ+1+IC2'"
    )


def booking(text: str | None = None) -> PnrBooking:
    parsed = parse_text(text or pnr())
    return parsed.pnr_messages[0].bookings[0]


def test_booking_header_agency_and_dates() -> None:
    b = booking()
    assert (b.record_locator, b.carrier) == ("ABC123", "QK")
    assert b.created == dt.datetime(2026, 11, 19, 22, 10)
    assert b.last_transaction == dt.datetime(2026, 11, 20, 9, 0)
    assert b.agency is not None
    assert (b.agency.agency_id, b.agency.kind, b.agency.country) == ("77001234", "T", "TH")


def test_docs_names_win_and_glued_title_comes_off() -> None:
    t = booking().travellers[0]
    assert (t.surname, t.given_names, t.title) == ("DOE", "JANE MARY", "MRS")
    assert (t.sex, t.nationality, t.date_of_birth) == ("F", "THA", dt.date(1990, 1, 1))
    assert t.frequent_flyer == "123456789"


def test_given_name_that_ends_like_a_title_is_kept_without_docs() -> None:
    t = next(t for t in booking().travellers if t.ref == "2")
    assert (t.given_names, t.title) == ("ALEKSANDR", None)


def test_passport_visa_and_address_documents() -> None:
    t = booking().travellers[0]
    assert [(d.type, d.number, d.issuing_country) for d in t.documents] == [
        ("P", "AA111", "THA"),
        ("V", "JV99", "JPN"),
    ]
    assert t.documents[0].expiry_date == dt.date(2030, 1, 1)
    assert t.documents[1].issue_date == dt.date(2026, 10, 1)
    assert t.address is not None and t.address.city == "BANGKOK"


def test_infant_from_inft_is_a_traveller() -> None:
    travellers = booking().travellers
    assert [t.ref for t in travellers] == ["1", "1I", "2"]  # an infant follows its adult
    infant = travellers[1]
    assert (infant.surname, infant.given_names, infant.passenger_type) == ("DOE", "BABY", "IN")
    assert infant.date_of_birth == dt.date(2026, 3, 15)


def test_contacts_booking_and_traveller_level() -> None:
    b = booking()
    got = {(c.kind, c.value, c.traveller_ref) for c in b.contacts}
    assert ("phone", "+66811112222", None) in got
    assert ("email", "JANE_DOE-X@MAIL.EXAMPLE.COM", "1") in got
    assert ("address", "1 SUKHUMVIT RD, BANGKOK, 10110", None) in got
    assert any(k == "address" and ref == "1" for k, _, ref in got)


def test_payments_with_card_holder_and_billing_address() -> None:
    b = booking()
    assert [(p.form, p.amount) for p in b.payments] == [("CC", 50000.0), ("CA", 100.0)]
    card = b.payments[0]
    assert (card.card_vendor, card.masked_card, card.card_expiry) == (
        "VI",
        "XXXXXXXXXXXX1234",
        "0129",
    )
    assert all(p.payer_name == "JOHN PAYER" and p.payer_phone == "66822223333" for p in b.payments)
    assert card.billing_address is not None and card.billing_address.street == "9 PAYER ST"
    assert [t.number for t in b.tickets] == ["2170000000001"]


def test_itinerary_across_midnight_checkin_seats_bags() -> None:
    b = booking()
    assert len(b.itinerary) == 2  # the hotel (MSG) and history TVLs are not legs
    first = b.itinerary[0]
    assert first.scheduled_departure == dt.datetime(2026, 11, 21, 23, 30)
    assert first.scheduled_arrival == dt.datetime(2026, 11, 22, 7, 30)
    assert (first.booking_class, first.status, first.checked_in) == ("Y", "HK", True)
    assert b.itinerary[1].checked_in is None
    assert {(s.seat, s.traveller_ref, s.leg) for s in b.seats} == {("12A", "1", 0), ("14C", "1", 0)}
    assert [(x.count, x.weight_kg, x.traveller_ref, x.leg) for x in b.bags] == [(2, 40.0, "1", 0)]


def test_split_pnr_locators() -> None:
    assert booking().split_record_locators == ("SPL999",)


def test_sensitive_codes_and_free_text_are_dropped_and_counted() -> None:
    parsed = parse_text(pnr())
    assert parsed.dropped == {"LTS": 1, "MOML": 1, "OSI": 1, "VGML": 1, "WCHR": 1}
    text = repr(parsed.pnr_messages) + repr(contract_rows(parsed, "f"))
    for secret in ("HALAL", "MOML", "WCHR", "VGML", "FREE TEXT"):
        assert secret not in text


def test_contract_row_for_a_pnr_traveller() -> None:
    rows = contract_rows(parse_text(pnr()), "p.edi")
    jane = rows[0]
    assert jane["record_locator"] == "ABC123"
    assert jane["booking_created"] == "2026-11-19T22:10"
    assert jane["forms_of_payment"] == ["CC", "CA"]
    assert jane["payer_name"] == "JOHN PAYER"
    assert jane["phones"] == ["+66811112222"]
    assert jane["emails"] == ["JANE_DOE-X@MAIL.EXAMPLE.COM"]
    assert jane["agency"]["agency_id"] == "77001234"
    assert [leg["number"] for leg in jane["itinerary"]] == ["21", "22"]
    aleksandr = rows[2]
    assert aleksandr["emails"] == []  # traveller 2 sees booking-level contacts only
    assert aleksandr["phones"] == ["+66811112222"]


def test_push_type_and_declared_bookings() -> None:
    parsed = parse_text(pnr(level0=LEVEL0.replace("MSG+:22", "MSG+:141").replace("EQN+1", "EQN+3")))
    message = parsed.pnr_messages[0]
    assert (message.push_type, message.declared_bookings) == ("changed", 3)
    assert any("W_EQN_MISMATCH" in w for w in parsed.warnings)
    assert message.flight.scheduled_arrival == dt.datetime(2026, 11, 22, 7, 30)


@pytest.mark.parametrize(
    ("given", "docs", "want"),
    [
        ("YUKI MS", None, ("YUKI", "MS")),
        ("PIMCHANOKMS", "PIMCHANOK DARA", ("PIMCHANOK", "MS")),
        ("JOHNMR", None, ("JOHN", "MR")),
        ("ANNAMRS", None, ("ANNA", "MRS")),
        ("LILYMISS", None, ("LILY", "MISS")),
        ("TOMMSTR", None, ("TOM", "MSTR")),
        ("ALEKSANDR", None, ("ALEKSANDR", None)),
        ("ALEKSANDRDR", "ALEKSANDR", ("ALEKSANDR", "DR")),
        ("WILLIAMS", "WILLIAMS", ("WILLIAMS", None)),
        ("JOHN PAULMR", None, ("JOHN PAUL", "MR")),
        ("MR", None, ("MR", None)),
        ("", None, ("", None)),
    ],
)
def test_split_title(given: str, docs: str | None, want: tuple[str, str | None]) -> None:
    assert split_title(given, docs) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("YUKI..SATO//EXAMPLE.JP", "YUKI_SATO@EXAMPLE.JP"),
        ("/A./B//X.COM", "A-B@X.COM"),
        ("A.B//X.COM/EN", "A.B@X.COM"),
        ("A//X.COM-1DOE/JANEMRS", "A@X.COM"),
    ],
)
def test_decode_email(text: str, want: str) -> None:
    assert decode_email(text) == want


def test_a_message_without_its_flight_refuses_the_file() -> None:
    level0 = LEVEL0.replace("TVL+211126:2330:221126:0730+BKK+NRT+QK+21'", "")
    with pytest.raises(ParseError) as info:
        parse_text(pnr(BOOKING, level0), "p.edi")
    assert info.value.code == "E_MISSING_SEGMENT" and info.value.segment > 0


OTHER = "SRC'RCI+QK:XYZ789::191126:2210'TIF+ROE+RICHARD:A:1'TVL+211126:2330::0730+BKK+NRT+QK+21:Y'"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (BOOKING.replace("RCI+QK:ABC123::191126:2210'", ""), "E_MISSING_SEGMENT"),
        (BOOKING.replace("191126:2210'", "311126:2210'", 1), "E_BAD_DATE"),
        (BOOKING.replace("01JAN90", "01XYZ90"), "E_BAD_DATE"),
        (BOOKING.replace("+QK+21:Y'", "+QK+X:Y'"), "E_BAD_VALUE"),
    ],
    ids=["no locator", "bad RCI date", "bad DOCS date", "bad flight number"],
)
def test_a_booking_that_cannot_be_read_is_quarantined_and_the_next_loads(
    body: str, code: str
) -> None:
    """The booking is a lost record holding its TIFs; the booking after it loads whole."""
    parsed = parse_text(pnr(body + OTHER, LEVEL0.replace("EQN+1'", "EQN+2'")), "p.edi")
    (loss,) = parsed.lost
    first = 7  # UNB, UNH, MSG, ORG, TVL, EQN: the booking's SRC
    assert (loss.kind, loss.code, loss.first_segment) == ("booking", code, first)
    assert loss.travellers == 3  # DOE JANE, her infant (SSR INFT) and DOE ALEKSANDR
    assert parsed.quarantined == 3
    (message,) = parsed.pnr_messages
    assert [b.record_locator for b in message.bookings] == ["XYZ789"]
    assert [t.surname for t in message.bookings[0].travellers] == ["ROE"]
    assert not any("W_EQN_MISMATCH" in w for w in parsed.warnings)


def test_multipart_push_is_joined() -> None:
    one = pnr(BOOKING, LEVEL0, "+QK21/211126+01:C")
    two = pnr(BOOKING.replace("ABC123", "XYZ789"), LEVEL0, "+QK21/211126+02:F")
    text = one[: one.index("UNZ")] + two[two.index("UNH") : two.index("UNZ")] + "UNZ+2+IC2'"
    parsed = parse_text(text)
    assert len(parsed.pnr_messages) == 1
    message = parsed.pnr_messages[0]
    assert [b.record_locator for b in message.bookings] == ["ABC123", "XYZ789"]
    assert (message.parts, message.complete, message.declared_bookings) == ((1, 2), True, 2)


def test_a_message_of_the_other_kind_is_quarantined_and_the_file_loads() -> None:
    other = "UNH+2+PAXLST:D:05B:UN:IATA'BGM+745'NAD+FL+++KIM:MINJI'UNT+4+2'"
    parsed = parse_text(pnr().replace("UNZ+1+IC2'", other + "UNZ+2+IC2'"))
    assert parsed.kind == "PNRGOV" and len(parsed.pnr_messages) == 1
    (loss,) = parsed.lost
    assert (loss.kind, loss.code, loss.travellers) == ("message", "E_MIXED_MESSAGES", 1)


def test_unknown_message_type_is_refused() -> None:
    with pytest.raises(ParseError) as info:
        parse_text(pnr().replace("PNRGOV:13:1:IA", "CUSCAR:D:96A:UN"))
    assert info.value.code == "E_UNKNOWN_MESSAGE"


def test_a_bad_value_is_located_at_its_own_segment() -> None:
    """A 40-character passport number in DOCS quarantines the booking, naming that SSR."""
    text = pnr(BOOKING.replace("/AA111/", "/" + "A" * 40 + "/"))
    docs_segment = 1 + text[: text.index("SSR+DOCS")].count("'") - 1  # UNA's "'" is not one
    (loss,) = parse_text(text, "p.edi").lost
    assert (loss.code, loss.first_segment) == ("E_BAD_VALUE", 7)
    assert loss.message.startswith(f"segment {docs_segment}: ")


def test_recurring_tvl_legs_are_independent_records() -> None:
    """A TVL read once is reused for later bookings; check-in on one must not leak."""
    leg = "TVL+211126:2330::0730+BKK+NRT+QK+21:Y'"
    first = f"SRC'RCI+QK:AAA111'TIF+ONE+ANNA:A:1'{leg}"
    second = f"SRC'RCI+QK:BBB222'TIF+TWO+BEN:A:1'{leg}DAT+2:211126:2000'TIF+TWO+BEN:A:1'"
    third = f"SRC'RCI+QK:CCC333'TIF+TRI+CAT:A:1'{leg.replace('21:Y', '21:C')}"
    parsed = parse_text(pnr(first + second + third, level0=LEVEL0.replace("EQN+1", "EQN+3")))
    a, b, c = parsed.pnr_messages[0].bookings
    assert a.itinerary[0].checked_in is None
    assert b.itinerary[0].checked_in is True
    assert a.itinerary[0].scheduled_arrival == dt.datetime(2026, 11, 22, 7, 30)
    assert a.itinerary[0].model_dump(exclude={"checked_in"}) == b.itinerary[0].model_dump(
        exclude={"checked_in"}
    )
    assert (a.itinerary[0].booking_class, c.itinerary[0].booking_class) == ("Y", "C")
