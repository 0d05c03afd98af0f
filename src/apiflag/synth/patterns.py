"""Planted trafficking patterns, deliberate confounders, and the case database they refer to.

Each pattern is planted the way INDICATORS.md says it shows in API/PNR data, and each
confounder looks like one of them but carries the exonerating circumstance:

=========================  ===================================================================
recruitment_network        a broker who does not travel pays one-way tickets (often cash) for
                           unrelated recruits in separate bookings that share the broker's
                           phone, e-mail, agency or card; some networks are known to the case DB
labour_exploitation        a trainee group paid by a fraudulent sending organisation, one-way,
                           passports issued days before departure (PAXLST ``DTM+182``)
escort_group               one adult with several young unrelated travellers in one booking,
                           one-way, seated apart
minor_unrelated_adult      a minor booked with an unrelated adult, one-way
document_fraud             one passport number under two identities on the night, or a
                           traveller carrying a document listed in the case database
known_person_variant       a case perpetrator, broker, recruiter or employer travelling under a
                           name variant, with the same birth date (sometimes the same document)
former_victim_return       a case victim travelling again (same birth date)
family_pays                a parent who does not travel pays one-way tickets: same surname
guide_pays_group           a tour guide pays for a group of unrelated people: guide travels,
                           return tickets, a travel agency
last_minute_business       booked hours before, one-way, paid by a company: corporate card
cash_market                cash payment from a market where cash is normal, return ticket
corporate_shared_phone     one travel-desk phone on many unrelated business bookings, all return
common_name_collision      a traveller with exactly a case person's common name, other birth date
naming_custom_family       parents and children of different surnames by custom (see groups)
school_trip, sports_team,  minors with several adults of other surnames, paid by the
exchange_group             organisation, return tickets, an agency (see :mod:`apiflag.synth.groups`)
=========================  ===================================================================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from apiflag.synth.groups import (
    conf_exchange_group,
    conf_naming_custom_family,
    conf_school_trip,
    conf_sports_team,
)
from apiflag.synth.names import VARIANT_KINDS, pool_for, variant
from apiflag.synth.population import (
    CASH_MARKETS,
    TRAINEE_COUNTRIES,
    ContactV,
    Flight,
    NightContext,
    Rand,
    Traveller,
    birth_date,
    new_booking,
    person,
    seat_party,
    tour_group,
    trainee_group,
)

PATTERNS = (
    "recruitment_network",
    "labour_exploitation",
    "escort_group",
    "minor_unrelated_adult",
    "document_fraud",
    "known_person_variant",
    "former_victim_return",
)
CONFOUNDERS = (
    "family_pays",
    "guide_pays_group",
    "last_minute_business",
    "cash_market",
    "corporate_shared_phone",
    "common_name_collision",
    "naming_custom_family",
    "school_trip",
    "sports_team",
    "exchange_group",
)
DEFAULT_PATTERN_SHARES: dict[str, float] = {
    "recruitment_network": 0.25,
    "labour_exploitation": 0.25,
    "escort_group": 0.15,
    "minor_unrelated_adult": 0.08,
    "document_fraud": 0.10,
    "known_person_variant": 0.10,
    "former_victim_return": 0.07,
}
"""Share of the involved travellers (prevalence budget) each pattern gets."""
PATTERN_SIZE: dict[str, float] = {
    "recruitment_network": 4.0,
    "labour_exploitation": 9.0,
    "escort_group": 5.5,
    "minor_unrelated_adult": 2.0,
    "document_fraud": 1.0,
    "known_person_variant": 1.0,
    "former_victim_return": 1.0,
}
"""Mean number of involved travellers per planted instance."""
DEFAULT_CONFOUNDER_RATES: dict[str, float] = {
    "family_pays": 1.0,
    "guide_pays_group": 0.3,
    "last_minute_business": 1.0,
    "cash_market": 1.5,
    "corporate_shared_phone": 0.1,
    "common_name_collision": 0.5,
    "naming_custom_family": 3.0,
    "school_trip": 0.25,
    "sports_team": 0.25,
    "exchange_group": 0.25,
}
"""Confounder instances per 1,000 arrivals."""

_RECRUIT_COUNTRIES = (
    "THA",
    "PHL",
    "VNM",
    "IDN",
    "MNG",
    "UZB",
    "KHM",
    "LAO",
    "MMR",
    "COL",
    "RUS",
    "UKR",
)
_TYPOLOGY = {
    "broker": "sexual_exploitation",
    "recruiter": "sexual_exploitation",
    "employer": "labour_exploitation",
    "perpetrator": "sexual_exploitation",
}


@dataclass(slots=True)
class CaseDB:
    """The case database being built: cases, persons and identifiers, in creation order."""

    cases: list[tuple[str, str, int, str]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[tuple[str, str, str, str]] = field(default_factory=list)
    by_name: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def new_case(self, typology: str, year: int, status: str) -> str:
        case_id = f"C-{len(self.cases) + 1:05d}"
        self.cases.append((case_id, typology, year, status))
        return case_id

    def add_person(
        self,
        case_id: str,
        role: str,
        surname: str,
        given: str,
        dob: dt.date | None,
        nationality: str | None,
        aliases: tuple[str, ...] = (),
        documents: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        row = {
            "person_id": f"P-{len(self.persons) + 1:06d}",
            "case_id": case_id,
            "role": role,
            "surname": surname,
            "given_names": given,
            "aliases": aliases,
            "date_of_birth": dob,
            "nationality": nationality,
            "document_numbers": documents,
        }
        self.persons.append(row)
        self.by_name.setdefault((surname, given), row)
        return row

    def add_identifier(self, case_id: str, person_id: str, kind: str, value: str) -> None:
        self.identifiers.append((case_id, person_id, kind, value))


@dataclass(slots=True)
class Links:
    """Truth about case links, collected while planting (flight and traveller objects)."""

    case_links: list[tuple[Flight, Traveller, str, str, str, str]] = field(default_factory=list)
    identifier_links: list[tuple[Flight, Traveller, str, str, str]] = field(default_factory=list)
    pnr_changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    rows: list[tuple[str, ...]] = field(default_factory=list)
    variant_counter: dict[str, int] = field(default_factory=dict)


def _fmt_phone(digits: str, style: int) -> str:
    """Write a phone the way a case file might (spaces, a plus, a leading 00)."""
    if style == 0:
        return "+" + digits
    if style == 1:
        return "00" + digits
    return f"+{digits[:2]} {digits[2:5]} {digits[5:]}"


def _mark(people: list[Traveller], pattern: str, group: str, label: str, role: str) -> None:
    for t in people:
        t.pattern = pattern
        t.pattern_group = group
        t.truth_label = label
        t.pattern_role = role


def _flight_for(
    r: Rand, flights: list[Flight], size: int, countries: tuple[str, ...] | frozenset[str] = ()
) -> Flight:
    fits = [f for f in flights if f.free >= size and f.route.country != "JPN"]
    preferred = [f for f in fits if f.route.country in countries] if countries else fits
    pool = preferred or fits or sorted(flights, key=lambda f: -f.free)[:1]
    return r.choice(pool)


def _origin_nat(r: Rand, flight: Flight, countries: tuple[str, ...]) -> str:
    return flight.route.country if flight.route.country in countries else r.choice(countries)


def _name(t: Traveller) -> str:
    return f"{t.given_names.split(' ')[0]} {t.surname}"


# ----------------------------------------------------------------------------- patterns


def plant_recruitment_network(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A non-travelling broker pays one-way tickets for recruits in separate bookings."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    first = _flight_for(r, flights, 1, _RECRUIT_COUNTRIES)
    nat = _origin_nat(r, first, _RECRUIT_COUNTRIES)
    broker = person(r, ids, today, nat, age=(30, 60))
    phone = ids.phone_number(nat)
    email = ids.email_address(broker.surname, broker.given_names)
    agency = ids.agency_id()
    card = ids.masked_card()
    street = r.choice(("SUKHUMVIT RD SOI", "RIZAL AVE LOT", "LE LOI ST NO", "MAIN ST UNIT"))
    address = f"{r.randint(1, 300)} {street} {r.randint(1, 99)} {first.departure_airport}"
    group = ctx.next_group("recruitment_network")
    known = r.chance(0.6)
    case_id = person_id = ""
    if known:
        case_id = db.new_case("sexual_exploitation", today.year - r.randint(1, 6), "open")
        row = db.add_person(
            case_id, "broker", broker.surname, broker.given_names, broker.date_of_birth, nat
        )
        person_id = row["person_id"]
        db.add_identifier(case_id, person_id, "phone", _fmt_phone(phone, r.pick(3)))
        db.add_identifier(case_id, person_id, "email", email.lower())
        db.add_identifier(case_id, person_id, "agency", agency)
        db.add_identifier(case_id, person_id, "card", card)
        # the case file writes the address in another order; matching compares token sets
        db.add_identifier(case_id, person_id, "address", " ".join(reversed(address.split(" "))))
    use_email, use_agency, use_address = r.chance(0.5), r.chance(0.6), r.chance(0.4)
    cash = r.chance(0.7)
    n = r.randint(3, 5)
    for i in range(n):
        flight = first if i == 0 else _flight_for(r, flights, 1, (first.route.country,))
        rec_nat = _origin_nat(r, flight, (nat,))
        recruit = person(r, ids, today, rec_nat, sex="F" if r.chance(0.75) else "M", age=(18, 29))
        b = new_booking(
            ctx,
            flight,
            [recruit],
            "recruitment",
            lead_days=(1, 10),
            one_way=True,
            via_agency=0.0,
            cash=1.0 if cash else 0.0,
            payer=(_name(broker), phone),
            card=card,
        )
        b.contacts = [ContactV("phone", phone, None, "IFT")]
        if r.chance(0.4):
            b.contacts.append(ContactV("phone", ids.phone_number(rec_nat), "1", "CTCM"))
        if use_email:
            b.contacts.append(ContactV("email", email, None, "IFT"))
        if use_address:
            b.contacts.append(ContactV("address", address, None, "ADD"))
        if use_agency and b.agency is not None:
            b.agency.agency_id = agency
            b.agency.kind = "A"
            b.agency.location = flight.departure_airport
        _mark([recruit], "recruitment_network", group, "victim", "recruit")
        if known:
            links.identifier_links.append((flight, recruit, "phone", phone, case_id))
            if use_email:
                links.identifier_links.append((flight, recruit, "email", email, case_id))
            if use_agency:
                links.identifier_links.append((flight, recruit, "agency", agency, case_id))
            if not cash:
                links.identifier_links.append((flight, recruit, "card", card, case_id))
            if use_address:
                links.identifier_links.append((flight, recruit, "address", address, case_id))


def plant_labour_exploitation(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A fraudulent sending organisation's trainees: one-way, org pays, passports days old."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    size = r.randint(6, 12)
    flight = _flight_for(r, flights, size, TRAINEE_COUNTRIES)
    nat = _origin_nat(r, flight, TRAINEE_COUNTRIES)
    org = (
        f"{r.choice(pool_for(nat).surnames)} HUMAN RESOURCES CO",
        ids.agency_id(),
        ids.phone_number(nat),
        ids.masked_card(),
    )
    b = trainee_group(ctx, flight, min(size, max(flight.free, 1)), fraudulent=True, org=org)
    group = ctx.next_group("labour_exploitation")
    _mark(b.travellers, "labour_exploitation", group, "victim", "trainee")
    if r.chance(0.5):
        case_id = db.new_case("labour_exploitation", today.year - r.randint(1, 5), "open")
        boss = person(r, ids, today, nat, age=(35, 65))
        row = db.add_person(
            case_id, "employer", boss.surname, boss.given_names, boss.date_of_birth, nat
        )
        db.add_identifier(case_id, row["person_id"], "agency", org[1])
        db.add_identifier(case_id, row["person_id"], "phone", _fmt_phone(org[2], r.pick(3)))
        for t in b.travellers:
            links.identifier_links.append((flight, t, "agency", org[1], case_id))
            links.identifier_links.append((flight, t, "phone", org[2], case_id))


def plant_escort_group(ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links) -> None:
    """One adult with several young unrelated travellers, one booking, one-way, seated apart."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    n = r.randint(3, 6)
    flight = _flight_for(r, flights, n + 1, _RECRUIT_COUNTRIES)
    nat = _origin_nat(r, flight, _RECRUIT_COUNTRIES)
    escort = person(r, ids, today, nat, age=(30, 55))
    young: list[Traveller] = []
    for _ in range(min(n, max(flight.free - 1, 1))):
        y = person(r, ids, today, nat, sex="F" if r.chance(0.7) else "M", age=(16, 22))
        while y.surname == escort.surname or any(y.surname == o.surname for o in young):
            y.surname = pool_for(nat).surnames[r.pick(len(pool_for(nat).surnames))] + (
                "A" if r.chance(0.3) else ""
            )
        young.append(y)
    people = [escort, *young]
    seat_party(flight, people, r, together=False)
    new_booking(
        ctx,
        flight,
        people,
        "escort",
        lead_days=(2, 20),
        one_way=True,
        via_agency=0.3,
        cash=0.5,
        payer=(_name(escort), ids.phone_number(nat)),
    )
    group = ctx.next_group("escort_group")
    _mark([escort], "escort_group", group, "trafficker", "escort")
    _mark(young, "escort_group", group, "victim", "escorted")


