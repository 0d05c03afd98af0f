"""Generate and describe a whole synthetic world (the layout of docs/ARCHITECTURE.md).

Decides the world's layout, file names, truth files, past outcomes and the case database export,
and guarantees:

* Determinism: one seed gives byte-identical files and identical case-database content. Each
  night draws from its own stream ``(seed, night index)``; identifiers come from counters
  through bijective scrambles; iteration is over lists, never sets; nothing reads the clock.
* Nothing half-written: the world is built in a sibling temporary folder and renamed into
  place at the end; an existing non-empty ``--out`` is only replaced when asked.
* Every default world contains every planted pattern and every confounder on each current
  night (at least one instance each), so tests and the nightly flow always see them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apiflag import filemodes
from apiflag.errors import UsageError
from apiflag.normalise import TRAVELLER_KEY
from apiflag.synth.habits import unreadable_field
from apiflag.synth.names import typo
from apiflag.synth.patterns import (
    CONFOUNDER_MAKERS,
    CONFOUNDERS,
    DEFAULT_CONFOUNDER_RATES,
    DEFAULT_PATTERN_SHARES,
    PATTERN_SIZE,
    PATTERNS,
    PLANTERS,
    CaseDB,
    Links,
    background_cases,
)
from apiflag.synth.population import (
    ContactV,
    Flight,
    Ids,
    Leg,
    NightContext,
    Rand,
    TicketV,
    Traveller,
    crew_for,
    make_flights,
    ordinary_party,
    person,
)
from apiflag.synth.render import RenderStyle, paxlst_text, pnrgov_text

__all__ = [
    "DEFAULT_PREVALENCE",
    "GENERATOR",
    "WorldConfig",
    "generate_world",
    "summarize_world",
]

GENERATOR = "apiflag-synth/1"
DEFAULT_PREVALENCE = 0.004
PAXLST_VERSIONS = ("D05B", "D02B")
PNRGOV_VERSIONS = ("13.1", "11.1")
TRUTH_COLUMNS = (
    *TRAVELLER_KEY,
    "record_locator",
    "role",
    "truth_label",
    "pattern",
    "pattern_role",
    "pattern_group",
    "confounder",
    "unreadable",
)
OUTCOME_COLUMNS = (
    *TRAVELLER_KEY,
    "record_locator",
    "outcome",
    "label",
)
KEY = TRAVELLER_KEY
_MESSY_SEPARATORS = (":*.? #", ":-.? '", ":+.? #", "!~.? '")


@dataclass(frozen=True)
class WorldConfig:
    """What ``apiflag synth`` was asked for.

    Attributes:
        seed: the one seed everything is drawn from.
        nights: current nights (the ones the nightly job scores), from ``start``.
        arrivals: passengers arriving per current night (crew come on top).
        history_nights: earlier nights with past outcomes (training labels).
        history_arrivals: passengers per history night (default: ``arrivals``).
        start: the first current night (local arrival date in Japan).
        paxlst_version: ``D05B`` or ``D02B``.
        pnrgov_version: ``13.1`` or ``11.1``.
        prevalence: share of arrivals truly involved in a planted pattern (default a few per
            thousand; real rates are far lower, see the README).
        mess_share: share of message files written with real-world mess.
        pattern_shares: relative share of the prevalence budget per pattern.
        confounder_rates: confounder instances per 1,000 arrivals.
        min_per_pattern: instances of each pattern and confounder guaranteed on every current
            night; ``None`` means 1 at the default prevalence or above, else 0.
        outcome_noise: share of recorded past outcomes that are wrong.
        review_share: share of history passengers whose hearing outcome is recorded, drawn
            independently of the truth (see :func:`_outcome_rows`).
    """

    seed: int = 0
    nights: int = 1
    arrivals: int = 2000
    history_nights: int = 28
    history_arrivals: int | None = None
    start: dt.date = dt.date(2026, 11, 20)
    paxlst_version: str = "D05B"
    pnrgov_version: str = "13.1"
    prevalence: float = DEFAULT_PREVALENCE
    mess_share: float = 0.02
    pattern_shares: tuple[tuple[str, float], ...] = tuple(DEFAULT_PATTERN_SHARES.items())
    confounder_rates: tuple[tuple[str, float], ...] = tuple(DEFAULT_CONFOUNDER_RATES.items())
    min_per_pattern: int | None = None
    outcome_noise: float = 0.07
    review_share: float = 0.7

    def validate(self) -> None:
        """Raise :class:`UsageError` (exit 2) for any argument out of range."""
        checks = [
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.nights >= 1, f"--nights must be >= 1, got {self.nights}"),
            (
                self.arrivals >= 200,
                f"--arrivals must be >= 200 (every pattern must fit), got {self.arrivals}",
            ),
            (self.history_nights >= 0, f"--history-nights must be >= 0, got {self.history_nights}"),
            (
                self.arrivals * self.nights
                + (self.history_arrivals or self.arrivals) * self.history_nights
                <= MAX_WORLD_ARRIVALS,
                f"a world holds at most {MAX_WORLD_ARRIVALS:,} arrivals (nights x arrivals + history)",
            ),
            (
                self.history_arrivals is None or self.history_arrivals >= 200,
                f"--history-arrivals must be >= 200, got {self.history_arrivals}",
            ),
            (
                self.paxlst_version in PAXLST_VERSIONS,
                f"--paxlst-version must be one of {', '.join(PAXLST_VERSIONS)}, got {self.paxlst_version!r}",
            ),
            (
                self.pnrgov_version in PNRGOV_VERSIONS,
                f"--pnrgov-version must be one of {', '.join(PNRGOV_VERSIONS)}, got {self.pnrgov_version!r}",
            ),
            (
                0 < self.prevalence <= 0.1,
                f"--prevalence must be in (0, 0.1], got {self.prevalence}",
            ),
            (0 <= self.mess_share <= 1, f"--mess-share must be in [0, 1], got {self.mess_share}"),
            (
                0 <= self.outcome_noise < 0.5,
                f"outcome noise must be in [0, 0.5), got {self.outcome_noise}",
            ),
            (
                0 < self.review_share <= 1,
                f"review share must be in (0, 1], got {self.review_share}",
            ),
            (
                self.min_per_pattern is None or self.min_per_pattern >= 0,
                "--min-per-pattern must be >= 0",
            ),
        ]
        for name, value in (*self.pattern_shares, *self.confounder_rates):
            checks.append(
                (
                    name in PATTERNS or name in CONFOUNDERS,
                    f"--share: unknown pattern or confounder {name!r}",
                )
            )
            checks.append((value >= 0, f"--share {name}: must be >= 0, got {value}"))
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def parameters(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (for world.json)."""
        data = dataclasses.asdict(self)
        data["start"] = self.start.isoformat()
        data["pattern_shares"] = dict(self.pattern_shares)
        data["confounder_rates"] = dict(self.confounder_rates)
        return data


