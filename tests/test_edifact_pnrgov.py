"""PNRGOV: booking groups, contacts, payments, itinerary, check-in, splits, titles, drops."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from apiflag.edifact import contract_rows, parse_text
from apiflag.edifact.pnrgov import decode_email, same_name, split_title
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


NO_FLIGHT = LEVEL0.replace("TVL+211126:2330:221126:0730+BKK+NRT+QK+21'", "")


def test_a_message_without_its_flight_is_quarantined_as_a_record() -> None:
    """No level-0 TVL: the message is a lost record holding its travellers, not a refusal."""
    parsed = parse_text(pnr(BOOKING, NO_FLIGHT), "p.edi")
    assert parsed.pnr_messages == []
    (loss,) = parsed.lost
    assert (loss.kind, loss.code, loss.first_segment, loss.message_ref) == (
        "message", "E_MISSING_SEGMENT", 2, "1",
    )  # fmt: skip
    assert loss.travellers == 3  # DOE JANE, her infant and DOE ALEKSANDR
    assert (parsed.travellers, parsed.quarantined, parsed.declared) == (0, 3, 3)


def _two_messages(first: str, second: str) -> str:
    """One interchange of two single-part PNRGOV messages (``pnr()`` texts)."""
    head = first[: first.index("UNZ")]
    return head + second[second.index("UNH") : second.index("UNZ")] + "UNZ+2+IC2'"


@pytest.mark.parametrize(
    "level0",
    [NO_FLIGHT, LEVEL0.replace("+QK+21'", "+QK+X1X'", 1)],
    ids=["no level-0 TVL", "flight number unreadable"],
)
def test_a_message_without_a_readable_flight_loses_only_itself(level0: str) -> None:
    """Of two messages in one file, the one without a readable flight is set aside."""
    lost = pnr(BOOKING, level0)
    good = pnr(OTHER, LEVEL0).replace("UNH+1+", "UNH+2+").replace("+1'UNZ", "+2'UNZ")
    parsed = parse_text(_two_messages(lost, good), "p.edi")
    (loss,) = parsed.lost
    assert (loss.kind, loss.message_ref, loss.travellers) == ("message", "1", 3)
    assert loss.code in ("E_MISSING_SEGMENT", "E_BAD_VALUE")
    assert "X1X" not in loss.message  # the value is never repeated, only its class
    (message,) = parsed.pnr_messages
    assert message.message_ref == "2"
    assert [b.record_locator for b in message.bookings] == ["XYZ789"]
    assert (parsed.travellers, parsed.quarantined, parsed.declared) == (1, 3, 4)


OTHER = "SRC'RCI+QK:XYZ789::191126:2210'TIF+ROE+RICHARD:A:1'TVL+211126:2330::0730+BKK+NRT+QK+21:Y'"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (BOOKING.replace("RCI+QK:ABC123::191126:2210'", ""), "E_MISSING_SEGMENT"),
        (BOOKING.replace("TIF+DOE+ALEKSANDR:A:2'", "TIF++ALEKSANDR:A:2'"), "E_BAD_VALUE"),
        (BOOKING.replace("+QK+21:Y'", "+QK+X:Y'"), "E_BAD_VALUE"),
    ],
    ids=["no locator", "a TIF without a surname", "bad flight number"],
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
    """A leg whose carrier the contract refuses quarantines the booking, naming that TVL."""
    text = pnr(BOOKING.replace("+NRT+BKK+QK+22:Y'", "+NRT+BKK+QKXX+22:Y'"))
    tvl_segment = 1 + text[: text.index("TVL+251126")].count("'") - 1  # UNA's "'" is not one
    (loss,) = parse_text(text, "p.edi").lost
    assert (loss.code, loss.first_segment) == ("E_BAD_VALUE", 7)
    assert loss.message.startswith(f"segment {tvl_segment}: ")


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


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit of a booking's ``model_dump()`` at ``"travellers.0.sex"``-style paths."""

    def edit(dump: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = dump
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return edit


ALL = ("1", "1I", "2")  # every traveller of BOOKING: a booking value is in each one's row


@pytest.mark.parametrize(
    ("old", "new", "edits", "who", "field", "warned"),
    [
        ("/01JAN90/F/", "/01JAN90/Q/", ["travellers.0.sex"], ("1",), "sex", "SSR+DOCS sex"),
        ("/AA111/THA/", "/AA111/T4A/", ["travellers.0.nationality"], ("1",), "nationality",
         "SSR+DOCS nationality"),
        ("/P/THA/AA111/", "/P/TH9/AA111/", ["travellers.0.documents.0.issuing_country"], ("1",),
         "documents", "SSR+DOCS issuing_country"),
        ("01JAN90", "01XYZ90", ["travellers.0.date_of_birth"], ("1",), "date_of_birth",
         "SSR+DOCS date_of_birth"),
        ("/F/01JAN30/", "/F/31FEB30/", ["travellers.0.documents.0.expiry_date"], ("1",),
         "documents", "SSR+DOCS expiry_date"),
        ("/BANGKOK/01OCT26/", "/BANGKOK/41OCT26/", ["travellers.0.documents.1.issue_date"],
         ("1",), "documents", "SSR+DOCO issue_date"),
        ("/BABY/15MAR26'", "/BABY/35MAR26'", ["travellers.1.date_of_birth"], ("1I",),
         "date_of_birth", "SSR+INFT date_of_birth"),
        ("::191126:2210'", "::191326:2210'", ["created"], ALL, "booking_created",
         "RCI booking_created"),
        ("::191126:2210'", "::191126:2270'", ["created"], ALL, "booking_created",
         "RCI booking_created"),
        ("DAT+700:201126:0900'", "DAT+700:201126:9900'", ["last_transaction"], ALL,
         "last_transaction", "DAT+700 last_transaction"),
        ("TVL+211126:2330::", "TVL+991399:2330::",
         ["itinerary.0.scheduled_departure", "itinerary.0.scheduled_arrival"], ALL, "itinerary",
         "TVL itinerary"),
        ("::0730+BKK+NRT+QK+21:Y'", "::0790+BKK+NRT+QK+21:Y'", ["itinerary.0.scheduled_arrival"],
         ALL, "itinerary", "TVL itinerary"),
        ("1000:251126:1500", "1000:251326:1500", ["itinerary.1.scheduled_arrival"], ALL,
         "itinerary", "TVL itinerary"),
        ("1000:251126:1500", "1000:251126:9", ["itinerary.1.scheduled_arrival"], ALL,
         "itinerary", "TVL itinerary"),
    ],
    ids=[
        "DOCS sex", "DOCS nationality", "DOCS issuing country", "DOCS birth date",
        "DOCS expiry", "DOCO issue date", "INFT birth date", "RCI date", "RCI time",
        "DAT 700 time", "TVL departure date", "TVL arrival time", "TVL arrival date",
        "TVL arrival time out of place",
    ],
)  # fmt: skip
def test_an_unreadable_value_is_null_with_its_warning_and_degraded_field(
    old: str, new: str, edits: list[str], who: tuple[str, ...], field: str, warned: str
) -> None:
    """The PAXLST way: the one value is null, named in a warning by its class and in the
    ``degraded`` of the travellers whose rows hold it; the rest of the booking is as sent."""
    clean = parse_text(pnr(), "p.edi")
    assert BOOKING.count(old) == 1
    parsed = parse_text(pnr(BOOKING.replace(old, new)), "p.edi")
    assert parsed.lost == []
    (got,) = parsed.pnr_messages[0].bookings
    want = clean.pnr_messages[0].bookings[0].model_dump()
    for path in edits:
        _set(path, None)(want)
    dump = got.model_dump()
    assert {t["ref"]: t.pop("degraded") for t in dump["travellers"]} == {
        t.ref: ((field,) if t.ref in who else ()) for t in got.travellers
    }
    for t in want["travellers"]:
        t.pop("degraded")
    assert dump == want
    (line,) = set(parsed.warnings) - set(clean.warnings)
    assert f": W_BAD_VALUE: {warned}: " in line and line.endswith("; read as null")
    (bad,) = set(re.split(r"[/:+']", new)) - set(re.split(r"[/:+']", old))
    assert bad not in line  # its class only
    assert (parsed.degraded, parsed.quarantined) == (len(who), 0)


def test_a_docs_whose_names_are_shifted_keeps_the_tif_names_with_a_warning() -> None:
    """An extra DOCS item before the names would make the given name a surname: not read."""
    text = pnr(BOOKING.replace("/01JAN30/DOE/JANE/MARY'", "/01JAN30/X/DOE/JANE/MARY'"))
    parsed = parse_text(text, "p.edi")
    jane = parsed.pnr_messages[0].bookings[0].travellers[0]
    assert (jane.surname, jane.given_names, jane.title) == ("DOE", "JANE", "MRS")
    assert (jane.sex, jane.date_of_birth) == ("F", dt.date(1990, 1, 1))  # before the names
    assert any(": W_BAD_VALUE: SSR+DOCS surname: not the TIF's" in w for w in parsed.warnings)
    assert parsed.lost == []


def test_a_docs_surname_the_tif_cut_short_or_spaced_is_the_same_name() -> None:
    assert same_name("VAN DER BERG", "VANDERBERG") and same_name("DOE-SMITH", "DOESMI")
    assert not same_name("JANE", "DOE")


def test_no_value_is_repeated_in_a_loss_message() -> None:
    """A booking lost for its flight number names the number's class, never the number."""
    parsed = parse_text(pnr(BOOKING.replace("+QK+21:Y'", "+QK+X7Q:Y'")), "p.edi")
    (loss,) = parsed.lost
    assert "3 characters value is not a flight number" in loss.message
    assert "X7Q" not in str(loss)
