"""Ordinary arrivals in Japan: routes, flights, crews and the parties that book them.

Decides what a normal night looks like: flights into NRT, HND, KIX, NGO, FUK, CTS and OKA from
48 origins, nationality mixes per route, and parties (business travellers, tourists, couples,
families, tour groups with a guide, students, technical intern trainee groups, returning
residents) with their bookings, contacts, payments and documents. Everything is drawn from a
:class:`Rand` stream seeded from the world seed, so a night is a pure function of (seed, night).

The objects here are plain slotted classes whose attribute names are those of the records in
:mod:`apiflag.records`, so the EDIFACT writer renders them directly (no per-traveller pydantic
validation in the hot path); a test validates them against the records.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from apiflag.synth.names import pool_for

T = TypeVar("T")

JST = 9  # hours east of UTC
JAPAN_AIRPORTS = ("NRT", "HND", "KIX", "NGO", "FUK", "CTS", "OKA")
_JP_WEIGHTS = (0.24, 0.30, 0.20, 0.07, 0.09, 0.05, 0.05)
CASH_MARKETS = frozenset({"VNM", "PHL", "MNG", "NPL", "BGD", "MMR", "KHM", "IDN", "LAO"})
TRAINEE_COUNTRIES = ("VNM", "IDN", "PHL", "MMR", "NPL", "KHM", "CHN")


@dataclass(frozen=True, slots=True)
class Route:
    """An origin airport with its country, block time, UTC offset, weight and carriers."""

    airport: str
    country: str
    hours: float
    utc: float
    weight: float
    carriers: tuple[str, ...]
    others: tuple[str, ...]


def _r(a: str, c: str, h: float, u: float, w: float, cr: str, o: str) -> Route:
    return Route(a, c, h, u, w, tuple(cr.split()), tuple(o.split()))


_ASIA = "KOR CHN TWN PHL VNM THA USA"
ROUTES: tuple[Route, ...] = (
    _r("ICN", "KOR", 2.2, 9, 9.0, "KE OZ JL NH 7C LJ", "CHN USA VNM"),
    _r("GMP", "KOR", 2.0, 9, 2.0, "KE OZ JL NH", "CHN"),
    _r("PUS", "KOR", 1.5, 9, 2.0, "KE BX JL", "CHN"),
    _r("PEK", "CHN", 3.5, 8, 3.0, "CA JL NH", "KOR USA"),
    _r("PVG", "CHN", 2.8, 8, 5.0, "MU FM JL NH 9C", "KOR TWN"),
    _r("CAN", "CHN", 4.2, 8, 2.0, "CZ JL NH", "HKG VNM"),
    _r("SZX", "CHN", 4.0, 8, 1.0, "ZH NH", "HKG"),
    _r("HKG", "HKG", 4.0, 8, 4.0, "CX UO HX JL NH", "CHN GBR PHL"),
    _r("TPE", "TWN", 3.0, 8, 5.0, "CI BR JL NH IT", "CHN USA"),
    _r("KHH", "TWN", 3.3, 8, 1.0, "CI BR", "CHN"),
    _r("MNL", "PHL", 4.3, 8, 3.0, "PR 5J JL NH", "USA KOR"),
    _r("CEB", "PHL", 4.6, 8, 1.0, "PR 5J", "KOR"),
    _r("SGN", "VNM", 5.8, 7, 2.5, "VN VJ JL NH", "KOR CHN"),
    _r("HAN", "VNM", 4.8, 7, 2.5, "VN VJ JL NH", "CHN"),
    _r("DAD", "VNM", 4.6, 7, 0.8, "VN VJ", "KOR"),
    _r("BKK", "THA", 6.0, 7, 3.5, "TG XJ JL NH", "MMR KHM LAO"),
    _r("DMK", "THA", 6.0, 7, 0.8, "XJ", "LAO"),
    _r("CGK", "IDN", 7.2, 7, 1.5, "GA JL NH", "MYS"),
    _r("DPS", "IDN", 7.0, 8, 0.8, "GA", "AUS"),
    _r("KUL", "MYS", 6.8, 8, 1.3, "MH D7 JL", "IDN SGP"),
    _r("SIN", "SGP", 6.8, 8, 2.0, "SQ TR JL NH", "MYS IND GBR"),
    _r("DEL", "IND", 8.5, 5.5, 0.8, "AI JL NH", "NPL"),
    _r("BOM", "IND", 9.5, 5.5, 0.4, "AI NH", "LKA"),
    _r("BLR", "IND", 9.0, 5.5, 0.4, "JL", "IND"),
    _r("KTM", "NPL", 7.5, 5.75, 0.4, "RA", "IND"),
    _r("CMB", "LKA", 9.0, 5.5, 0.3, "UL", "IND"),
    _r("DAC", "BGD", 6.5, 6, 0.3, "BG", "IND"),
    _r("RGN", "MMR", 6.5, 6.5, 0.5, "NH 8M", "THA"),
    _r("PNH", "KHM", 6.2, 7, 0.4, "NH", "THA"),
    _r("VTE", "LAO", 5.9, 7, 0.2, "QV", "THA"),
    _r("ULN", "MNG", 5.3, 8, 0.4, "OM", "KOR"),
    _r("TAS", "UZB", 8.0, 5, 0.2, "HY", "KAZ RUS"),
    _r("ALA", "KAZ", 6.5, 5, 0.2, "KC", "UZB RUS"),
    _r("VVO", "RUS", 2.5, 10, 0.3, "S7", "KOR"),
    _r("DXB", "ARE", 10.0, 4, 0.8, "EK JL", "IND PAK GBR"),
    _r("DOH", "QAT", 10.5, 3, 0.7, "QR", "PAK BGD NPL"),
    _r("IST", "TUR", 12.0, 3, 0.4, "TK", "UZB"),
    _r("HEL", "FIN", 13.0, 2, 0.4, "AY", "DEU GBR"),
    _r("FRA", "DEU", 13.5, 1, 0.8, "LH JL NH", "AUT CHE"),
    _r("MUC", "DEU", 13.5, 1, 0.3, "LH NH", "AUT"),
    _r("CDG", "FRA", 14.0, 1, 0.8, "AF JL NH", "ITA ESP"),
    _r("LHR", "GBR", 14.0, 0, 0.8, "BA JL NH", "IRL USA"),
    _r("AMS", "NLD", 13.5, 1, 0.3, "KL", "DEU"),
    _r("ZRH", "CHE", 13.0, 1, 0.2, "LX", "DEU"),
    _r("FCO", "ITA", 14.0, 1, 0.2, "AZ", "ESP"),
    _r("MAD", "ESP", 14.5, 1, 0.1, "IB", "MEX PER COL"),
    _r("LAX", "USA", 11.5, -8, 1.2, "AA DL UA JL NH", "MEX CAN"),
    _r("SFO", "USA", 11.0, -8, 0.7, "UA JL NH", "CAN"),
    _r("JFK", "USA", 14.0, -5, 0.6, "AA JL NH", "CAN BRA"),
    _r("SEA", "USA", 10.5, -8, 0.4, "DL NH", "CAN"),
    _r("HNL", "USA", 8.5, -10, 1.5, "HA JL NH", "USA"),
    _r("YVR", "CAN", 10.0, -8, 0.5, "AC JL", "USA"),
    _r("MEX", "MEX", 13.5, -6, 0.2, "AM", "PER COL"),
    _r("GRU", "BRA", 25.0, -3, 0.1, "EK", "PER"),
    _r("SYD", "AUS", 10.0, 10, 0.8, "QF JL NH", "NZL"),
    _r("MEL", "AUS", 10.5, 10, 0.3, "JQ", "NZL"),
    _r("AKL", "NZL", 11.5, 12, 0.3, "NZ", "AUS"),
)
_ROUTE_CUM = np.cumsum([r.weight for r in ROUTES]).tolist()
_CARRIER_HOME = {
    "KE": "KOR",
    "OZ": "KOR",
    "7C": "KOR",
    "LJ": "KOR",
    "BX": "KOR",
    "CA": "CHN",
    "MU": "CHN",
    "FM": "CHN",
    "9C": "CHN",
    "CZ": "CHN",
    "ZH": "CHN",
    "CX": "HKG",
    "UO": "HKG",
    "HX": "HKG",
    "CI": "TWN",
    "BR": "TWN",
    "IT": "TWN",
    "PR": "PHL",
    "5J": "PHL",
    "VN": "VNM",
    "VJ": "VNM",
    "TG": "THA",
    "XJ": "THA",
    "GA": "IDN",
    "MH": "MYS",
    "D7": "MYS",
    "SQ": "SGP",
    "TR": "SGP",
    "AI": "IND",
    "RA": "NPL",
    "UL": "LKA",
    "BG": "BGD",
    "8M": "MMR",
    "QV": "LAO",
    "OM": "MNG",
    "HY": "UZB",
    "KC": "KAZ",
    "S7": "RUS",
    "EK": "ARE",
    "QR": "QAT",
    "TK": "TUR",
    "AY": "FIN",
    "LH": "DEU",
    "AF": "FRA",
    "BA": "GBR",
    "KL": "NLD",
    "LX": "CHE",
    "AZ": "ITA",
    "IB": "ESP",
    "AA": "USA",
    "DL": "USA",
    "UA": "USA",
    "HA": "USA",
    "AC": "CAN",
    "AM": "MEX",
    "QF": "AUS",
    "JQ": "AUS",
    "NZ": "NZL",
    "JL": "JPN",
    "NH": "JPN",
}
_PREFIX = {c: 100 + (i * 37) % 900 for i, c in enumerate(sorted(_CARRIER_HOME))}
_CALLING = {
    "JPN": "81",
    "KOR": "82",
    "CHN": "86",
    "TWN": "886",
    "HKG": "852",
    "PHL": "63",
    "VNM": "84",
    "THA": "66",
    "IDN": "62",
    "MYS": "60",
    "SGP": "65",
    "IND": "91",
    "NPL": "977",
    "LKA": "94",
    "BGD": "880",
    "MMR": "95",
    "KHM": "855",
    "LAO": "856",
    "MNG": "976",
    "UZB": "998",
    "KAZ": "7",
    "RUS": "7",
    "UKR": "380",
    "ARE": "971",
    "QAT": "974",
    "TUR": "90",
    "FIN": "358",
    "DEU": "49",
    "FRA": "33",
    "GBR": "44",
    "NLD": "31",
    "CHE": "41",
    "ITA": "39",
    "ESP": "34",
    "USA": "1",
    "CAN": "1",
    "MEX": "52",
    "BRA": "55",
    "AUS": "61",
    "NZL": "64",
    "PAK": "92",
    "PER": "51",
    "COL": "57",
    "AUT": "43",
    "IRL": "353",
}
_MOBILE = {"JPN": "90", "THA": "8", "PHL": "9", "VNM": "9", "KOR": "10", "CHN": "13", "GBR": "7"}
_DOC_PREFIX = {
    "JPN": "T",
    "CHN": "E",
    "KOR": "M",
    "TWN": "3",
    "HKG": "K",
    "PHL": "P",
    "VNM": "C",
    "THA": "A",
    "IDN": "B",
    "USA": "5",
    "GBR": "1",
    "IND": "N",
    "NPL": "0",
    "MMR": "MD",
    "DEU": "C",
    "FRA": "1",
    "RUS": "7",
    "AUS": "PA",
    "CAN": "G",
}
_ALPHA2 = {
    "JPN": "JP",
    "KOR": "KR",
    "CHN": "CN",
    "TWN": "TW",
    "HKG": "HK",
    "PHL": "PH",
    "VNM": "VN",
    "THA": "TH",
    "IDN": "ID",
    "MYS": "MY",
    "SGP": "SG",
    "IND": "IN",
    "NPL": "NP",
    "LKA": "LK",
    "BGD": "BD",
    "MMR": "MM",
    "KHM": "KH",
    "LAO": "LA",
    "MNG": "MN",
    "UZB": "UZ",
    "KAZ": "KZ",
    "RUS": "RU",
    "ARE": "AE",
    "QAT": "QA",
    "TUR": "TR",
    "FIN": "FI",
    "DEU": "DE",
    "FRA": "FR",
    "GBR": "GB",
    "NLD": "NL",
    "CHE": "CH",
    "ITA": "IT",
    "ESP": "ES",
    "USA": "US",
    "CAN": "CA",
    "MEX": "MX",
    "BRA": "BR",
    "AUS": "AU",
    "NZL": "NZ",
}
_CURRENCY = {
    "JPN": "JPY",
    "USA": "USD",
    "THA": "THB",
    "KOR": "KRW",
    "CHN": "CNY",
    "PHL": "PHP",
    "VNM": "VND",
    "GBR": "GBP",
    "DEU": "EUR",
    "FRA": "EUR",
    "AUS": "AUD",
}
_DOMAINS = (
    "MAIL.COM",
    "GMAIL.COM",
    "YAHOO.CO.JP",
    "NAVER.COM",
    "QQ.COM",
    "OUTLOOK.COM",
    "ICLOUD.COM",
    "HOTMAIL.COM",
    "DOCOMO.NE.JP",
    "YAHOO.COM",
)
_MIDDLE_NAMES = frozenset(
    {
        "USA",
        "GBR",
        "CAN",
        "AUS",
        "NZL",
        "IRL",
        "PHL",
        "ESP",
        "MEX",
        "PER",
        "COL",
        "BRA",
        "DEU",
        "AUT",
        "CHE",
        "FRA",
        "ITA",
        "NLD",
        "IND",
        "THA",
    }
)
_VENDORS = ("VI", "CA", "AX", "JC")
_CITIES = ("MAIN ST", "RIVER RD", "STATION AVE", "PARK LANE", "HILL ST", "CENTRAL RD")


class Rand:
    """A fast deterministic stream of uniforms from a numpy Generator (refilled in blocks)."""

    __slots__ = ("_gen", "_buf", "_i")

    def __init__(self, *entropy: int) -> None:
        self._gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(entropy))))
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._gen.random(1 << 15).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x

    def pick(self, n: int) -> int:
        return min(int(self.u() * n), n - 1)

    def choice(self, seq: tuple[T, ...] | list[T]) -> T:
        return seq[self.pick(len(seq))]

    def chance(self, p: float) -> bool:
        return self.u() < p

    def randint(self, lo: int, hi: int) -> int:
        """Inclusive on both ends."""
        return lo + self.pick(hi - lo + 1)

    def weighted(self, items: tuple[T, ...] | list[T], cum: list[float]) -> T:
        return items[min(bisect.bisect_right(cum, self.u() * cum[-1]), len(items) - 1)]

    def poisson_round(self, x: float) -> int:
        """Stochastic rounding: floor(x) plus one with probability frac(x)."""
        base = int(x)
        return base + (1 if self.u() < x - base else 0)


class Ids:
    """World-wide unique identifiers from counters through bijective scrambles (no collisions)."""

    __slots__ = ("doc", "locator", "phone", "ticket", "email", "agency", "card", "msg")

    def __init__(self, base: int) -> None:
        self.doc = base
        self.locator = base
        self.phone = base
        self.ticket = base
        self.email = base
        self.agency = base
        self.card = base
        self.msg = base

    def reserve(self, n: int) -> int:
        """Reserve ``n`` values of every counter for another ``Ids`` started at the returned base."""
        base = (
            max(self.doc, self.locator, self.phone, self.ticket, self.email, self.agency, self.card)
            + 1
        )
        self.doc = self.locator = self.phone = self.ticket = self.email = self.agency = (
            self.card
        ) = base + n
        return base

    def document(self, country: str) -> str:
        self.doc += 1
        n = (self.doc * 7_919_117 + 3_141_592) % 100_000_000
        prefix = _DOC_PREFIX.get(country)
        if prefix is None:
            prefix = country[0] + country[2]
        return f"{prefix}{n:08d}" if len(prefix) < 2 else f"{prefix}{n % 10_000_000:07d}"

    def record_locator(self) -> str:
        self.locator += 1
        n = (self.locator * 1_000_003 + 777_777) % 2_176_782_336
        chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        out = []
        for _ in range(6):
            n, r = divmod(n, 36)
            out.append(chars[r])
        if out[-1].isdigit():
            out[-1] = chars[10 + int(out[-1])]
        return "".join(reversed(out))

    def phone_number(self, country: str) -> str:
        self.phone += 1
        n = (self.phone * 48_271 + 12_345) % 100_000_000
        return f"{_CALLING.get(country, '1')}{_MOBILE.get(country, '9')}{n:08d}"

    def ticket_number(self, carrier: str) -> str:
        self.ticket += 1
        n = (self.ticket * 69_069 + 1) % 10_000_000_000
        return f"{_PREFIX.get(carrier, 999):03d}{n:010d}"

    def email_address(self, surname: str, given: str) -> str:
        self.email += 1
        local = (given.split(" ")[0] + "_" + surname.replace(" ", "").replace("'", "")).upper()
        return f"{local}{self.email % 997}@{_DOMAINS[self.email % len(_DOMAINS)]}"

    def agency_id(self) -> str:
        self.agency += 1
        return f"{(self.agency * 7_331 + 10_000_000) % 90_000_000 + 10_000_000:08d}"

    def masked_card(self) -> str:
        self.card += 1
        n = (self.card * 7_919_113 + 4_242) % 100_000_000
        return f"{4 + n % 2}{n // 10_000 % 10_000:04d}1XXXXXX{n % 10_000:04d}"


@dataclass(slots=True)
class Doc:
    """A travel document (attributes of :class:`apiflag.records.Document`)."""

    type: str
    number: str
    issuing_country: str | None
    expiry_date: dt.date | None
    issue_date: dt.date | None = None


@dataclass(slots=True)
class Traveller:
    """One person on one flight; serves as ApiTraveller and PnrTraveller for the writer."""

    role: str
    surname: str
    given_names: str
    sex: str
    date_of_birth: dt.date
    nationality: str
    documents: list[Doc]
    country_of_residence: str | None = None
    place_of_birth: str | None = None
    embarkation: str | None = None
    debarkation: str | None = None
    address: Any = None
    record_locator: str | None = None  # as the PAXLST shows it (RFF+AVF), None when omitted
    passenger_reference: str | None = None
    seat: str | None = None
    frequent_flyer: str | None = None
    checked_bags: int | None = None
    bag_weight_kg: float | None = None
    verified: bool | None = None
    ref: str = "1"
    title: str | None = None
    passenger_type: str = "A"
    # truth, never written into a message
    truth_label: str = "none"
    pattern: str = ""
    pattern_role: str = ""
    pattern_group: str = ""
    confounder: str = ""
    booking: str = ""  # the record locator of the booking, even when the PAXLST omits it


@dataclass(slots=True)
class Addr:
    """A postal address (attributes of :class:`apiflag.records.Address`)."""

    street: str | None
    city: str | None
    subdivision: str | None = None
    postcode: str | None = None
    country: str | None = None


@dataclass(slots=True)
class Leg:
    """A flight leg (attributes of FlightLeg and ItineraryLeg)."""

    carrier: str
    number: str
    departure_airport: str
    arrival_airport: str
    scheduled_departure: dt.datetime
    scheduled_arrival: dt.datetime
    booking_class: str | None = None
    status: str | None = None
    checked_in: bool | None = None


@dataclass(slots=True)
class ContactV:
    """A booking contact (attributes of :class:`apiflag.records.Contact`)."""

    kind: str
    value: str
    traveller_ref: str | None = None
    source: str | None = None


@dataclass(slots=True)
class PaymentV:
    """A form of payment (attributes of :class:`apiflag.records.Payment`)."""

    form: str
    amount: float | None
    payer_name: str | None = None
    payer_phone: str | None = None
    card_vendor: str | None = None
    masked_card: str | None = None
    card_expiry: str | None = None
    currency: str | None = None
    billing_address: Any = None


@dataclass(slots=True)
class AgencyV:
    """A booking originator (attributes of :class:`apiflag.records.Agency`)."""

    airline: str | None
    location: str | None
    agency_id: str | None = None
    country: str | None = None
    currency: str | None = None
    kind: str | None = None


@dataclass(slots=True)
class TicketV:
    """A ticket (attributes of :class:`apiflag.records.Ticket`)."""

    number: str
    traveller_ref: str | None
    type: str = "T"


@dataclass(slots=True)
class Booking:
    """One PNR as the departure push shows it, plus what the T-72 h push showed differently."""

    record_locator: str
    carrier: str
    created: dt.datetime
    last_transaction: dt.datetime
    agency: AgencyV | None
    travellers: list[Traveller]
    itinerary: list[Leg]
    contacts: list[ContactV] = field(default_factory=list)
    payments: list[PaymentV] = field(default_factory=list)
    tickets: list[TicketV] = field(default_factory=list)
    bags: tuple[Any, ...] = ()
    seats: tuple[Any, ...] = ()
    split_record_locators: tuple[str, ...] = ()
    party: str = ""
    docs_at_t72: bool = True
    t72_name: tuple[str, str] | None = None  # (surname, given) of travellers[0] before correction
    t72_extra: Traveller | None = None  # a traveller cancelled before departure
    added_contact: ContactV | None = None  # present only in the departure push


@dataclass(slots=True)
class Flight:
    """A flight arriving in Japan on the night, with its passengers, crew and bookings."""

    carrier: str
    number: str
    departure_airport: str
    arrival_airport: str
    scheduled_departure: dt.datetime
    scheduled_arrival: dt.datetime
    route: Route
    capacity: int
    passengers: list[Traveller] = field(default_factory=list)
    crew: list[Traveller] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    next_row: int = 5
    id_base: int = 0

    def leg(self, booking_class: str = "Y") -> Leg:
        return Leg(
            self.carrier,
            self.number,
            self.departure_airport,
            self.arrival_airport,
            self.scheduled_departure,
            self.scheduled_arrival,
            booking_class,
        )

    @property
    def free(self) -> int:
        return self.capacity - len(self.passengers)


# ----------------------------------------------------------------------------- people


def birth_date(r: Rand, today: dt.date, lo: int, hi: int) -> dt.date:
    """A birth date giving an age in [lo, hi] years on ``today``."""
    days = int((lo + r.u() * (hi - lo + 1)) * 365.25)
    return today - dt.timedelta(days=max(days, 1))


def person(
    r: Rand,
    ids: Ids,
    today: dt.date,
    nationality: str,
    sex: str | None = None,
    age: tuple[int, int] = (18, 70),
    surname: str | None = None,
    role: str = "passenger",
) -> Traveller:
    """Draw one traveller of a nationality, with a passport issued before ``today``."""
    pool = pool_for(nationality)
    if sex is None:
        sex = "F" if r.u() < 0.5 else "M"
    names = pool.female if sex == "F" else pool.male
    given = r.choice(names)
    if nationality in _MIDDLE_NAMES and " " not in given and r.chance(0.3):
        middle = r.choice(names).split(" ")[0]
        if middle != given:
            given = f"{given} {middle}"
    if surname is None:
        surname = r.choice(pool.surnames)
        if sex == "F" and pool.female_suffix:
            surname = surname + pool.female_suffix
    dob = birth_date(r, today, age[0], age[1])
    validity = 5 if (today - dob).days < 20 * 365 or r.chance(0.4) else 10
    issued = today - dt.timedelta(days=60 + r.pick(validity * 365 - 120))
    expiry = dt.date(issued.year + validity, issued.month, min(issued.day, 28))
    doc = Doc("P", ids.document(nationality), nationality, expiry, issued)
    return Traveller(
        role=role,
        surname=surname,
        given_names=given,
        sex=sex,
        date_of_birth=dob,
        nationality=nationality,
        documents=[doc],
    )


def _nationality(r: Rand, route: Route, jp_share: float) -> str:
    x = r.u()
    if route.country == "USA" and route.airport == "HNL":
        jp_share = 0.65
    if x < jp_share:
        return "JPN"
    if x < jp_share + 0.13 and route.others:
        return r.choice(route.others)
    return route.country


# ----------------------------------------------------------------------------- flights


def make_flights(r: Rand, night: dt.date, arrivals: int, used_numbers: set[str]) -> list[Flight]:
    """Schedule enough flights into Japan on ``night`` to carry exactly ``arrivals`` passengers."""
    flights: list[Flight] = []
    total = 0
    while total < arrivals:
        route = r.weighted(ROUTES, _ROUTE_CUM)
        carrier = r.choice(route.carriers)
        wide = route.hours > 5.5 or r.chance(0.3)
        capacity = r.randint(230, 380) if wide else r.randint(150, 189)
        load = int(capacity * (0.65 + 0.33 * r.u()))
        load = min(load, arrivals - total)
        number = str(r.randint(1, 999) if carrier in ("JL", "NH") else r.randint(1, 899))
        while f"{carrier}{number}" in used_numbers:
            number = str(int(number) % 9000 + 1 + r.pick(50))
        used_numbers.add(f"{carrier}{number}")
        minute = int(1440 * (0.25 + 0.75 * r.u()) if r.chance(0.85) else 1440 * r.u())
        arr = dt.datetime(night.year, night.month, night.day) + dt.timedelta(
            minutes=minute - minute % 5
        )
        block = dt.timedelta(minutes=int(route.hours * 60) // 5 * 5)
        dep = arr - block - dt.timedelta(hours=JST - route.utc)
        jp = r.weighted(JAPAN_AIRPORTS, _JP_CUM)
        if route.airport in (
            "HNL",
            "GRU",
            "MEX",
            "AKL",
            "MEL",
            "TAS",
            "ALA",
            "VVO",
            "DAD",
            "CEB",
            "KHH",
            "DMK",
        ):
            jp = r.choice(("NRT", "KIX", "HND"))
        flights.append(Flight(carrier, number, route.airport, jp, dep, arr, route, load))
        total += load
    flights.sort(key=lambda f: (f.scheduled_arrival, f.carrier, f.number))
    return flights


_JP_CUM = np.cumsum(_JP_WEIGHTS).tolist()


def crew_for(r: Rand, ids: Ids, flight: Flight, today: dt.date) -> list[Traveller]:
    """The crew list of a flight: pilots and cabin crew, mostly of the carrier's country."""
    n = 2 + (r.randint(8, 14) if flight.capacity > 220 else r.randint(3, 6))
    home = _CARRIER_HOME.get(flight.carrier, flight.route.country)
    crew = []
    for i in range(n):
        nat = home if r.chance(0.85) else r.choice(("JPN", flight.route.country, "PHL", "THA"))
        c = person(
            r,
            ids,
            today,
            nat,
            sex=("M" if i < 2 and r.chance(0.9) else None),
            age=(23, 60),
            role="crew",
        )
        c.embarkation = flight.departure_airport
        c.debarkation = flight.arrival_airport
        c.country_of_residence = home
        if i < 2:
            c.documents.append(
                Doc(
                    "L",
                    f"{ids.doc % 100_000:05d}{i}",
                    home,
                    today + dt.timedelta(days=700 + 30 * i),
                )
            )
        if r.chance(0.5):
            c.address = Addr(
                f"{r.randint(1, 99)} {r.choice(_CITIES)}",
                flight.departure_airport,
                None,
                None,
                home,
            )
        crew.append(c)
    return crew


