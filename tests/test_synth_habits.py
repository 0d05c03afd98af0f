"""The writer's habits of other senders, round trip writer -> reader.

For each habit of :mod:`apiflag.synth.habits`: the habit is really in the written text, and the
tolerant reader gives back the values the writer was given (null only where the habit leaves a
value out). Then the world: its styles draw every habit within the mess share, and a messy
world reads back to the same rows as a tidy world of the same seed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from apiflag.edifact import contract_rows, parse_bytes
from apiflag.edifact.loss import read_warning
from apiflag.errors import UsageError
from apiflag.records import (
    Agency,
    ApiTraveller,
    Contact,
    Document,
    FlightLeg,
    ItineraryLeg,
    PaxlstManifest,
    PnrBooking,
    PnrgovMessage,
    PnrTraveller,
    Ticket,
)
from apiflag.synth.habits import HABITS, PAXLST_HABITS, PNRGOV_HABITS
from apiflag.synth.population import Rand
from apiflag.synth.render import RenderStyle, render_paxlst, render_pnrgov
from apiflag.synth.world import WorldConfig, _style, generate_world

LEG1 = FlightLeg(
    carrier="PR",
    number="428",
    departure_airport="MNL",
    arrival_airport="KIX",
    scheduled_departure=dt.datetime(2026, 11, 21, 6, 0),
    scheduled_arrival=dt.datetime(2026, 11, 21, 11, 0),
)
LEG2 = LEG1.model_copy(
    update={
        "departure_airport": "KIX",
        "arrival_airport": "NRT",
        "scheduled_departure": dt.datetime(2026, 11, 21, 12, 30),
        "scheduled_arrival": dt.datetime(2026, 11, 21, 13, 45),
    }
)


def _doc(number: str, issuer: str, expiry: dt.date) -> Document:
    return Document(type="P", number=number, issuing_country=issuer, expiry_date=expiry)


def _api(surname: str, given: str | None, sex: str, dob: dt.date, nat: str, doc: Document,
         off: str) -> ApiTraveller:  # fmt: skip
    return ApiTraveller(
        role="passenger", surname=surname, given_names=given, sex=sex, date_of_birth=dob,
        nationality=nat, embarkation="MNL", debarkation=off, documents=(doc,),
    )  # fmt: skip


MANIFEST = PaxlstManifest(
    version="D05B",
    message_ref="HB1",
    interchange_ref="HAB0000001",
    sender="PRAPIS",
    recipient="JPNAPIS",
    prepared=dt.datetime(2026, 11, 20, 23, 30),
    document_code="745",
    legs=(LEG1, LEG2),
    declared_passengers=3,
    travellers=(
        _api("DELA CRUZ", "JUAN MIGUEL", "M", dt.date(1987, 2, 25), "PHL",
             _doc("P1234567A", "PHL", dt.date(2031, 6, 11)), "KIX"),
        _api("O'NEILL", "SEO+YEON", "F", dt.date(1999, 1, 27), "KOR",
             _doc("M11223344", "KOR", dt.date(2034, 5, 1)), "NRT"),
        _api("SETIAWATI", None, "F", dt.date(1979, 8, 11), "IDN",
             _doc("B1234567", "IDN", dt.date(2030, 4, 1)), "NRT"),
    ),
)  # fmt: skip


def _api_values(t: Any) -> tuple[Any, ...]:
    docs = tuple((d.type, d.number, d.issuing_country, d.expiry_date) for d in t.documents)
    return (t.role, t.surname, t.given_names, t.sex, t.date_of_birth, t.nationality, docs)


def _legs(legs: Any) -> list[tuple[Any, ...]]:
    return [
        (x.departure_airport, x.arrival_airport, x.scheduled_departure, x.scheduled_arrival)
        for x in legs
    ]


#: habit -> (what must be in the text, warning codes the reader gives for it)
PAXLST_MARKS: dict[str, tuple[str, Counter[str]]] = {
    "tag_blanks": ("UNG +PAXLST+", Counter()),
    "terminator_blanks": (" '\n  NAD+FL", Counter()),
    "una_newline": ("UNA:+.? \nUNB+", Counter({"W_UNA_MISMATCH": 1})),
    "una_typographic": ("UNA:+.? 'UNB+UNOA:4+PRAPIS:ZZ+JPNAPIS:ZZ+261120:2330+HAB0000001++APIS\u2019",
                        Counter({"W_UNA_MISMATCH": 1})),
    "broken_interchange": ("UN@+HB1+PAXLST", Counter(
        {"W_BAD_SEGMENT": 1, "W_ENVELOPE": 1, "W_NO_MESSAGE": 1, "W_TRUNCATED": 1})),
    "loc92": ("LOC+92+MNL'\nDTM+189:2611210600:201'\nLOC+92+KIX'\nDTM+232:", Counter()),
    "departure_only": ("LOC+125+MNL'\nDTM+189:2611210600:201'\nLOC+125+KIX'",
                       Counter({"W_MISSING_SEGMENT": 2})),
    "arrival_only": ("TDT+20+PR428+++PR'\nLOC+87+KIX'\nDTM+232:2611211100:201'\nLOC+87+NRT'",
                     Counter({"W_MISSING_SEGMENT": 2})),
}  # fmt: skip


def test_every_habit_has_a_round_trip_below() -> None:
    assert set(PAXLST_MARKS) | set(PNRGOV_MARKS) | {"unreadable_values"} == set(HABITS)


def test_unreadable_values_degrade_two_in_twenty_and_lose_nobody() -> None:
    """The one habit that damages values: the reader reads them as null, the rest as written."""
    people = tuple(
        t.model_copy(update={"surname": f"{t.surname}{chr(65 + i)}"})
        for i, t in enumerate(MANIFEST.travellers * 8)
    )
    written = MANIFEST.model_copy(update={"travellers": people, "declared_passengers": 24})
    text = render_paxlst(written, RenderStyle(habits=("unreadable_values",), parts=2))
    assert text.count("DTM+329:00XX00'") == 1 and text.count("ATT+2++Q'") == 1
    parsed = parse_bytes(text.encode(), "unreadable")
    read = list(parsed.iter_travellers())
    assert parsed.lost == [] and len(read) == 24 == parsed.declared
    degraded = {i: t.degraded for i, t in enumerate(read) if t.degraded}
    assert degraded == {7: ("date_of_birth",), 14: ("sex",)}
    assert read[7].date_of_birth is None and read[14].sex is None
    for i, (got, sent) in enumerate(zip(read, people, strict=True)):
        want = list(_api_values(sent))
        if i == 7:
            want[4] = None
        if i == 14:
            want[3] = None
        assert list(_api_values(got)) == want
    codes = Counter(read_warning(w).code for w in parsed.warnings)
    assert codes == Counter({"W_BAD_VALUE": 2})


@pytest.mark.parametrize("habit", sorted(PAXLST_MARKS))
def test_paxlst_habit_round_trip(habit: str) -> None:
    mark, codes = PAXLST_MARKS[habit]
    text = render_paxlst(MANIFEST, RenderStyle(habits=(habit,)))
    assert mark in text
    assert render_paxlst(MANIFEST, RenderStyle(habits=(habit,))) == text  # deterministic
    parsed = parse_bytes(text.encode("utf-8"), habit)
    (manifest,) = parsed.manifests
    assert [_api_values(t) for t in manifest.travellers] == [
        _api_values(t) for t in MANIFEST.travellers
    ]
    assert all(not t.degraded for t in manifest.travellers)
    legs = _legs(MANIFEST.legs)
    if habit == "departure_only":
        legs = [(d, None, sd, None) for d, _, sd, _ in legs]
    elif habit == "arrival_only":
        legs = [(None, a, None, sa) for _, a, _, sa in legs]
    assert _legs(manifest.legs) == legs
    assert Counter(read_warning(w).code for w in parsed.warnings) == codes
    lost = [(x.kind, x.code, x.travellers) for x in parsed.lost]
    assert lost == ([("message", "E_ENVELOPE", 0)] if habit == "broken_interchange" else [])
    assert parsed.declared == parsed.travellers + parsed.quarantined == 3


@pytest.mark.parametrize("separators", [":*.? #", "!~.? '"])
@pytest.mark.parametrize("habit", ["tag_blanks", "terminator_blanks", "una_newline"])
def test_paxlst_habits_with_other_separators(habit: str, separators: str) -> None:
    style = RenderStyle(separators=separators, habits=(habit, "loc92"), wrap=64)
    parsed = parse_bytes(render_paxlst(MANIFEST, style).encode(), habit)
    assert [_api_values(t) for t in parsed.manifests[0].travellers] == [
        _api_values(t) for t in MANIFEST.travellers
    ]
    assert _legs(parsed.manifests[0].legs) == _legs(MANIFEST.legs)


# ------------------------------------------------------------------------------ PNRGOV

FLIGHT = FlightLeg(
    carrier="QK",
    number="21",
    departure_airport="BKK",
    arrival_airport="NRT",
    scheduled_departure=dt.datetime(2026, 11, 21, 0, 5),
    scheduled_arrival=dt.datetime(2026, 11, 21, 8, 10),
)
ITIN = ItineraryLeg(**FLIGHT.model_dump(), booking_class="Y")


def _pnr(ref: str, surname: str, given: str, sex: str, dob: dt.date, nat: str, doc: Document,
         ptype: str = "A", title: str | None = None) -> PnrTraveller:  # fmt: skip
    return PnrTraveller(
        ref=ref, surname=surname, given_names=given, title=title, sex=sex, date_of_birth=dob,
        nationality=nat, passenger_type=ptype, documents=(doc,),
    )  # fmt: skip


def _booking(locator: str, created: dt.datetime, travellers: tuple[PnrTraveller, ...],
             **extra: Any) -> PnrBooking:  # fmt: skip
    return PnrBooking(
        record_locator=locator, carrier="QK", created=created,
        last_transaction=created + dt.timedelta(days=1, hours=2), travellers=travellers,
        tickets=tuple(
            Ticket(number=f"21700000{locator[-2:]}{t.ref}", traveller_ref=t.ref, type="T")
            for t in travellers
        ),
        itinerary=(ITIN,), **extra,
    )  # fmt: skip


PUSH = PnrgovMessage(
    version="13.1",
    message_ref="1",
    interchange_ref="HAB0000002",
    sender="QK",
    recipient="JPNPNR",
    prepared=dt.datetime(2026, 11, 18, 0, 5),
    flight=FLIGHT,
    declared_bookings=3,
    bookings=(
        _booking("KRAA01", dt.datetime(2026, 11, 1, 10, 0), (
            _pnr("1", "KIM", "SANG WOO", "M", dt.date(1966, 4, 21), "KOR",
                 _doc("M12345678", "KOR", dt.date(2031, 7, 22)), title="MR"),
        ), agency=Agency(airline="QK", location="BKK", agency_id="35009876", kind="A"),
           contacts=(Contact(kind="address", value="12 CHAROEN KRUNG RD BANGKOK"),)),
        _booking("VNAA02", dt.datetime(2026, 10, 20, 14, 5), (
            _pnr("1", "TRAN", "THI LINH", "F", dt.date(1991, 2, 14), "VNM",
                 _doc("C5566778", "VNM", dt.date(2033, 12, 20)), title="MRS"),
            _pnr("2", "NGUYEN", "VAN AN", "M", dt.date(1988, 7, 5), "VNM",
                 _doc("C1111111", "VNM", dt.date(2030, 1, 1))),
            _pnr("3", "TRAN", "GIA HAN", "F", dt.date(2026, 3, 3), "VNM",
                 _doc("C9988776", "VNM", dt.date(2031, 3, 2)), ptype="IN"),
        )),
        _booking("ESAA03", dt.datetime(2026, 9, 9, 9, 9), (
            _pnr("1", "GARCIA LOPEZ", "MARIA JOSE", "F", dt.date(1971, 2, 9), "ESP",
                 _doc("PAB123456", "ESP", dt.date(2029, 11, 19))),
            _pnr("2", "SOUSA SANTOS", "JOAO PEDRO", "M", dt.date(1958, 8, 17), "PRT",
                 _doc("CB987654", "PRT", dt.date(2032, 3, 4)), title="MR"),
        )),
    ),
)  # fmt: skip

#: habit -> what must be in the text
PNRGOV_MARKS: dict[str, str] = {
    "tag_blanks": "'\nTIF +",
    "terminator_blanks": " '\n  SRC '\n  RCI+",
    "una_newline": "UNA:+.? \nUNB+",
    "una_typographic": "UNA:+.? 'UNB+IATA:1+QK+JPNPNR+261118:0005+HAB0000002\u2019",
    "broken_interchange": "UN@+1+PNRGOV",
    "rci_shifted": "RCI+QK:KRAA01:011126:1000'",
    "rci_absent": "RCI+QK:KRAA01'",
    "stamp_glued": "RCI+QK:KRAA01::0111261000'\nDAT+700:0211261200'",
    "dates_ccyy": "TVL+21112026:0005:21112026:0810+BKK+NRT+QK+21:Y'\nSRC'\nRCI+QK:VNAA02::201026:1405'\nDAT+700:21102026:1605",
    "dates_month": "TVL+21NOV26:0005:21NOV26:0810+BKK+NRT+QK+21:Y'\nSRC'\nRCI+QK:VNAA02::201026:1405'\nDAT+700:21OCT26:1605",
    "short_org_add": "ORG+QK'\nTVL+211126:0005:211126:0810+BKK+NRT+QK+21'",
    "docs_items": ":::::P/KOR/M12345678/KOR/21APR66/M/22JUL31/KIM/SANG/WOO'",
    "infant_docs": "/C9988776/VNM/03MAR26/FI/02MAR31/TRAN/GIA/HAN'\nTKT+21700000021:T:1'\nTKT+21700000023",
}
#: more of the text a habit writes, checked as well
PNRGOV_MORE: dict[str, tuple[str, ...]] = {
    "short_org_add": ("ADD+700:12 CHAROEN KRUNG RD BANGKOK'",),
    "docs_items": (
        "SSR+DOCS:HK:1:QK::::://P/VNM/C5566778/VNM/14FEB91/F/20DEC33/TRAN/THI/LINH//'",
        ":::::/P/VNM/C1111111//VNM/05JUL88/M/",
        "/03MAR26/F/02MAR31/ TRAN / GIA / HAN /'",
        "/09FEB1971/F/19NOV2029/GARCIA LOPEZ/MARIA/JOSE'",
    ),
}


def _pnr_values(t: Any) -> tuple[Any, ...]:
    docs = tuple((d.type, d.number, d.issuing_country, d.expiry_date) for d in t.documents)
    return (t.surname, t.given_names, t.sex, t.date_of_birth, t.nationality, docs)


@pytest.mark.parametrize("habit", sorted(PNRGOV_MARKS))
def test_pnrgov_habit_round_trip(habit: str) -> None:
    text = render_pnrgov(PUSH, RenderStyle(habits=(habit,)))
    assert PNRGOV_MARKS[habit] in text
    assert all(more in text for more in PNRGOV_MORE.get(habit, ()))
    parsed = parse_bytes(text.encode("utf-8"), habit)
    (push,) = parsed.pnr_messages
    assert _legs([push.flight]) == _legs([FLIGHT])
    read = {b.record_locator: b for b in push.bookings}
    assert set(read) == {b.record_locator for b in PUSH.bookings}
    for want in PUSH.bookings:
        got = read[want.record_locator]
        assert sorted(_pnr_values(t) for t in got.travellers) == sorted(
            _pnr_values(t) for t in want.travellers
        )
        infants = sorted(t.surname + " " + (t.given_names or "") for t in got.travellers
                         if t.passenger_type == "IN")  # fmt: skip
        assert infants == (["TRAN GIA HAN"] if want.record_locator == "VNAA02" else [])
        assert got.created == (None if habit == "rci_absent" else want.created)
        assert got.last_transaction == want.last_transaction
        assert _legs(got.itinerary) == _legs(want.itinerary)
        assert got.agency == want.agency
        assert [c.value for c in got.contacts] == [c.value for c in want.contacts]
        assert sorted(x.number for x in got.tickets) == sorted(x.number for x in want.tickets)
    adults = {t.surname: t.title for b in push.bookings for t in b.travellers
              if t.passenger_type != "IN"}  # fmt: skip
    assert adults == {"KIM": "MR", "TRAN": "MRS", "NGUYEN": None, "GARCIA LOPEZ": None,
                      "SOUSA SANTOS": "MR"}  # fmt: skip
    codes = Counter(read_warning(w).code for w in parsed.warnings)
    if habit.startswith("una_"):
        assert codes == Counter({"W_UNA_MISMATCH": 1})
    elif habit == "broken_interchange":
        assert codes == Counter(
            {"W_BAD_SEGMENT": 1, "W_ENVELOPE": 1, "W_NO_MESSAGE": 1, "W_TRUNCATED": 1}
        )
        assert [(x.kind, x.code, x.travellers) for x in parsed.lost] == [
            ("message", "E_ENVELOPE", 0)
        ]
    else:
        assert codes == Counter() and parsed.lost == []
    assert all(not t.degraded for b in push.bookings for t in b.travellers)


def test_bad_habit_combinations_are_refused() -> None:
    for kwargs, message in (
        ({"habits": ("nonsense",)}, "unknown habits"),
        ({"habits": ("loc92", "arrival_only")}, "exclude each other"),
        ({"habits": ("una_typographic",), "separators": ":*.? #"}, "declared terminator"),
        ({"habits": ("una_newline",), "una": False}, "una=True"),
    ):
        with pytest.raises(UsageError, match=message):
            RenderStyle(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the world


def test_world_styles_draw_every_habit_within_the_mess_share() -> None:
    seen: dict[str, set[str]] = {"PAXLST": set(), "PNRGOV": set()}
    for kind, push in (("PAXLST", ""), ("PNRGOV", "t72"), ("PNRGOV", "dep")):
        r, again = Rand(1, 2, 0, 0), Rand(1, 2, 0, 0)
        for _ in range(3000):
            style = _style(r, 1.0, "QK", kind, push)
            assert _style(again, 1.0, "QK", kind, push) == style  # the same stream, the same
            seen[kind].update(style.habits)
            assert push != "dep" or "rci_absent" not in style.habits
    layout = set(HABITS) - set(PAXLST_HABITS) - set(PNRGOV_HABITS)
    assert seen["PAXLST"] == layout | set(PAXLST_HABITS)
    assert seen["PNRGOV"] == layout | set(PNRGOV_HABITS)
    r = Rand(1, 2, 0, 1)
    assert all(not _style(r, 0.0, "QK", "PNRGOV", "t72").habits for _ in range(200))


def _rows(world: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for path in sorted(world.glob("nights/*/*/*.edi")):
        rows = contract_rows(parse_bytes(path.read_bytes()), path.name)
        for row in rows:
            del row["source"]
        key = lambda r: (r["record_locator"] or "", r["surname"], r["given_names"] or "",  # noqa: E731
                         r["date_of_birth"] or "", r["role"] or "")  # fmt: skip
        out[str(path.relative_to(world))] = sorted(rows, key=key)
    return out


def test_a_messy_world_reads_back_as_its_tidy_twin(tmp_path: Path) -> None:
    """Same seed, mess share 0 and 0.8: the same rows, except the values a habit leaves out."""
    generate_world(tmp_path / "tidy", WorldConfig(seed=21, arrivals=1500, history_nights=0,
                                                  mess_share=0.0))  # fmt: skip
    generate_world(tmp_path / "messy", WorldConfig(seed=21, arrivals=1500, history_nights=0,
                                                   mess_share=0.8))  # fmt: skip
    tidy, messy = _rows(tmp_path / "tidy"), _rows(tmp_path / "messy")
    assert tidy.keys() == messy.keys()
    texts = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "messy").rglob("*.edi"))
    assert "UN@+" in texts and "\u2019" in texts and "LOC+92+" in texts  # habits were written
    differences: Counter[str] = Counter()
    for name, rows in tidy.items():
        assert len(messy[name]) == len(rows), name
        for a, b in zip(rows, messy[name], strict=True):
            for key in a:
                if a[key] != b[key]:
                    differences[key] += 1
                    if key == "flight":  # departure_only / arrival_only
                        assert {k for k in a[key] if a[key][k] != b[key][k]} <= {
                            "departure_airport", "scheduled_departure",
                            "arrival_airport", "scheduled_arrival",
                        }  # fmt: skip
                    elif key == "booking_created":  # rci_absent, T-72 pushes only
                        assert b[key] is None and name.endswith("_t72.edi")
                    elif key == "title":  # infant_docs
                        assert b[key] is None
                    elif key in ("date_of_birth", "sex"):  # unreadable_values, PAXLST only
                        assert b[key] is None and "/paxlst/" in name, name
                    elif key == "degraded":
                        assert set(b[key]) <= {"date_of_birth", "sex"} and not a[key]
                    else:
                        raise AssertionError(f"{name}: {key} differs: {a[key]!r} != {b[key]!r}")
    assert set(differences) <= {
        "flight", "booking_created", "title", "date_of_birth", "sex", "degraded"
    }  # fmt: skip
    assert differences["date_of_birth"] and differences["sex"]  # unreadable_values was drawn
