"""Re-screening: past nights in the warehouse against today's case database and rule catalogue.

When the case database learns a new person or a broker's phone, or the rule catalogue changes,
:func:`rescreen_night` runs case matching, features, rules and the model again over a night that
is already in the warehouse and queues only what is new. It reuses the stage cache
(:mod:`apiflag.orchestration.stagecache`): a stage whose inputs (case database content,
catalogue, upstream digests) did not change is read back, anything else recomputes. The queue
store (:func:`apiflag.queue.store.save_night`) never duplicates a flag and never changes one that
an analyst took into review or decided.

A **masked** night (past retention's masking period) holds keyed pseudonyms instead of names,
birth dates, documents and contacts. It is re-screened on those pseudonyms only: the case
database's values are pseudonymised with the same key (:func:`apiflag.privacy.keys.pseudonym`)
and compared for equality, nothing is ever unmasked. A case person is matched when surname,
given names and the birth date or a document agree exactly; booking contacts, payer phones,
cards and documents when their pseudonyms are equal (agencies are not personal data and compare
as usual). The night's stored features are kept, with the columns derived from case matching
(:data:`CASE_FEATURES`) recomputed. Because a masked night's birth dates are gone, combine cannot
judge its travellers as it did on the night; so only travellers with new evidence (a new case or
identifier match or a new rule hit) and no flag yet on that night are queued, and their flags are
stored as masked. It needs the supervisor role and a case reference (:func:`grant_masked`), and
every masked night re-screened, or refused, is an audit event with counts only.

:func:`rescreen_nights` runs a range: matching of every night first, then the rest per night
(features read the matches of earlier nights), each through a ``mapper`` (default: in order,
in this process) so the same functions can be mapped over a cluster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import click
import pandas as pd
import sqlalchemy as sa

from apiflag import casedb, config, pipeline, provenance, warehouse
from apiflag.audit import append_event
from apiflag.casedb import CaseDatabase
from apiflag.daterange import date_range_options, parse_range
from apiflag.errors import ApiflagError, UsageError
from apiflag.features import FEATURE_SPEC, build_night_features
from apiflag.matching.identifiers import IDENTIFIER_COLUMNS
from apiflag.matching.match import FIELD_COLUMNS, MATCH_COLUMNS
from apiflag.matching.model import MatcherModel, load_model
from apiflag.matching.normalise import normalise_identifier
from apiflag.orchestration.cluster import CLUSTER_HELP
from apiflag.orchestration.stagecache import digest_of, file_digest, run_stage, stage_digest
from apiflag.privacy import store as privacy_store
from apiflag.privacy.keys import pseudonym
from apiflag.privacy.masking import as_text
from apiflag.privacy.roles import current_role, current_user, require
from apiflag.queue.combine import CombineResult
from apiflag.queue.store import flags as flags_table
from apiflag.queue.store import night_runs, open_engine, save_night
from apiflag.settings import Settings, load_settings

__all__ = [
    "Baseline",
    "CASE_FEATURES",
    "MaskedAccess",
    "RescreenSummary",
    "grant_masked",
    "masked_nights",
    "nights_between",
    "pseudonymise_casedb",
    "rematch_night",
    "rescreen_night",
    "rescreen_nights",
]

ACTOR = "apiflag-rescreen"
#: Feature columns computed from the night's case and identifier matches (recomputed on a
#: masked night; every other stored feature is kept as the night computed it).
CASE_FEATURES: tuple[str, ...] = tuple(
    f.name for f in FEATURE_SPEC if "case" in f.name or "victim_identifier" in f.name
)
#: Identifier kinds that retention masks; their pseudonym kind is the identifier kind.
MASKED_KINDS = frozenset({"phone", "email", "address", "card", "document"})
MASKED_CODE = "rescreen-masked-1"


@dataclass(frozen=True)
class MaskedAccess:
    """Leave to re-screen masked nights: a supervisor, the case that justifies it, who acts."""

    role: str
    case_ref: str
    actor: str


@dataclass
class RescreenSummary:
    """What re-screening one night did (ids and counts only, never a personal value)."""

    night: str
    masked: bool = False
    case_matches: int = 0
    identifier_matches: int = 0
    rule_hits: int = 0
    new_case_matches: int = 0
    new_identifier_matches: int = 0
    new_rule_hits: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_decided: int = 0
    reused_stages: list[str] = field(default_factory=list)
    model: str = "no model applied (no champion)"

    def line(self) -> str:
        """One line for the CLI."""
        kind = " (masked: pseudonyms only)" if self.masked else ""
        reused = f"; reused {', '.join(self.reused_stages)}" if self.reused_stages else ""
        return (
            f"night {self.night}{kind}: case matches {self.case_matches} "
            f"(new {self.new_case_matches}), identifier matches {self.identifier_matches} "
            f"(new {self.new_identifier_matches}), rule hits {self.rule_hits} "
            f"(new {self.new_rule_hits}); queued new {self.inserted}, refreshed {self.updated}, "
            f"unchanged {self.unchanged}, decided and kept {self.kept_decided}{reused}"
        )


# --------------------------------------------------------------------------- range and access


def nights_between(start: dt.date, end: dt.date) -> list[str]:
    """Return the warehouse's nights from ``start`` to ``end`` inclusive, oldest first.

    Raises:
        UsageError: ``end`` is before ``start``, or the warehouse holds no night in the range.
    """
    if end < start:
        raise UsageError(f"--end {end} is before --start {start}")
    found = [str(d) for d in warehouse.nights() if start <= d <= end]
    if not found:
        raise UsageError(
            f"no night between {start} and {end} in the warehouse {config.warehouse_dir()}"
        )
    return found


def masked_nights(nights: Iterable[str], db_url: str | None = None) -> list[str]:
    """Return those of ``nights`` that retention has masked (the retention ledger says so)."""
    engine = privacy_store.engine(db_url)
    try:
        with engine.connect() as conn:
            states = privacy_store.night_states(conn)
    finally:
        engine.dispose()
    return [n for n in nights if states.get(n, ("", 0))[0] == "masked"]


def grant_masked(
    role: str | None, case_ref: str | None, nights: Sequence[str], db_url: str | None = None
) -> MaskedAccess:
    """Allow re-screening masked nights to a supervisor with a case reference, or refuse.

    Every refusal is an audit event (``privacy.rescreen_refused``: role, reason code, number of
    masked nights).

    Raises:
        ApiflagError: not the supervisor role (or not one the current user holds), or no case
            reference.
    """
    actor = current_user()

    def refuse(why: str, code: str) -> ApiflagError:
        engine = open_engine(db_url)
        try:
            append_event(
                engine,
                actor,
                "privacy.rescreen_refused",
                f"nights:{nights[0]}..{nights[-1]}" if nights else "nights:-",
                {"role": role or "", "why": code, "masked_nights": len(nights)},
            )
        finally:
            engine.dispose()
        first = f" from {nights[0]}" if nights else ""
        return ApiflagError(f"rescreen: {len(nights)} masked night(s){first}: {why}")

    try:
        acting = current_role(role)
        require(acting, "rescreen.masked")
    except ApiflagError as exc:
        raise refuse(f"{exc}; masked nights need --role supervisor", "role") from None
    if not case_ref or not case_ref.strip():
        raise refuse("a case reference is required (--case-ref)", "no_case_ref")
    return MaskedAccess(role=acting, case_ref=case_ref.strip(), actor=actor)


def night_settings(night: str, db_url: str | None = None) -> Settings:
    """Return the settings ``night`` last ran with (``night_runs``), else the current ones.

    A re-screen changes what the night is compared with, not how much it may queue: the
    capacity, threshold and age bands stay those of the night's own run.
    """
    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            recorded = conn.execute(
                sa.select(night_runs.c.settings)
                .where(
                    night_runs.c.night == dt.date.fromisoformat(night),
                    night_runs.c.settings.is_not(None),
                )
                .order_by(night_runs.c.id.desc())
                .limit(1)
            ).scalar()
    finally:
        engine.dispose()
    if recorded is None:
        return load_settings()
    return Settings.model_validate(json.loads(recorded))


# --------------------------------------------------------------------------- masked matching


def pseudonymise_casedb(db: CaseDatabase) -> CaseDatabase:
    """Return the case database with every personal value replaced by its keyed pseudonym.

    Uses the home's pseudonym key, so the values compare equal to a masked night's.
    """
    persons = db.persons.copy()
    for column in ("surname", "given_names"):
        persons[column] = [_psn("name", v) for v in persons[column]]
    persons["date_of_birth"] = [_psn("dob", v) for v in persons["date_of_birth"]]
    documents = db.documents.assign(number=[_psn("document", v) for v in db.documents["number"]])
    aliases = db.aliases.assign(alias=[_psn("name", v) for v in db.aliases["alias"]])
    ident = db.identifiers.copy()
    masked = ident["kind"].isin(MASKED_KINDS).to_numpy(bool)
    values = [
        _psn(str(k), v) if m else v
        for k, v, m in zip(ident["kind"], ident["value"], masked, strict=True)
    ]
    ident["normalized"] = [
        v if m else n for v, n, m in zip(values, ident["normalized"], masked, strict=True)
    ]
    ident["value"] = values
    return CaseDatabase(db.cases, persons, aliases, documents, ident)


def _psn(kind: str, value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = as_text(value).strip()
    return pseudonym(kind, text) if text else None


def _masked_dobs(night: str) -> dict[str, str]:
    """Return traveller_id -> birth-date pseudonym from retention's masked-date sidecar."""
    path = config.home() / "privacy" / f"night={night}" / "masked_dates.parquet"
    if not path.is_file():
        return {}
    dates = pd.read_parquet(path)
    rows = dates.loc[(dates["table"] == "travellers") & (dates["column"] == "date_of_birth")]
    return dict(zip(rows["row_key"].astype(str), rows["pseudonym"].astype(str), strict=True))


