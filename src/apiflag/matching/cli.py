"""``apiflag match``: match parse-contract travellers (JSON Lines) against the case database.

Reads the output of ``apiflag parse`` and prints one JSON object per candidate at or above the
threshold (person matches) and per identifier hit (phones, e-mails, agency, documents),
ordered by input line. ``traveller`` is the 1-based line number of the input object. A line
that is not a JSON object with a usable ``surname`` stops the run with one line naming it;
nothing is printed for a file that fails.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import IO, Any

import click
import pandas as pd

from apiflag.casedb import default_url, load
from apiflag.errors import ApiflagError
from apiflag.matching.identifiers import match_identifiers
from apiflag.matching.match import Matcher, traveller_side
from apiflag.matching.model import load_model

__all__ = ["match", "read_contract_lines"]


def _fail(name: str, line: int, why: str) -> ApiflagError:
    return ApiflagError(f"{name}: line {line}: {why}")


def _opt_str(obj: dict[str, Any], key: str, name: str, line: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(name, line, f"'{key}' must be a string or null, not {type(value).__name__}")
    return value


def read_contract_lines(
    stream: IO[str], name: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read parse-contract JSON Lines into warehouse-shaped frames.

    Args:
        stream: the JSON Lines text.
        name: the file name, for error messages.

    Returns:
        ``travellers``, ``documents``, ``contacts`` and ``bookings`` frames whose ids are the
        1-based line numbers (as strings).

    Raises:
        ApiflagError: a line that is not a JSON object, lacks a surname, or has a field of the
            wrong type (the message names the file and line).
    """
    travellers: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    bookings: list[dict[str, Any]] = []
    for line_no, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(name, line_no, f"not JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise _fail(name, line_no, f"expected a JSON object, got {type(obj).__name__}")
        tid = str(line_no)
        surname = _opt_str(obj, "surname", name, line_no)
        if not surname:
            raise _fail(name, line_no, "'surname' is missing or empty")
        dob = _opt_str(obj, "date_of_birth", name, line_no)
        if dob is not None:
            try:
                dt.date.fromisoformat(dob)
            except ValueError as exc:
                raise _fail(name, line_no, f"'date_of_birth' {dob!r} is not an ISO date") from exc
        travellers.append(
            {
                "traveller_id": tid,
                "surname": surname,
                "given_names": _opt_str(obj, "given_names", name, line_no),
                "date_of_birth": dob,
                "nationality": _opt_str(obj, "nationality", name, line_no),
            }
        )
        docs = obj.get("documents") or []
        if not isinstance(docs, list):
            raise _fail(name, line_no, "'documents' must be a list")
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict) or not isinstance(doc.get("number"), str):
                raise _fail(name, line_no, f"'documents[{i}]' needs a string 'number'")
            documents.append({"owner_kind": "api", "owner_id": tid, "number": doc["number"]})
        for key, kind in (("phones", "phone"), ("emails", "email")):
            values = obj.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _fail(name, line_no, f"'{key}' must be a list of strings")
            for v in values:
                contacts.append(
                    {"booking_id": tid, "pnr_traveller_id": tid, "kind": kind, "value": v}
                )
        agency = obj.get("agency")
        agency_id = agency.get("agency_id") if isinstance(agency, dict) else agency
        if agency_id is not None and not isinstance(agency_id, str):
            raise _fail(name, line_no, "'agency' must be a string, an object or null")
        if agency_id:
            bookings.append({"booking_id": tid, "agency_id": agency_id})
    return (
        pd.DataFrame(
            travellers,
            columns=["traveller_id", "surname", "given_names", "date_of_birth", "nationality"],
        ),
        pd.DataFrame(documents, columns=["owner_kind", "owner_id", "number"]),
        pd.DataFrame(contacts, columns=["booking_id", "pnr_traveller_id", "kind", "value"]),
        pd.DataFrame(bookings, columns=["booking_id", "agency_id"]),
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


@click.command("match")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--casedb", "url", default=None, help="Case database URL (default: SQLite under $APIFLAG_HOME)."
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Report person matches at or above this probability (default: the model's).",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Matcher parameters (default: models/matcher.json).",
)
def match(file: IO[str], url: str | None, threshold: float | None, model_path: Path | None) -> None:
    """Match travellers in FILE (apiflag parse JSON Lines, '-' for stdin) against the case database."""
    name = getattr(file, "name", "<stdin>")
    travellers, documents, contacts, bookings = read_contract_lines(file, name)
    db = load(url or default_url())
    matcher = Matcher(db, load_model(model_path))
    thr = matcher.threshold_or_default(threshold)
    out: list[tuple[int, int, str, dict[str, Any]]] = []
    if len(travellers):
        result = matcher.match_side(traveller_side(travellers, documents), thr)
        fields = result.fields.groupby(["traveller_id", "person_id"], sort=False)
        for n, m in enumerate(result.matches.itertuples()):
            rows = fields.get_group((m.traveller_id, m.person_id))
            obj = {
                "traveller": int(m.traveller_id),
                "person_id": m.person_id,
                "case_id": m.case_id,
                "role": m.role,
                "probability": round(float(m.probability), 6),
                "match_weight": round(float(m.match_weight), 4),
                "protection_only": bool(m.protection_only),
                "fields": [
                    {
                        k: _clean(getattr(r, k))
                        for k in ("field", "level", "weight", "sentence", "observed")
                    }
                    for r in rows.itertuples()
                ],
            }
            out.append((int(m.traveller_id), 0, f"{n:09d}", obj))
    hits = match_identifiers(contacts, pd.DataFrame(), bookings, documents, db)
    for h in hits.itertuples():
        line = int(str(h.owner_id if h.owner_id is not None else h.booking_id))
        obj = {
            "traveller": line,
            "identifier": {"kind": h.kind, "value": h.value, "case_id": h.case_id},
            "person_id": h.person_id if isinstance(h.person_id, str) else None,
            "case_id": h.case_id,
            "role": h.role if isinstance(h.role, str) else None,
            "probability": None,
            "protection_only": bool(h.protection_only),
            "fields": [
                {
                    "field": h.kind,
                    "level": "exact",
                    "weight": None,
                    "sentence": h.sentence,
                    "observed": f"traveller: {h.value} | case: {h.normalized}",
                }
            ],
        }
        out.append((line, 1, f"{h.kind}:{h.normalized}:{h.case_id}", obj))
    out.sort(key=lambda x: (x[0], x[1], x[2]))
    for _, _, _, obj in out:
        click.echo(json.dumps(obj, ensure_ascii=False))
