"""A small but complete apiflag home, built with the real stages, for the retention tests.

``build_state(nights)`` renders real EDIFACT (PAXLST and PNRGOV) for each night with
distinctive synthetic names, ingests it with :func:`apiflag.ingest.ingest_night` (archive,
warehouse, quarantine copies), writes stage outputs whose explanations quote those values,
combines and saves the queue with :mod:`apiflag.queue`, decides flags, and leaves a report, an
MLflow-style artifact and a world outcomes file that all name the travellers. ``State.values``
lists, per night, every original a scan must not find after masking.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from apiflag import config, warehouse
from apiflag.ingest import ingest_night
from apiflag.queue.combine import combine
from apiflag.queue.store import decide, open_engine, save_night
from apiflag.records import (
    Address,
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
)
from apiflag.synth.render import render_paxlst, render_pnrgov

OLD = dt.date(2026, 1, 10)
RECENT = dt.date(2026, 11, 20)
AS_OF = dt.date(2026, 11, 27)
MODEL_CARD = (
    "# Scorecard\nTrained on nights 2026-01-10 to 2026-11-20 (birth dates never used).\n"
    "| group | n |\n| THA | 10 |\n| F | 10 |\n"
)


@dataclass(frozen=True)
class Person:
    surname: str
    given: str
    dob: dt.date
    doc: str
    phone: str
    email: str
    ff: str
    locator: str

    def values(self) -> list[str]:
        return [
            self.surname,
            self.given,
            self.dob.isoformat(),
            self.doc,
            self.phone.replace(" ", ""),
            self.email.lower(),
            self.ff,
        ]


GIVEN = {
    "QX": ("MILUSKA", "SEVERINA", "THEODORA", "CASIMIRA"),
    "ZV": ("ROSALIND", "PERPETUA", "ISIDORA", "WILHELMA"),
}


def cast(night: dt.date) -> list[Person]:
    """Four travellers with values unique to the night, plus one who travels every night."""
    tag = "QX" if night < RECENT else "ZV"
    shift = 0 if tag == "QX" else 1
    digit = "5" if tag == "QX" else "7"
    given = GIVEN[tag]
    births = [(1991, 3, 14), (1987, 7, 2), (2010, 5, 30), (1979, 11, 23)]
    surnames = [f"VORTIG{tag}ANE", f"BRANDT{tag}OLLE", f"KALUMBE{tag}RO", f"OYELARAN{tag}SK"]
    locators = [f"R{tag}AA1", f"R{tag}AA1", f"R{tag}BB2", f"R{tag}CC3"]
    people = [
        Person(
            surnames[i],
            given[i],
            dt.date(births[i][0] + shift, births[i][1], births[i][2]),
            f"P{tag}7{i}234",
            f"+66 81 {digit}{digit}{digit} 0{i}0{i}",
            f"{given[i].lower()}.{tag.lower()}@example.th",
            f"QK{tag}88{i}2",
            locators[i],
        )
        for i in range(4)
    ]
    frequent = Person(
        "WESTERHOLMEQ",
        "AUGUSTIN",
        dt.date(1970, 1, 8),
        "PWH990011",
        "+66 81 999 0909",
        "aug.wh@example.th",
        "QKWH0001",
        f"R{tag}DD4",
    )
    return [*people, frequent]


def _leg(night: dt.date) -> FlightLeg:
    return FlightLeg(
        carrier="QK",
        number="21",
        departure_airport="BKK",
        arrival_airport="NRT",
        scheduled_departure=dt.datetime.combine(night, dt.time(0, 5)),
        scheduled_arrival=dt.datetime.combine(night, dt.time(8, 10)),
    )


def _paxlst(night: dt.date, people: list[Person]) -> str:
    travellers = tuple(
        ApiTraveller(
            role="passenger",
            surname=p.surname,
            given_names=p.given,
            sex="F",
            date_of_birth=p.dob,
            nationality="THA",
            record_locator=p.locator,
            frequent_flyer=p.ff,
            documents=(Document(type="P", number=p.doc, issuing_country="THA"),),
            address=Address(street="12 SOI RAMKHAMHAENG", city="BANGKOK", country="THA"),
        )
        for p in people
    )
    manifest = PaxlstManifest(
        version="D05B",
        message_ref="M1",
        document_code="745",
        legs=(_leg(night),),
        travellers=travellers,
        declared_passengers=len(travellers),
    )
    return render_paxlst(manifest)


def _pnrgov(night: dt.date, people: list[Person]) -> str:
    by_locator: dict[str, list[Person]] = {}
    for p in people:
        by_locator.setdefault(p.locator, []).append(p)
    bookings = []
    for locator, group in by_locator.items():
        travellers = tuple(
            PnrTraveller(
                ref=str(i + 1),
                surname=p.surname,
                given_names=p.given,
                date_of_birth=p.dob,
                frequent_flyer=p.ff,
                documents=(Document(type="P", number=p.doc, issuing_country="THA"),),
            )
            for i, p in enumerate(group)
        )
        bookings.append(
            PnrBooking(
                record_locator=locator,
                carrier="QK",
                created=dt.datetime.combine(night - dt.timedelta(days=5), dt.time(10, 0)),
                travellers=travellers,
                itinerary=(ItineraryLeg(**_leg(night).model_dump()),),
                contacts=tuple(
                    c
                    for i, p in enumerate(group)
                    for c in (
                        Contact(
                            kind="phone", value=p.phone, traveller_ref=str(i + 1), source="CTCM"
                        ),
                        Contact(
                            kind="email", value=p.email, traveller_ref=str(i + 1), source="CTCE"
                        ),
                    )
                ),
                payments=(
                    Payment(
                        form="CA",
                        amount=9800.0,
                        currency="THB",
                        payer_name=f"{group[0].given} {group[0].surname}",
                    ),
                ),
            )
        )
    message = PnrgovMessage(
        version="11.1",
        message_ref="1",
        prepared=dt.datetime.combine(night - dt.timedelta(days=1), dt.time(20, 0)),
        flight=_leg(night),
        bookings=tuple(bookings),
    )
    return render_pnrgov(message)


@dataclass
class State:
    """What was built: the nights, their people, and the flags saved."""

    nights: list[dt.date]
    people: dict[dt.date, list[Person]]
    flags: dict[dt.date, pd.DataFrame] = field(default_factory=dict)

    def values(self, night: dt.date) -> list[str]:
        """Every original value of a night's travellers that is unique to that night."""
        shared = set(cast(OLD)[-1].values())
        return [v for p in self.people[night] for v in p.values() if v not in shared]