def plant_minor_unrelated_adult(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A minor booked with an adult of another surname, one-way, the adult pays."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    flight = _flight_for(r, flights, 2)
    nat = flight.route.country if flight.route.country != "USA" else r.choice(_RECRUIT_COUNTRIES)
    adult = person(r, ids, today, nat, sex="M" if r.chance(0.8) else "F", age=(25, 55))
    minor = person(r, ids, today, nat, age=(9, 16))
    pool = pool_for(nat).surnames
    while minor.surname == adult.surname:
        minor.surname = pool[r.pick(len(pool))] + ("E" if r.chance(0.2) else "")
    seat_party(flight, [adult, minor], r)
    new_booking(
        ctx,
        flight,
        [adult, minor],
        "minor_adult",
        lead_days=(1, 15),
        one_way=True,
        via_agency=0.2,
        cash=0.4,
        payer=(_name(adult), None),
    )
    group = ctx.next_group("minor_unrelated_adult")
    _mark([adult], "minor_unrelated_adult", group, "trafficker", "adult")
    _mark([minor], "minor_unrelated_adult", group, "victim", "minor")


def plant_document_fraud(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """One passport number under two identities, or a document listed in the case database."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    group = ctx.next_group("document_fraud")
    f2 = _flight_for(r, flights, 1, _RECRUIT_COUNTRIES)
    nat = _origin_nat(r, f2, _RECRUIT_COUNTRIES)
    impostor = person(r, ids, today, nat, sex="F" if r.chance(0.6) else "M", age=(18, 35))
    if r.chance(0.5):
        f1 = _flight_for(r, flights, 1)
        holder = person(r, ids, today, nat, age=(20, 60))
        new_booking(ctx, f1, [holder], "tourist", lead_days=(10, 120), one_way=False)
        src = holder.documents[0]
        doc = impostor.documents[0]
        doc.number, doc.issuing_country = src.number, src.issuing_country
        doc.expiry_date, doc.issue_date = src.expiry_date, src.issue_date
        _mark([holder], "document_fraud", group, "none", "genuine_holder")
        _mark([impostor], "document_fraud", group, "victim", "second_identity")
    else:
        case_id = db.new_case("sexual_exploitation", today.year - r.randint(1, 8), "closed")
        victim = person(r, ids, today, nat, sex="F", age=(20, 40))
        number = impostor.documents[0].number
        row = db.add_person(
            case_id,
            "victim",
            victim.surname,
            victim.given_names,
            victim.date_of_birth,
            nat,
            documents=(number,),
        )
        db.add_identifier(case_id, row["person_id"], "document", number)
        links.identifier_links.append((f2, impostor, "document", number, case_id))
        _mark([impostor], "document_fraud", group, "victim", "case_document")
    new_booking(ctx, f2, [impostor], "tourist", lead_days=(2, 30), one_way=r.chance(0.6))


def _case_person_name(r: Rand, nat: str, sex: str, kind: str) -> tuple[str, str]:
    pool = pool_for(nat)
    surname = r.choice(pool.surnames)
    given = r.choice(pool.female if sex == "F" else pool.male)
    if kind == "dropped_middle" and " " not in given:
        given = f"{given} {r.choice(pool.female if sex == 'F' else pool.male).split(' ')[0]}"
    if kind == "compound_surname" and " " not in surname:
        other = r.choice(pool.surnames).split(" ")[0]
        surname = f"{surname} {other if other != surname else 'DELA'}"
    if kind == "swapped_order" and not given:
        given = r.choice(pool.male)
    return surname, given


def _variant_traveller(
    ctx: NightContext,
    flights: list[Flight],
    db: CaseDB,
    links: Links,
    role: str,
    pattern: str,
    kinds: tuple[str, ...],
    label: str,
) -> None:
    r, ids, today = ctx.r, ctx.ids, ctx.night
    n = links.variant_counter.get(pattern, 0)
    kind = kinds[n % len(kinds)]
    links.variant_counter[pattern] = n + 1
    flight = _flight_for(r, flights, 1)
    nat = flight.route.country if flight.route.country != "JPN" else r.choice(_RECRUIT_COUNTRIES)
    sex = (
        "F"
        if (role == "victim" and r.chance(0.75)) or (role != "victim" and r.chance(0.25))
        else "M"
    )
    t = person(r, ids, today, nat, sex=sex, age=(20, 45) if role == "victim" else (28, 62))
    surname, given = _case_person_name(r, nat, sex, kind)
    aliases: tuple[str, ...] = ()
    if kind == "alias" or r.chance(0.3):
        pool = pool_for(nat)
        aliases = tuple(
            f"{r.choice(pool.surnames)}, {r.choice(pool.female if sex == 'F' else pool.male)}"
            for _ in range(1 + r.pick(2))
        )
    docs: tuple[str, ...] = (t.documents[0].number,) if r.chance(0.4) else ()
    typology = (
        "sexual_exploitation" if role == "victim" else _TYPOLOGY.get(role, "sexual_exploitation")
    )
    year = today.year - (r.randint(3, 12) if role == "victim" else r.randint(1, 10))
    case_id = db.new_case(typology, year, "closed" if role == "victim" or r.chance(0.5) else "open")
    row = db.add_person(case_id, role, surname, given, t.date_of_birth, nat, aliases, docs)
    if role == "victim":
        perp = person(r, ids, today, nat, sex="M", age=(35, 65))
        db.add_person(
            case_id, "perpetrator", perp.surname, perp.given_names, perp.date_of_birth, nat
        )
    t.surname, t.given_names = variant(kind, surname, given, aliases, r.pick)
    if role == "victim" or r.chance(0.6):
        new_booking(ctx, flight, [t], "tourist", lead_days=(7, 90), one_way=False)
    else:
        t.frequent_flyer = None
        new_booking(
            ctx, flight, [t], "business", lead_days=(1, 30), one_way=r.chance(0.2), via_agency=0.3
        )
    group = ctx.next_group(pattern)
    _mark([t], pattern, group, label, "case_person")
    links.case_links.append((flight, t, row["person_id"], case_id, kind, ""))


def plant_known_person_variant(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A case perpetrator, broker, recruiter or employer travelling under a name variant."""
    role = ctx.r.choice(("perpetrator", "broker", "recruiter", "employer"))
    kinds = tuple(k for k in VARIANT_KINDS if k != "exact")
    _variant_traveller(ctx, flights, db, links, role, "known_person_variant", kinds, "trafficker")


def plant_former_victim_return(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A victim of a past case travelling again, under the recorded name or a variant of it."""
    kinds = ("exact", "typo", "transliteration", "dropped_middle", "exact", "swapped_order")
    _variant_traveller(ctx, flights, db, links, "victim", "former_victim_return", kinds, "victim")


PLANTERS = {
    "recruitment_network": plant_recruitment_network,
    "labour_exploitation": plant_labour_exploitation,
    "escort_group": plant_escort_group,
    "minor_unrelated_adult": plant_minor_unrelated_adult,
    "document_fraud": plant_document_fraud,
    "known_person_variant": plant_known_person_variant,
    "former_victim_return": plant_former_victim_return,
}


# ----------------------------------------------------------------------------- confounders


def conf_family_pays(ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links) -> None:
    """A parent who does not travel pays one-way tickets for their children (same surname)."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    n = 1 + (1 if r.chance(0.3) else 0)
    flight = _flight_for(r, flights, n)
    nat = flight.route.country
    parent = person(r, ids, today, nat, age=(42, 65))
    kids = [person(r, ids, today, nat, age=(18, 24), surname=parent.surname) for _ in range(n)]
    seat_party(flight, kids, r)
    new_booking(
        ctx,
        flight,
        kids,
        "student",
        lead_days=(5, 60),
        one_way=True,
        via_agency=0.2,
        cash=0.1,
        payer=(_name(parent), ids.phone_number(nat)),
    )
    _mark(kids, "", ctx.next_group("family_pays"), "none", "child")
    for k in kids:
        k.confounder = "family_pays"


def conf_guide_pays_group(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A tour group whose travelling guide pays for everyone; return tickets, an agency."""
    size = ctx.r.randint(8, 18)
    flight = _flight_for(ctx.r, flights, size)
    tour_group(ctx, flight, min(size, max(flight.free, 2)), confounder="guide_pays_group")


def conf_last_minute_business(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """Booked hours before departure, one-way, paid by the traveller's company card."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    flight = _flight_for(r, flights, 1)
    t = person(r, ids, today, flight.route.country if r.chance(0.6) else "JPN", age=(30, 62))
    t.frequent_flyer = f"{flight.carrier}{ids.doc % 10_000_000:07d}"
    company = f"{r.choice(pool_for(t.nationality).surnames).split(' ')[0]} TRADING CO LTD"
    new_booking(
        ctx,
        flight,
        [t],
        "business",
        lead_days=(0.1, 0.9),
        one_way=True,
        via_agency=0.0,
        cash=0.0,
        payer=(company, ids.phone_number(t.nationality)),
    )
    _mark([t], "", ctx.next_group("last_minute_business"), "none", "business")
    t.confounder = "last_minute_business"


def conf_cash_market(ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links) -> None:
    """A tourist from a cash-heavy market pays cash for a return trip."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    flight = _flight_for(r, flights, 1, CASH_MARKETS)
    nat = (
        flight.route.country
        if flight.route.country in CASH_MARKETS
        else r.choice(sorted(CASH_MARKETS))
    )
    t = person(r, ids, today, nat, age=(20, 60))
    new_booking(
        ctx, flight, [t], "tourist", lead_days=(3, 60), one_way=False, cash=1.0, via_agency=0.6
    )
    _mark([t], "", ctx.next_group("cash_market"), "none", "tourist")
    t.confounder = "cash_market"


def conf_corporate_shared_phone(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A corporate travel desk's phone on many unrelated business bookings, all return."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    first = _flight_for(r, flights, 1)
    nat = first.route.country if first.route.country != "JPN" else "USA"
    desk = ids.phone_number(nat)
    company = f"{r.choice(pool_for(nat).surnames).split(' ')[0]} GLOBAL HOLDINGS"
    card = ids.masked_card()
    group = ctx.next_group("corporate_shared_phone")
    for i in range(r.randint(6, 12)):
        flight = first if i == 0 else _flight_for(r, flights, 1)
        t = person(r, ids, today, nat if r.chance(0.6) else "JPN", age=(26, 62))
        b = new_booking(
            ctx,
            flight,
            [t],
            "business",
            lead_days=(2, 20),
            one_way=False,
            via_agency=0.0,
            cash=0.0,
            payer=(company, desk),
            card=card,
            stay=(2, 6),
        )
        b.contacts.append(ContactV("phone", desk, None, "IFT"))
        _mark([t], "", group, "none", "employee")
        t.confounder = "corporate_shared_phone"


def conf_common_name_collision(
    ctx: NightContext, flights: list[Flight], db: CaseDB, links: Links
) -> None:
    """A traveller named exactly like a case person with a common name, another birth date."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    common = [p for p in db.persons if p.get("common")]
    target = common[r.pick(len(common))] if common else db.persons[r.pick(len(db.persons))]
    flight = _flight_for(r, flights, 1)
    nat = target["nationality"] or flight.route.country
    t = person(r, ids, today, nat, age=(20, 70))
    t.surname, t.given_names = target["surname"], target["given_names"]
    dob = target["date_of_birth"]
    while dob is not None and abs((t.date_of_birth - dob).days) < 400:
        t.date_of_birth = birth_date(r, today, 20, 70)
    new_booking(ctx, flight, [t], "tourist", lead_days=(10, 120), one_way=False)
    _mark([t], "", ctx.next_group("common_name_collision"), "none", "namesake")
    t.confounder = "common_name_collision"
    links.case_links.append((flight, t, "", target["case_id"], "", "same_name_other_dob"))


CONFOUNDER_MAKERS = {
    "family_pays": conf_family_pays,
    "guide_pays_group": conf_guide_pays_group,
    "last_minute_business": conf_last_minute_business,
    "cash_market": conf_cash_market,
    "corporate_shared_phone": conf_corporate_shared_phone,
    "common_name_collision": conf_common_name_collision,
    "naming_custom_family": conf_naming_custom_family,
    "school_trip": conf_school_trip,
    "sports_team": conf_sports_team,
    "exchange_group": conf_exchange_group,
}


# ----------------------------------------------------------------------------- case database

_CASE_NATS = (
    "THA",
    "PHL",
    "VNM",
    "IDN",
    "CHN",
    "KOR",
    "JPN",
    "MNG",
    "UZB",
    "RUS",
    "COL",
    "KHM",
    "MMR",
    "NPL",
    "UKR",
)


def background_cases(r: Rand, db: CaseDB, n_cases: int, today: dt.date) -> None:
    """Old cases whose people never travel in the world; some carry very common names."""
    from apiflag.synth.population import Ids

    ids = Ids(95_000_000)  # the nights' counters stay below this: no collisions
    for i in range(n_cases):
        role_plan = ["perpetrator"] + [
            r.choice(("victim", "victim", "broker", "recruiter", "employer"))
            for _ in range(r.pick(4))
        ]
        typology = r.choice(
            (
                "sexual_exploitation",
                "labour_exploitation",
                "sexual_exploitation",
                "domestic_servitude",
                "child_exploitation",
            )
        )
        case_id = db.new_case(
            typology, today.year - r.randint(1, 25), "closed" if r.chance(0.7) else "open"
        )
        for role in role_plan:
            nat = r.choice(_CASE_NATS)
            pool = pool_for(nat)
            sex = "F" if (role == "victim" and r.chance(0.8)) or r.chance(0.2) else "M"
            common = i % 5 == 0
            surname = pool.surnames[0] if common else r.choice(pool.surnames)
            given = (pool.female if sex == "F" else pool.male)[
                0 if common else r.pick(len(pool.female if sex == "F" else pool.male))
            ]
            dob = birth_date(r, today, 20, 70) if r.chance(0.9) else None
            aliases = tuple(
                f"{r.choice(pool.surnames)}, {given}"
                for _ in range(r.pick(3) if r.chance(0.3) else 0)
            )
            docs = (ids.document(nat),) if r.chance(0.4) else ()
            row = db.add_person(case_id, role, surname, given, dob, nat, aliases, docs)
            if common:
                row["common"] = True
            if role in ("broker", "recruiter", "employer") and r.chance(0.7):
                db.add_identifier(
                    case_id, row["person_id"], "phone", _fmt_phone(ids.phone_number(nat), r.pick(3))
                )
                if r.chance(0.5):
                    db.add_identifier(
                        case_id,
                        row["person_id"],
                        "email",
                        ids.email_address(surname, given).lower(),
                    )
                if r.chance(0.3):
                    db.add_identifier(case_id, row["person_id"], "agency", ids.agency_id())
                if r.chance(0.2):
                    db.add_identifier(case_id, row["person_id"], "card", ids.masked_card())
                if r.chance(0.2):
                    db.add_identifier(
                        case_id,
                        row["person_id"],
                        "address",
                        f"{r.randint(1, 300)} {r.choice(('SUKHUMVIT RD', 'RIZAL AVE', 'LE LOI ST', 'NAMDAEMUN-RO'))} {nat}",
                    )
            if docs:
                db.add_identifier(case_id, row["person_id"], "document", docs[0])
