"""A matching world whose truth is person identity: planted variants, copies and namesakes.

Decides how a large traveller batch and case database are generated when the question is
matching *quality* at scale, not the nightly pipeline. Every record (traveller or case person)
belongs to one identity; a (traveller, case person) pair is a true link exactly when both
records are the same identity, whatever the names say:

- **planted travellers**: case persons travelling under one of
  :data:`~apiflag.synth.names.VARIANT_KINDS` of their recorded name, with their recorded birth
  date and nationality, carrying their recorded document for ``doc_reuse`` of them (when one
  is recorded) and a new passport otherwise;
- **exact copies**: a share of case persons recorded twice (in two cases, same name and birth
  date): a traveller of that identity is a true link to both records;
- **everyone else** is a new identity drawn from the same name pools and birth-date range, so
  the accidental namesakes a large database produces (same name, even the same birth date,
  another person) occur at their natural rate and are true non-links.

Used by ``benchmarks/matching_scale.py`` and the estimation tests; nothing in the nightly
pipeline reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from apiflag.casedb import CaseDatabase
from apiflag.synth.names import POOLS, VARIANT_KINDS, variant

__all__ = ["MatchWorld", "match_world"]

ALIAS_SHARE = 0.2
"""Share of case persons with one recorded alias (another name from their pool)."""


@dataclass(frozen=True)
class MatchWorld:
    """Travellers, their documents, the case database and the identity truth.

    Attributes:
        travellers: ``traveller_id, surname, given_names, date_of_birth, nationality``.
        documents: ``owner_kind ('api'), owner_id, number``.
        db: the case database (persons, aliases, documents; no identifiers).
        truth: ``traveller_id, person_id, kind`` of every same-identity pair (``kind`` is the
            variant kind the traveller used, or ``copy:KIND`` for the second record of a
            person recorded twice).
        namesakes: ``traveller_id, person_id`` of pairs of different identities with the same
            nationality, surname, given names and birth date (true non-links).
    """

    travellers: pd.DataFrame
    documents: pd.DataFrame
    db: CaseDatabase
    truth: pd.DataFrame
    namesakes: pd.DataFrame


def _people(rng: np.random.Generator, n: int, given_parts: int = 1) -> pd.DataFrame:
    """Draw ``n`` identities: nationality, surname, given names, birth date, passport.

    With ``given_parts=2`` the given names are two different names of the pool (a first and
    a middle name), which multiplies the space of full names by about the pool's size.
    """
    nats = sorted(POOLS)
    nat = rng.choice(nats, n)
    sur = np.empty(n, dtype=object)
    giv = np.empty(n, dtype=object)
    for code in nats:
        idx = np.flatnonzero(nat == code)
        pool = POOLS[code]
        sur[idx] = rng.choice(np.array(pool.surnames, dtype=object), len(idx))
        givens = np.array(pool.male + pool.female, dtype=object)
        first = rng.integers(0, len(givens), len(idx))
        giv[idx] = givens[first]
        if given_parts == 2:
            second = (first + rng.integers(1, len(givens), len(idx))) % len(givens)
            giv[idx] = np.char.add(
                np.char.add(givens[first].astype(str), " "), givens[second].astype(str)
            ).astype(object)
    days = rng.integers(0, 365 * 60, n)
    dob = (pd.Timestamp("1950-01-01") + pd.to_timedelta(days, unit="D")).astype("datetime64[us]")
    docs = np.char.add(
        np.char.add("X", rng.integers(0, 9, n).astype(str)),
        rng.integers(10**7, 10**8, n).astype(str),
    )
    return pd.DataFrame(
        {"surname": sur, "given_names": giv, "date_of_birth": dob, "nationality": nat, "doc": docs}
    )


def _aliases(
    rng: np.random.Generator, persons: pd.DataFrame, n_base: int, given_parts: int
) -> dict[int, str]:
    """Per person row with an alias: another name from its pool (``SURNAME, GIVEN``)."""
    alias_of = np.flatnonzero(rng.random(n_base) < ALIAS_SHARE)
    alias_text: dict[int, str] = {}
    for i in alias_of.tolist():
        pool = POOLS[persons.at[i, "nationality"]]
        givens = pool.male + pool.female
        sur = pool.surnames[int(rng.integers(0, len(pool.surnames)))]
        alias_given = " ".join(
            givens[int(g)]
            for g in rng.choice(len(givens), min(given_parts, len(givens)), replace=False)
        )
        alias_text[i] = f"{sur}, {alias_given}"
    return alias_text


def _case_database(
    rng: np.random.Generator,
    persons: pd.DataFrame,
    n_base: int,
    copied: np.ndarray,
    has_doc: np.ndarray,
    alias_text: dict[int, str],
) -> CaseDatabase:
    """The case database of the persons: three to a case, copies in another case."""
    n_persons, n_copies = len(persons), len(copied)
    n_cases = n_persons // 3 + 1
    case_of = np.arange(n_persons) // 3
    case_of[n_base:] = (case_of[copied] + 1 + rng.integers(0, n_cases - 1, n_copies)) % n_cases
    doc_rows = np.flatnonzero(has_doc)
    return CaseDatabase(
        cases=pd.DataFrame(
            {
                "case_id": [f"C{i}" for i in range(n_cases)],
                "typology": "labour",
                "year": 2020,
                "status": "closed",
            }
        ),
        persons=pd.DataFrame(
            {
                "person_id": persons["person_id"],
                "case_id": [f"C{c}" for c in case_of],
                "role": rng.choice(["victim", "recruiter", "broker"], n_persons),
                "surname": persons["surname"],
                "given_names": persons["given_names"],
                "date_of_birth": persons["date_of_birth"],
                "nationality": persons["nationality"],
            }
        ),
        aliases=pd.DataFrame(
            {
                "person_id": [f"P{i}" for i in alias_text],
                "alias": list(alias_text.values()),
            },
            columns=["person_id", "alias"],
        ),
        documents=pd.DataFrame(
            {
                "person_id": persons["person_id"].to_numpy()[doc_rows],
                "number": persons["doc"].to_numpy()[doc_rows],
            }
        ),
        identifiers=pd.DataFrame(
            columns=["id", "case_id", "person_id", "kind", "value", "normalized"]
        ),
    )


def match_world(
    n_travellers: int,
    n_persons: int,
    n_planted: int,
    *,
    seed: int = 5,
    copy_share: float = 0.01,
    doc_share: float = 1 / 3,
    doc_reuse: float = 0.5,
    given_parts: int = 1,
) -> MatchWorld:
    """Generate a matching world whose truth is identity (see the module docstring).

    Args:
        n_travellers: traveller records.
        n_persons: case person records (including the second records of copied persons).
        n_planted: travellers who are case persons (variant kinds in turn).
        seed: random seed.
        copy_share: share of case persons recorded a second time in another case.
        doc_share: share of case persons with a recorded passport.
        doc_reuse: share of planted travellers (with a recorded passport) travelling on it.
        given_parts: 1 (the pools' given names, a small space of full names: many namesakes)
            or 2 (a first and a middle name from the pool: about the pool's size fewer).

    Returns:
        The world.
    """
    if not 0 < n_planted <= min(n_travellers, n_persons):
        raise ValueError("n_planted must be between 1 and the smaller of the two sizes")
    rng = np.random.default_rng(seed)
    n_copies = int(round(n_persons * copy_share))
    base = _people(rng, n_persons - n_copies, given_parts)
    copied = rng.choice(len(base), n_copies, replace=False)
    persons = pd.concat([base, base.iloc[copied]], ignore_index=True)
    identity = np.concatenate([np.arange(len(base)), copied])
    persons["person_id"] = [f"P{i}" for i in range(n_persons)]
    persons["identity"] = identity
    has_doc = rng.random(len(base)) < doc_share
    # aliases: another name from the person's pool, recorded on the first record
    alias_text = _aliases(rng, persons, len(base), given_parts)

    trav = _people(rng, n_travellers, given_parts)
    trav["identity"] = -1 - np.arange(n_travellers)  # new identities, never a case person
    picks = rng.choice(len(base), n_planted, replace=False)
    slots = rng.choice(n_travellers, n_planted, replace=False)
    pick = np.random.default_rng(seed + 1)
    kinds = []
    for n, (p, t) in enumerate(zip(picks.tolist(), slots.tolist(), strict=True)):
        kind = VARIANT_KINDS[n % len(VARIANT_KINDS)]
        alias = (alias_text[p],) if p in alias_text else ()
        s, g = variant(
            kind,
            base.at[p, "surname"],
            base.at[p, "given_names"],
            alias,
            lambda k: int(pick.integers(0, k)),
        )
        doc = base.at[p, "doc"] if has_doc[p] and pick.random() < doc_reuse else trav.at[t, "doc"]
        trav.loc[t, ["surname", "given_names", "date_of_birth", "nationality", "doc"]] = [
            s,
            g,
            base.at[p, "date_of_birth"],
            base.at[p, "nationality"],
            doc,
        ]
        trav.at[t, "identity"] = p
        kinds.append(kind)
    trav["traveller_id"] = [f"T{i}" for i in range(n_travellers)]
    db = _case_database(rng, persons, len(base), copied, has_doc[identity], alias_text)
    travellers = trav[["traveller_id", "surname", "given_names", "date_of_birth", "nationality"]]
    documents = pd.DataFrame(
        {"owner_kind": "api", "owner_id": trav["traveller_id"], "number": trav["doc"]}
    )
    kind_of = dict(zip(picks.tolist(), kinds, strict=True))
    planted = trav.iloc[slots][["traveller_id", "identity"]]
    truth = planted.merge(persons[["person_id", "identity"]], on="identity", how="inner")
    first = set(range(len(base)))
    truth["kind"] = [
        kind_of[int(i)] if int(pid[1:]) in first else f"copy:{kind_of[int(i)]}"
        for i, pid in zip(truth["identity"], truth["person_id"], strict=True)
    ]
    key = ["nationality", "surname", "given_names", "date_of_birth"]
    same = trav[[*key, "traveller_id", "identity"]].merge(
        persons[[*key, "person_id", "identity"]], on=key, suffixes=("_t", "_p")
    )
    namesakes = same.loc[same["identity_t"] != same["identity_p"], ["traveller_id", "person_id"]]
    return MatchWorld(
        travellers=travellers.reset_index(drop=True),
        documents=documents,
        db=db,
        truth=truth[["traveller_id", "person_id", "kind"]].reset_index(drop=True),
        namesakes=namesakes.reset_index(drop=True),
    )