# ----------------------------------------------------------------------------- bookings

PARTY_KINDS = (
    "business",
    "tourist",
    "couple",
    "family",
    "friends",
    "tour_group",
    "student",
    "trainee_group",
    "resident_return",
)


def _party_cum(route: Route) -> list[float]:
    c = route.country
    w = [0.22, 0.20, 0.14, 0.12, 0.08, 0.05, 0.05, 0.0, 0.14]
    if c in TRAINEE_COUNTRIES:
        w[7] = 0.04
        w[6] = 0.08
    if c in ("USA", "AUS", "GBR", "DEU", "FRA", "CAN", "SGP"):
        w[0] = 0.30
        w[5] = 0.02
    return np.cumsum(w).tolist()


@dataclass(slots=True)
class NightContext:
    """What every booking of one night shares: the random stream, ids, date, versions."""

    r: Rand
    ids: Ids
    night: dt.date
    party_cums: dict[str, list[float]] = field(default_factory=dict)
    agencies: dict[str, list[AgencyV]] = field(default_factory=dict)
    agency_phones: dict[str, str] = field(default_factory=dict)
    group_no: int = 0

    def agency_for(self, country: str, carrier: str) -> AgencyV:
        pool = self.agencies.get(country)
        if pool is None:
            pool = []
            for _ in range(6):
                agency = AgencyV(
                    carrier,
                    None,
                    self.ids.agency_id(),
                    _ALPHA2.get(country, country[:2]),
                    _CURRENCY.get(country, "USD"),
                    "A",
                )
                self.agency_phones[agency.agency_id or ""] = self.ids.phone_number(country)
                pool.append(agency)
            self.agencies[country] = pool
        a = self.r.choice(pool)
        return AgencyV(carrier, None, a.agency_id, a.country, a.currency, a.kind)

    def next_group(self, kind: str) -> str:
        self.group_no += 1
        return f"{self.night.isoformat()}#{kind}#{self.group_no}"