def _night_dates(cfg: WorldConfig) -> tuple[list[dt.date], list[dt.date]]:
    current = [cfg.start + dt.timedelta(days=i) for i in range(cfg.nights)]
    history = [
        cfg.start - dt.timedelta(days=cfg.history_nights - i) for i in range(cfg.history_nights)
    ]
    return current, history


MAX_WORLD_ARRIVALS = 25_000_000
"""Identifiers stay unique up to this many arrivals in one world (about 3 reserved per arrival)."""


def plant_night(
    cfg: WorldConfig,
    index: int,
    night: dt.date,
    arrivals: int,
    current: bool,
    ids: Ids,
    db: CaseDB,
    links: Links,
) -> tuple[list[Flight], NightContext]:
    """Schedule one night's flights and plant its patterns and confounders (not yet filled).

    Each flight also gets its own block of identifiers, so flights can then be filled in any
    order or process with the same result.
    """
    r = Rand(cfg.seed, 1, index)
    flights = make_flights(r, night, arrivals, set())
    ctx = NightContext(r, ids, night)
    shares = dict(cfg.pattern_shares)
    total_share = sum(shares.values()) or 1.0
    minimum = cfg.min_per_pattern
    if minimum is None:
        minimum = 1 if cfg.prevalence >= DEFAULT_PREVALENCE else 0
    budget = cfg.prevalence * arrivals
    for name in PATTERNS:
        n = r.poisson_round(budget * shares.get(name, 0.0) / total_share / PATTERN_SIZE[name])
        if current and shares.get(name, 0.0) > 0:
            n = max(n, minimum)
        for _ in range(n):
            PLANTERS[name](ctx, flights, db, links)
    rates = dict(cfg.confounder_rates)
    for name in CONFOUNDERS:
        n = r.poisson_round(arrivals / 1000 * rates.get(name, 0.0))
        if current and rates.get(name, 0.0) > 0:
            n = max(n, minimum)
        for _ in range(n):
            CONFOUNDER_MAKERS[name](ctx, flights, db, links)
    for f in flights:  # travel agencies of every origin exist before any flight is filled
        ctx.agency_for(f.route.country, f.carrier)
    for f in flights:
        f.id_base = ids.reserve(_id_block(f))
    return flights, ctx