def world_dir() -> Path:
    return config.world_dir()


def _stage_outputs(
    night: dt.date, people: list[Person]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    travellers = warehouse.read_table(night, "travellers")
    by_name = dict(zip(travellers["surname"], travellers["traveller_id"], strict=True))
    first, second, minor = people[0], people[1], people[2]
    rule_hits = pd.DataFrame(
        [
            (
                by_name[first.surname],
                "R-101",
                1,
                "examination",
                1.8,
                json.dumps({"payer": f"{first.given} {first.surname}"}),
            ),
            (
                by_name[second.surname],
                "R-101",
                1,
                "examination",
                1.8,
                json.dumps({"phone": second.phone}),
            ),
            (
                by_name[minor.surname],
                "R-201",
                1,
                "protection",
                2.2,
                json.dumps({"minor": True, "adult": first.surname}),
            ),
        ],
        columns=["traveller_id", "rule_id", "rule_version", "track", "weight", "observed"],
    )
    matches = pd.DataFrame(
        {
            "traveller_id": [by_name[second.surname]],
            "person_id": ["CP-1"],
            "case_id": ["C-1"],
            "role": ["perpetrator"],
            "probability": [0.97],
            "match_weight": [14.0],
            "protection_only": [False],
        }
    )
    match_fields = pd.DataFrame(
        {
            "traveller_id": [by_name[second.surname]] * 2,
            "person_id": ["CP-1"] * 2,
            "field": ["surname", "date_of_birth"],
            "level": ["exact", "exact"],
            "weight": [7.0, 6.0],
            "sentence": [
                f"Surname {second.surname} agrees with the case record",
                f"Born {second.dob.isoformat()}",
            ],
            "observed": [f"{second.surname} ~ {second.surname}", second.dob.isoformat()],
        }
    )
    folder = config.warehouse_dir(night.isoformat())
    rule_hits.to_parquet(folder / "rule_hits.parquet")
    matches.to_parquet(folder / "matches.parquet")
    match_fields.to_parquet(folder / "match_fields.parquet")
    return rule_hits, matches, match_fields


def build_state(nights: Iterable[dt.date] = (OLD, RECENT)) -> State:
    """Build a home with every store filled for each night (see the module docstring)."""
    nights = list(nights)
    state = State(nights, {n: cast(n) for n in nights})
    root = world_dir()
    engine = open_engine()
    outcomes = []
    for night in nights:
        people = state.people[night]
        folder = root / "nights" / night.isoformat()
        (folder / "paxlst").mkdir(parents=True, exist_ok=True)
        (folder / "pnrgov").mkdir(parents=True, exist_ok=True)
        (folder / "paxlst" / "QK21_BKK_pax.edi").write_text(_paxlst(night, people))
        (folder / "pnrgov" / "QK21_BKK_t72.edi").write_text(_pnrgov(night, people))
        # a file that cannot be parsed: quarantined, its raw copy kept in the warehouse
        (folder / "paxlst" / "QK99_BKK_pax.edi").write_text(
            f"UNA:+.? 'UNB+UNOA:4+X+Y'NAD+FL+++{people[3].surname}:{people[3].given}'"
        )
        ingest_night(night, root)
        rule_hits, matches, match_fields = _stage_outputs(night, people)
        result = combine(
            night,
            warehouse.read_table(night, "travellers"),
            warehouse.read_table(night, "flights"),
            documents=warehouse.read_table(night, "documents"),
            bookings=warehouse.read_table(night, "bookings"),
            matches=matches,
            match_fields=match_fields,
            rule_hits=rule_hits,
            rules_digest="sha256:" + "ab" * 32,
        )
        save_night(engine, result)
        flags = pd.read_sql(
            f"SELECT flag_id FROM flags WHERE night = '{night.isoformat()}'", engine
        )
        ordered = sorted(flags["flag_id"])
        decide(
            engine,
            ordered[0],
            outcome="cleared",
            reason="no_indicators_on_review",
            analyst="analyst-7",
            note=f"Spoke with {people[0].given} {people[0].surname}; phone {people[1].phone}",
        )
        if len(ordered) > 1:
            decide(
                engine,
                ordered[1],
                outcome="hearing",
                reason="indicators_corroborated",
                analyst="analyst-7",
                note=f"{people[1].surname} to hearing",
            )
        state.flags[night] = pd.read_sql(
            "SELECT flag_id, traveller_id, track, status FROM flags "
            f"WHERE night = '{night.isoformat()}' ORDER BY flag_id",
            engine,
        )
        reports = config.reports_dir()
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"nightly-{night.isoformat()}.html").write_text(
            "<html><body><h1>Queue</h1><ul>"
            + "".join(
                f"<li>{p.surname}, {p.given} ({p.dob.isoformat()}) {p.doc}</li>" for p in people
            )
            + "</ul></body></html>"
        )
        for p in people:
            outcomes.append(
                {
                    "night": night.isoformat(),
                    "carrier": "QK",
                    "number": "21",
                    "surname": p.surname,
                    "given_names": p.given,
                    "date_of_birth": p.dob.isoformat(),
                    "document_number": p.doc,
                    "record_locator": p.locator,
                    "outcome": "no_concern",
                    "label": 0,
                }
            )
    history = root / "history"
    history.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(outcomes).to_csv(history / "outcomes.csv", index=False)
    artifacts = config.mlflow_artifact_root() / "1" / "run1" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    old_people = state.people[nights[0]]
    (artifacts / "model_card.md").write_text(MODEL_CARD)
    (artifacts / "input_example.json").write_text(
        json.dumps(
            {"columns": ["surname", "doc"], "data": [[p.surname, p.doc] for p in old_people]}
        )
    )
    return state


