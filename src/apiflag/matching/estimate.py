"""Re-estimating the matcher's parameters on a synthetic world (``models/matcher.json``).

Decides how the parameters are learned from labelled pairs:

- ``m`` per level: the share of true (traveller, case person) links (``truth/case_links.csv``)
  at that level, smoothed toward the previous model's ``m`` with ``pseudo`` pairs (so a level
  the world never produces keeps a small, reviewable probability instead of zero).
- ``u`` per level: the share among uniformly drawn random (traveller, person) pairs that are
  not links, smoothed the same way.
- term frequencies of surnames and given names among the world's travellers.
- ``p_traveller_in_db``: linked travellers / travellers.
- ``name_order`` weights and the Jaro-Winkler bands are policy, kept from the previous model.

Travellers are read the way production reads them: the world's PAXLST files parsed with
:mod:`apiflag.edifact` (truth is only used for the labels). Run it with
``python -m apiflag.matching.estimate --world DIR [--out models/matcher.json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apiflag.casedb import CaseDatabase, load
from apiflag.edifact import contract_rows, parse_bytes
from apiflag.errors import ApiflagError
from apiflag.fanout import spans
from apiflag.matching.match import CHUNK, Matcher, traveller_side
from apiflag.matching.model import DEFAULT_MODEL_PATH, FIELDS, Level, MatcherModel, load_model
from apiflag.matching.normalise import normalise_name
from apiflag.matching.scoring import Side
from apiflag.normalise import TRAVELLER_KEY, traveller_key_frame

__all__ = [
    "KEY",
    "estimate",
    "estimate_prior",
    "evaluate",
    "for_population",
    "labelled_pairs",
    "main",
    "quality",
    "term_frequencies",
    "world_travellers",
]

KEY = list(TRAVELLER_KEY)

ESTIMATED_FIELDS = ("surname", "given_names", "date_of_birth", "document", "nationality")


def world_travellers(world: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every PAXLST file of a world (current and history nights) into matcher inputs.

    Returns:
        ``travellers`` (``traveller_id`` plus the traveller key and ``nationality``) and
        ``documents`` (``owner_kind='api', owner_id, number``). Files that do not parse are
        skipped (messy files are the ingest stage's business) and counted in
        ``travellers.attrs['unparsed']``.
    """
    rows: list[dict[str, object]] = []
    docs: list[dict[str, object]] = []
    unparsed = 0
    files = sorted(world.glob("nights/*/paxlst/*.edi")) + sorted(
        world.glob("history/nights/*/paxlst/*.edi")
    )
    for path in files:
        night = path.parent.parent.name
        try:
            parsed = parse_bytes(path.read_bytes(), str(path))
        except ApiflagError:
            unparsed += 1
            continue
        for obj in contract_rows(parsed, str(path)):
            tid = f"T{len(rows)}"
            documents = obj.get("documents") or []
            flight = obj.get("flight") or {}
            rows.append(
                {
                    "traveller_id": tid,
                    "night": night,
                    "carrier": flight.get("carrier"),
                    "number": flight.get("number"),
                    "surname": obj.get("surname"),
                    "given_names": obj.get("given_names"),
                    "date_of_birth": obj.get("date_of_birth"),
                    "document_number": documents[0]["number"] if documents else None,
                    "nationality": obj.get("nationality"),
                    "role": obj.get("role"),
                }
            )
            for d in documents:
                docs.append({"owner_kind": "api", "owner_id": tid, "number": d["number"]})
    travellers = pd.DataFrame(rows)
    travellers.attrs["unparsed"] = unparsed
    return travellers, pd.DataFrame(docs, columns=["owner_kind", "owner_id", "number"])


def _key_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return traveller_key_frame(frame[KEY])


def labelled_pairs(world: Path, travellers: pd.DataFrame) -> pd.DataFrame:
    """Join ``truth/case_links.csv`` to parsed travellers on the traveller key.

    Returns:
        The truth rows with ``traveller_id`` (null when the traveller was not parsed) and
        ``person_id`` (empty for decoys), ``variant_kind`` and ``decoy_kind``.
    """
    truth = pd.read_csv(world / "truth" / "case_links.csv", dtype=str, keep_default_na=False)
    keyed = _key_frame(travellers).assign(traveller_id=travellers["traveller_id"].to_numpy())
    keyed = keyed.drop_duplicates(KEY)
    return truth.merge(keyed, on=KEY, how="left")