def _id_block(f: Flight) -> int:
    """Identifiers a flight may use: at most two per seat (phones, e-mails) plus crew and changes."""
    return 2 * f.capacity + 64


def fill_flight(
    cfg: WorldConfig, index: int, i: int, f: Flight, shared: NightContext
) -> list[tuple[str, str, str, str]]:
    """Fill flight ``i`` with ordinary parties and crew; return its PNR changes.

    Draws come from the flight's own stream ``(seed, 4, night, flight)`` and identifiers from
    its reserved block, so the result does not depend on the other flights.
    """
    r = Rand(cfg.seed, 4, index, i)
    ids = Ids(f.id_base)
    ctx = NightContext(
        r, ids, shared.night, shared.party_cums, shared.agencies, shared.agency_phones
    )
    while f.free > 0:
        ordinary_party(ctx, f, f.free)
    f.crew = crew_for(r, ids, f, shared.night)
    f.bookings.sort(key=lambda b: b.record_locator)
    changes = _pnr_changes(ctx, f)
    used = (
        max(ids.doc, ids.phone, ids.email, ids.locator, ids.ticket, ids.agency, ids.card)
        - f.id_base
    )
    if used >= _id_block(f):
        raise RuntimeError(f"flight {f.carrier}{f.number} used {used} identifiers of its block")
    return changes


def build_night(
    cfg: WorldConfig,
    index: int,
    night: dt.date,
    arrivals: int,
    current: bool,
    ids: Ids,
    db: CaseDB,
    links: Links,
) -> list[Flight]:
    """Generate one night in this process: planted patterns, confounders, ordinary parties."""
    flights, ctx = plant_night(cfg, index, night, arrivals, current, ids, db, links)
    for i, f in enumerate(flights):
        links.pnr_changes.extend(fill_flight(cfg, index, i, f, ctx))
    return flights


def _pnr_changes(ctx: NightContext, f: Flight) -> list[tuple[str, str, str, str]]:
    """Bookings the departure push shows differently from the T-72 h push."""
    r, ids = ctx.r, ctx.ids
    night = ctx.night.isoformat()
    out: list[tuple[str, str, str, str]] = []
    for b in f.bookings:
        x = r.u()
        if x < 0.01:
            t = b.travellers[0]
            b.t72_name = (typo(t.surname, r.pick), t.given_names)
            b.docs_at_t72 = False
            out.append(
                (night, b.record_locator, "corrected_name", f"{b.t72_name[0]} -> {t.surname}")
            )
        elif x < 0.03:
            lead = b.travellers[0]
            if r.chance(0.5):
                c = ContactV("phone", ids.phone_number(lead.nationality), None, "IFT")
            else:
                c = ContactV(
                    "email", ids.email_address(lead.surname, lead.given_names), None, "IFT"
                )
            b.added_contact = c
            out.append((night, b.record_locator, "added_contact", f"{c.kind} {c.value}"))
        elif x < 0.04:
            lead = b.travellers[0]
            extra = person(r, ids, ctx.night, lead.nationality, age=(18, 70))
            extra.ref = str(len(b.travellers) + 1)
            b.t72_extra = extra
            out.append(
                (
                    night,
                    b.record_locator,
                    "cancelled_traveller",
                    f"{extra.surname} {extra.given_names}",
                )
            )
        else:
            continue
        b.last_transaction = f.scheduled_departure - dt.timedelta(hours=r.randint(2, 60))
    return out


# ----------------------------------------------------------------------------- rendering


@dataclass(slots=True)
class _Manifest:
    version: str
    message_ref: str
    interchange_ref: str
    sender: str
    recipient: str
    prepared: dt.datetime
    document_code: str
    legs: tuple[Leg, ...]
    travellers: list[Traveller]
    declared_passengers: int | None
    declared_crew: int | None
    transaction_ref: str | None = None
    reporting_party: str | None = None
    function: str | None = None