def seat_party(flight: Flight, people: list[Traveller], r: Rand, together: bool = True) -> None:
    """Give a party seats: adjacent by default, scattered when ``together`` is false."""
    letters = "ABCDEFGHJK"
    for i, t in enumerate(people):
        if not together or i % 6 == 0:
            flight.next_row += 1 + (r.pick(3) if not together else 0)
        if r.chance(0.85):
            t.seat = f"{flight.next_row}{letters[i % 6]}"


def _itinerary(
    r: Rand,
    flight: Flight,
    created: dt.datetime,
    one_way: bool,
    outbound_first: bool,
    stay: tuple[int, int],
) -> tuple[list[Leg], dt.datetime]:
    """The booking's legs and its creation time (moved before an outbound leg).

    The inbound leg, with the outbound leg before it (``outbound_first``) or a return after it
    (unless ``one_way``).
    """
    dep = flight.scheduled_departure
    legs: list[Leg] = []
    inbound = flight.leg(r.choice(("Y", "Y", "Y", "M", "B", "C")))
    if outbound_first:
        days = r.randint(*stay)
        out_dep = dep - dt.timedelta(days=days)
        block = flight.scheduled_arrival - flight.scheduled_departure
        back = Leg(
            flight.carrier,
            str(int(flight.number) - 1 if int(flight.number) > 1 else 2),
            flight.arrival_airport,
            flight.departure_airport,
            out_dep.replace(hour=(out_dep.hour + 4) % 24),
            out_dep.replace(hour=(out_dep.hour + 4) % 24) + block,
            "Y",
        )
        legs = [back, inbound]
        created = min(created, back.scheduled_departure - dt.timedelta(days=3))
    elif one_way:
        legs = [inbound]
    else:
        days = r.randint(*stay)
        ret_dep = flight.scheduled_arrival + dt.timedelta(days=days, hours=2)
        block = flight.scheduled_arrival - flight.scheduled_departure
        legs = [
            inbound,
            Leg(
                flight.carrier,
                str(int(flight.number) + 1),
                flight.arrival_airport,
                flight.departure_airport,
                ret_dep,
                ret_dep + block,
                inbound.booking_class,
            ),
        ]
    return legs, created


