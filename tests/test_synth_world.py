"""The synthetic world: layout, determinism, patterns and confounders visible in the messages."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import hashlib
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.synth_helpers import Pnr, night_messages

from apiflag.cli import cli
from apiflag.records import PaxlstManifest, PnrgovMessage
from apiflag.synth.patterns import CONFOUNDERS, PATTERNS, CaseDB, Links
from apiflag.synth.population import Ids
from apiflag.synth.render import (
    RenderStyle,
    paxlst_text,
    pnrgov_text,
    render_paxlst,
    render_pnrgov,
)
from apiflag.synth.world import (
    OUTCOME_COLUMNS,
    TRUTH_COLUMNS,
    WorldConfig,
    _Manifest,
    _outcome_rows,
    _Pnrgov,
    _t72_booking,
    build_night,
    generate_world,
    summarize_world,
)

REPO = Path(__file__).resolve().parents[1]
NIGHT = "2026-11-20"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "world"
    generate_world(out, WorldConfig(seed=11, arrivals=600, history_nights=2))
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def truth(world: Path) -> list[dict[str, str]]:
    return _csv(world / "truth" / "travellers.csv")


@pytest.fixture(scope="module")
def messages(world: Path) -> tuple[list, dict]:
    return night_messages(world, NIGHT)


@pytest.fixture(scope="module")
def bookings(messages: tuple[list, dict]) -> dict[str, Pnr]:
    """Departure-push bookings of the current night by record locator."""
    out: dict[str, Pnr] = {}
    for file_bookings in messages[1]["dep"].values():
        for b in file_bookings:
            out[b.locator] = b
    return out


@pytest.fixture(scope="module")
def api(messages: tuple[list, dict]) -> dict[tuple[str, str, str], tuple[dict, object]]:
    """PAXLST travellers of the current night by (surname, given names, document number)."""
    out = {}
    for _name, flight, people in messages[0]:
        for p in people:
            out[(p.surname, p.given, p.docs[0]["number"] if p.docs else "")] = (flight, p)
    return out


def _groups(
    truth: list[dict[str, str]], column: str, name: str, night: str = NIGHT
) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in truth:
        if row["night"] == night and row[column] == name:
            groups[row["pattern_group"]].append(row)
    assert groups, f"no {name} on {night}"
    return groups


def _api_row(api: dict, row: dict[str, str]) -> tuple[dict, object]:
    return api[(row["surname"], row["given_names"], row["document_number"])]


def _age(dob: dt.date, on: dt.date) -> float:
    return (on - dob).days / 365.25


# ----------------------------------------------------------------------------- layout


def test_layout_follows_the_architecture(world: Path) -> None:
    for rel in (
        "world.json",
        "casedb.sqlite",
        "history/outcomes.csv",
        "truth/travellers.csv",
        "truth/case_links.csv",
        "truth/identifier_links.csv",
        "truth/pnr_changes.csv",
        "casedb/cases.csv",
        "casedb/persons.csv",
        "casedb/identifiers.csv",
    ):
        assert (world / rel).is_file(), rel
    assert sorted(p.name for p in (world / "nights").iterdir()) == [NIGHT]
    assert sorted(p.name for p in (world / "history" / "nights").iterdir()) == [
        "2026-11-18",
        "2026-11-19",
    ]
    for night_dir in [*(world / "nights").iterdir(), *(world / "history" / "nights").iterdir()]:
        pax = sorted(p.name for p in (night_dir / "paxlst").iterdir())
        pnr = sorted(p.name for p in (night_dir / "pnrgov").iterdir())
        assert all(
            re.fullmatch(r"[A-Z0-9]{2}[1-9][0-9]{0,3}_[A-Z]{3}_(pax|crew)\.edi", n) for n in pax
        )
        assert all(
            re.fullmatch(r"[A-Z0-9]{2}[1-9][0-9]{0,3}_[A-Z]{3}_(t72|dep)\.edi", n) for n in pnr
        )
        flights = {n.rsplit("_", 1)[0] for n in pax}
        assert {n.rsplit("_", 1)[0] for n in pnr} == flights
        assert len(pax) == len(pnr) == 2 * len(flights)
    assert _csv(world / "truth" / "travellers.csv")[0].keys() == set(TRUTH_COLUMNS)
    with open(world / "history" / "outcomes.csv", encoding="utf-8") as fh:
        assert fh.readline().strip().split(",") == list(OUTCOME_COLUMNS)


def test_summary_counts_match_the_messages(world: Path, messages: tuple[list, dict]) -> None:
    summary = summarize_world(world)
    pax_files = [m for m in messages[0] if m[0].endswith("_pax.edi")]
    assert (
        summary["per_night"][NIGHT]["passengers"] == sum(len(p) for _n, _f, p in pax_files) == 600
    )
    assert summary["per_night"][NIGHT]["flights"] == len(pax_files)
    assert summary["per_night"][NIGHT]["bookings"] == sum(
        len(b) for b in messages[1]["dep"].values()
    )
    for _name, flight, people in messages[0]:
        assert flight["count"] == len(people)  # CNT agrees with the list
    assert set(summary["patterns"]) == set(PATTERNS)
    assert set(summary["confounders"]) == set(CONFOUNDERS)


def test_population_looks_like_arrivals_in_japan(
    messages: tuple[list, dict], truth: list[dict[str, str]]
) -> None:
    arrivals = {
        b.legs[-1][1]
        if b.legs[-1][1] in ("NRT", "HND", "KIX", "NGO", "FUK", "CTS", "OKA")
        else b.legs[0][1]
        for f in messages[1]["dep"].values()
        for b in f
    }
    assert arrivals <= {"NRT", "HND", "KIX", "NGO", "FUK", "CTS", "OKA"}
    roles = {r["role"] for r in truth}
    assert roles == {"passenger", "crew"}
    nationalities = {p.docs[0]["number"][:1] for _n, _f, people in messages[0] for p in people}
    assert len(nationalities) > 5


def test_routes_cover_at_least_forty_origins() -> None:
    from apiflag.synth.population import ROUTES

    assert len({r.airport for r in ROUTES}) >= 40
    assert len({r.country for r in ROUTES}) >= 30


# ----------------------------------------------------------------------------- determinism


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "casedb.sqlite"
    }


def _sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in con.execute("select name from sqlite_master where type='table' order by name")
        ]
        return {t: con.execute(f"select * from {t} order by 1, 2").fetchall() for t in tables}
    finally:
        con.close()


def test_same_seed_same_world_and_other_seed_other_world(tmp_path: Path) -> None:
    cfg = WorldConfig(seed=3, arrivals=300, history_nights=1, mess_share=0.5)
    generate_world(tmp_path / "a", cfg)
    generate_world(tmp_path / "b", cfg)
    generate_world(
        tmp_path / "c", WorldConfig(seed=4, arrivals=300, history_nights=1, mess_share=0.5)
    )
    a, b, c = (_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert _sqlite_rows(tmp_path / "a" / "casedb.sqlite") == _sqlite_rows(
        tmp_path / "b" / "casedb.sqlite"
    )
    assert _sqlite_rows(tmp_path / "a" / "casedb.sqlite")["persons"]
    assert a != c
    assert a["truth/travellers.csv"] != c["truth/travellers.csv"]


def test_force_replaces_a_world_and_leaves_no_partial_folder(tmp_path: Path) -> None:
    base = tmp_path / "worlds"
    generate_world(base / "w", WorldConfig(seed=1, arrivals=200, history_nights=0))
    generate_world(base / "w", WorldConfig(seed=2, arrivals=200, history_nights=0), force=True)
    assert summarize_world(base / "w")["seed"] == 2
    assert sorted(p.name for p in base.iterdir()) == ["w"]


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arrivals", "-5"], "--arrivals"),
        (["--nights", "-1"], "--nights"),
        (["--history-nights", "-2"], "--history-nights"),
        (["--paxlst-version", "D99B"], "--paxlst-version"),
        (["--pnrgov-version", "12.1"], "--pnrgov-version"),
        (["--prevalence", "0"], "--prevalence"),
        (["--share", "smuggling=0.3"], "unknown name"),
        (["--share", "escort_group"], "NAME=VALUE"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path / "w"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "w").exists()


def test_out_that_is_a_file_or_a_foreign_folder_exits_2(tmp_path: Path) -> None:
    from apiflag.cli import main

    afile = tmp_path / "f.txt"
    afile.write_text("x")
    for out in (afile, tmp_path):
        with pytest.raises(SystemExit) as exc:
            main(["synth", "--out", str(out), "--arrivals", "200", "--history-nights", "0"])
        assert exc.value.code == 2
    assert afile.read_text() == "x"


# ----------------------------------------------------------------------------- patterns in the messages


def test_every_pattern_and_confounder_is_planted_on_the_night(truth: list[dict[str, str]]) -> None:
    night = [r for r in truth if r["night"] == NIGHT]
    assert {r["pattern"] for r in night} - {""} == set(PATTERNS)
    assert {r["confounder"] for r in night} - {""} == set(CONFOUNDERS)
    involved = [r for r in night if r["truth_label"] != "none"]
    assert {r["truth_label"] for r in involved} == {"victim", "trafficker"}
    assert all(r["pattern"] for r in involved)
    assert not any(r["confounder"] and r["truth_label"] != "none" for r in night)


def test_recruitment_network_shares_a_contact_across_unrelated_one_way_bookings(
    truth: list[dict[str, str]], bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "pattern", "recruitment_network").values():
        locators = {r["record_locator"] for r in rows}
        assert len(locators) == len(rows) >= 3  # one booking each: unrelated bookings
        pnrs = [bookings[loc] for loc in locators]
        shared = set.intersection(*(set(b.phones) for b in pnrs))
        assert shared, "the broker's phone is in every recruit's booking"
        for b in pnrs:
            names = {f"{g.split(' ')[0]} {s}" for s, g in b.docs_names}
            assert b.payer and b.payer not in names  # paid by someone who does not travel
            assert b.payer_phone in shared
            assert len(b.legs) == 1  # one-way


def test_labour_exploitation_trainees_have_passports_issued_days_before(
    truth: list[dict[str, str]], bookings: dict[str, Pnr], api: dict
) -> None:
    for rows in _groups(truth, "pattern", "labour_exploitation").values():
        for row in rows:
            flight, p = _api_row(api, row)
            issued = p.docs[0]["issue"]
            assert 0 < (flight["departure"].date() - issued).days <= 30
            b = bookings[row["record_locator"]]
            assert (
                len(b.legs) == 1 and b.payer and "CO" in b.payer
            )  # the organisation pays, one-way
            assert b.agency


def test_genuine_trainees_have_older_passports(
    truth: list[dict[str, str]], api: dict, bookings: dict[str, Pnr]
) -> None:
    """Ordinary trainee groups are also one-way and paid by an organisation, but not days-old passports."""
    checked = 0
    for b in bookings.values():
        if b.payer and "MANPOWER" in b.payer:
            assert len(b.legs) == 1 and b.agency
            for (s, g), number in zip(b.docs_names, b.doc_numbers, strict=True):
                flight, p = api[(s, g, number)]
                assert (flight["departure"].date() - p.docs[0]["issue"]).days >= 90
                checked += 1
    assert checked > 0


def test_escort_travels_with_several_young_unrelated_people(
    truth: list[dict[str, str]], api: dict
) -> None:
    for rows in _groups(truth, "pattern", "escort_group").values():
        escort = [r for r in rows if r["pattern_role"] == "escort"]
        young = [r for r in rows if r["pattern_role"] == "escorted"]
        assert len(escort) == 1 and len(young) >= 3
        assert len({r["record_locator"] for r in rows}) == 1
        for r in young:
            flight, p = _api_row(api, r)
            assert _age(p.dob, flight["departure"].date()) < 23
            assert p.surname != escort[0]["surname"]


def test_minor_travels_with_an_unrelated_adult(
    truth: list[dict[str, str]], api: dict, bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "pattern", "minor_unrelated_adult").values():
        adult = next(r for r in rows if r["pattern_role"] == "adult")
        minor = next(r for r in rows if r["pattern_role"] == "minor")
        flight, p = _api_row(api, minor)
        assert _age(p.dob, flight["departure"].date()) < 18
        assert minor["surname"] != adult["surname"]
        assert len(bookings[minor["record_locator"]].docs_names) == 2


def test_document_fraud_shows_a_document_under_two_identities_or_in_the_case_db(
    world: Path, truth: list[dict[str, str]], messages: tuple[list, dict]
) -> None:
    owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for _n, _f, people in messages[0]:
        for p in people:
            for d in p.docs:
                owners[str(d["number"])].add((p.surname, p.given))
    case_docs = {
        n
        for row in _csv(world / "casedb" / "persons.csv")
        for n in row["document_numbers"].split("|")
        if n
    }
    for rows in _groups(truth, "pattern", "document_fraud").values():
        carrier = next(r for r in rows if r["truth_label"] == "victim")
        number = carrier["document_number"]
        assert len(owners[number]) == 2 or number in case_docs
        if carrier["pattern_role"] == "case_document":
            assert number in case_docs
            case_names = {
                (r["surname"], r["given_names"])
                for r in _csv(world / "casedb" / "persons.csv")
                if number in r["document_numbers"]
            }
            assert (carrier["surname"], carrier["given_names"]) not in case_names


@pytest.mark.parametrize(
    ("pattern", "role"), [("known_person_variant", "!victim"), ("former_victim_return", "victim")]
)
def test_case_people_travel_with_their_recorded_birth_date(
    world: Path, truth: list[dict[str, str]], pattern: str, role: str
) -> None:
    persons = {r["person_id"]: r for r in _csv(world / "casedb" / "persons.csv")}
    links = {
        (r["night"], r["surname"], r["given_names"], r["document_number"]): r
        for r in _csv(world / "truth" / "case_links.csv")
        if r["person_id"]
    }
    for rows in _groups(truth, "pattern", pattern).values():
        for t in rows:
            link = links[(t["night"], t["surname"], t["given_names"], t["document_number"])]
            person = persons[link["person_id"]]
            assert person["date_of_birth"] == t["date_of_birth"]
            assert (person["role"] == "victim") == (role == "victim")
            same = (person["surname"], person["given_names"]) == (t["surname"], t["given_names"])
            assert same == (link["variant_kind"] == "exact"), link


def test_variant_kinds_cover_every_kind_over_a_few_nights(tmp_path: Path) -> None:
    db, links, ids = CaseDB(), Links(), Ids(0)
    cfg = WorldConfig(seed=2, arrivals=400, min_per_pattern=3)
    kinds = set()
    for i in range(2):
        build_night(cfg, i, dt.date(2026, 11, 1 + i), 400, True, ids, db, links)
        kinds |= {row[4] for row in links.case_links if row[4]}
    assert kinds >= {
        "transliteration",
        "swapped_order",
        "typo",
        "dropped_middle",
        "alias",
        "compound_surname",
    }


# ----------------------------------------------------------------------------- confounders in the messages


def test_family_pays_payer_does_not_travel_but_shares_the_surname(
    truth: list[dict[str, str]], bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "confounder", "family_pays").values():
        b = bookings[rows[0]["record_locator"]]
        assert b.payer and b.payer.split(" ")[-1] == rows[0]["surname"]
        assert all(r["surname"] == rows[0]["surname"] for r in rows)
        assert b.payer not in {f"{g.split(' ')[0]} {s}" for s, g in b.docs_names}


def test_guide_pays_for_a_group_and_travels_on_a_return_ticket(
    truth: list[dict[str, str]], bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "confounder", "guide_pays_group").values():
        guide = next(r for r in rows if r["pattern_role"] == "guide")
        b = bookings[guide["record_locator"]]
        assert b.payer == f"{guide['given_names'].split(' ')[0]} {guide['surname']}"
        assert len(b.legs) == 2 and len(b.docs_names) >= 8 and b.agency


def test_last_minute_business_is_booked_hours_before_on_a_company_card(
    truth: list[dict[str, str]], bookings: dict[str, Pnr], messages: tuple[list, dict]
) -> None:
    departures = {
        b.locator: f for f_name, bs in messages[1]["dep"].items() for b in bs for f in [f_name]
    }
    deps = {}
    for _n, flight, people in messages[0]:
        for p in people:
            deps[p.locator] = flight["departure"]
    for rows in _groups(truth, "confounder", "last_minute_business").values():
        b = bookings[rows[0]["record_locator"]]
        assert (deps[b.locator] - b.created) < dt.timedelta(hours=24)
        assert b.forms == ["CC"] and len(b.legs) == 1 and b.payer and "CO LTD" in b.payer
        assert b.locator in departures


def test_cash_market_pays_cash_for_a_return_trip(
    truth: list[dict[str, str]], bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "confounder", "cash_market").values():
        b = bookings[rows[0]["record_locator"]]
        assert b.forms == ["CA"] and len(b.legs) == 2


def test_corporate_desk_phone_is_shared_by_return_business_bookings(
    truth: list[dict[str, str]], bookings: dict[str, Pnr]
) -> None:
    for rows in _groups(truth, "confounder", "corporate_shared_phone").values():
        pnrs = [bookings[r["record_locator"]] for r in rows]
        assert len({b.locator for b in pnrs}) == len(pnrs) >= 6
        assert set.intersection(*(set(b.phones) for b in pnrs))
        assert all(len(b.legs) == 2 and b.forms == ["CC"] for b in pnrs)


def test_common_name_collision_has_a_namesake_in_the_case_db_with_another_birth_date(
    world: Path, truth: list[dict[str, str]]
) -> None:
    persons = _csv(world / "casedb" / "persons.csv")
    for rows in _groups(truth, "confounder", "common_name_collision").values():
        t = rows[0]
        namesakes = [
            p
            for p in persons
            if (p["surname"], p["given_names"]) == (t["surname"], t["given_names"])
        ]
        assert namesakes
        assert all(p["date_of_birth"] != t["date_of_birth"] for p in namesakes)


# ----------------------------------------------------------------------------- PNR changes, outcomes, case DB


def test_departure_push_changes_some_bookings(world: Path) -> None:
    changes = _csv(world / "truth" / "pnr_changes.csv")
    assert {c["change"] for c in changes} == {
        "corrected_name",
        "added_contact",
        "cancelled_traveller",
    }
    by_night: dict[str, list[dict[str, str]]] = defaultdict(list)
    for c in changes:
        by_night[c["night"]].append(c)
    for night, rows in by_night.items():
        history = night != NIGHT
        pax, pnrs = night_messages(world, night, history=history)
        t72 = {b.locator: b for bs in pnrs["t72"].values() for b in bs}
        dep = {b.locator: b for bs in pnrs["dep"].values() for b in bs}
        for c in rows:
            before, after = t72[c["record_locator"]], dep[c["record_locator"]]
            if c["change"] == "corrected_name":
                wrong, right = c["detail"].split(" -> ")
                assert before.travellers[0][0] == wrong and after.travellers[0][0] == right
            elif c["change"] == "added_contact":
                value = c["detail"].split(" ", 1)[1]
                assert (
                    value not in before.phones + before.emails
                    and value in after.phones + after.emails
                )
            else:
                assert len(before.travellers) == len(after.travellers) + 1
                gone = before.travellers[-1]
                assert gone not in after.travellers
                surname, given = c["detail"].split(" ", 1)
                assert gone[0] == surname and gone[1].startswith(given)
                flown = {
                    (p.surname, p.given)
                    for _n, _f, people in pax
                    for p in people
                    if p.locator == c["record_locator"]
                }
                assert (surname, given) not in flown


def test_outcomes_are_incomplete_and_some_are_wrong() -> None:
    db, links, ids = CaseDB(), Links(), Ids(0)
    cfg = WorldConfig(seed=5, arrivals=3000, outcome_noise=0.3)
    flights = build_night(cfg, 0, dt.date(2026, 10, 1), 3000, False, ids, db, links)
    rows = [
        row
        for i, f in enumerate(flights)
        for row in _outcome_rows(cfg, 0, i, dt.date(2026, 10, 1), f)
    ]
    truth = {
        (f.carrier, f.number, t.surname, t.given_names, t.documents[0].number): t.truth_label
        for f in flights
        for t in f.passengers
    }
    involved = [k for k, v in truth.items() if v != "none"]
    reviewed = {(r[1], r[2], r[3], r[4], r[6]) for r in rows}
    assert 0.6 * len(truth) < len(reviewed) < 0.8 * len(truth)  # review_share 0.7
    assert any(k not in reviewed for k in involved)  # some planted cases never reviewed
    # who is reviewed never depends on the truth: the same draws with every label "none"
    for f in flights:
        for t in f.passengers:
            t.truth_label = "none"
    innocent = {
        (r[1], r[2], r[3], r[4], r[6])
        for i, f in enumerate(flights)
        for r in _outcome_rows(cfg, 0, i, dt.date(2026, 10, 1), f)
    }
    assert innocent == reviewed
    assert any(truth[k] == "none" for k in reviewed)  # some innocents reviewed
    wrong = [r for r in rows if (r[9] == "1") != (truth[(r[1], r[2], r[3], r[4], r[6])] != "none")]
    assert 0 < len(wrong) < len(rows)
    assert all(r[9] == ("0" if r[8] == "no_concern" else "1") for r in rows)


def test_outcome_rows_refer_to_history_travellers(world: Path, truth: list[dict[str, str]]) -> None:
    keys = {
        tuple(
            r[c]
            for c in (
                "night",
                "carrier",
                "number",
                "surname",
                "given_names",
                "date_of_birth",
                "document_number",
            )
        )
        for r in truth
    }
    outcomes = _csv(world / "history" / "outcomes.csv")
    assert outcomes
    for o in outcomes:
        assert o["night"] != NIGHT
        assert (
            tuple(
                o[c]
                for c in (
                    "night",
                    "carrier",
                    "number",
                    "surname",
                    "given_names",
                    "date_of_birth",
                    "document_number",
                )
            )
            in keys
        )


def test_case_database_loads_and_holds_what_planted_bookings_reuse(world: Path) -> None:
    rows = _sqlite_rows(world / "casedb.sqlite")
    assert len(rows["persons"]) == len(_csv(world / "casedb" / "persons.csv"))
    roles = {r["role"] for r in _csv(world / "casedb" / "persons.csv")}
    assert roles >= {"perpetrator", "broker", "victim", "employer"}
    idents = {(r["kind"], r["value"]) for r in _csv(world / "casedb" / "identifiers.csv")}
    links = _csv(world / "truth" / "identifier_links.csv")
    assert {row["kind"] for row in links} >= {"phone"}
    digits = {
        v.replace("+", "").replace(" ", "").removeprefix("00") for k, v in idents if k == "phone"
    }
    for link in links:
        if link["kind"] == "phone":
            assert link["value"] in digits
        elif link["kind"] in ("agency", "document", "card"):
            assert (link["kind"], link["value"]) in idents
        elif link["kind"] == "address":  # written in another order in the case file
            assert sorted(link["value"].split()) in [
                sorted(v.split()) for k, v in idents if k == "address"
            ]


def test_world_objects_validate_as_records_and_render_identically() -> None:
    """The fast path (light objects) and the public API (records) write the same text."""
    db, links, ids = CaseDB(), Links(), Ids(0)
    cfg = WorldConfig(seed=9, arrivals=400)
    flights = build_night(cfg, 0, dt.date(2026, 11, 20), 400, True, ids, db, links)
    for f in flights[:3]:
        leg = (f.leg(),)
        view = _Manifest(
            "D05B",
            "M1",
            "I1",
            "S",
            "R",
            f.scheduled_departure,
            "745",
            leg,
            f.passengers,
            len(f.passengers),
            None,
        )
        record = PaxlstManifest.model_validate(view, from_attributes=True)
        for style in (RenderStyle(), RenderStyle(separators=":*.? #", wrap=69, parts=2)):
            assert render_paxlst(record, style) == paxlst_text(view, style)
        push = _Pnrgov(
            "13.1",
            "1",
            "I2",
            "S",
            "R",
            f.scheduled_departure,
            "full",
            f.leg(),
            [_t72_booking(b) for b in f.bookings],
            len(f.bookings),
        )
        pnr_record = PnrgovMessage.model_validate(push, from_attributes=True)
        assert render_pnrgov(pnr_record, RenderStyle(title_glued=True)) == pnrgov_text(
            push, RenderStyle(title_glued=True)
        )


OFFLINE_TRUTH_READERS = {
    # measurement tools run by hand on a synthetic world, never by the nightly scoring
    "apiflag.matching.estimate",  # matcher parameters and quality from truth/case_links.csv
    "apiflag.rules.report",  # rule precision against truth/travellers.csv
    "apiflag.rules.cli",  # `apiflag rules report --truth`
    "apiflag.assess",  # `apiflag assess`: recall, precision at realistic rates, fairness
}


def _module(path: Path) -> str:
    rel = path.relative_to(REPO / "src").with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def test_nothing_that_scores_reads_the_truth_folder() -> None:
    """Only apiflag.synth and named offline tools name truth/, and no other module imports them."""
    offenders, importers = [], []
    for path in sorted((REPO / "src" / "apiflag").rglob("*.py")):
        module = _module(path)
        if module.startswith("apiflag.synth"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        prose = {
            id(n.value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in prose
                and module not in OFFLINE_TRUTH_READERS
            ):
                v = node.value
                if (
                    v == "truth"
                    or "truth/" in v
                    or v in ("travellers.csv", "case_links.csv", "identifier_links.csv")
                ):
                    offenders.append(f"{module}:{node.lineno}: {v!r}")
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if module not in OFFLINE_TRUTH_READERS and any(
                n in OFFLINE_TRUTH_READERS for n in names
            ):
                importers.append(f"{module} imports {names}")
    assert offenders == []
    assert importers == []


def test_workers_do_not_change_the_files(tmp_path: Path) -> None:
    cfg = WorldConfig(seed=8, arrivals=400, history_nights=0, mess_share=0.3)
    generate_world(tmp_path / "one", cfg, workers=1)
    generate_world(tmp_path / "two", cfg, workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_same_world_under_another_string_hash_seed(tmp_path: Path) -> None:
    """No set order or str hash leaks into the files: another PYTHONHASHSEED, same bytes."""
    import os
    import subprocess
    import sys

    args = ["--seed", "6", "--arrivals", "250", "--history-nights", "1", "--mess-share", "0.5"]
    generate_world(
        tmp_path / "here", WorldConfig(seed=6, arrivals=250, history_nights=1, mess_share=0.5)
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "import sys; from apiflag.cli import main; main(sys.argv[1:])"
    subprocess.run(
        [sys.executable, "-c", code, "synth", "--out", str(tmp_path / "there"), *args],
        env=env,
        check=True,
        capture_output=True,
    )
    assert _digest(tmp_path / "here") == _digest(tmp_path / "there")
    assert _sqlite_rows(tmp_path / "here" / "casedb.sqlite") == _sqlite_rows(
        tmp_path / "there" / "casedb.sqlite"
    )
