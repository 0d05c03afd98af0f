"""Matching travellers against case persons: the entry points the nightly flow and CLI call.

Decides which pairs are reported: blocked candidates (:mod:`~apiflag.matching.blocking`) that
could still reach the threshold (:func:`~apiflag.matching.scoring.prune_pairs`, a bound that
never drops a reportable pair) are scored (:mod:`~apiflag.matching.scoring`) and a pair is reported when its probability is at or
above the threshold **and** its birth date or a document agrees. A match to a person whose role
is ``victim`` carries ``protection_only = True``: the nightly flow may only raise a protection
flag from it. Output is sorted (traveller, probability descending, person) and carries the
matcher and model versions, so the same inputs always give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from apiflag import fanout
from apiflag.casedb import CaseDatabase
from apiflag.errors import UsageError
from apiflag.matching.model import FIELDS, MatcherModel, load_model
from apiflag.matching.scoring import (
    PairScores,
    Side,
    blocked_pairs,
    explain_pair,
    name_weight_bound,
    prepare_side,
    prune_pairs,
    score_pairs,
)
from apiflag.provenance import display_version, stage_code_digest

__all__ = [
    "FIELD_COLUMNS",
    "MATCH_COLUMNS",
    "MatchResult",
    "Matcher",
    "match_travellers",
]

MATCH_COLUMNS = [
    "traveller_id",
    "person_id",
    "case_id",
    "role",
    "probability",
    "match_weight",
    "protection_only",
    "matched_name",
    "name_source",
    "matcher_version",
    "model_version",
]
"""Columns of ``MatchResult.matches`` (``matches.parquet``)."""

FIELD_COLUMNS = [
    "traveller_id",
    "person_id",
    "case_id",
    "order",
    "field",
    "level",
    "weight",
    "sentence",
    "observed",
]
"""Columns of ``MatchResult.fields`` (``match_fields.parquet``): the rows of one match sum to
its ``match_weight``."""


@dataclass(frozen=True)
class MatchResult:
    """Reported matches and their explanation rows."""

    matches: pd.DataFrame
    fields: pd.DataFrame


def _persons_side(db: CaseDatabase) -> Side:
    persons = db.persons.reset_index(drop=True)
    index = pd.Series(np.arange(len(persons)), index=persons["person_id"].to_numpy())
    docs = db.documents[db.documents["person_id"].isin(index.index)]
    doc_ident = db.identifiers[
        (db.identifiers["kind"] == "document") & db.identifiers["person_id"].notna()
    ]
    doc_owner = np.concatenate(
        [
            index.reindex(docs["person_id"].to_numpy()).to_numpy(),
            index.reindex(doc_ident["person_id"].to_numpy()).to_numpy(),
        ]
    )
    doc_number = pd.concat([docs["number"], doc_ident["value"]], ignore_index=True)
    aliases = db.aliases[db.aliases["person_id"].isin(index.index)]
    return prepare_side(
        ids=persons["person_id"],
        surname=persons["surname"],
        given_names=persons["given_names"],
        date_of_birth=persons["date_of_birth"],
        nationality=persons["nationality"],
        doc_owner=doc_owner.astype(np.int64),
        doc_number=doc_number,
        aliases=(
            index.reindex(aliases["person_id"].to_numpy()).to_numpy(dtype=np.int64),
            aliases["alias"].reset_index(drop=True),
        ),
        case_side=True,
    )


def traveller_side(travellers: pd.DataFrame, documents: pd.DataFrame) -> Side:
    """Prepare warehouse travellers and their documents (API and linked PNR) for matching.

    Args:
        travellers: warehouse ``travellers`` (``traveller_id, surname, given_names,
            date_of_birth, nationality``; ``pnr_traveller_id`` and ``document_number`` used
            when present).
        documents: warehouse ``documents`` (``owner_kind, owner_id, number``): ``api`` rows
            whose owner is the traveller, ``pnr`` rows whose owner is the linked PNR traveller.
    """
    trav = travellers.reset_index(drop=True)
    index = pd.Index(trav["traveller_id"].to_numpy(dtype=object))
    owners: list[np.ndarray] = []
    numbers: list[pd.Series] = []
    if len(documents):
        kind = documents["owner_kind"].to_numpy(dtype=object)
        owner_ids = documents["owner_id"].to_numpy(dtype=object)
        api_pos = np.where(kind == "api", index.get_indexer(owner_ids), -1)
        owners.append(api_pos[api_pos >= 0])
        numbers.append(documents["number"][api_pos >= 0])
        if "pnr_traveller_id" in trav.columns:
            pnr_ids = trav["pnr_traveller_id"].to_numpy(dtype=object)
            has = pd.notna(pnr_ids)
            pnr_index = pd.Index(pnr_ids[has])
            pnr_t = np.flatnonzero(has)
            pos = np.where(kind == "pnr", pnr_index.get_indexer(owner_ids), -1)
            if pnr_index.is_unique:
                owners.append(pnr_t[pos[pos >= 0]])
                numbers.append(documents["number"][pos >= 0])
            else:
                link = pd.DataFrame({"pnr_traveller_id": pnr_ids[has], "t": pnr_t})
                pnr = documents[kind == "pnr"].merge(
                    link, left_on="owner_id", right_on="pnr_traveller_id"
                )
                owners.append(pnr["t"].to_numpy())
                numbers.append(pnr["number"])
    if "document_number" in trav.columns:
        has_doc = trav["document_number"].notna()
        owners.append(np.flatnonzero(has_doc.to_numpy()))
        numbers.append(trav.loc[has_doc, "document_number"])
    doc_owner = np.concatenate(owners).astype(np.int64) if owners else np.zeros(0, np.int64)
    doc_number = pd.concat(numbers, ignore_index=True) if numbers else pd.Series([], dtype=object)
    return prepare_side(
        ids=trav["traveller_id"],
        surname=trav["surname"],
        given_names=trav["given_names"],
        date_of_birth=trav["date_of_birth"],
        nationality=trav["nationality"],
        doc_owner=doc_owner,
        doc_number=doc_number.astype(object),
    )


CHUNK = 500_000
"""Pairs scored at once (bounds memory: a scored pair costs about 1 KB in flight)."""


@dataclass(frozen=True)
class _Scoring:
    """What every part of a night's candidate pairs is scored with (sent once to a cluster)."""

    travellers: Side
    persons: Side
    model: MatcherModel
    threshold: float