def _level_counts(frame: pd.DataFrame, field: str) -> Counter[str]:
    return Counter(frame[f"{field}_level"].tolist())


MIN_COUNT = 5
"""A level seen fewer times than this (in true links for m, random pairs for u) keeps the previous
model's value: the world does not exercise it (synthetic birth dates never vary, for instance)."""


def _estimate_side(
    counts: Counter[str], previous: dict[str, float], pseudo: float
) -> dict[str, float]:
    """Estimate one distribution over levels, keeping the previous value of rarely seen levels.

    Levels seen at least :data:`MIN_COUNT` times share the probability mass the kept levels
    leave, in proportion to their smoothed counts; ``missing`` is not a level of the model.
    """
    estimated = [n for n in previous if counts.get(n, 0) >= MIN_COUNT]
    kept_mass = sum(v for n, v in previous.items() if n not in estimated)
    raw = {n: counts[n] + pseudo * previous[n] for n in estimated}
    total = sum(raw.values())
    out = dict(previous)
    for n in estimated:
        out[n] = (1.0 - kept_mass) * raw[n] / total
    return out


def estimate(
    world: Path,
    previous: MatcherModel,
    *,
    pseudo: float = 10.0,
    n_random: int = 300_000,
    seed: int = 0,
    version: str | None = None,
) -> MatcherModel:
    """Estimate m, u, term frequencies and the prior on a synthetic world.

    Args:
        world: a folder written by ``apiflag synth``.
        previous: the model whose m/u the estimates are smoothed toward (and whose policy
            parameters are kept).
        pseudo: weight of the previous model, in pairs.
        n_random: random non-link pairs drawn for ``u``.
        seed: random seed of the draw.
        version: version of the new model (default: previous version + 1 in the minor part).

    Returns:
        The new model (not yet saved).
    """
    db: CaseDatabase = load(f"sqlite:///{world / 'casedb.sqlite'}")
    travellers, documents = world_travellers(world)
    links = labelled_pairs(world, travellers)
    true = links[(links["person_id"] != "") & links["traveller_id"].notna()]
    matcher = Matcher(db, previous)
    side = traveller_side(travellers, documents)
    t_index = pd.Series(np.arange(len(travellers)), index=travellers["traveller_id"].to_numpy())
    p_index = pd.Series(np.arange(len(db.persons)), index=db.persons["person_id"].to_numpy())
    ti = t_index.reindex(true["traveller_id"].to_numpy()).to_numpy(dtype=np.int64)
    pi = p_index.reindex(true["person_id"].to_numpy()).to_numpy(dtype=np.int64)
    m_scores = matcher.score(side, ti, pi).frame
    rng = np.random.default_rng(seed)
    rt = rng.integers(0, len(travellers), n_random)
    rp = rng.integers(0, len(db.persons), n_random)
    linked = set(zip(ti.tolist(), pi.tolist(), strict=True))
    keep = np.array([(a, b) not in linked for a, b in zip(rt.tolist(), rp.tolist(), strict=True)])
    u_scores = matcher.score(side, rt[keep], rp[keep]).frame
    levels: dict[str, dict[str, Level]] = {}
    kept: list[str] = []
    for field, names in FIELDS.items():
        if field not in ESTIMATED_FIELDS:
            levels[field] = dict(previous.levels[field])
            continue
        mc, uc = _level_counts(m_scores, field), _level_counts(u_scores, field)
        m_est = _estimate_side(mc, {n: previous.levels[field][n].m for n in names}, pseudo)
        u_est = _estimate_side(uc, {n: previous.levels[field][n].u for n in names}, 0.0)
        kept += [f"{field}.{n}.m" for n in names if mc.get(n, 0) < MIN_COUNT]
        kept += [f"{field}.{n}.u" for n in names if uc.get(n, 0) < MIN_COUNT]
        levels[field] = {n: Level(n, m_est[n], u_est[n]) for n in names}
    n = len(travellers)
    tf = term_frequencies(travellers)
    linked_travellers = true["traveller_id"].nunique()
    major, _, minor = previous.version.partition(".")
    new_version = version or f"{major}.{int(minor.split('-')[0]) + 1 if minor[:1].isdigit() else 1}"
    fitted = replace(
        previous,
        version=new_version,
        p_traveller_in_db=max(linked_travellers, 1) / n,
        levels=levels,
        term_frequencies=tf,
        tf_floor=round(max(3.0 / n, 1e-5), 8),
        estimation={
            "method": "labelled pairs (truth/case_links.csv) for m, random non-link pairs for u, "
            f"smoothed toward version {previous.version} with {pseudo:g} pseudo-pairs; "
            "name_order and Jaro-Winkler bands are policy, kept",
            "world_parameters": _world_parameters(world),
            "travellers": n,
            "case_persons": len(db.persons),
            "true_links": len(true),
            "random_pairs": int(keep.sum()),
            "kept_from_previous": kept,
            "estimated_on": dt.date.today().isoformat(),
        },
    )
    slope, intercept, n_cal = _calibrate(fitted, db, side, ti, pi)
    fitted.estimation["calibration_pairs"] = n_cal
    return replace(fitted, calibration_slope=slope, calibration_intercept=intercept)