def _payments(
    ctx: NightContext,
    flight: Flight,
    people: list[Traveller],
    one_way: bool,
    cash: float | None,
    payer: tuple[str, str | None] | None,
    card: str | None,
) -> list[PaymentV]:
    """The booking's one payment: cash or a card, by the payer or the lead traveller."""
    r, ids = ctx.r, ctx.ids
    home = flight.route.country
    lead_traveller = people[0]
    fare = round(flight.route.hours * (9000 + 6000 * r.u()) * (1 if one_way else 1.7), -2)
    if cash is None:
        cash = 0.14 if home in CASH_MARKETS else 0.02
    payments: list[PaymentV] = []
    total = fare * len(people)
    if payer is None:
        pname = f"{lead_traveller.given_names.split(' ')[0]} {lead_traveller.surname}"
        pphone = None
    else:
        pname, pphone = payer
    if r.chance(cash):
        payments.append(PaymentV("CA", total, pname if (payer or r.chance(0.4)) else None, pphone))
    else:
        exp = dt.date(ctx.night.year + 1 + r.pick(4), 1 + r.pick(12), 1)
        payments.append(
            PaymentV(
                "CC",
                total,
                pname if (payer or r.chance(0.7)) else None,
                pphone,
                r.choice(_VENDORS),
                card or ids.masked_card(),
                f"{exp.month:02d}{exp.year % 100:02d}",
            )
        )
    return payments