@dataclass(slots=True)
class _Pnrgov:
    version: str
    message_ref: str
    interchange_ref: str
    sender: str
    recipient: str
    prepared: dt.datetime
    push_type: str
    flight: Leg
    bookings: list[Any]
    declared_bookings: int | None = None


_LAYOUT_MESS = ("telex", "wrap", "separators", "parts", "disclaimer", "crlf")
#: the habits of other senders (apiflag.synth.habits) a messy file of each kind may show
_HABIT_MESS = {
    "PAXLST": (
        "tag_blanks", "terminator_blanks", "una", "broken_interchange", "legs",
        "unreadable_values",
    ),
    "PNRGOV": (
        "tag_blanks", "terminator_blanks", "una", "broken_interchange", "rci", "dates",
        "short_org_add", "docs_items", "infant_docs",
    ),
}  # fmt: skip


def _style(r: Rand, mess_share: float, carrier: str, kind: str, push: str = "") -> RenderStyle:
    """The layout of one file: tidy, or (with chance ``mess_share``) one to three kinds of mess.

    A kind of mess is a layout (telex, wrapping, separators, parts, disclaimer, CRLF) or a
    habit of other senders (:mod:`apiflag.synth.habits`). Only a T-72 h push may leave the
    booking date out of RCI (``rci_absent``): the departure push always carries it.
    """
    glued = sum(map(ord, carrier)) % 3 == 0
    if not r.chance(mess_share):
        return RenderStyle(title_glued=glued)
    kinds = _LAYOUT_MESS + _HABIT_MESS[kind]
    chosen = {kinds[r.pick(len(kinds))] for _ in range(1 + r.pick(3))}
    separators = (
        _MESSY_SEPARATORS[r.pick(len(_MESSY_SEPARATORS))] if "separators" in chosen else ":+.? '"
    )
    return RenderStyle(
        separators=separators,
        telex="telex" in chosen,
        wrap=(64 if r.chance(0.5) else 69) if "wrap" in chosen else None,
        parts=(2 + r.pick(2)) if "parts" in chosen else 1,
        disclaimer="Confidentiality Notice: this e-mail may contain confidential information.\r\nEmail secured by Antivirus"
        if "disclaimer" in chosen
        else None,
        crlf="crlf" in chosen or "telex" in chosen,
        title_glued=glued,
        habits=_habits(r, [k for k in _HABIT_MESS[kind] if k in chosen], separators, push),
    )


def _habits(r: Rand, kinds: list[str], separators: str, push: str) -> tuple[str, ...]:
    """Turn the chosen kinds of habit (in their fixed order) into the writer's habit names."""
    out: list[str] = []
    for k in kinds:
        if k == "una":
            typographic = separators[5] == "'" and r.chance(0.5)
            out.append("una_typographic" if typographic else "una_newline")
        elif k == "legs":
            out.append(("loc92", "departure_only", "arrival_only")[r.pick(3)])
        elif k == "rci":
            options = ("rci_shifted", "stamp_glued") + (("rci_absent",) if push == "t72" else ())
            out.append(options[r.pick(len(options))])
        elif k == "dates":
            month = r.chance(0.5) and "stamp_glued" not in out
            out.append("dates_month" if month else "dates_ccyy")
        else:
            out.append(k)
    return tuple(out)


class _PnrView:
    """What the PNRGOV writer reads of a traveller, as the T-72 h push shows it (cheap to make)."""

    __slots__ = (
        "ref",
        "surname",
        "given_names",
        "title",
        "passenger_type",
        "sex",
        "date_of_birth",
        "nationality",
        "documents",
        "address",
        "frequent_flyer",
        "segment",
    )
    ref: str
    surname: str
    given_names: str
    title: str | None
    passenger_type: str
    sex: str
    date_of_birth: dt.date
    nationality: str
    documents: tuple[Any, ...]
    address: Any
    frequent_flyer: str | None
    segment: int | None

    @classmethod
    def of(cls, t: Traveller, documents: tuple[Any, ...]) -> _PnrView:
        v = cls()
        v.ref, v.surname, v.given_names, v.title = t.ref, t.surname, t.given_names, t.title
        v.passenger_type, v.sex, v.date_of_birth = t.passenger_type, t.sex, t.date_of_birth
        v.nationality, v.documents, v.address = t.nationality, documents, None
        v.frequent_flyer, v.segment = t.frequent_flyer, None
        return v


