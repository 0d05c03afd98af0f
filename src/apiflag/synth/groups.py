"""Families of other naming customs and institutions travelling with minors (confounders).

Both look like the "minor with an unrelated adult" and "escort group" patterns to a reader of
surnames, and both carry what a hearing would accept as the exonerating circumstance:

==========================  =================================================================
naming_custom_family        a family whose members carry different surnames by custom, on the
                            routes where that custom holds: Korea, China, Taiwan, Hong Kong and
                            Vietnam (the mother keeps her surname), Spanish- and
                            Portuguese-speaking countries (double surnames, often written with
                            one of them only), Indonesia and Myanmar (single names). Sometimes
                            one parent travels alone with the children. Return tickets or a
                            parent paying, and (always when one-way) a shared home address
                            (SSR DOCA) or the parent's phone given for each child.
school_trip                 pupils aged 12-17 with two to four teachers of other surnames, one
                            booking paid by the school, return tickets, a travel agency
sports_team                 players aged 13-17 with coaches of other surnames, paid by the club
                            or association, return tickets, a travel agency
exchange_group              exchange students aged 15-17 with chaperones, paid by the exchange
                            foundation, return tickets, a travel agency
==========================  =================================================================

The custom decides only how the synthetic names are drawn; detection never reads nationality
or route (protected), it reads the relation evidence (docs/INDICATORS.md).
"""

from __future__ import annotations

from apiflag.synth.names import pool_for
from apiflag.synth.population import (
    ContactV,
    Flight,
    NightContext,
    Traveller,
    new_booking,
    person,
    seat_party,
)

__all__ = [
    "INSTITUTIONS",
    "NAMING_CUSTOMS",
    "custom_names",
    "conf_exchange_group",
    "conf_naming_custom_family",
    "conf_school_trip",
    "conf_sports_team",
]

NAMING_CUSTOMS: dict[str, str] = {
    "KOR": "mother_keeps",
    "CHN": "mother_keeps",
    "TWN": "mother_keeps",
    "HKG": "mother_keeps",
    "VNM": "mother_keeps",
    "ESP": "double_spanish",
    "MEX": "double_spanish",
    "PER": "double_spanish",
    "COL": "double_spanish",
    "BRA": "double_portuguese",
    "IDN": "single_name",
    "MMR": "single_name",
}
"""Countries (route origin) where family members carry different surnames by custom."""

CUSTOMS = ("mother_keeps", "double_spanish", "double_portuguese", "single_name")


def _word(pool: tuple[str, ...], r_pick: int) -> str:
    return pool[r_pick].split(" ")[0]


def _distinct_names(ctx: NightContext, people: list[Traveller]) -> None:
    """No two people of one party share surname and given names (siblings are named apart)."""
    seen: set[tuple[str, str]] = set()
    for t in people:
        pool = pool_for(t.nationality)
        names = pool.female if t.sex == "F" else pool.male
        tries = 0
        while (t.surname, t.given_names) in seen and tries < 50:
            if t.given_names:
                given = names[ctx.r.pick(len(names))]
                if tries >= 10:  # a small pool: a second given name sets them apart
                    given = f"{given} {names[ctx.r.pick(len(names))].split(' ')[0]}"
                t.given_names = given
            else:
                t.surname = f"{t.surname}{'AEIOU'[tries % 5]}"
            tries += 1
        seen.add((t.surname, t.given_names))


def custom_names(
    ctx: NightContext, nat: str, custom: str, n_kids: int
) -> tuple[str, str, list[str], list[str]]:
    """Surnames by custom: (father, mother, each child's surname, each child's given names).

    ``single_name``: everyone's one name is written as the surname and the given names are
    empty (ICAO 9303: the primary identifier only). Double surnames are written in full or,
    as many documents and airline systems do, with the first word only.
    """
    r = ctx.r
    pool = pool_for(nat)
    sur = pool.surnames

    def other(*taken: str) -> str:
        name = _word(sur, r.pick(len(sur)))
        while name in taken:
            name = _word(sur, r.pick(len(sur))) + ("S" if r.chance(0.5) else "")
        return name

    kid_given = ["" for _ in range(n_kids)]
    if custom == "single_name":
        names = [*pool.male, *pool.female]
        picked: list[str] = []
        while len(picked) < 2 + n_kids:
            name = names[r.pick(len(names))].split(" ")[0] + ("" if r.chance(0.7) else "AH")
            if name not in picked:
                picked.append(name)
        return picked[0], picked[1], picked[2:], kid_given
    f1 = other()
    m1 = other(f1)
    if custom == "mother_keeps":
        return f1, m1, [f1] * n_kids, kid_given
    f2, m2 = other(f1, m1), other(f1, m1)
    short = r.chance(0.5)  # the document or the carrier keeps one surname only
    if custom == "double_spanish":  # father's first surname, then the mother's
        kid = f1 if short else f"{f1} {m1}"
        return (
            (f1 if short else f"{f1} {f2}"),
            (m1 if short else f"{m1} {m2}"),
            [kid] * n_kids,
            kid_given,
        )
    kid = f1 if short else f"{m1} {f1}"  # Portuguese: the mother's surname, then the father's
    return (
        (f1 if short else f"{f2} {f1}"),
        (m2 if short else f"{m1} {m2}"),
        [kid] * n_kids,
        kid_given,
    )


def _custom_flight(ctx: NightContext, flights: list[Flight], size: int) -> Flight | None:
    fits = [f for f in flights if f.route.country in NAMING_CUSTOMS and f.free >= size]
    if not fits:
        return None
    cum: list[float] = []
    total = 0.0
    for f in fits:  # in proportion to the seats flown on the custom's routes
        total += f.capacity
        cum.append(total)
    return ctx.r.weighted(fits, cum)