def new_booking(
    ctx: NightContext,
    flight: Flight,
    people: list[Traveller],
    party: str,
    *,
    lead_days: tuple[float, float],
    one_way: bool,
    outbound_first: bool = False,
    via_agency: float = 0.45,
    cash: float | None = None,
    payer: tuple[str, str | None] | None = None,
    card: str | None = None,
    stay: tuple[int, int] = (3, 14),
) -> Booking:
    """Book ``people`` on ``flight``: itinerary, contacts, tickets and payment.

    ``payer`` is (name, phone) of whoever pays; None means the first traveller pays.
    """
    r, ids = ctx.r, ctx.ids
    dep = flight.scheduled_departure
    lead = lead_days[0] + (lead_days[1] - lead_days[0]) * r.u()
    created = dep - dt.timedelta(hours=int(lead * 24), minutes=r.pick(60))
    last = created + dt.timedelta(hours=min(int(lead * 24) // 2, r.pick(48)))
    home = flight.route.country
    lead_traveller = people[0]
    agency = (
        ctx.agency_for(home, flight.carrier)
        if r.chance(via_agency)
        else AgencyV(flight.carrier, flight.departure_airport)
    )
    if agency.agency_id:
        agency.location = flight.departure_airport
    legs, created = _itinerary(r, flight, created, one_way, outbound_first, stay)
    locator = ids.record_locator()
    contacts: list[ContactV] = []
    for i, t in enumerate(people):
        t.ref = str(i + 1)
        t.booking = locator
        t.record_locator = locator if r.u() > 0.004 else None
        t.embarkation = flight.departure_airport
        t.debarkation = flight.arrival_airport
        if t.country_of_residence is None:
            t.country_of_residence = t.nationality
        t.checked_bags = r.pick(3) if t.passenger_type == "A" else 0
        t.title = ("MR" if t.sex == "M" else "MS") if r.chance(0.8) else None
        if (flight.arrival_airport, t.nationality) and r.chance(0.25):
            t.place_of_birth = t.nationality
    if r.chance(0.65):
        contacts.append(
            ContactV("phone", ids.phone_number(lead_traveller.nationality), "1", "CTCM")
        )
    if r.chance(0.45):
        contacts.append(
            ContactV(
                "email",
                ids.email_address(lead_traveller.surname, lead_traveller.given_names),
                "1",
                "CTCE",
            )
        )
    if agency.agency_id and r.chance(0.2):
        contacts.append(ContactV("phone", ctx.agency_phones[agency.agency_id], None, "IFT"))
    payments = _payments(ctx, flight, people, one_way, cash, payer, card)
    tickets = [TicketV(ids.ticket_number(flight.carrier), t.ref) for t in people]
    b = Booking(
        locator,
        flight.carrier,
        created,
        last,
        agency,
        list(people),
        legs,
        contacts,
        payments,
        tickets,
        party=party,
    )
    b.docs_at_t72 = r.chance(0.55)
    flight.passengers.extend(people)
    flight.bookings.append(b)
    return b


def ordinary_party(ctx: NightContext, flight: Flight, room: int) -> None:
    """Add one ordinary party (at most ``room`` people) to a flight."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    route = flight.route
    cum = ctx.party_cums.get(route.airport)
    if cum is None:
        cum = ctx.party_cums[route.airport] = _party_cum(route)
    kind = r.weighted(PARTY_KINDS, cum)
    if kind == "business":
        nat = _nationality(r, route, 0.35)
        t = person(r, ids, today, nat, age=(26, 64))
        if r.chance(0.5):
            t.frequent_flyer = f"{flight.carrier}{ids.doc % 10_000_000:07d}"
        one_way = r.chance(0.08)
        new_booking(
            ctx, flight, [t], kind, lead_days=(1, 30), one_way=one_way, via_agency=0.3, stay=(2, 7)
        )
    elif kind == "tourist":
        nat = _nationality(r, route, 0.15)
        t = person(r, ids, today, nat, age=(18, 75))
        new_booking(ctx, flight, [t], kind, lead_days=(10, 150), one_way=r.chance(0.04))
    elif kind == "couple" and room >= 2:
        nat = _nationality(r, route, 0.2)
        a = person(r, ids, today, nat, sex="M", age=(22, 75))
        b = person(
            r, ids, today, nat, sex="F", age=(20, 72), surname=a.surname if r.chance(0.6) else None
        )
        seat_party(flight, [a, b], r)
        new_booking(ctx, flight, [a, b], kind, lead_days=(14, 160), one_way=False)
    elif kind == "family" and room >= 3:
        nat = _nationality(r, route, 0.3)
        n_kids = min(r.randint(1, 3), room - 2)
        a = person(r, ids, today, nat, sex="M", age=(30, 55))
        b = person(
            r,
            ids,
            today,
            nat,
            sex="F",
            age=(28, 52),
            surname=a.surname if nat not in ("KOR", "CHN", "VNM", "TWN") else None,
        )
        kids = []
        for _ in range(n_kids):
            k = person(r, ids, today, nat, age=(0, 17), surname=a.surname)
            if (today - k.date_of_birth).days < 730:
                k.passenger_type = "IN"
            kids.append(k)
        people = [a, b, *kids]
        seat_party(flight, people, r)
        res = nat == "JPN"
        new_booking(
            ctx, flight, people, kind, lead_days=(20, 170), one_way=False, outbound_first=res
        )
    elif kind == "friends" and room >= 2:
        nat = _nationality(r, route, 0.2)
        n = min(r.randint(2, 4), room)
        people = [person(r, ids, today, nat, age=(19, 35)) for _ in range(n)]
        seat_party(flight, people, r)
        payer = people[0]
        new_booking(
            ctx,
            flight,
            people,
            kind,
            lead_days=(10, 120),
            one_way=r.chance(0.05),
            payer=(f"{payer.given_names.split(' ')[0]} {payer.surname}", None),
        )
    elif kind == "tour_group" and room >= 8:
        tour_group(ctx, flight, min(room, r.randint(8, 25)), confounder="")
    elif kind == "student":
        nat = _nationality(r, route, 0.05)
        t = person(r, ids, today, nat, age=(18, 26))
        t.country_of_residence = "JPN" if r.chance(0.5) else nat
        new_booking(
            ctx, flight, [t], kind, lead_days=(7, 90), one_way=r.chance(0.6), stay=(60, 300)
        )
    elif kind == "trainee_group" and room >= 4:
        trainee_group(ctx, flight, min(room, r.randint(4, 12)), fraudulent=False)
    elif kind == "resident_return":
        t = person(r, ids, today, "JPN", age=(20, 80))
        t.country_of_residence = "JPN"
        new_booking(ctx, flight, [t], kind, lead_days=(7, 120), one_way=False, outbound_first=True)
    else:
        nat = _nationality(r, route, 0.25)
        t = person(r, ids, today, nat, age=(18, 75))
        new_booking(ctx, flight, [t], "tourist", lead_days=(10, 150), one_way=False)


def tour_group(ctx: NightContext, flight: Flight, size: int, confounder: str) -> Booking:
    """A tour group with its guide; the guide (travelling) pays for everyone."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    nat = flight.route.country if flight.route.country != "USA" or r.chance(0.5) else "JPN"
    guide = person(r, ids, today, nat, age=(28, 60))
    people = [guide] + [person(r, ids, today, nat, age=(16, 80)) for _ in range(size - 1)]
    seat_party(flight, people, r)
    gname = f"{guide.given_names.split(' ')[0]} {guide.surname}"
    b = new_booking(
        ctx,
        flight,
        people,
        "tour_group",
        lead_days=(30, 120),
        one_way=False,
        via_agency=1.0,
        payer=(gname, ids.phone_number(nat)),
        cash=0.3,
    )
    if confounder:
        group = ctx.next_group(confounder)
        for t in people:
            t.confounder = confounder
            t.pattern_group = group
        guide.pattern_role = "guide"
    return b


def trainee_group(
    ctx: NightContext,
    flight: Flight,
    size: int,
    fraudulent: bool,
    org: tuple[str, str, str, str] | None = None,
) -> Booking:
    """A technical intern trainee group paid by its sending organisation (one-way).

    ``org`` is (name, agency id, phone, masked card). A genuine organisation's trainees hold
    passports issued months before; a fraudulent one's, days before departure.
    """
    r, ids, today = ctx.r, ctx.ids, ctx.night
    nat = (
        flight.route.country
        if flight.route.country in TRAINEE_COUNTRIES
        else r.choice(TRAINEE_COUNTRIES)
    )
    if org is None:
        org = (
            f"{r.choice(pool_for(nat).surnames)} MANPOWER JSC",
            ids.agency_id(),
            ids.phone_number(nat),
            ids.masked_card(),
        )
    people = [person(r, ids, today, nat, age=(19, 32)) for _ in range(size)]
    dep = flight.scheduled_departure.date()
    for t in people:
        doc = t.documents[0]
        if fraudulent:
            doc.issue_date = dep - dt.timedelta(days=r.randint(3, 20))
        else:
            doc.issue_date = dep - dt.timedelta(days=r.randint(90, 1200))
        doc.expiry_date = dt.date(
            doc.issue_date.year + 10, doc.issue_date.month, min(doc.issue_date.day, 28)
        )
    seat_party(flight, people, r)
    b = new_booking(
        ctx,
        flight,
        people,
        "trainee_group",
        lead_days=(5, 60) if fraudulent else (20, 90),
        one_way=True,
        via_agency=1.0,
        payer=(org[0], org[2]),
        card=org[3],
        cash=0.0,
    )
    assert b.agency is not None
    b.agency.agency_id = org[1]
    for t in people:
        t.checked_bags = 1
    b.contacts.append(ContactV("phone", org[2], None, "IFT"))
    return b
