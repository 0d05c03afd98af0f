"""Fellegi-Sunter scoring of (traveller, case person) pairs, vectorised, with explanations.

Decides the comparison level of each field for a pair, the pair's match weight and whether it
may be reported:

- **names**: a traveller's surname and given names are compared with the person's recorded
  name and with each alias in three alignments: as recorded, swapped (surname <-> given names),
  and reordered (the same tokens in another order, as with family-name-first Chinese and
  Vietnamese names). The alignment with the highest name weight is kept, and the ``name_order``
  field says which one it was. Levels per part: exact (compound surnames compared without
  spaces, so DELA CRUZ = DELACRUZ), phonetic (Metaphone of folded tokens, variant groups such as
  MOHAMMED/MUHAMMAD), partial (a compound surname cut to some of its words; a given name with its
  middle name dropped), Jaro-Winkler bands, initial, different.
  Exact agreement on a common value weighs less (term frequencies).
- **date of birth**: exact, day and month swapped, one part off (the day, the month, or the
  year by one), year only, different.
- **document**: best pair of the traveller's (API and PNR) and the person's numbers: exact,
  one edit (numbers of 5+ characters), different.
- **nationality**: same, different.

Guarantees: the match weight is exactly ``prior + sum(field weights)`` (the field rows of an
explanation sum to it); a field missing on either side weighs 0; a pair's score depends only
on the two records and the model, never on how it was found (blocking) or what else is in the
batch; a pair is reportable only when its birth date or a document agrees
(:data:`~apiflag.matching.model.GATE_LEVELS`), so name evidence alone never is, and only when
its name weight is positive: a document or birth date shared under another name is not the
same person (identifier matching reports a document seen under another identity).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from apiflag.evidence import observed_pair
from apiflag.matching.blocking import (
    candidate_pairs,
    date_keys,
    document_keys,
    initial_date_keys,
    token_codes,
)
from apiflag.matching.model import FIELDS, GATE_LEVELS, MatcherModel
from apiflag.matching.normalise import PARTICLES, normalise_documents, normalise_name, phonetic

__all__ = [
    "NameTable",
    "PairScores",
    "Side",
    "prepare_side",
    "score_pairs",
    "blocked_pairs",
    "name_weight_bound",
    "prune_pairs",
    "explain_pair",
]

MISSING = "missing"
_WORKERS = 2


def _level_index(field: str) -> dict[str, int]:
    return {name: i for i, name in enumerate((*FIELDS[field], MISSING))}


LEVEL_INDEX: dict[str, dict[str, int]] = {f: _level_index(f) for f in FIELDS}


@dataclass(frozen=True)
class Part:
    """Features of one name part (surname or given names) of every record, as arrays."""

    text: np.ndarray  # normalised, tokens separated by spaces
    join: np.ndarray  # tokens without spaces
    ph: np.ndarray  # phonetic codes of the tokens, concatenated
    first: np.ndarray
    last: np.ndarray
    core: np.ndarray  # longest non-particle token
    ntok: np.ndarray
    initial: np.ndarray
    flen: np.ndarray  # length of the first token

    def take(self, idx: np.ndarray) -> Part:
        """Rows ``idx`` of every feature."""
        return Part(*(getattr(self, f)[idx] for f in Part.__dataclass_fields__))


def _part_features(values: pd.Series) -> tuple[Part, np.ndarray, list[tuple[str, ...]]]:
    """Return features of each value, the factor codes, and the unique values' tokens."""
    codes, uniques = pd.factorize(values.fillna("").astype(str), sort=False)
    tokens = [tuple(normalise_name(u).split()) for u in uniques]
    if not tokens:
        tokens = [()]
        codes = np.zeros(len(values), dtype=np.int64)
    feats: dict[str, list[Any]] = {k: [] for k in Part.__dataclass_fields__}
    for toks in tokens:
        feats["text"].append(" ".join(toks))
        feats["join"].append("".join(toks))
        feats["ph"].append("".join(phonetic(t) for t in toks))
        feats["first"].append(toks[0] if toks else "")
        feats["last"].append(toks[-1] if toks else "")
        core = [t for t in toks if t not in PARTICLES] or list(toks)
        feats["core"].append(max(core, key=len) if core else "")
        feats["ntok"].append(len(toks))
        feats["initial"].append(toks[0][:1] if toks else "")
        feats["flen"].append(len(toks[0]) if toks else 0)
    arrays = {
        k: (np.array(v, dtype=np.int64) if k in ("ntok", "flen") else np.array(v, dtype=object))
        for k, v in feats.items()
    }
    part = Part(**{k: a[codes] for k, a in arrays.items()})
    return part, np.asarray(codes), tokens