def _reported(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    return frame[frame["gate"] & (frame["probability"] >= threshold)]


def _reported_pairs(scoring: _Scoring, pairs: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """Score one part of the candidate pairs; return the rows that may be reported."""
    ti, pi = pairs
    scores = score_pairs(scoring.travellers, scoring.persons, ti, pi, scoring.model)
    return _reported(scores.frame, scoring.threshold)


class Matcher:
    """A case database prepared once for matching many batches of travellers.

    Args:
        db: the case database.
        model: matcher parameters (default: ``models/matcher.json``).
    """

    def __init__(self, db: CaseDatabase, model: MatcherModel | None = None) -> None:
        self.db = db
        self.model = model or load_model()
        self.persons = _persons_side(db)
        persons = db.persons.reset_index(drop=True)
        self.case_id = persons["case_id"].to_numpy(dtype=object)
        self.role = persons["role"].to_numpy(dtype=object)
        self.name_bound = name_weight_bound(self.persons, self.model)

    def threshold_or_default(self, threshold: float | None) -> float:
        """Return ``threshold`` checked to be in (0, 1), or the model's default."""
        if threshold is None:
            return self.model.default_threshold
        if not 0.0 < threshold < 1.0:
            raise UsageError(f"--threshold {threshold}: must be between 0 and 1 (exclusive)")
        return threshold

    def score(self, travellers: Side, ti: np.ndarray, pi: np.ndarray) -> PairScores:
        """Score any (traveller, person) index pairs (blocked or not) with this database."""
        return score_pairs(travellers, self.persons, ti, pi, self.model)

    def candidates(self, travellers: Side) -> tuple[np.ndarray, np.ndarray]:
        """Return blocked (traveller index, person index) candidate pairs."""
        return blocked_pairs(travellers, self.persons)

    def reported(self, scores: PairScores, threshold: float) -> pd.DataFrame:
        """Rows of ``scores`` that may be reported: gate passed and probability >= threshold."""
        return _reported(scores.frame, threshold)

    def match_side(self, travellers: Side, threshold: float | None = None) -> MatchResult:
        """Block, score and report matches of prepared travellers, with explanation rows.

        The candidate pairs that survive pruning are scored in parts cut by
        :func:`apiflag.fanout.spans` (at most :data:`CHUNK` pairs each), as tasks on the Dask
        cluster when the night runs on one; the reported rows are gathered in pair order, so
        the result never depends on the split.
        """
        thr = self.threshold_or_default(threshold)
        ti, pi = self.candidates(travellers)
        keep = prune_pairs(travellers, self.persons, ti, pi, self.model, thr, self.name_bound)
        ti, pi = ti[keep], pi[keep]
        at = fanout.where()
        pairs = [
            (ti[r.start : r.stop], pi[r.start : r.stop])
            for r in fanout.spans(len(ti), at.workers, CHUNK)
        ]
        shared = _Scoring(travellers, self.persons, self.model, thr)
        parts = list(fanout.run_parts(_reported_pairs, pairs, at, name="match", shared=shared))
        hits = (
            pd.concat(parts, ignore_index=True) if parts else self.score(travellers, ti, pi).frame
        )
        return self._result(travellers, hits)

    def _result(self, travellers: Side, hits: pd.DataFrame) -> MatchResult:
        t = hits["t"].to_numpy(dtype=np.int64)
        p = hits["p"].to_numpy(dtype=np.int64)
        rec = hits["name_rec"].to_numpy(dtype=np.int64)
        matches = pd.DataFrame(
            {
                "traveller_id": travellers.ids[t],
                "person_id": self.persons.ids[p],
                "case_id": self.case_id[p],
                "role": self.role[p],
                "probability": hits["probability"].to_numpy(dtype=np.float64),
                "match_weight": hits["match_weight"].to_numpy(dtype=np.float64),
                "protection_only": self.role[p] == "victim",
                "matched_name": self.persons.names.shown[rec],
                "name_source": self.persons.names.source[rec],
                "matcher_version": display_version(stage_code_digest("matching")),
                "model_version": self.model.version,
            },
            columns=MATCH_COLUMNS,
        )
        matches["_t"] = t
        matches = matches.sort_values(
            ["_t", "probability", "person_id"], ascending=[True, False, True], kind="stable"
        )
        order = matches.index.to_numpy()
        matches = matches.drop(columns="_t").reset_index(drop=True)
        rows: list[dict[str, Any]] = []
        for i in order:
            row = hits.iloc[int(i)]
            tid = travellers.ids[int(row["t"])]
            pid = self.persons.ids[int(row["p"])]
            cid = self.case_id[int(row["p"])]
            for n, fr in enumerate(explain_pair(row, travellers, self.persons, self.model)):
                rows.append(
                    {"traveller_id": tid, "person_id": pid, "case_id": cid, "order": n, **fr}
                )
        fields = pd.DataFrame(rows, columns=FIELD_COLUMNS)
        return MatchResult(matches=matches, fields=fields)


def match_travellers(
    travellers: pd.DataFrame,
    documents: pd.DataFrame,
    db: CaseDatabase,
    threshold: float | None = None,
    model: MatcherModel | None = None,
) -> MatchResult:
    """Match one night's travellers against the case database.

    Args:
        travellers: warehouse ``travellers`` table (see :func:`traveller_side`).
        documents: warehouse ``documents`` table (``owner_kind`` api or pnr).
        db: the case database (:func:`apiflag.casedb.load`).
        threshold: reporting threshold on the probability (default: the model's).
        model: matcher parameters (default: ``models/matcher.json``).

    Returns:
        ``matches`` (columns :data:`MATCH_COLUMNS`) and ``fields`` (:data:`FIELD_COLUMNS`);
        every field row set sums to its match's ``match_weight``.
    """
    matcher = Matcher(db, model)
    return matcher.match_side(traveller_side(travellers, documents), threshold)


def field_levels() -> dict[str, tuple[str, ...]]:
    """Return every field and its levels (for documentation and reports)."""
    return dict(FIELDS)