def conf_naming_custom_family(
    ctx: NightContext, flights: list[Flight], db: object, links: object
) -> None:
    """A family of another naming custom: parents and children of different surnames."""
    r, ids, today = ctx.r, ctx.ids, ctx.night
    n_kids = r.randint(1, 3)
    both = r.chance(0.5)
    flight = _custom_flight(ctx, flights, n_kids + (2 if both else 1))
    if flight is None:
        return
    nat = flight.route.country
    custom = NAMING_CUSTOMS[nat]
    f_sur, m_sur, k_sur, k_given = custom_names(ctx, nat, custom, n_kids)
    father = person(r, ids, today, nat, sex="M", age=(30, 55), surname=f_sur)
    mother = person(r, ids, today, nat, sex="F", age=(28, 52), surname=m_sur)
    kids: list[Traveller] = []
    for sur, given in zip(k_sur, k_given, strict=True):
        k = person(r, ids, today, nat, age=(1, 17), surname=sur)
        if custom == "single_name":
            k.given_names = given
        kids.append(k)
    if custom == "single_name":
        father.given_names = mother.given_names = ""
    parents = [father, mother] if both else [mother if r.chance(0.7) else father]
    people = [*parents, *kids]
    _distinct_names(ctx, people)
    seat_party(flight, people, r)
    one_way = r.chance(0.2)  # moving house, or residents returning on a one-way fare
    lead = parents[0]
    b = new_booking(
        ctx,
        flight,
        people,
        "family",
        lead_days=(7, 120),
        one_way=one_way,
        outbound_first=not one_way and r.chance(0.15),
        payer=(f"{lead.given_names.split(' ')[0]} {lead.surname}".strip(), None),
    )
    phone = ids.phone_number(nat)
    address = f"R/{nat}/{r.randint(1, 300)} {r.choice(('MAIN ST', 'RIVER RD', 'PARK LANE'))}/{flight.departure_airport}"
    shared_address = r.chance(0.7)
    shared_phone = r.chance(0.6) or (one_way and not shared_address)
    for t in people:
        if shared_address:
            b.contacts.append(ContactV("address", address, t.ref, "DOCA"))
        if shared_phone:
            b.contacts.append(ContactV("phone", phone, t.ref, "CTCM"))
    group = ctx.next_group("naming_custom_family")
    for t in people:
        t.confounder = "naming_custom_family"
        t.pattern_group = group
        t.pattern_role = "child" if t in kids else "parent"


def _institution(
    ctx: NightContext,
    flights: list[Flight],
    kind: str,
    org_words: tuple[str, ...],
    minor_ages: tuple[int, int],
    n_minors: tuple[int, int],
    roles: tuple[str, str],
) -> None:
    r, ids, today = ctx.r, ctx.ids, ctx.night
    n_kids, n_adults = r.randint(*n_minors), r.randint(2, 4)
    size = n_kids + n_adults
    fits = [f for f in flights if f.free >= size and f.route.country != "JPN"]
    pool = fits or sorted(flights, key=lambda f: -f.free)[:1]
    flight = r.choice(pool)
    n_kids = max(1, min(n_kids, flight.free - n_adults))
    nat = flight.route.country if flight.route.country != "JPN" else "USA"
    adults = [person(r, ids, today, nat, age=(25, 62)) for _ in range(n_adults)]
    kids = [person(r, ids, today, nat, age=minor_ages) for _ in range(n_kids)]
    people = [*adults, *kids]
    _distinct_names(ctx, people)
    seat_party(flight, people, r)
    place = _word(pool_for(nat).surnames, r.pick(len(pool_for(nat).surnames)))
    org = f"{place} {r.choice(org_words)}"
    phone = ids.phone_number(nat)
    b = new_booking(
        ctx,
        flight,
        people,
        kind,
        lead_days=(30, 150),
        one_way=False,
        via_agency=1.0,
        cash=0.0,
        payer=(org, phone),
        stay=(5, 14),
    )
    b.contacts.append(ContactV("phone", phone, None, "IFT"))
    group = ctx.next_group(kind)
    for t in people:
        t.confounder = kind
        t.pattern_group = group
        t.pattern_role = roles[0] if t in adults else roles[1]


def conf_school_trip(ctx: NightContext, flights: list[Flight], db: object, links: object) -> None:
    """Pupils with their teachers: one booking paid by the school, return, via an agency."""
    _institution(
        ctx,
        flights,
        "school_trip",
        ("INTERNATIONAL SCHOOL", "HIGH SCHOOL", "SCHOOL ASSOCIATION"),
        (12, 17),
        (6, 14),
        ("teacher", "pupil"),
    )


def conf_sports_team(ctx: NightContext, flights: list[Flight], db: object, links: object) -> None:
    """A youth team with its coaches: paid by the club's association, return, via an agency."""
    _institution(
        ctx,
        flights,
        "sports_team",
        ("YOUTH FOOTBALL ASSOCIATION", "SPORTS CLUB ASSOCIATION", "ATHLETICS FOUNDATION"),
        (13, 17),
        (8, 16),
        ("coach", "player"),
    )


def conf_exchange_group(
    ctx: NightContext, flights: list[Flight], db: object, links: object
) -> None:
    """Exchange students with chaperones: paid by the exchange foundation, return, agency."""
    _institution(
        ctx,
        flights,
        "exchange_group",
        ("EXCHANGE FOUNDATION", "UNIVERSITY", "CULTURAL EXCHANGE ASSOCIATION"),
        (15, 17),
        (4, 10),
        ("chaperone", "student"),
    )


INSTITUTIONS = ("school_trip", "sports_team", "exchange_group")
