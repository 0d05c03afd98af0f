"""Helpers for the case database and matching tests: small CSV exports written from rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

CASE_COLUMNS = ["case_id", "typology", "year", "status"]
PERSON_COLUMNS = [
    "person_id",
    "case_id",
    "role",
    "surname",
    "given_names",
    "aliases",
    "date_of_birth",
    "nationality",
    "document_numbers",
]
IDENT_COLUMNS = ["case_id", "person_id", "kind", "value"]


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def small_export() -> dict[str, list[dict[str, Any]]]:
    """A tiny, valid export: two cases, four persons (one victim), identifiers of each kind."""
    return {
        "cases": [
            {"case_id": "C-2", "typology": "labour", "year": 2023, "status": "closed"},
            {"case_id": "C-1", "typology": "sexual", "year": 2021, "status": "open"},
        ],
        "persons": [
            {
                "person_id": "P-3",
                "case_id": "C-2",
                "role": "victim",
                "surname": "NGUYEN",
                "given_names": "THI HUONG",
                "aliases": "",
                "date_of_birth": "1999-03-04",
                "nationality": "VNM",
                "document_numbers": "C1234567",
            },
            {
                "person_id": "P-1",
                "case_id": "C-1",
                "role": "recruiter",
                "surname": "PHETSRI",
                "given_names": "NARONG",
                "aliases": "NARONG PHETSRY|NONG P",
                "date_of_birth": "1975-08-19",
                "nationality": "THA",
                "document_numbers": "AA1112223|AB-999 888",
            },
            {
                "person_id": "P-2",
                "case_id": "C-1",
                "role": "broker",
                "surname": "DELA CRUZ",
                "given_names": "JUAN MIGUEL",
                "aliases": "",
                "date_of_birth": "",
                "nationality": "PHL",
                "document_numbers": "",
            },
            {
                "person_id": "P-4",
                "case_id": "C-2",
                "role": "employer",
                "surname": "MÜLLER",
                "given_names": "",
                "aliases": "",
                "date_of_birth": "1960-01-01",
                "nationality": "",
                "document_numbers": "",
            },
        ],
        "identifiers": [
            {"case_id": "C-1", "person_id": "P-1", "kind": "phone", "value": "66 81 111 2222"},
            {
                "case_id": "C-1",
                "person_id": "",
                "kind": "email",
                "value": "Jobs.Abroad@Example.COM",
            },
            {"case_id": "C-1", "person_id": "", "kind": "agency", "value": "12-345 678"},
            {"case_id": "C-2", "person_id": "", "kind": "card", "value": "4111 11XX XXXX 1111"},
            {"case_id": "C-2", "person_id": "P-4", "kind": "address", "value": "1-2 Chome, Tokyo"},
            {"case_id": "C-2", "person_id": "P-3", "kind": "document", "value": "c 123-4567"},
        ],
    }


def write_export(folder: Path, export: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    export = small_export() if export is None else export
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "cases.csv", CASE_COLUMNS, export["cases"])
    write_csv(folder / "persons.csv", PERSON_COLUMNS, export["persons"])
    if "identifiers" in export:
        write_csv(folder / "identifiers.csv", IDENT_COLUMNS, export["identifiers"])
    return folder


# --------------------------------------------------------------------------- matching worlds

FILLER_SURNAMES = (
    "NGUYEN TRAN LE PHAM SANTOS REYES CRUZ GARCIA KIM LEE PARK WANG LI ZHANG CHEN SATO TANAKA "
    "SMITH JONES KHAN AHMED ALI SILVA COSTA MARTIN PETROV IVANOV SHEVCHENKO KARIMOV SOK CHAN"
).split()
FILLER_GIVEN = (
    "THI HUONG|VAN NAM|MINH TUAN|JOSE|MARIA|JOHN PAUL|MINJUN|SEOYEON|WEI|FANG|HIROSHI|YUKI|JAMES|"
    "ANNA|IMRAN|AYESHA|LUCAS|ANA|IVAN|OLENA|RUSTAM|DARA|SOPHAL|KA MING"
).split("|")


def filler_persons(n: int, seed: int = 7, start: int = 1000) -> list[dict[str, Any]]:
    """Deterministic background case persons (common names, random birth dates, documents)."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        year = rng.randint(1950, 2008)
        rows.append(
            {
                "person_id": f"F-{start + i}",
                "case_id": f"CF-{(start + i) // 5}",
                "role": rng.choice(["victim", "recruiter", "broker", "perpetrator", "employer"]),
                "surname": rng.choice(FILLER_SURNAMES),
                "given_names": rng.choice(FILLER_GIVEN),
                "aliases": (),
                "date_of_birth": f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "nationality": rng.choice(["VNM", "PHL", "KOR", "CHN", "JPN", "THA", "PAK", None]),
                "document_numbers": (f"F{rng.randint(10**7, 10**8 - 1)}",),
            }
        )
    return rows


def case_database(persons: list[dict[str, Any]], identifiers: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    """Build an in-memory CaseDatabase from person dicts (cases derived from their case_id)."""
    from apiflag.casedb import CaseDatabase
    from apiflag.records import Case, CaseIdentifier, CasePerson

    case_ids = sorted({p["case_id"] for p in persons} | {i["case_id"] for i in identifiers or []})
    cases = [Case(case_id=c, typology="labour", year=2022, status="closed") for c in case_ids]
    recs = [CasePerson.model_validate(p) for p in persons]
    idents = [CaseIdentifier.model_validate(i) for i in identifiers or []]
    return CaseDatabase.from_records(cases, recs, idents)
