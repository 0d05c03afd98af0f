"""The EDIFACT writer: fixture conventions, release characters, styles, multipart, round trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.synth_helpers import el, read_paxlst, read_pnrgov, segments, tag

from apiflag.errors import UsageError
from apiflag.records import (
    Agency,
    ApiTraveller,
    Contact,
    Document,
    FlightLeg,
    ItineraryLeg,
    PaxlstManifest,
    Payment,
    PnrBooking,
    PnrgovMessage,
    PnrTraveller,
    Ticket,
)
from apiflag.synth.render import RenderStyle, encode_email, render_paxlst, render_pnrgov

FIXTURES = Path(__file__).resolve().parent / "data" / "messages" / "hand"
LEG = FlightLeg(
    carrier="QK",
    number="21",
    departure_airport="BKK",
    arrival_airport="NRT",
    scheduled_departure=dt.datetime(2026, 11, 21, 0, 5),
    scheduled_arrival=dt.datetime(2026, 11, 21, 8, 10),
)


def _pax(
    surname: str, given: str, sex: str, dob: dt.date, nat: str, loc: str, docs: tuple[Document, ...]
) -> ApiTraveller:
    return ApiTraveller(
        role="passenger",
        surname=surname,
        given_names=given,
        sex=sex,
        date_of_birth=dob,
        nationality=nat,
        record_locator=loc,
        embarkation="BKK",
        debarkation="NRT",
        documents=docs,
    )


FIXTURE_MANIFEST = PaxlstManifest(
    version="D05B",
    message_ref="F1",
    interchange_ref="FIX0000001",
    sender="QKAIR",
    recipient="JPNAPIS",
    prepared=dt.datetime(2026, 11, 20, 18, 0),
    document_code="745",
    transaction_ref="QK0021261121",
    reporting_party="QK API DESK",
    legs=(LEG,),
    declared_passengers=3,
    travellers=(
        _pax(
            "CHAIYAPORN",
            "SOMCHAI",
            "M",
            dt.date(1983, 4, 15),
            "THA",
            "QKTT01",
            (
                Document(
                    type="P",
                    number="AB1234567",
                    expiry_date=dt.date(2030, 1, 1),
                    issuing_country="THA",
                ),
            ),
        ),
        _pax(
            "KAEWKLA",
            "PIMCHANOK DARA",
            "F",
            dt.date(2005, 6, 2),
            "THA",
            "QKTT02",
            (
                Document(
                    type="P",
                    number="AC7654321",
                    expiry_date=dt.date(2030, 12, 31),
                    issuing_country="THA",
                ),
                Document(
                    type="V",
                    number="JV5550001",
                    expiry_date=dt.date(2027, 3, 1),
                    issuing_country="JPN",
                ),
            ),
        ),
        _pax(
            "SATO",
            "YUKI",
            "F",
            dt.date(1992, 10, 10),
            "JPN",
            "QKTT03",
            (
                Document(
                    type="P",
                    number="TK0000001",
                    expiry_date=dt.date(2032, 5, 5),
                    issuing_country="JPN",
                ),
            ),
        ),
    ),
)


def _with_bags(m: PaxlstManifest) -> PaxlstManifest:
    """The fixture declares MEA+CT for the first traveller only."""
    first = m.travellers[0].model_copy(update={"checked_bags": 1})
    return m.model_copy(update={"travellers": (first, *m.travellers[1:])})


def test_paxlst_matches_the_hand_written_fixture() -> None:
    """Every segment of the fixture is reproduced, except COM (not part of the record)."""
    expected = [
        s
        for s in (FIXTURES / "paxlst_d05b_passengers.edi").read_text().splitlines()
        if not s.startswith("COM+")
    ]
    got = render_paxlst(_with_bags(FIXTURE_MANIFEST)).splitlines()
    # the UNT count differs by the one COM segment the record cannot carry
    assert [s for s in got if not s.startswith("UNT")] == [
        s for s in expected if not s.startswith("UNT")
    ]
    assert "UNT+45+F1'" in got


def _pnr_fixture_message() -> PnrgovMessage:
    itin = ItineraryLeg(**LEG.model_dump(), booking_class="Y")
    doc2 = Document(
        type="P", number="AC7654321", issuing_country="THA", expiry_date=dt.date(2030, 12, 31)
    )
    doc3 = Document(
        type="P", number="TK0000001", issuing_country="JPN", expiry_date=dt.date(2032, 5, 5)
    )
    b1 = PnrBooking(
        record_locator="QKTT02",
        carrier="QK",
        created=dt.datetime(2026, 11, 19, 22, 10),
        last_transaction=dt.datetime(2026, 11, 19, 22, 10),
        agency=Agency(
            airline="QK",
            location="BKK",
            agency_id="77001234",
            kind="A",
            country="TH",
            currency="THB",
        ),
        contacts=(Contact(kind="phone", value="66811112222"),),
        travellers=(
            PnrTraveller(
                ref="1",
                surname="KAEWKLA",
                given_names="PIMCHANOK DARA",
                title="MS",
                sex="F",
                date_of_birth=dt.date(2005, 6, 2),
                nationality="THA",
                documents=(doc2,),
            ),
        ),
        tickets=(Ticket(number="2170000000001", traveller_ref="1", type="T"),),
        payments=(
            Payment(
                form="CA", amount=9800.0, payer_name="NARONG PHETSRI", payer_phone="66811112222"
            ),
        ),
        itinerary=(itin,),
    )
    b2 = PnrBooking(
        record_locator="QKTT03",
        carrier="QK",
        created=dt.datetime(2026, 9, 1, 10, 15),
        last_transaction=dt.datetime(2026, 9, 1, 10, 15),
        agency=Agency(airline="QK", location="TYO"),
        contacts=(Contact(kind="email", value="YUKI_SATO@EXAMPLE.JP"),),
        travellers=(
            PnrTraveller(
                ref="1",
                surname="SATO",
                given_names="YUKI",
                title="MS",
                sex="F",
                date_of_birth=dt.date(1992, 10, 10),
                nationality="JPN",
                documents=(doc3,),
            ),
        ),
        tickets=(Ticket(number="2170000000002", traveller_ref="1", type="T"),),
        payments=(
            Payment(
                form="CC",
                amount=64000.0,
                card_vendor="CA",
                masked_card="XXXXXXXXXXXX1111",
                card_expiry="0128",
            ),
        ),
        itinerary=(
            ItineraryLeg(
                carrier="QK",
                number="20",
                departure_airport="NRT",
                arrival_airport="BKK",
                scheduled_departure=dt.datetime(2026, 11, 14, 11, 0),
                scheduled_arrival=dt.datetime(2026, 11, 14, 15, 30),
                booking_class="Y",
            ),
            itin,
        ),
    )
    return PnrgovMessage(
        version="11.1",
        message_ref="1",
        interchange_ref="FIX0000002",
        sender="QK",
        recipient="JPNPNR",
        prepared=dt.datetime(2026, 11, 18, 0, 5),
        flight=LEG,
        bookings=(b1, b2),
        declared_bookings=2,
    )


def test_pnrgov_matches_the_hand_written_fixture() -> None:
    """Same segments as the fixture, except the sensitive meal SSR and the UNT count it changes.

    The fixture's first TIF drops the middle name before the glued title (PIMCHANOKMS); the
    writer keeps every given name in TIF (PIMCHANOK DARAMS), so that TIF alone may differ.
    """
    fixture = (FIXTURES / "pnrgov_11_1_two_pnrs.edi").read_text().strip()
    expected = [s for s in fixture.split("'") if s and not s.startswith(("SSR+VGML", "UNT"))]
    got = render_pnrgov(
        _pnr_fixture_message(), RenderStyle(segment_newline=False, title_glued=True)
    )
    got_segs = [s for s in got.strip().split("'") if s and not s.startswith("UNT")]
    assert [s for s in got_segs if not s.startswith("TIF")] == [
        s for s in expected if not s.startswith("TIF")
    ]
    assert "TIF+KAEWKLA+PIMCHANOK DARAMS:A:1" in got_segs
    assert "TIF+SATO+YUKIMS:A:1" in got_segs  # glued style
    assert "TIF+SATO+YUKI MS:A:1" in render_pnrgov(_pnr_fixture_message())


@pytest.mark.parametrize(
    ("email", "encoded"),
    [("YUKI_SATO@EXAMPLE.JP", "YUKI..SATO//EXAMPLE.JP"), ("A.B@C.COM", "A.B//C.COM")],
)
def test_email_is_encoded_as_pnr_contacts_carry_it(email: str, encoded: str) -> None:
    assert encode_email(email) == encoded


@pytest.mark.parametrize(
    ("surname", "separators", "released"),
    [
        ("O'BRIEN", ":+.? '", "O?'BRIEN"),
        ("SMITH+JONES", ":+.? '", "SMITH?+JONES"),
        ("A:B", ":+.? '", "A?:B"),
        ("WHY?", ":+.? '", "WHY??"),
        ("O'BRIEN", ":*.? #", "O'BRIEN"),
        ("NO#NAME", ":*.? #", "NO?#NAME"),
        ("DE-LA", ":-.? '", "DE?-LA"),
    ],
)
def test_data_characters_that_are_separators_are_released(
    surname: str, separators: str, released: str
) -> None:
    t = FIXTURE_MANIFEST.travellers[0].model_copy(update={"surname": surname})
    m = FIXTURE_MANIFEST.model_copy(update={"travellers": (t,), "declared_passengers": 1})
    text = render_paxlst(m, RenderStyle(separators=separators))
    elem = separators[1]
    assert f"NAD{elem}FL{elem}{elem}{elem}{released}{separators[0]}SOMCHAI" in text
    assert read_paxlst(text)[1][0].surname == surname


def test_multipart_parts_are_numbered_and_counted() -> None:
    text = render_paxlst(FIXTURE_MANIFEST, RenderStyle(parts=3))
    segs = segments(text)
    unh = [s for s in segs if tag(s) == "UNH"]
    assert [":".join(s[4]) for s in unh] == ["01:C", "02:C", "03:F"]
    # each UNT counts its own part, UNH to UNT inclusive
    start = 0
    for i, s in enumerate(segs):
        if tag(s) == "UNH":
            start = i
        if tag(s) == "UNT":
            assert int(el(s, 1)) == i - start + 1
    assert [tag(s) for s in segs].count("CNT") == 1
    assert el([s for s in segs if tag(s) == "UNE"][0], 1) == "3"
    assert [p.surname for p in read_paxlst(text)[1]] == ["CHAIYAPORN", "KAEWKLA", "SATO"]


def test_pnrgov_multipart_splits_bookings_and_counts_each_part() -> None:
    text = render_pnrgov(_pnr_fixture_message(), RenderStyle(parts=2))
    segs = segments(text)
    assert [":".join(s[4]) for s in segs if tag(s) == "UNH"] == ["01:C", "02:F"]
    assert [el(s, 1) for s in segs if tag(s) == "EQN"] == ["1", "1"]
    assert el(segs[-1], 1) == "2"  # UNZ counts the messages
    assert [b.locator for b in read_pnrgov(text)[1]] == ["QKTT02", "QKTT03"]


def test_messy_layout_telex_wrap_crlf_disclaimer() -> None:
    style = RenderStyle(
        separators=":*.? #", telex=True, wrap=64, crlf=True, disclaimer="Email secured by Antivirus"
    )
    text = render_paxlst(FIXTURE_MANIFEST, style)
    assert text.startswith("\x01QU ")
    assert "\x02UNA:*.? #" in text
    lines = text.split("\r\n")
    body = [
        ln for ln in lines if ln and not ln.startswith(("\x01", ".", "\x02UNA", "\x03", "Email"))
    ]
    assert max(len(ln) for ln in body) == 64
    assert "\n" not in text.replace("\r\n", "")
    assert text.rstrip().endswith("Email secured by Antivirus")
    assert read_paxlst(text)[1] == read_paxlst(render_paxlst(FIXTURE_MANIFEST))[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"separators": ":+.?"}, "6 characters"),
        ({"separators": "::.? '"}, "distinct"),
        ({"separators": ":A.? '"}, "distinct"),
        ({"separators": ":*.? #", "una": False}, "una=True"),
        ({"wrap": 5}, "at least 10"),
        ({"parts": 0}, "parts"),
    ],
)
def test_bad_styles_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        RenderStyle(**kwargs)  # type: ignore[arg-type]


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(UsageError, match="PAXLST version"):
        render_paxlst(FIXTURE_MANIFEST.model_copy(update={"version": "D99B"}))
    with pytest.raises(UsageError, match="PNRGOV version"):
        render_pnrgov(_pnr_fixture_message().model_copy(update={"version": "9.9"}))


def test_versions_are_written_in_the_envelope() -> None:
    d02 = render_paxlst(FIXTURE_MANIFEST.model_copy(update={"version": "D02B"}))
    assert "PAXLST:D:02B:UN:IATA" in d02 and "UN+D:02B'" in d02
    p13 = render_pnrgov(_pnr_fixture_message().model_copy(update={"version": "13.1"}))
    assert "PNRGOV:13:1:IA" in p13


NAME = (
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ '?+:*#-!~", min_size=1, max_size=14)
    .map(str.strip)
    .filter(bool)
)
STYLES = st.builds(
    RenderStyle,
    separators=st.sampled_from([":+.? '", ":*.? #", ":-.? '", "!~.? '"]),
    wrap=st.sampled_from([None, 64, 69]),
    crlf=st.booleans(),
    telex=st.booleans(),
    parts=st.integers(1, 3),
    disclaimer=st.sampled_from([None, "Email secured by Antivirus"]),
    segment_newline=st.booleans(),
)


@given(surnames=st.lists(NAME, min_size=1, max_size=5), given_name=NAME, style=STYLES)
def test_any_style_reads_back_to_the_same_travellers(
    surnames: list[str], given_name: str, style: RenderStyle
) -> None:
    """Whatever the layout, names (with separator characters in them) read back unchanged."""
    base = FIXTURE_MANIFEST.travellers[0]
    travellers = tuple(
        base.model_copy(update={"surname": s, "given_names": given_name}) for s in surnames
    )
    m = FIXTURE_MANIFEST.model_copy(
        update={"travellers": travellers, "declared_passengers": len(travellers)}
    )
    flight, people = read_paxlst(render_paxlst(m, style))
    assert [(p.surname, p.given) for p in people] == [(s, given_name) for s in surnames]
    assert flight["count"] == len(surnames)
    assert all(p.docs[0]["number"] == "AB1234567" for p in people)


@given(
    surname=NAME,
    payer=NAME,
    phone=st.text(alphabet="0123456789+:'", min_size=0, max_size=12),
    style=STYLES,
)
def test_pnr_names_and_payers_read_back_under_any_style(
    surname: str, payer: str, phone: str, style: RenderStyle
) -> None:
    msg = _pnr_fixture_message()
    b1 = msg.bookings[0]
    t = b1.travellers[0].model_copy(update={"surname": surname})
    pay = b1.payments[0].model_copy(update={"payer_name": payer, "payer_phone": phone or None})
    b1 = b1.model_copy(update={"travellers": (t,), "payments": (pay,)})
    text = render_pnrgov(msg.model_copy(update={"bookings": (b1, msg.bookings[1])}), style)
    first, second = read_pnrgov(text)[1]
    assert first.travellers[0][0] == surname
    assert first.docs_names[0][0] == surname
    assert (first.payer, first.payer_phone) == (payer, phone or None)
    assert first.forms == ["CA"] and second.cards == ["XXXXXXXXXXXX1111"]
    assert second.emails == ["YUKI_SATO@EXAMPLE.JP"]