# --------------------------------------------------------------------------- scanning


def _cells_of_parquet(path: Path) -> Iterable[str]:
    table = pq.read_table(path)
    for column in table.columns:
        for value in column.to_pylist():
            if value is not None:
                yield str(value)


def _cells_of_sqlite(path: Path) -> Iterable[str]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if value is not None:
                        yield (
                            str(value) if not isinstance(value, bytes) else value.decode("latin-1")
                        )
    finally:
        conn.close()


_WORD = re.compile(r"[0-9A-Z]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.upper())


def scan_home(home: Path, values: Iterable[str]) -> list[tuple[str, str]]:
    """Return (place, value) for every value found in plain text anywhere under ``home``.

    Every file is read: Parquet cell by cell, SQLite databases row by row, anything else as
    text. A value is found when its words (letters and digits, case-insensitive) appear in a
    row, in order and adjacent, so ``1991-03-14`` is found in ``born 1991-03-14;`` and
    ``MILUSKA`` in ``payer Miluska V.``, but not inside ``MILUSKAS``. Only the secrets folder
    is skipped (random keys).
    """
    wanted: dict[tuple[str, ...], str] = {}
    for v in values:
        words = tuple(_words(v))
        if words:
            wanted[words] = v
    longest = max((len(w) for w in wanted), default=1)
    found: list[tuple[str, str]] = []

    def check(place: str, text: str) -> None:
        words = _words(text)
        for i in range(len(words)):
            for n in range(1, min(longest, len(words) - i) + 1):
                hit = wanted.get(tuple(words[i : i + n]))
                if hit is not None:
                    found.append((place, hit))

    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        rel = str(path.relative_to(home))
        if rel.startswith("secrets"):
            continue
        if path.suffix == ".parquet":
            for cell in _cells_of_parquet(path):
                check(rel, cell)
            continue
        data = path.read_bytes()
        if data.startswith(b"SQLite format 3\x00"):
            for cell in _cells_of_sqlite(path):
                check(rel, cell)
            continue
        check(rel, data.decode("utf-8", errors="replace"))
    return found


def flag_rows(night: dt.date) -> list[dict[str, Any]]:
    engine = open_engine()
    return pd.read_sql(f"SELECT * FROM flags WHERE night = '{night.isoformat()}'", engine).to_dict(
        "records"
    )


def db_hits_outside(db: Path, flag_id: str, values: Iterable[str]) -> list[tuple[str, str]]:
    """Return (table, value) found in the SQLite database outside the rows of ``flag_id``."""
    wanted = {v.upper(): v for v in values if v}
    found = []
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                record = dict(zip(columns, row, strict=True))
                if record.get("flag_id") == flag_id:
                    continue
                text = " ".join(str(v) for v in row if v is not None).upper()
                found += [(table, v) for k, v in wanted.items() if k in text]
    finally:
        conn.close()
    return found


@contextmanager
def postgres_database(prefix: str = "apiflag_privacy") -> Iterator[str]:
    """Create a throw-away database on the APIFLAG_TEST_PG_URL server; yield its URL."""
    base = os.environ.get("APIFLAG_TEST_PG_URL")
    if not base:
        pytest.skip("APIFLAG_TEST_PG_URL is not set")
    url = sa.make_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scan_database(url: str, values: Iterable[str]) -> list[tuple[str, str]]:
    """Return (table, value) for every value found in any row of any table at ``url``."""
    wanted = {tuple(_words(v)): v for v in values if _words(v)}
    longest = max((len(w) for w in wanted), default=1)
    engine = sa.create_engine(url)
    found: list[tuple[str, str]] = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(engine).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    words = _words(" ".join(str(v) for v in row if v is not None))
                    for i in range(len(words)):
                        for n in range(1, min(longest, len(words) - i) + 1):
                            hit = wanted.get(tuple(words[i : i + n]))
                            if hit is not None:
                                found.append((table, hit))
    finally:
        engine.dispose()
    return found