def _t72_booking(b: Any) -> Any:
    if b.docs_at_t72 and b.t72_name is None and b.t72_extra is None:
        return b
    travellers: list[Any] = [t if b.docs_at_t72 else _PnrView.of(t, ()) for t in b.travellers]
    if b.t72_name is not None:
        first = _PnrView.of(b.travellers[0], ())
        first.surname, first.given_names = b.t72_name
        travellers[0] = first
    tickets = list(b.tickets)
    if b.t72_extra is not None:
        travellers.append(_PnrView.of(b.t72_extra, ()))
        tickets.append(
            TicketV(b.tickets[0].number[:3] + "9" + b.tickets[0].number[4:], b.t72_extra.ref)
        )
    return dataclasses.replace(
        b, travellers=travellers, tickets=tickets, last_transaction=b.created
    )


def _dep_booking(b: Any) -> Any:
    if b.added_contact is None:
        return b
    return dataclasses.replace(b, contacts=[*b.contacts, b.added_contact])


def render_flight(
    cfg: WorldConfig, index: int, i: int, f: Flight, folder: Path
) -> tuple[Counter[str], dict[int, str]]:
    """Write flight ``i``'s two PAXLST and two PNRGOV files.

    The layout of each file is drawn from the flight's own stream ``(seed, 2, night, flight)``.

    Returns:
        File and mess counts, and the field each traveller (by ``id``) was written with as no
        reader can read it (the ``unreadable_values`` habit), for the world's truth.
    """
    unreadable: dict[int, str] = {}
    r = Rand(cfg.seed, 2, index, i)
    counts: Counter[str] = Counter()
    dep = f.scheduled_departure
    base = f"{f.carrier}{f.number}_{f.departure_airport}"
    legs = (
        Leg(f.carrier, f.number, f.departure_airport, f.arrival_airport, dep, f.scheduled_arrival),
    )
    prepared = dep + dt.timedelta(minutes=15)
    ref = f"{index:03d}{i:05d}"
    for kind, code, people in (("pax", "745", f.passengers), ("crew", "250", f.crew)):
        m = _Manifest(
            cfg.paxlst_version,
            f"{kind.upper()}{ref}",
            f"A{ref}{code}",
            f"{f.carrier}APIS",
            "JPNAPIS",
            prepared,
            code,
            legs,
            people,
            len(people) if kind == "pax" else None,
            len(people) if kind == "crew" else None,
            f"{f.carrier}{int(f.number):04d}{dep:%y%m%d}",
            f"{f.carrier} API DESK",
        )
        style = _style(r, cfg.mess_share, f.carrier, "PAXLST")
        counts["messy_files"] += style != RenderStyle(title_glued=style.title_glued)
        _write(folder / "paxlst" / f"{base}_{kind}.edi", paxlst_text(m, style))
        if "unreadable_values" in style.habits:
            for position, t in enumerate(people):
                fld = unreadable_field(position)
                if fld is not None and getattr(t, fld):
                    unreadable[id(t)] = fld
    for push, when, maker in (
        ("t72", dep - dt.timedelta(hours=72), _t72_booking),
        ("dep", dep + dt.timedelta(minutes=30), _dep_booking),
    ):
        bookings = [maker(b) for b in f.bookings]
        msg = _Pnrgov(
            cfg.pnrgov_version,
            "1",
            f"P{ref}{push.upper()}",
            f.carrier,
            "JPNPNR",
            when,
            "full",
            legs[0],
            bookings,
            len(bookings),
        )
        style = _style(r, cfg.mess_share, f.carrier, "PNRGOV", push)
        counts["messy_files"] += style != RenderStyle(title_glued=style.title_glued)
        _write(folder / "pnrgov" / f"{base}_{push}.edi", pnrgov_text(msg, style))
    counts["files"] += 4
    counts["unreadable_values"] += len(unreadable)
    return counts, unreadable


@dataclass(slots=True)
class _FlightResult:
    """What one flight contributes to the world's files besides its messages."""

    truth: list[tuple[str, ...]]
    outcomes: list[tuple[str, ...]]
    decoys: list[tuple[str, ...]]
    changes: list[tuple[str, str, str, str]]
    counts: Counter[str]
    patterns: list[tuple[str, str]]


_DECOY_EXEMPT = ("known_person_variant", "former_victim_return")