def _exact_matches(
    night: str, pdb: CaseDatabase, model: MatcherModel, threshold: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match a masked night's travellers to case persons on equal pseudonyms."""
    tr = warehouse.read_table(night, "travellers")
    docs = warehouse.read_table(night, "documents")
    dobs = _masked_dobs(night)
    tr = tr.assign(dob_psn=[dobs.get(str(t)) for t in tr["traveller_id"]])
    persons = pdb.persons.dropna(subset=["surname"])
    pairs = tr.merge(persons, on=["surname", "given_names"], suffixes=("", "_p"))
    own = docs[["owner_id", "number"]].rename(columns={"owner_id": "traveller_id"})
    person_docs = set(zip(pdb.documents["person_id"], pdb.documents["number"], strict=True))
    traveller_docs: dict[str, set[str]] = {}
    for t, n in zip(own["traveller_id"], own["number"], strict=True):
        traveller_docs.setdefault(str(t), set()).add(str(n))
    matches: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    prior = model.prior_weight(len(pdb.persons))
    for row in pairs.itertuples(index=False):
        dob_ok = row.dob_psn is not None and row.dob_psn == row.date_of_birth_p
        docs_of = traveller_docs.get(str(row.traveller_id), set())
        doc_ok = any((row.person_id, n) in person_docs for n in docs_of)
        if not (dob_ok or doc_ok):
            continue
        same_nat = row.nationality == row.nationality_p
        levels = {
            "surname": "exact",
            "given_names": "exact",
            "date_of_birth": "exact" if dob_ok else "missing",
            "document": "exact" if doc_ok else "missing",
            "nationality": "same" if same_nat else "different",
        }
        weights = {f: model.weight(f, lv) for f, lv in levels.items()}
        total = prior + sum(weights.values())
        probability = float(model.probability(total))
        if probability < threshold:
            continue
        matches.append(
            {
                "traveller_id": row.traveller_id,
                "person_id": row.person_id,
                "case_id": row.case_id,
                "role": row.role_p,
                "probability": probability,
                "match_weight": total,
                "protection_only": row.role_p == "victim",
                "matched_name": f"{row.surname} {row.given_names}",
                "name_source": "pseudonym",
                "matcher_version": MASKED_CODE,
                "model_version": model.digest(),
            }
        )
        rows = [("prior", "prior", prior, "Prior over the case database")]
        rows += [
            (f, levels[f], weights[f], f"{f.replace('_', ' ')} {levels[f]} (keyed pseudonyms)")
            for f in levels
        ]
        for order, (name, level, weight, text) in enumerate(rows):
            fields.append(
                {
                    "traveller_id": row.traveller_id,
                    "person_id": row.person_id,
                    "case_id": row.case_id,
                    "order": order,
                    "field": name,
                    "level": level,
                    "weight": weight,
                    "sentence": f"{text}: {weight:+.1f}",
                    "observed": None,
                }
            )
    return (
        pd.DataFrame(matches, columns=MATCH_COLUMNS),
        pd.DataFrame(fields, columns=FIELD_COLUMNS),
    )


def _exact_identifiers(night: str, pdb: CaseDatabase) -> pd.DataFrame:
    """Match a masked night's booking identifiers and documents on equal pseudonyms."""
    probes: list[pd.DataFrame] = []
    contacts = warehouse.read_table(night, "booking_contacts")
    if len(contacts):
        tid = contacts["pnr_traveller_id"]
        probes.append(
            pd.DataFrame(
                {
                    "source": "booking_contacts",
                    "booking_id": contacts["booking_id"],
                    "owner_kind": tid.notna().map({True: "pnr", False: "booking"}),
                    "owner_id": tid.where(tid.notna(), contacts["booking_id"]),
                    "kind": contacts["kind"].astype(str).str.lower(),
                    "value": contacts["value"],
                }
            )
        )
    payments = warehouse.read_table(night, "payments")
    for kind, column in (("card", "masked_card"), ("phone", "payer_phone")):
        if len(payments):
            probes.append(
                pd.DataFrame(
                    {
                        "source": "payments",
                        "booking_id": payments["booking_id"],
                        "owner_kind": "booking",
                        "owner_id": payments["booking_id"],
                        "kind": kind,
                        "value": payments[column],
                    }
                )
            )
    bookings = warehouse.read_table(night, "bookings")
    if len(bookings):
        probes.append(
            pd.DataFrame(
                {
                    "source": "bookings",
                    "booking_id": bookings["booking_id"],
                    "owner_kind": "booking",
                    "owner_id": bookings["booking_id"],
                    "kind": "agency",
                    "value": bookings["agency_id"],
                }
            )
        )
    documents = warehouse.read_table(night, "documents")
    if len(documents):
        probes.append(
            pd.DataFrame(
                {
                    "source": "documents",
                    "booking_id": None,
                    "owner_kind": documents["owner_kind"],
                    "owner_id": documents["owner_id"],
                    "kind": "document",
                    "value": documents["number"],
                }
            )
        )
    if not probes:
        return pd.DataFrame(columns=IDENTIFIER_COLUMNS)
    probe = pd.concat(probes, ignore_index=True)
    probe = probe.loc[probe["value"].notna()].astype({"value": str}).drop_duplicates()
    probe["normalized"] = [
        v if k in MASKED_KINDS else normalise_identifier("agency", v) if k == "agency" else ""
        for k, v in zip(probe["kind"], probe["value"], strict=True)
    ]
    return _join_case(probe.loc[probe["normalized"] != ""], pdb)


def _join_case(probe: pd.DataFrame, pdb: CaseDatabase) -> pd.DataFrame:
    ident = pdb.identifiers.rename(columns={"id": "identifier_id", "value": "case_value"})
    docs = pdb.documents.merge(pdb.persons[["person_id", "case_id"]], on="person_id")
    person_docs = pd.DataFrame(
        {
            "identifier_id": None,
            "case_id": docs["case_id"],
            "person_id": docs["person_id"],
            "kind": "document",
            "case_value": docs["number"],
            "normalized": docs["number"],
        }
    )
    case = pd.concat(
        [ident[list(person_docs.columns)].astype({"identifier_id": object}), person_docs],
        ignore_index=True,
    ).dropna(subset=["normalized"])
    case["role"] = case["person_id"].map(pdb.persons.set_index("person_id")["role"])
    out = probe.merge(case.drop_duplicates(["case_id", "person_id", "kind", "normalized"]))
    if out.empty:
        return pd.DataFrame(columns=IDENTIFIER_COLUMNS)
    out["protection_only"] = out["role"].eq("victim")
    out["sentence"] = [
        f"{k} {v} ({s}) equals the keyed pseudonym of a value recorded in case {c}"
        for k, v, s, c in zip(out["kind"], out["value"], out["source"], out["case_id"], strict=True)
    ]
    out = out.sort_values(["kind", "normalized", "case_id", "person_id", "source", "owner_id"])
    return out[IDENTIFIER_COLUMNS].reset_index(drop=True)


def _masked_matching(
    night: str, casedb_url: str, settings: Settings
) -> tuple[dict[str, pd.DataFrame], bool]:
    db = casedb.load(casedb_url)
    model = load_model()
    threshold = pipeline.match_threshold(settings, model)
    part = config.warehouse_dir(night)
    inputs = ("travellers", "documents", "bookings", "booking_contacts", "payments")
    sidecar = config.home() / "privacy" / f"night={night}" / "masked_dates.parquet"
    digest = digest_of(
        [
            MASKED_CODE,
            provenance.stage_code_digest("matching", {"match_threshold": threshold}),
            db.digest(),
            model.digest(),
            file_digest(sidecar) if sidecar.is_file() else "-",
            *(f"{n}={file_digest(part / f'{n}.parquet')}" for n in inputs),
        ]
    )

    def compute() -> dict[str, pd.DataFrame]:
        pdb = pseudonymise_casedb(db)
        matches, fields = _exact_matches(night, pdb, model, threshold)
        return {
            "matches": matches,
            "match_fields": fields,
            "identifier_matches": _exact_identifiers(night, pdb),
        }

    return run_stage(night, "matching", digest, compute)


def _masked_features(night: str, settings: Settings) -> tuple[pd.DataFrame, bool]:
    """Keep a masked night's stored features; recompute only :data:`CASE_FEATURES`."""
    code = provenance.stage_code_digest("features", {"history_days": settings.history_days})
    digest = digest_of([MASKED_CODE, code, f"matching={stage_digest(night, 'matching') or '-'}"])
    path = config.warehouse_dir(night) / "features.parquet"

    def compute() -> dict[str, pd.DataFrame]:
        fresh = build_night_features(night, write=False, settings=settings)
        if not path.is_file():
            return {"features": fresh}
        stored = pd.read_parquet(path)
        by_id = fresh.set_index("traveller_id")
        for column in CASE_FEATURES:
            if column in stored.columns and column in by_id.columns:
                values = by_id[column].reindex(stored["traveller_id"]).to_numpy()
                stored[column] = pd.Series(values, index=stored.index, dtype=by_id[column].dtype)
        return {"features": stored}

    out, reused = run_stage(night, "features", digest, compute)
    return out["features"], reused


# --------------------------------------------------------------------------- one night


@dataclass(frozen=True)
class Baseline:
    """A night's case and identifier matches as they were before a re-screen matched it again."""

    matches: frozenset[tuple[str, ...]]
    identifier_matches: frozenset[tuple[str, ...]]
    matching_reused: bool = False


def rematch_night(
    night: str, casedb_url: str, *, masked: bool = False, db_url: str | None = None
) -> Baseline:
    """Run (or reuse) one night's case matching; return what it matched before.

    The first phase of :func:`rescreen_nights`: a night's features read the matches of the
    nights before it, so every night is matched before any is re-scored.
    """
    settings = night_settings(night, db_url)
    matches = frozenset(_pairs(night, "matches", MATCH_KEY))
    identifiers = frozenset(_pairs(night, "identifier_matches", IDENT_KEY))
    if masked:
        _, reused = _masked_matching(night, casedb_url, settings)
    else:
        _, reused = pipeline.stage_matching(night, casedb_url, settings)
    return Baseline(matches, identifiers, reused)


def _pairs(night: str, table: str, columns: tuple[str, ...]) -> set[tuple[str, ...]]:
    path = config.warehouse_dir(night) / f"{table}.parquet"
    if not path.is_file():
        return set()
    frame = pd.read_parquet(path, columns=list(columns))
    return {tuple(str(v) for v in row) for row in frame.itertuples(index=False)}


MATCH_KEY = ("traveller_id", "person_id")
IDENT_KEY = ("owner_kind", "owner_id", "kind", "case_id", "person_id")
RULE_KEY = ("traveller_id", "rule_id")


def rescreen_night(
    night: str,
    casedb_url: str,
    *,
    settings: Settings | None = None,
    access: MaskedAccess | None = None,
    db_url: str | None = None,
    baselines: Mapping[str, Baseline] | None = None,
) -> RescreenSummary:
    """Re-run matching, features, rules, the model and combine over one night; queue the new.

    Args:
        night: a night in the warehouse, ``YYYY-MM-DD``.
        casedb_url: the case database (as it is now).
        settings: the run's settings (default: those the night last ran with,
            :func:`night_settings`).
        access: leave to re-screen a masked night (:func:`grant_masked`); required for one.
        db_url: the queue database (default :func:`apiflag.config.db_url`).
        baselines: what :func:`rematch_night` saw before it matched the night again (when
            the range was matched first); "new" is counted against it.

    Returns:
        A :class:`RescreenSummary` (counts only).

    Raises:
        ApiflagError: a masked night without ``access``, or bad input (no case database ...).
    """
    settings = settings or night_settings(night, db_url)
    masked = bool(masked_nights([night], db_url))
    if masked and access is None:
        raise ApiflagError(f"rescreen {night}: a masked night needs a supervisor and a case ref")
    s = RescreenSummary(night=night, masked=masked)
    base = (baselines or {}).get(night) or Baseline(
        frozenset(_pairs(night, "matches", MATCH_KEY)),
        frozenset(_pairs(night, "identifier_matches", IDENT_KEY)),
    )
    before = {
        "matches": base.matches,
        "identifier_matches": base.identifier_matches,
        "rule_hits": _pairs(night, "rule_hits", RULE_KEY),
    }
    if masked:
        matched, reused_m = _masked_matching(night, casedb_url, settings)
        features, reused_f = _masked_features(night, settings)
    else:
        matched, reused_m = pipeline.stage_matching(night, casedb_url, settings)
        features, reused_f = pipeline.stage_features(night, settings)
    rules, reused_r = pipeline.stage_rules(night, features)
    scored, reused_s = pipeline.stage_model(night, features, rules, matched, settings)
    for name, reused in zip(
        ("matching", "features", "rules", "model"),
        (
            reused_m and (night not in (baselines or {}) or base.matching_reused),
            reused_f,
            reused_r,
            reused_s,
        ),
        strict=True,
    ):
        if reused:
            s.reused_stages.append(name)
    new = {
        "matches": _new_rows(matched["matches"], MATCH_KEY, before["matches"]),
        "identifier_matches": _new_rows(
            matched["identifier_matches"], IDENT_KEY, before["identifier_matches"]
        ),
        "rule_hits": _new_rows(rules.hits, RULE_KEY, before["rule_hits"]),
    }
    s.case_matches, s.new_case_matches = len(matched["matches"]), len(new["matches"])
    s.identifier_matches = len(matched["identifier_matches"])
    s.new_identifier_matches = len(new["identifier_matches"])
    s.rule_hits, s.new_rule_hits = len(rules.hits), len(new["rule_hits"])
    if scored is not None and len(scored["scores"]):
        first = scored["scores"].iloc[0]
        s.model = f"{first['model_uri']} (version {first['model_version']})"
    if not masked:
        day = dt.date.fromisoformat(night)
        summary = pipeline.start_summary(day, settings)
        done = pipeline.finish_night(summary, day, matched, features, rules, scored, False)
        s.inserted, s.updated = done.inserted, done.updated
        s.unchanged, s.kept_decided = done.unchanged, done.kept_decided
        return s
    assert access is not None
    _queue_masked(s, matched, features, rules, scored, settings, new, db_url)
    engine = open_engine(db_url)
    try:
        append_event(
            engine,
            access.actor,
            "privacy.rescreen",
            f"night:{night}",
            {"role": access.role, "case_ref": access.case_ref, **_counts(s)},
        )
    finally:
        engine.dispose()
    return s


def _new_rows(
    frame: pd.DataFrame, key: tuple[str, ...], old: AbstractSet[tuple[str, ...]]
) -> pd.DataFrame:
    if frame.empty:
        return frame
    keys = [tuple(str(v) for v in row) for row in frame[list(key)].itertuples(index=False)]
    return frame.loc[[k not in old for k in keys]]


def _counts(s: RescreenSummary) -> dict[str, int]:
    return {
        k: v
        for k, v in dataclasses.asdict(s).items()
        if isinstance(v, int) and not isinstance(v, bool)
    }


def _evidence_travellers(night: str, new: dict[str, pd.DataFrame]) -> set[str]:
    """Return the travellers that new matches or rule hits concern."""
    out = {str(t) for t in new["matches"].get("traveller_id", [])}
    out |= {str(t) for t in new["rule_hits"].get("traveller_id", [])}
    idm = new["identifier_matches"]
    if len(idm):
        tr = warehouse.read_table(night, "travellers")
        owners = {str(o) for o in idm["owner_id"].dropna()}
        for column in ("traveller_id", "pnr_traveller_id", "booking_id"):
            hit = tr[column].astype(str).isin(owners)
            out |= {str(t) for t in tr.loc[hit, "traveller_id"]}
    return out


def _queue_masked(
    s: RescreenSummary,
    matched: dict[str, pd.DataFrame],
    features: pd.DataFrame,
    rules: Any,
    scored: dict[str, pd.DataFrame] | None,
    settings: Settings,
    new: dict[str, pd.DataFrame],
    db_url: str | None,
) -> None:
    """Combine a masked night and queue only new travellers' flags, stored as masked."""
    night = s.night
    day = dt.date.fromisoformat(night)
    result = pipeline.combine_night(
        day, matched, rules, scored, settings, pipeline.code_digests(settings)
    )
    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            flagged = {
                str(t)
                for t in conn.execute(
                    sa.select(flags_table.c.traveller_id).where(flags_table.c.night == day)
                ).scalars()
            }
        wanted = _evidence_travellers(night, new) - flagged
        chosen = tuple(f for f in result.flags if str(f.traveller_id) in wanted)
        saved = save_night(engine, _only(result, chosen), actor=ACTOR, settings=settings.record())
        ids = [f.flag_id for f in chosen]
        if ids:
            with engine.begin() as conn:
                conn.execute(
                    sa.update(flags_table).where(flags_table.c.flag_id.in_(ids)).values(masked=True)
                )
    finally:
        engine.dispose()
    s.inserted, s.updated, s.unchanged, s.kept_decided = (
        saved.inserted,
        saved.updated,
        saved.unchanged,
        saved.kept,
    )


def _only(result: CombineResult, chosen: tuple[Any, ...]) -> CombineResult:
    return dataclasses.replace(result, flags=chosen)


# --------------------------------------------------------------------------- a range


Mapper = Callable[[Callable[[str], Any], Sequence[str]], Iterable[Any]]


def serial_map(fn: Callable[[str], Any], nights: Sequence[str]) -> list[Any]:
    """Apply ``fn`` to every night in order, in this process (the default mapper)."""
    return [fn(n) for n in nights]


def _apply(night: dt.date, fn: Callable[[str], Any]) -> Any:
    """Call a per-night function of this module with the night as text (for the cluster)."""
    return fn(night.isoformat())


def cluster_mapper(cluster: str) -> Mapper:
    """Return a mapper that runs each night as a Prefect task on ``--cluster`` (Dask).

    Uses :func:`apiflag.orchestration.cluster.map_nights` (retries included; every function
    mapped here is idempotent).
    """
    from apiflag.orchestration.cluster import map_nights, parse_cluster

    parse_cluster(cluster)  # a bad value fails now, in one line, before any night

    def mapper(fn: Callable[[str], Any], nights: Sequence[str]) -> list[Any]:
        days = [dt.date.fromisoformat(n) for n in nights]
        return map_nights(_apply, days, cluster, fn=fn)

    return mapper


def rescreen_nights(
    nights: Sequence[str],
    casedb_url: str,
    *,
    access: MaskedAccess | None = None,
    mapper: Mapper = serial_map,
    db_url: str | None = None,
) -> list[RescreenSummary]:
    """Re-screen ``nights``: first match every night, then re-score and queue each.

    Args:
        nights: warehouse nights, oldest first (see :func:`nights_between`).
        casedb_url: the case database.
        access: leave for masked nights (:func:`grant_masked`); required when any is masked.
        mapper: ``mapper(fn, nights)`` applies a picklable one-argument function to every
            night and returns the results in order (a Dask ``client.map`` + ``gather`` fits).
        db_url: the queue database.

    Returns:
        One :class:`RescreenSummary` per night, in order.
    """
    masked = set(masked_nights(nights, db_url))
    if masked and access is None:
        raise ApiflagError(f"rescreen: {len(masked)} masked night(s) need a supervisor")
    baselines: dict[str, Baseline] = {}
    for is_masked in (False, True):
        part = [n for n in nights if (n in masked) == is_masked]
        rematch = functools.partial(
            rematch_night, casedb_url=casedb_url, masked=is_masked, db_url=db_url
        )
        if part:
            baselines.update(zip(part, mapper(rematch, part), strict=True))
    fn = functools.partial(
        rescreen_night, casedb_url=casedb_url, access=access, db_url=db_url, baselines=baselines
    )
    return list(mapper(fn, list(nights)))


# --------------------------------------------------------------------------- command line


def _default_casedb() -> str:
    world = config.world_dir() / "casedb.sqlite"
    if world.is_file():
        return f"sqlite:///{world.resolve()}"
    return casedb.default_url()


@click.command("rescreen")
@date_range_options()
@click.option(
    "--casedb",
    "casedb_url",
    default=None,
    help="Case database URL (default: the world's casedb.sqlite, else $APIFLAG_HOME's).",
)
@click.option("--role", default=None, help="Role to act in; masked nights need supervisor.")
@click.option("--case-ref", default=None, help="Case reference; required for masked nights.")
@click.option("--cluster", default=None, help=CLUSTER_HELP)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rescreen_command(
    start: str,
    end: str,
    casedb_url: str | None,
    role: str | None,
    case_ref: str | None,
    cluster: str | None,
    fmt: str,
) -> None:
    """Re-screen past nights after the case database or the rule catalogue changed.

    Re-runs case matching, features, rules, the champion (if any) and combine over every night
    of the warehouse from --start to --end, reusing every stage whose inputs did not change, and
    queues only what is new: a flag already queued is not duplicated and a decided one is never
    changed. Nights past the masking period are compared on keyed pseudonyms only, need
    --role supervisor and --case-ref, and are recorded in the audit log (counts only).
    With --cluster each night is a Prefect task on a Dask cluster (retried when a worker is lost).
    """
    nights = nights_between(*parse_range(start, end))
    mapper = cluster_mapper(cluster) if cluster is not None else serial_map
    url = casedb_url or _default_casedb()
    masked = masked_nights(nights)
    access = grant_masked(role, case_ref, masked) if masked else None
    summaries = rescreen_nights(nights, url, access=access, mapper=mapper)
    if fmt == "json":
        click.echo(json.dumps([dataclasses.asdict(s) for s in summaries], indent=2))
        return
    for s in summaries:
        click.echo(s.line())
    total = sum(s.inserted for s in summaries)
    click.echo(f"{len(summaries)} night(s) re-screened ({len(masked)} masked); {total} new flag(s)")