@dataclass(frozen=True)
class NameTable:
    """Name records (a traveller's name, or a case person's name and each alias)."""

    owner: np.ndarray  # index of the traveller / person owning the name
    source: np.ndarray  # "name" | "alias"
    shown: np.ndarray  # the name as recorded, for explanations
    sur: Part
    giv: Part
    bag: np.ndarray  # uint64 multiset hash of all tokens (order-free)
    token_owner: np.ndarray  # exploded tokens: owner index
    token_code: np.ndarray  # exploded tokens: phonetic code hash (0 = not a blocking token)


def _name_table(
    owner: np.ndarray, source: np.ndarray, shown: np.ndarray, surname: pd.Series, given: pd.Series
) -> NameTable:
    sur, sur_codes, sur_tokens = _part_features(surname)
    giv, giv_codes, giv_tokens = _part_features(given)
    # explode tokens of both parts for blocking and the order-free bag hash
    rec_idx: list[np.ndarray] = []
    tok_vals: list[np.ndarray] = []
    for codes, tokens in ((sur_codes, sur_tokens), (giv_codes, giv_tokens)):
        counts_u = np.array([len(t) for t in tokens], dtype=np.int64)
        starts_u = np.concatenate([[0], np.cumsum(counts_u)[:-1]])
        flat = np.array([tok for t in tokens for tok in t], dtype=object)
        counts = counts_u[codes]
        rec = np.repeat(np.arange(len(codes)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        rec_idx.append(rec)
        tok_vals.append(flat[np.repeat(starts_u[codes], counts) + offs] if len(flat) else flat)
    rec_all = np.concatenate(rec_idx)
    tok_all = pd.Series(np.concatenate(tok_vals), dtype=object)
    raw_hash = pd.util.hash_array(tok_all.to_numpy(dtype=object), categorize=True).astype(np.uint64)
    bag = np.zeros(len(owner), dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(bag, rec_all, raw_hash)
    return NameTable(
        owner=owner,
        source=source,
        shown=shown,
        sur=sur,
        giv=giv,
        bag=bag,
        token_owner=owner[rec_all],
        token_code=token_codes(tok_all).to_numpy(dtype=np.uint64),
    )


@dataclass(frozen=True)
class Side:
    """One side of the comparison (travellers or case persons), prepared once."""

    ids: np.ndarray  # traveller_id or person_id
    names: NameTable
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray
    nationality: np.ndarray
    doc_owner: np.ndarray
    doc_number: np.ndarray
    key_owner: np.ndarray
    key: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def _date_parts(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dates = pd.to_datetime(values, errors="coerce")
    year = dates.dt.year.fillna(0).to_numpy(dtype=np.int64)
    month = dates.dt.month.fillna(0).to_numpy(dtype=np.int64)
    day = dates.dt.day.fillna(0).to_numpy(dtype=np.int64)
    return year, month, day


def _split_alias(alias: str) -> tuple[str, str]:
    """Split an alias: ``"SURNAME, GIVEN NAMES"``; without a comma the last token is the surname."""
    if "," in alias:
        sur, _, giv = alias.partition(",")
        return sur.strip(), giv.strip()
    parts = alias.split()
    if len(parts) <= 1:
        return alias.strip(), ""
    return parts[-1], " ".join(parts[:-1])


def prepare_side(
    ids: pd.Series,
    surname: pd.Series,
    given_names: pd.Series,
    date_of_birth: pd.Series,
    nationality: pd.Series,
    doc_owner: np.ndarray,
    doc_number: pd.Series,
    aliases: tuple[np.ndarray, pd.Series] | None = None,
    case_side: bool = False,
) -> Side:
    """Prepare one side for blocking and scoring.

    Args:
        ids: one id per record (row order defines the record index).
        surname, given_names, date_of_birth, nationality: aligned with ``ids``.
        doc_owner: record index of each document number.
        doc_number: document numbers as written (normalised here).
        aliases: (record index, alias text) of extra name records (case side).
        case_side: the case side also emits day/month-swapped birth-date keys.
    """
    n = len(ids)
    owner = np.arange(n, dtype=np.int64)
    source = np.full(n, "name", dtype=object)
    shown = (
        surname.fillna("").astype(str).to_numpy(dtype=object)
        + np.where(given_names.fillna("").astype(str) != "", ", ", "")
        + given_names.fillna("").astype(str).to_numpy(dtype=object)
    )
    sur_s = surname.reset_index(drop=True).astype(object)
    giv_s = given_names.reset_index(drop=True).astype(object)
    if aliases is not None and len(aliases[0]):
        a_owner, a_text = aliases
        split = [_split_alias(str(a)) for a in a_text]
        owner = np.concatenate([owner, np.asarray(a_owner, dtype=np.int64)])
        source = np.concatenate([source, np.full(len(split), "alias", dtype=object)])
        shown = np.concatenate([shown, np.asarray(a_text, dtype=object)])
        sur_s = pd.concat(
            [sur_s, pd.Series([s for s, _ in split], dtype=object)], ignore_index=True
        )
        giv_s = pd.concat(
            [giv_s, pd.Series([g for _, g in split], dtype=object)], ignore_index=True
        )
    names = _name_table(owner, source, shown, sur_s, giv_s)
    year, month, day = _date_parts(date_of_birth.reset_index(drop=True))
    docs = normalise_documents(pd.Series(doc_number, dtype=object)).to_numpy(dtype=object)
    keep = docs != ""
    doc_owner = np.asarray(doc_owner, dtype=np.int64)[keep]
    docs = docs[keep]
    t_owner = names.token_owner
    k1_owner, k1 = date_keys(
        t_owner, names.token_code, year[t_owner], month[t_owner], day[t_owner], case_side
    )
    k2_owner, k2 = document_keys(doc_owner, docs)
    initial = np.array([ord(s[0]) if s else 0 for s in names.sur.join], dtype=np.uint64)
    r_owner = names.owner
    k3_owner, k3 = initial_date_keys(r_owner, initial, year[r_owner], month[r_owner], day[r_owner])
    return Side(
        ids=ids.to_numpy(dtype=object),
        names=names,
        year=year,
        month=month,
        day=day,
        nationality=nationality.fillna("").astype(str).to_numpy(dtype=object),
        doc_owner=doc_owner,
        doc_number=docs,
        key_owner=np.concatenate([k1_owner, k2_owner, k3_owner]),
        key=np.concatenate([k1, k2, k3]),
    )


def blocked_pairs(travellers: Side, persons: Side) -> tuple[np.ndarray, np.ndarray]:
    """Return the candidate (traveller index, person index) pairs that share a blocking key."""
    return candidate_pairs(travellers.key_owner, travellers.key, persons.key_owner, persons.key)


def _jw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(
        process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=_WORKERS)
    )


def _surname_levels(a: Part, b: Part, model: MatcherModel) -> np.ndarray:
    idx = LEVEL_INDEX["surname"]
    jw = _jw(a.join, b.join)
    out = np.full(len(a.join), idx["different"], dtype=np.int8)
    # assign from the weakest level up, so stronger levels overwrite weaker ones
    out[jw >= model.jw_mid] = idx["jw_mid"]
    out[jw >= model.jw_high] = idx["jw_high"]
    partial = ((a.core == b.core) | (a.last == b.last)) & (a.core != "")
    partial |= _compound_cut(a, b)
    out[partial] = idx["partial"]
    out[(a.ph == b.ph) & (a.ph != "")] = idx["phonetic"]
    out[a.join == b.join] = idx["exact"]
    out[(a.join == "") | (b.join == "")] = idx[MISSING]
    return out


def _compound_cut(a: Part, b: Part) -> np.ndarray:
    """Whether one surname is the other compound surname with some of its words left out.

    LIM is LIM ISMAIL cut to its first word, as GARCIA is GARCIA LOPEZ: the longest-token and
    last-token tests miss a kept word shorter than a dropped one. The kept words must include one
    that is not a particle (DE is not DE LA CRUZ cut short).
    """
    cut = (a.ntok != b.ntok) & (a.core != "") & (b.core != "")
    if cut.any():
        cut[cut] = _omits_tokens(a.text[cut], b.text[cut])
        short_core = np.where(a.ntok < b.ntok, a.core, b.core)
        cut &= ~np.isin(short_core, list(PARTICLES))
    return cut


def _omits_tokens(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether the shorter of each two token strings is the longer with some tokens left out.

    JOHN PAUL -> JOHN is a dropped middle name; JOHN PAUL vs JOHN MARK PETER is not (another
    middle name is a different person's given names, however common the first name).
    """
    memo: dict[tuple[str, str], bool] = {}

    def omits(x: str, y: str) -> bool:
        short, long_ = sorted((x.split(), y.split()), key=len)
        it = iter(long_)
        return all(tok in it for tok in short)

    out = np.zeros(len(a), dtype=bool)
    for i, pair in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        if pair not in memo:
            memo[pair] = omits(*pair)
        out[i] = memo[pair]
    return out


def _given_levels(a: Part, b: Part, model: MatcherModel) -> np.ndarray:
    idx = LEVEL_INDEX["given_names"]
    jw = _jw(a.join, b.join)
    out = np.full(len(a.join), idx["different"], dtype=np.int8)
    initial = (a.initial == b.initial) & (a.initial != "") & ((a.flen == 1) | (b.flen == 1))
    out[initial] = idx["initial"]
    out[jw >= model.jw_mid] = idx["jw_mid"]
    out[jw >= model.jw_high] = idx["jw_high"]
    dropped = (a.first == b.first) & (a.ntok != b.ntok) & (a.first != "")
    dropped[dropped] = _omits_tokens(a.text[dropped], b.text[dropped])
    out[dropped] = idx["dropped_middle"]
    out[(a.ph == b.ph) & (a.ph != "")] = idx["phonetic"]
    out[a.join == b.join] = idx["exact"]
    out[(a.join == "") | (b.join == "")] = idx[MISSING]
    return out


def _weights(field: str, model: MatcherModel) -> np.ndarray:
    return np.array([model.weight(field, lv) for lv in (*FIELDS[field], MISSING)], dtype=np.float64)


def _tf_weights(field: str, values: np.ndarray, model: MatcherModel) -> np.ndarray:
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    w = np.array([model.tf_weight(field, u) for u in uniques], dtype=np.float64)
    return w[inverse]


def name_weight_bound(persons: Side, model: MatcherModel) -> np.ndarray:
    """Return, per person, the largest name weight any traveller could reach against them.

    The bound is the best surname level plus the best given-name level over the person's name
    records (term-frequency exact weight or the best non-exact level, whichever is larger)
    plus the best name-order weight; missing parts contribute 0.
    """
    pn = persons.names
    bounds = []
    for field, part in (("surname", pn.sur), ("given_names", pn.giv)):
        levels = [lv for lv in FIELDS[field] if lv != "exact"]
        other = max(model.weight(field, lv) for lv in levels)
        b = np.maximum(_tf_weights(field, part.join, model), other)
        b = np.where(part.join == "", 0.0, np.maximum(b, 0.0))
        bounds.append(b)
    order_max = max(model.weight("name_order", lv) for lv in FIELDS["name_order"])
    per_record = bounds[0] + bounds[1] + order_max
    out = np.full(len(persons), -np.inf)
    np.maximum.at(out, pn.owner, per_record)
    return out


def prune_pairs(
    travellers: Side,
    persons: Side,
    ti: np.ndarray,
    pi: np.ndarray,
    model: MatcherModel,
    threshold: float,
    name_bound: np.ndarray,
) -> np.ndarray:
    """Return a mask of the pairs that could still be reported; the others provably cannot.

    Uses only cheap comparisons (birth date, nationality, whether both sides have a document)
    and :func:`name_weight_bound`: a pair is dropped when even its best possible name and
    document agreement would leave it below ``threshold`` or outside the gate. Pruning never
    changes the score of a pair it keeps, nor the set of reported pairs.
    """
    if model.calibration_slope <= 0:
        return np.ones(len(ti), dtype=bool)
    dob = _date_levels(travellers, persons, ti, pi)
    dob_w = _weights("date_of_birth", model)[dob]
    gate_dob = np.isin(
        dob, [LEVEL_INDEX["date_of_birth"][lv] for lv in GATE_LEVELS["date_of_birth"]]
    )
    t_has = np.zeros(len(travellers), dtype=bool)
    t_has[travellers.doc_owner] = True
    p_has = np.zeros(len(persons), dtype=bool)
    p_has[persons.doc_owner] = True
    doc_possible = t_has[ti] & p_has[pi]
    doc_max = max(model.weight("document", lv) for lv in FIELDS["document"])
    doc_b = np.where(doc_possible, doc_max, 0.0)
    tn, pn_nat = travellers.nationality[ti], persons.nationality[pi]
    nat_w = np.where(
        (tn == "") | (pn_nat == ""),
        0.0,
        np.where(
            tn == pn_nat,
            model.weight("nationality", "same"),
            model.weight("nationality", "different"),
        ),
    )
    nb = name_bound[pi]
    upper = model.prior_weight(len(persons)) + nb + dob_w + doc_b + nat_w
    possible = (gate_dob | doc_possible) & (nb > 0)
    return possible & (np.asarray(model.probability(upper)) >= threshold)


@dataclass(frozen=True)
class PairScores:
    """Scores of candidate pairs: one row per (traveller, person), best name record chosen.

    ``frame`` columns: ``t`` and ``p`` (record indices), ``name_rec`` (person name record),
    ``<field>_level`` (level name) and ``<field>_weight`` for every field, ``prior``,
    ``match_weight``, ``probability``, ``gate`` (birth date or document agrees, and the names
    agree on balance).
    """

    frame: pd.DataFrame


def _name_scores(
    travellers: Side, persons: Side, ti: np.ndarray, ni: np.ndarray, model: MatcherModel
) -> dict[str, np.ndarray]:
    """Score names of (traveller, person name record) pairs in the best alignment."""
    tn, pn = travellers.names, persons.names
    t_sur, t_giv = tn.sur.take(ti), tn.giv.take(ti)
    p_sur, p_giv = pn.sur.take(ni), pn.giv.take(ni)
    ws, wg, wo = (
        _weights("surname", model),
        _weights("given_names", model),
        _weights("name_order", model),
    )
    s_exact, g_exact = LEVEL_INDEX["surname"]["exact"], LEVEL_INDEX["given_names"]["exact"]
    tf_sur = _tf_weights("surname", p_sur.join, model)
    tf_giv = _tf_weights("given_names", p_giv.join, model)

    def weigh(ls: np.ndarray, lg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w_s = np.where(ls == s_exact, tf_sur, ws[ls])
        w_g = np.where(lg == g_exact, tf_giv, wg[lg])
        return w_s, w_g

    ls0 = _surname_levels(t_sur, p_sur, model)
    lg0 = _given_levels(t_giv, p_giv, model)
    ls1 = _surname_levels(t_giv, p_sur, model)
    lg1 = _given_levels(t_sur, p_giv, model)
    ws0, wg0 = weigh(ls0, lg0)
    ws1, wg1 = weigh(ls1, lg1)
    o = LEVEL_INDEX["name_order"]
    same_bag = tn.bag[ti] == pn.bag[ni]
    ls2 = np.full(len(ti), s_exact, dtype=np.int8)
    lg2 = np.where(p_giv.join == "", LEVEL_INDEX["given_names"][MISSING], g_exact).astype(np.int8)
    ws2, wg2 = weigh(ls2, lg2)
    totals = np.vstack(
        [
            ws0 + wg0 + wo[o["as_recorded"]],
            np.where(t_giv.join != "", ws1 + wg1 + wo[o["swapped"]], -np.inf),
            np.where(same_bag, ws2 + wg2 + wo[o["reordered"]], -np.inf),
        ]
    )
    choice = np.argmax(totals, axis=0)  # ties keep the earlier (as recorded) alignment
    pick = [choice == 0, choice == 1, choice == 2]
    return {
        "surname_level": np.select(pick, [ls0, ls1, ls2]).astype(np.int8),
        "given_names_level": np.select(pick, [lg0, lg1, lg2]).astype(np.int8),
        "name_order_level": choice.astype(np.int8),
        "surname_weight": np.select(pick, [ws0, ws1, ws2]),
        "given_names_weight": np.select(pick, [wg0, wg1, wg2]),
        "name_order_weight": wo[choice],
        "name_weight": totals.max(axis=0),
    }


def _date_levels(travellers: Side, persons: Side, ti: np.ndarray, pi: np.ndarray) -> np.ndarray:
    idx = LEVEL_INDEX["date_of_birth"]
    y1, m1, d1 = travellers.year[ti], travellers.month[ti], travellers.day[ti]
    y2, m2, d2 = persons.year[pi], persons.month[pi], persons.day[pi]
    same = (y1 == y2).astype(int) + (m1 == m2) + (d1 == d2)
    out = np.full(len(ti), idx["different"], dtype=np.int8)
    out[y1 == y2] = idx["year_only"]
    # one part off: the day or the month differs, or the year differs by exactly one
    out[(same == 2) & ((y1 == y2) | (np.abs(y1 - y2) == 1))] = idx["one_part_off"]
    out[(y1 == y2) & (m1 == d2) & (d1 == m2) & (m1 != d1)] = idx["day_month_swapped"]
    out[same == 3] = idx["exact"]
    out[(y1 == 0) | (y2 == 0)] = idx[MISSING]
    return out


def _document_levels(
    travellers: Side, persons: Side, ti: np.ndarray, pi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best document level per pair, with the compared numbers (traveller, person)."""
    idx = LEVEL_INDEX["document"]
    n = len(ti)
    level = np.full(n, idx[MISSING], dtype=np.int8)
    t_num = np.full(n, "", dtype=object)
    p_num = np.full(n, "", dtype=object)
    if n == 0 or len(travellers.doc_owner) == 0 or len(persons.doc_owner) == 0:
        return level, t_num, p_num
    t_has = np.zeros(len(travellers), dtype=bool)
    t_has[travellers.doc_owner] = True
    p_has = np.zeros(len(persons), dtype=bool)
    p_has[persons.doc_owner] = True
    both = np.flatnonzero(t_has[ti] & p_has[pi])
    if len(both) == 0:
        return level, t_num, p_num
    pairs = pd.DataFrame({"pair": both, "t": ti[both], "p": pi[both]})
    tdocs = pd.DataFrame({"t": travellers.doc_owner, "tnum": travellers.doc_number})
    pdocs = pd.DataFrame({"p": persons.doc_owner, "pnum": persons.doc_number})
    rows = pairs.merge(tdocs, on="t").merge(pdocs, on="p")
    if rows.empty:
        return level, t_num, p_num
    a = rows["tnum"].to_numpy(dtype=object)
    b = rows["pnum"].to_numpy(dtype=object)
    dist = np.asarray(
        process.cpdist(a, b, scorer=Levenshtein.distance, workers=_WORKERS, score_cutoff=2)
    )
    short = (np.char.str_len(a.astype(str)) < 5) | (np.char.str_len(b.astype(str)) < 5)
    lv = np.full(len(rows), idx["different"], dtype=np.int8)
    lv[(dist <= 1) & ~short] = idx["one_edit"]
    lv[a == b] = idx["exact"]
    rows = rows.assign(level=lv).sort_values(["pair", "level", "tnum", "pnum"], kind="stable")
    best = rows.drop_duplicates("pair")
    sel = best["pair"].to_numpy()
    level[sel] = best["level"].to_numpy()
    t_num[sel] = best["tnum"].to_numpy()
    p_num[sel] = best["pnum"].to_numpy()
    return level, t_num, p_num


def _categorical(field: str, codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(
        np.asarray(codes, dtype=np.int64), categories=[*FIELDS[field], MISSING]
    )


def score_pairs(
    travellers: Side, persons: Side, ti: np.ndarray, pi: np.ndarray, model: MatcherModel
) -> PairScores:
    """Score (traveller, person) pairs: field levels, weights, match weight, probability, gate.

    Args:
        travellers, persons: prepared sides.
        ti, pi: record indices of the pairs (any pairs: blocked or brute force).
        model: matcher parameters.

    Returns:
        One row per input pair, in the input order.
    """
    ti = np.asarray(ti, dtype=np.int64)
    pi = np.asarray(pi, dtype=np.int64)
    # expand each person to its name records (recorded name + aliases)
    pn = persons.names
    order = np.argsort(pn.owner, kind="stable")
    owners_sorted = pn.owner[order]
    lo = np.searchsorted(owners_sorted, pi, side="left")
    hi = np.searchsorted(owners_sorted, pi, side="right")
    counts = hi - lo
    pair_of = np.repeat(np.arange(len(pi)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rec = order[np.repeat(lo, counts) + offs]
    names = _name_scores(travellers, persons, ti[pair_of], rec, model)
    # best name record per pair: highest name weight, then the recorded name before aliases
    if len(pair_of) == len(pi):  # one name record per pair: nothing to choose
        best = np.arange(len(pi))
        best[pair_of] = np.arange(len(pair_of))
    else:
        order = np.lexsort((rec, -names["name_weight"], pair_of))
        first = np.ones(len(order), dtype=bool)
        first[1:] = pair_of[order][1:] != pair_of[order][:-1]
        best = np.empty(len(pi), dtype=np.int64)
        best[pair_of[order][first]] = order[first]
    frame = pd.DataFrame({"t": ti, "p": pi, "name_rec": rec[best]})
    for f in ("surname", "given_names", "name_order"):
        frame[f"{f}_level"] = _categorical(f, names[f"{f}_level"][best])
        frame[f"{f}_weight"] = names[f"{f}_weight"][best].astype(np.float64)
    dob = _date_levels(travellers, persons, ti, pi)
    doc, t_num, p_num = _document_levels(travellers, persons, ti, pi)
    nat_idx = LEVEL_INDEX["nationality"]
    tn, pn_nat = travellers.nationality[ti], persons.nationality[pi]
    nat = np.where(tn == pn_nat, nat_idx["same"], nat_idx["different"]).astype(np.int8)
    nat[(tn == "") | (pn_nat == "")] = nat_idx[MISSING]
    for f, lv in (("date_of_birth", dob), ("document", doc), ("nationality", nat)):
        frame[f"{f}_level"] = _categorical(f, lv)
        frame[f"{f}_weight"] = _weights(f, model)[lv]
    frame["doc_traveller"] = t_num
    frame["doc_person"] = p_num
    frame["prior"] = model.prior_weight(len(persons))
    total = frame["prior"].to_numpy().copy()
    for f in FIELDS:
        total = total + frame[f"{f}_weight"].to_numpy()
    frame["match_weight"] = total
    frame["probability"] = model.probability(total)
    gate = np.zeros(len(frame), dtype=bool)
    for f, ok in GATE_LEVELS.items():
        gate |= frame[f"{f}_level"].isin(sorted(ok)).to_numpy()
    name_weight = (
        frame["surname_weight"] + frame["given_names_weight"] + frame["name_order_weight"]
    ).to_numpy()
    frame["gate"] = gate & (name_weight > 0)
    return PairScores(frame)


_FIELD_LABEL = {
    "surname": "Surname",
    "given_names": "Given names",
    "date_of_birth": "Birth date",
    "document": "Document number",
    "nationality": "Nationality",
}


def _date_text(side: Side, i: int) -> str:
    if side.year[i] == 0:
        return "(none)"
    return dt.date(int(side.year[i]), int(side.month[i]), int(side.day[i])).isoformat()


def explain_pair(
    row: pd.Series, travellers: Side, persons: Side, model: MatcherModel
) -> list[dict[str, Any]]:
    """Return the field rows of one scored pair: field, level, weight, sentence, observed.

    The rows (prior included) sum to the pair's ``match_weight``.
    """
    t, p, rec = int(row["t"]), int(row["p"]), int(row["name_rec"])
    tn, pn = travellers.names, persons.names
    order = str(row["name_order_level"])
    t_sur, t_giv = str(tn.sur.text[t]), str(tn.giv.text[t])
    p_sur, p_giv = str(pn.sur.text[rec]), str(pn.giv.text[rec])
    if order == "swapped":
        t_sur, t_giv = t_giv, t_sur
    via = f" (recorded alias '{pn.shown[rec]}')" if pn.source[rec] == "alias" else ""
    n_persons = len(persons)
    rows: list[dict[str, Any]] = [
        {
            "field": "prior",
            "level": "prior",
            "weight": float(row["prior"]),
            "sentence": (
                f"Prior: about 1 in {round(1 / model.p_traveller_in_db):,} travellers is a case "
                f"person, and the database holds {n_persons:,} persons: {row['prior']:+.1f}"
            ),
            "observed": None,
        }
    ]

    def add(field: str, sentence: str, observed: str | None) -> None:
        w = float(row[f"{field}_weight"])
        rows.append(
            {
                "field": field,
                "level": str(row[f"{field}_level"]),
                "weight": w,
                "sentence": f"{sentence}: {w:+.1f}",
                "observed": observed,
            }
        )

    for field, a, b in (("surname", t_sur, p_sur), ("given_names", t_giv, p_giv)):
        label = _FIELD_LABEL[field]
        level = str(row[f"{field}_level"])
        if order == "reordered":
            a, b = f"{t_sur} {t_giv}".strip(), f"{p_sur} {p_giv}".strip()
        text = {
            "exact": f"{label} {b} is the same on both sides{via}",
            "phonetic": f"{label} {a} and {b} sound alike or are known variants{via}",
            "partial": f"{label} {a} and {b} share a part{via}",
            "dropped_middle": f"{label} {a} and {b} agree except a middle name{via}",
            "jw_high": f"{label} {a} and {b} are very similar{via}",
            "jw_mid": f"{label} {a} and {b} are similar{via}",
            "initial": f"{label} {a} and {b} agree on the initial only{via}",
            "different": f"{label} {a} and {b} differ{via}",
            MISSING: f"{label} missing on one side (no evidence)",
        }[level]
        if level == "exact" and field == "surname" or level == "exact" and field == "given_names":
            freq = model.term_frequencies.get(field, {}).get(
                str(pn.sur.join[rec] if field == "surname" else pn.giv.join[rec])
            )
            if freq is not None and freq >= 0.001:
                text += f", a common value (1 in {round(1 / freq):,})"
        if order == "reordered":
            text = text.replace(label, f"{label} (all name parts)", 1)
        add(field, text, observed_pair(a, b))
    add(
        "name_order",
        {
            "as_recorded": "Names in the recorded order",
            "swapped": "Surname and given names swapped",
            "reordered": "Same name parts in another order (family name first or last)",
        }[order],
        None,
    )
    td, pd_ = _date_text(travellers, t), _date_text(persons, p)
    add(
        "date_of_birth",
        {
            "exact": f"Birth date {pd_} agrees",
            "day_month_swapped": f"Birth dates {td} and {pd_} agree with day and month swapped",
            "one_part_off": f"Birth dates {td} and {pd_} differ in one part",
            "year_only": f"Birth dates {td} and {pd_} share only the year",
            "different": f"Birth dates {td} and {pd_} differ",
            MISSING: "Birth date missing on one side (no evidence)",
        }[str(row["date_of_birth_level"])],
        observed_pair(td, pd_),
    )
    a, b = str(row["doc_traveller"]), str(row["doc_person"])
    add(
        "document",
        {
            "exact": f"Document number {b} is recorded for this person",
            "one_edit": f"Document numbers {a} and {b} differ by one character",
            "different": f"Document numbers {a} and {b} differ",
            MISSING: "No document number on one side (no evidence)",
        }[str(row["document_level"])],
        observed_pair(a, b),
    )
    tnat, pnat = str(travellers.nationality[t]), str(persons.nationality[p])
    add(
        "nationality",
        {
            "same": f"Nationality {pnat} agrees",
            "different": f"Nationalities {tnat} and {pnat} differ",
            MISSING: "Nationality missing on one side (no evidence)",
        }[str(row["nationality_level"])],
        observed_pair(tnat, pnat),
    )
    assert math.isclose(sum(r["weight"] for r in rows), float(row["match_weight"]), abs_tol=1e-6)
    return rows