def _process_flight(job: tuple[Any, ...], i: int) -> _FlightResult:
    cfg, index, night, is_history, flights, ctx, folder, case_names = job
    f = flights[i]
    changes = fill_flight(cfg, index, i, f, ctx)
    counts, unreadable = render_flight(cfg, index, i, f, folder)
    counts["passengers"] += len(f.passengers)
    counts["crew"] += len(f.crew)
    counts["bookings"] += len(f.bookings)
    truth = list(_truth_rows(night, f, unreadable))
    outcomes = _outcome_rows(cfg, index, i, night, f) if is_history else []
    decoys = []
    for t in f.passengers:
        hit = case_names.get((t.surname, t.given_names))
        if (
            hit is not None
            and t.pattern not in _DECOY_EXEMPT
            and t.confounder != "common_name_collision"
        ):
            decoys.append(("case", *_key(night, f, t), "", hit, "", "common_name"))
    patterns = [
        (t.pattern or t.confounder, t.pattern_group)
        for t in f.passengers
        if t.pattern or t.confounder
    ]
    return _FlightResult(truth, outcomes, decoys, changes, counts, patterns)


_FORKED: dict[str, Any] = {}


def _process_part(offset: int) -> list[tuple[int, _FlightResult]]:
    job, stride = _FORKED["job"]
    flights = job[4]
    return [(i, _process_flight(job, i)) for i in range(offset, len(flights), stride)]


def _run_night(job: tuple[Any, ...], workers: int) -> list[_FlightResult]:
    """Fill, render and describe every flight of a planted night, in ``workers`` processes.

    Results come back in flight order whatever the number of workers.
    """
    folder: Path = job[6]
    (folder / "paxlst").mkdir(parents=True, exist_ok=True)
    (folder / "pnrgov").mkdir(parents=True, exist_ok=True)
    flights = job[4]
    if workers <= 1 or len(flights) < 2:
        return [_process_flight(job, i) for i in range(len(flights))]
    _FORKED["job"] = (job, workers)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_process_part, range(workers))
    finally:
        _FORKED.clear()
    ordered = sorted((item for part in parts for item in part), key=lambda item: item[0])
    return [result for _i, result in ordered]


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


# ----------------------------------------------------------------------------- truth and outcomes


def _key(night: dt.date, f: Flight, t: Traveller) -> tuple[str, ...]:
    return (
        night.isoformat(),
        f.carrier,
        f.number,
        t.surname,
        t.given_names,
        t.date_of_birth.isoformat(),
        t.documents[0].number if t.documents else "",
    )


def _truth_rows(night: dt.date, f: Flight, unreadable: dict[int, str]) -> Iterable[tuple[str, ...]]:
    """One truth row per traveller; ``unreadable`` names a field its PAXLST could not give."""
    for t in f.passengers:
        yield (
            *_key(night, f, t),
            t.booking,
            t.role,
            t.truth_label,
            t.pattern,
            t.pattern_role,
            t.pattern_group,
            t.confounder,
            unreadable.get(id(t), ""),
        )
    for t in f.crew:
        yield (*_key(night, f, t), "", t.role, "none", "", "", "", "", unreadable.get(id(t), ""))


def _outcome_rows(
    cfg: WorldConfig, index: int, i: int, night: dt.date, f: Flight
) -> list[tuple[str, ...]]:
    """Past hearings: what a hearing recorded (incomplete and sometimes wrong).

    The file stands in for the queue's recorded decisions. A synthetic world cannot know whom
    the rules will flag, so it records the hearing of any history passenger, each with the
    chance ``review_share``, **drawn independently of the truth**: training keeps the rows of
    the travellers the queue flags, and those are then a random sample of the flagged, so
    their rate is the chance that a review finds indicators. (An earlier world reviewed the
    involved more often than the others, and no label set drawn from it meant that chance.)
    ``outcome_noise`` of the recorded outcomes are wrong.
    """
    r = Rand(cfg.seed, 3, index, i)
    rows = []
    for t in f.passengers:
        if not r.chance(cfg.review_share):
            continue
        if t.truth_label == "trafficker":
            outcome = "trafficking_confirmed"
        elif t.truth_label == "victim":
            outcome = "victim_identified"
        else:
            outcome = "no_concern"
        if r.chance(cfg.outcome_noise):
            victim = r.chance(0.5)  # drawn either way: who is reviewed never depends on truth
            if outcome == "no_concern":
                outcome = "victim_identified" if victim else "trafficking_confirmed"
            else:
                outcome = "no_concern"
        label = "0" if outcome == "no_concern" else "1"
        rows.append((*_key(night, f, t), t.booking, outcome, label))
    return rows