def term_frequencies(travellers: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Return the share of travellers carrying each normalised surname and given names.

    Values are keyed the way scoring looks them up (normalised, tokens joined without spaces);
    a value seen fewer than 3 times is left to the model's ``tf_floor``.
    """
    n = max(len(travellers), 1)
    tf: dict[str, dict[str, float]] = {}
    for field in ("surname", "given_names"):
        norm = travellers[field].fillna("").map(lambda v: "".join(normalise_name(v).split()))
        counts = norm[norm != ""].value_counts()
        tf[field] = {str(k): round(float(v) / n, 8) for k, v in counts.items() if v >= 3}
    return tf


def estimate_prior(
    matcher: Matcher, side: Side, *, iterations: int = 100, tolerance: float = 1e-6
) -> float:
    """Estimate ``p_traveller_in_db`` for a batch without labels (a fixed point, as EM does).

    Every blocked candidate pair that passes the gate is scored once; its weight without the
    prior is kept. Then, starting from the model's prior, the expected share of travellers who
    are a case person, ``mean over travellers of min(1, sum of their pairs' probabilities)``,
    is recomputed under the current prior until it stops moving. Pairs outside the gate are
    never reported and count for nothing.

    Args:
        matcher: the case database and the model (whose term frequencies should already be
            those of the population, see :func:`for_population`).
        side: the prepared travellers.
        iterations: at most this many updates.
        tolerance: stop when the prior moves by less than this (relative).

    Returns:
        The estimated prior, at least one traveller in the batch.
    """
    model = matcher.model
    n_persons, n_travellers = len(matcher.persons), max(len(side), 1)
    ti, pi = matcher.candidates(side)
    t_parts, w_parts = [], []
    for r in spans(len(ti), 1, CHUNK):
        frame = matcher.score(side, ti[r.start : r.stop], pi[r.start : r.stop]).frame
        frame = frame[frame["gate"]]
        t_parts.append(frame["t"].to_numpy(dtype=np.int64))
        w_parts.append(frame["match_weight"].to_numpy(dtype=np.float64))
    t = np.concatenate(t_parts) if t_parts else np.zeros(0, dtype=np.int64)
    base = (np.concatenate(w_parts) if w_parts else np.zeros(0)) - model.prior_weight(n_persons)
    floor = 1.0 / n_travellers
    prior = model.p_traveller_in_db
    for _ in range(iterations):
        trial = replace(model, p_traveller_in_db=prior)
        p = np.asarray(trial.probability(base + trial.prior_weight(n_persons)))
        per_traveller = np.bincount(t, weights=p, minlength=n_travellers)
        new = max(float(np.minimum(per_traveller, 1.0).sum()) / n_travellers, floor)
        new = min(new, 0.5)
        moved = abs(new - prior) / prior
        prior = new
        if moved < tolerance:
            break
    return prior


def _random_pair_u(
    model: MatcherModel, matcher: Matcher, side: Side, n_random: int = 300_000, seed: int = 0
) -> dict[str, dict[str, Level]]:
    """Return the model's levels with ``u`` re-estimated on uniformly drawn pairs.

    Unlabelled: a random pair is a link with probability about ``1 / persons``, so the level
    shares among random pairs are the ``u`` probabilities. Levels seen fewer than
    :data:`MIN_COUNT` times keep their previous ``u``.
    """
    rng = np.random.default_rng(seed)
    n = min(n_random, len(side) * len(matcher.persons))
    rt = rng.integers(0, len(side), n)
    rp = rng.integers(0, len(matcher.persons), n)
    frame = matcher.score(side, rt, rp).frame
    levels = {f: dict(v) for f, v in model.levels.items()}
    for field, names in FIELDS.items():
        if field not in ESTIMATED_FIELDS:
            continue
        u = _estimate_side(
            _level_counts(frame, field), {k: model.levels[field][k].u for k in names}, 0.0
        )
        levels[field] = {k: Level(k, model.levels[field][k].m, u[k]) for k in names}
    return levels


def for_population(
    previous: MatcherModel,
    db: CaseDatabase,
    travellers: pd.DataFrame,
    documents: pd.DataFrame,
    *,
    version: str | None = None,
) -> MatcherModel:
    """Adapt a model to the database and traveller population at hand, without labels.

    The term frequencies become the travellers' own (:func:`term_frequencies`), ``u`` of every
    level the population shows often enough is re-estimated on random (traveller, person)
    pairs (nearly all of them non-links: how often strangers agree this way), and the prior is
    re-estimated (:func:`estimate_prior`) under them; m, the calibration and the policy
    parameters are kept. This is what a unit does when its case database or its traffic no
    longer looks like the world the model was fitted on.

    Returns:
        The adapted model (not yet saved); ``estimation["population"]`` says on what.
    """
    n = max(len(travellers), 1)
    tf_model = replace(
        previous,
        term_frequencies=term_frequencies(travellers),
        tf_floor=round(max(3.0 / n, 1e-7), 10),
    )
    side = traveller_side(travellers, documents)
    tf_model = replace(tf_model, levels=_random_pair_u(tf_model, Matcher(db, tf_model), side))
    prior = estimate_prior(Matcher(db, tf_model), side)
    estimation = dict(previous.estimation)
    estimation["population"] = {
        "method": "term frequencies of these travellers, u on random pairs, prior by fixed "
        "point of the expected share of linked travellers; m and calibration kept from "
        f"version {previous.version}",
        "travellers": len(travellers),
        "case_persons": len(db.persons),
        "estimated_on": dt.date.today().isoformat(),
    }
    return replace(
        tf_model,
        version=version or f"{previous.version}-population",
        p_traveller_in_db=prior,
        estimation=estimation,
    )


def _calibrate(
    model: MatcherModel,
    db: CaseDatabase,
    side: Side,
    true_t: np.ndarray,
    true_p: np.ndarray,
) -> tuple[float, float, int]:
    """Fit ``P(link | candidate) = sigmoid(slope * weight + intercept)`` (log2 units).

    Fitted on the candidate pairs production would consider (blocked, gate passed), labelled
    by truth, with a logistic regression on the single feature ``match_weight``.
    """
    from sklearn.linear_model import LogisticRegression

    matcher = Matcher(db, replace(model, calibration_slope=1.0, calibration_intercept=0.0))
    ti, pi = matcher.candidates(side)
    frame = matcher.score(side, ti, pi).frame
    frame = frame[frame["gate"]]
    truth = set(zip(true_t.tolist(), true_p.tolist(), strict=True))
    y = np.array([(a, b) in truth for a, b in zip(frame["t"], frame["p"], strict=True)])
    if y.all() or not y.any():
        return 1.0, 0.0, len(frame)
    x = frame[["match_weight"]].to_numpy()
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
    ln2 = float(np.log(2.0))
    return float(fit.coef_[0][0]) / ln2, float(fit.intercept_[0]) / ln2, len(frame)


def _world_parameters(world: Path) -> dict[str, object]:
    import json

    try:
        data = json.loads((world / "world.json").read_text())
    except (OSError, ValueError):
        return {}
    params = data.get("parameters", {})
    return dict(params) if isinstance(params, dict) else {}


def main(argv: list[str] | None = None) -> int:
    """Command line: re-estimate ``models/matcher.json`` on a world and print the weights."""
    ap = argparse.ArgumentParser(prog="python -m apiflag.matching.estimate", description=__doc__)
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    ap.add_argument("--from", dest="previous", type=Path, default=None)
    ap.add_argument("--pseudo", type=float, default=10.0)
    ap.add_argument("--version", default=None)
    ap.add_argument("--threshold", type=float, default=None, help="new default threshold")
    args = ap.parse_args(argv)
    model = estimate(
        args.world, load_model(args.previous), pseudo=args.pseudo, version=args.version
    )
    if args.threshold is not None:
        model = replace(model, default_threshold=args.threshold)
    model.save(args.out)
    for field, levels in model.levels.items():
        print(field, " ".join(f"{k}={v.weight:+.2f}" for k, v in levels.items()))
    print(f"p_traveller_in_db={model.p_traveller_in_db:.2e} version={model.version} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def quality(links: pd.DataFrame, matches: pd.DataFrame) -> dict[str, Any]:
    """Measure recall per variant kind and false-positive rates per decoy kind.

    A true link counts as found when its (traveller, person) pair is reported. A decoy counts
    as a false positive when its traveller is reported against any person of the decoy's case.
    Precision is over every reported pair: true links / reported.

    Args:
        links: :func:`labelled_pairs` of the world.
        matches: reported pairs (``traveller_id, person_id, case_id``).

    Returns:
        ``{"recall", "precision", "reported", "true_reported", "true_links",
        "variants": {kind: {n, found, recall}}, "decoys": {kind: {n, reported,
        false_positive_rate}}, "missed", "false"}``.
    """
    reported = set(zip(matches["traveller_id"], matches["person_id"], strict=True))
    reported_case = set(zip(matches["traveller_id"], matches["case_id"], strict=True))
    true = links[(links["person_id"] != "") & links["traveller_id"].notna()]
    truth_pairs = set(zip(true["traveller_id"], true["person_id"], strict=True))
    variants: dict[str, dict[str, float]] = {}
    for kind, group in true.groupby("variant_kind"):
        pairs = zip(group["traveller_id"], group["person_id"], strict=True)
        found = sum(pair in reported for pair in pairs)
        variants[str(kind)] = {"n": len(group), "found": found, "recall": found / len(group)}
    decoys: dict[str, dict[str, float]] = {}
    decoy_rows = links[(links["person_id"] == "") & links["traveller_id"].notna()]
    for kind, group in decoy_rows.groupby("decoy_kind"):
        pairs = zip(group["traveller_id"], group["case_id"], strict=True)
        hit = sum(pair in reported_case for pair in pairs)
        decoys[str(kind)] = {
            "n": len(group),
            "reported": hit,
            "false_positive_rate": hit / len(group),
        }
    true_reported = len(reported & truth_pairs)
    return {
        "recall": true_reported / max(len(truth_pairs), 1),
        "precision": true_reported / max(len(reported), 1),
        "reported": len(reported),
        "true_reported": true_reported,
        "true_links": len(truth_pairs),
        "variants": variants,
        "decoys": decoys,
        "missed": sorted(truth_pairs - reported),
        "false": sorted(reported - truth_pairs),
    }


def evaluate(world: Path, model: MatcherModel, threshold: float | None = None) -> dict[str, Any]:
    """Match a world's parsed travellers and measure :func:`quality` against its truth."""
    db = load(f"sqlite:///{world / 'casedb.sqlite'}")
    travellers, documents = world_travellers(world)
    links = labelled_pairs(world, travellers)
    matcher = Matcher(db, model)
    thr = matcher.threshold_or_default(threshold)
    result = matcher.match_side(traveller_side(travellers, documents), thr)
    return {"threshold": thr, **quality(links, result.matches)}
