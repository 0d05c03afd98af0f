"""Masking a night leaves no name or birth date in any explanation sentence (issue 12 item 4).

The case matcher's sentences quote both sides of a match: the traveller's values (which the
night's dictionary holds) and the case person's (which no warehouse column holds: a variant
name, an alias, a birth date with day and month swapped, a document one character off). The
scenario is real: EDIFACT ingested, the real matcher against a case database, the real combine
and queue store, then :func:`apiflag.privacy.retention.apply_retention`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from apiflag import config, warehouse
from apiflag.ingest import ingest_night
from apiflag.matching import match_travellers
from apiflag.privacy.retention import apply_retention
from apiflag.queue.combine import combine
from apiflag.queue.store import PERSONAL_COLUMNS, open_engine, save_night
from matching_helpers import case_database
from privacy_helpers import AS_OF, OLD, _paxlst, _pnrgov, cast

# the case person matched to the night's second traveller (BRANDTQXOLLE SEVERINA 1987-07-02):
# recorded under a misspelt surname, with an alias whose given name differs, day and month of
# birth swapped and a document number one character off
CASE_SURNAME = "BRANDTQXOLE"
CASE_ALIAS_GIVEN = "SEVERINAH"
CASE_DOB = "1987-02-07"
CASE_DOC = "PQX71235"


def _night_with_a_real_match() -> list[str]:
    people = cast(OLD)
    folder = config.world_dir() / "nights" / OLD.isoformat()
    (folder / "paxlst").mkdir(parents=True)
    (folder / "pnrgov").mkdir(parents=True)
    (folder / "paxlst" / "QK21_BKK_pax.edi").write_text(_paxlst(OLD, people))
    (folder / "pnrgov" / "QK21_BKK_t72.edi").write_text(_pnrgov(OLD, people))
    ingest_night(OLD, config.world_dir())
    target = people[1]
    db = case_database(
        [
            {
                "person_id": "CP-9",
                "case_id": "C-9",
                "role": "perpetrator",
                "surname": CASE_SURNAME,
                "given_names": target.given,
                "aliases": (f"{target.surname}, {CASE_ALIAS_GIVEN}",),
                "date_of_birth": CASE_DOB,
                "nationality": "THA",
                "document_numbers": (CASE_DOC,),
            }
        ]
    )
    travellers = warehouse.read_table(OLD, "travellers")
    documents = warehouse.read_table(OLD, "documents")
    found = match_travellers(travellers, documents, db)
    assert not found.matches.empty
    night_dir = config.warehouse_dir(OLD.isoformat())
    found.matches.to_parquet(night_dir / "matches.parquet")
    found.fields.to_parquet(night_dir / "match_fields.parquet")
    result = combine(
        OLD,
        travellers,
        warehouse.read_table(OLD, "flights"),
        documents=documents,
        bookings=warehouse.read_table(OLD, "bookings"),
        matches=found.matches,
        match_fields=found.fields,
        rules_digest="sha256:" + "ab" * 32,
    )
    save_night(open_engine(), result)
    traveller_values = [
        v for p in people[:4] for v in (p.surname, p.given, p.dob.isoformat(), p.doc)
    ]
    return [*traveller_values, CASE_SURNAME, CASE_ALIAS_GIVEN, CASE_DOB, CASE_DOC]


def _sentences() -> list[str]:
    with open_engine().connect() as conn:
        rows = conn.execute(sa.text("SELECT sentence, observed FROM contributions")).all()
    return [str(s) for s, _ in rows]


def _found(texts: list[str], values: list[str]) -> set[str]:
    return {v for v in values for t in texts if v.upper() in t.upper()}


def test_a_masked_night_has_no_name_or_birth_date_in_any_explanation_sentence(
    apiflag_home: Path,
) -> None:
    values = _night_with_a_real_match()
    parquet = config.warehouse_dir(OLD.isoformat()) / "match_fields.parquet"
    # before masking the sentences do quote both sides, the case person's values included
    before = _found(_sentences(), values)
    assert {CASE_ALIAS_GIVEN, CASE_DOB, CASE_DOC} <= before
    assert {CASE_ALIAS_GIVEN, CASE_DOB} <= _found(
        pq.read_table(parquet).column("sentence").to_pylist(), values
    )

    report = apply_retention(AS_OF)

    assert report.nights_masked == [OLD.isoformat()]
    assert _found(_sentences(), values) == set()
    assert _found(pq.read_table(parquet).column("sentence").to_pylist(), values) == set()
    # the sentences still say why (the agreement and the weight), with pseudonyms for values
    identity = [s for s in _sentences() if "Birth date" in s]
    assert identity and all("PSN:dob:" in s for s in identity)
    frame = pd.read_sql("SELECT observed FROM contributions", open_engine())
    assert frame["observed"].isna().all()


def test_the_queue_declares_explanation_sentences_personal() -> None:
    assert "sentence" in PERSONAL_COLUMNS["contributions"]