def _write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def _write_casedb(db: CaseDB, folder: Path) -> None:
    """Write the case database export in the columns ``apiflag casedb import`` reads."""
    from apiflag.casedb import FILES

    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "cases.csv", FILES["cases.csv"], db.cases)
    _write_csv(
        folder / "persons.csv",
        FILES["persons.csv"],
        (
            (
                p["person_id"],
                p["case_id"],
                p["role"],
                p["surname"],
                p["given_names"] or "",
                "|".join(p["aliases"]),
                p["date_of_birth"].isoformat() if p["date_of_birth"] else "",
                p["nationality"] or "",
                "|".join(p["document_numbers"]),
            )
            for p in db.persons
        ),
    )
    _write_csv(folder / "identifiers.csv", FILES["identifiers.csv"], db.identifiers)


# ----------------------------------------------------------------------------- the world


def _prepare_out(out: Path, force: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"--out {out}: folder is not empty (use --force to replace it)")
        if not (out / "world.json").is_file():
            raise UsageError(
                f"--out {out}: not empty and not a synthetic world; refusing to replace it"
            )
    # travellers' names, birth dates and documents (synthetic, shaped as real): private
    filemodes.private_umask()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    return filemodes.private_dir(tmp)


def generate_world(
    out: Path,
    config: WorldConfig | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write a synthetic world to ``out`` (layout in docs/ARCHITECTURE.md).

    Args:
        out: the world folder; must be missing or empty (or a world, with ``force``).
        config: what to generate; defaults to :class:`WorldConfig()`.
        force: replace an existing world in ``out``.
        workers: processes that write message files (``None``: two for nights of 20,000
            arrivals or more on a machine with two cores, else one). The files do not depend
            on it.

    Returns:
        The content of ``world.json`` (parameters and counts, no personal data).

    Raises:
        UsageError: a bad parameter or an unusable ``out``.
        ApiflagError: the case database could not be loaded into SQLite.
    """
    cfg = config or WorldConfig()
    cfg.validate()
    out = Path(out)
    tmp = _prepare_out(out, force)
    try:
        summary = _generate(cfg, tmp, workers)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
    return summary


def _generate(cfg: WorldConfig, root: Path, workers: int | None) -> dict[str, Any]:
    current, history = _night_dates(cfg)
    db = CaseDB()
    total_arrivals = (
        cfg.arrivals * cfg.nights + (cfg.history_arrivals or cfg.arrivals) * cfg.history_nights
    )
    background_cases(Rand(cfg.seed, 0), db, 40 + total_arrivals // 1500, cfg.start)
    links = Links()
    ids = Ids(0)
    (root / "truth").mkdir()
    (root / "history").mkdir()
    truth_fh = open(root / "truth" / "travellers.csv", "w", encoding="utf-8", newline="")
    outcomes_fh = open(root / "history" / "outcomes.csv", "w", encoding="utf-8", newline="")
    truth_w = csv.writer(truth_fh, lineterminator="\n")
    outcome_w = csv.writer(outcomes_fh, lineterminator="\n")
    truth_w.writerow(TRUTH_COLUMNS)
    outcome_w.writerow(OUTCOME_COLUMNS)
    nights_info: dict[str, dict[str, Any]] = {}
    pattern_travellers: Counter[str] = Counter()
    pattern_groups: dict[str, set[str]] = {}
    plan = [(d, True) for d in history] + [(d, False) for d in current]
    try:
        for index, (night, is_history) in enumerate(plan):
            arrivals = (cfg.history_arrivals or cfg.arrivals) if is_history else cfg.arrivals
            flights, ctx = plant_night(cfg, index, night, arrivals, not is_history, ids, db, links)
            _flush_links(links, night)
            folder = (
                root / "history" / "nights" if is_history else root / "nights"
            ) / night.isoformat()
            case_names = {name: row["case_id"] for name, row in db.by_name.items()}
            n_workers = workers or (2 if arrivals >= 20_000 and (os.cpu_count() or 1) >= 2 else 1)
            job = (cfg, index, night, is_history, flights, ctx, folder, case_names)
            results = _run_night(job, n_workers)
            part = "history" if is_history else "current"
            totals: Counter[str] = Counter()
            for res in results:
                truth_w.writerows(res.truth)
                outcome_w.writerows(res.outcomes)
                links.rows.extend(res.decoys)
                links.pnr_changes.extend(res.changes)
                totals.update(res.counts)
                for name, group in res.patterns:
                    pattern_travellers[f"{part}:{name}"] += 1
                    pattern_groups.setdefault(f"{part}:{name}", set()).add(group)
            nights_info[night.isoformat()] = {
                "part": part,
                "flights": len(flights),
                **{
                    k: totals.get(k, 0)
                    for k in ("passengers", "crew", "bookings", "files", "messy_files")
                },
            }
            del flights, ctx, job, results
    finally:
        truth_fh.close()
        outcomes_fh.close()
    _write_links(links, root)
    _write_casedb(db, root / "casedb")
    sqlite = _load_sqlite(root)
    summary: dict[str, Any] = {
        "generator": GENERATOR,
        "parameters": cfg.parameters(),
        "nights": [d.isoformat() for d in current],
        "history_nights": [d.isoformat() for d in history],
        "counts": nights_info,
        "patterns": {
            part: {
                name: {
                    "instances": len(pattern_groups.get(f"{part}:{name}", ())),
                    "travellers": pattern_travellers.get(f"{part}:{name}", 0),
                }
                for name in (*PATTERNS, *CONFOUNDERS)
            }
            for part in ("current", "history")
        },
        "casedb": {
            "cases": len(db.cases),
            "persons": len(db.persons),
            "identifiers": len(db.identifiers),
            "sqlite": sqlite,
        },
        "pnr_changes": dict(sorted(Counter(c[2] for c in links.pnr_changes).items())),
    }
    with open(root / "world.json", "w", encoding="utf-8", newline="") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return summary


def _flush_links(links: Links, night: dt.date) -> None:
    """Turn the night's link objects into key rows now (the night's objects are then freed)."""
    rows = links.rows
    for f, t, person_id, case_id, variant_kind, decoy_kind in links.case_links:
        rows.append(("case", *_key(night, f, t), person_id, case_id, variant_kind, decoy_kind))
    for f, t, kind, value, case_id in links.identifier_links:
        rows.append(("ident", *_key(night, f, t), kind, value, case_id))
    links.case_links.clear()
    links.identifier_links.clear()


def _write_links(links: Links, root: Path) -> None:
    rows = links.rows
    _write_csv(
        root / "truth" / "case_links.csv",
        (*KEY, "person_id", "case_id", "variant_kind", "decoy_kind"),
        (r[1:] for r in rows if r[0] == "case"),
    )
    _write_csv(
        root / "truth" / "identifier_links.csv",
        (*KEY, "kind", "value", "case_id"),
        (r[1:] for r in rows if r[0] == "ident"),
    )
    _write_csv(
        root / "truth" / "pnr_changes.csv",
        ("night", "record_locator", "change", "detail"),
        links.pnr_changes,
    )


def _load_sqlite(root: Path) -> bool:
    try:
        from apiflag.casedb import import_csv
    except ImportError:  # the case-database stage is not installed: CSV export only
        return False
    import_csv(root / "casedb", f"sqlite:///{root / 'casedb.sqlite'}")
    return True


def summarize_world(path: Path) -> dict[str, Any]:
    """Describe a generated world for people (``make demo`` prints it).

    Args:
        path: the world folder.

    Returns:
        ``{"seed", "nights", "history_nights", "per_night": {night: counts}, "totals",
        "patterns": {name: {"instances", "travellers"}}, "confounders": {...}, "casedb"}``
        for the current nights.

    Raises:
        ApiflagError: when ``path`` holds no world.json.
    """
    from apiflag.errors import ApiflagError

    meta_path = Path(path) / "world.json"
    if not meta_path.is_file():
        raise ApiflagError(f"{path}: no world.json (not a synthetic world)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    per_night = {n: c for n, c in meta["counts"].items() if c["part"] == "current"}
    totals: Counter[str] = Counter()
    for c in per_night.values():
        for k in ("flights", "passengers", "crew", "bookings", "files", "messy_files"):
            totals[k] += c[k]
    current = meta["patterns"]["current"]
    return {
        "seed": meta["parameters"]["seed"],
        "nights": meta["nights"],
        "history_nights": len(meta["history_nights"]),
        "per_night": per_night,
        "totals": dict(totals),
        "patterns": {k: current[k] for k in PATTERNS},
        "confounders": {k: current[k] for k in CONFOUNDERS},
        "casedb": meta["casedb"],
        "pnr_changes": meta["pnr_changes"],
    }
