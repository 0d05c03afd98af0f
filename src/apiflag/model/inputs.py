"""What the outcome model reads: each rule hit, the match logit, and the facts no rule weighs.

Decides the model's inputs and guarantees **each fact enters once**:

* every rule of the catalogue is one boolean input ``rule.<id>`` (did it fire?), so the model
  learns on reviewed outcomes what each policy rule is worth, next to its policy weight;
* the best case match enters as ``match.logit``, the log-odds of its match probability (an
  identity figure; missing when the matcher reported no match). The ``traveller.case_match_*``
  feature columns, which say the same, are left out;
* a feature column is an input only when no rule reads it. The exclusion is derived from the
  catalogue itself (:meth:`apiflag.rules.Rule.fields`, the ``when`` and ``unless`` fields of
  every rule), never from a hand-kept list, so a new rule removes what it reads from the model;
* protected attributes are never inputs (:func:`apiflag.model.data.check_no_protected`).

The model is fitted and scored over the **flagged** population (:func:`flagged_mask`): travellers
with a rule hit or a case match at or above the threshold, the only ones an officer reviews and
so the only ones with outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from apiflag.model.data import FeatureInfo, default_features

__all__ = [
    "MATCH_LOGIT",
    "model_inputs",
    "RULE_PREFIX",
    "default_inputs",
    "flagged_mask",
    "input_frame",
    "input_spec",
    "read_by_rules",
    "rule_input",
]

RULE_PREFIX = "rule."
MATCH_LOGIT = "match.logit"
#: match probabilities are clipped to this distance from 0 and 1 before the logit
_EPS = 1e-9


def rule_input(rule_id: str) -> str:
    """Return the model input that says whether a rule fired (``rule.R-012``)."""
    return f"{RULE_PREFIX}{rule_id}"


def read_by_rules(rules: Iterable[Any]) -> set[str]:
    """Return every feature column a rule of the catalogue reads (``when`` and ``unless``)."""
    out: set[str] = set()
    for rule in rules:
        out.update(rule.fields())
    return out


def input_spec(spec: Sequence[FeatureInfo], rule_ids: Iterable[str]) -> list[FeatureInfo]:
    """Return the feature specification plus one boolean per rule and the match logit."""
    extra = [
        FeatureInfo(rule_input(r), "boolean", False, f"rule {r} fired (policy rule hit)")
        for r in sorted(set(rule_ids))
    ]
    extra.append(
        FeatureInfo(
            MATCH_LOGIT,
            "numeric",
            False,
            "log-odds of the best case match's probability (identity; missing without a match)",
            "log-odds",
        )
    )
    return [*spec, *extra]


def default_inputs(
    spec: Sequence[FeatureInfo], columns: Iterable[str], rules: Sequence[Any]
) -> list[str]:
    """Return the model's default inputs: rule hits, the match logit, and unread features.

    Args:
        spec: the feature specification (without the rule and match inputs).
        columns: the columns of the training table.
        rules: the catalogue's rules (their ids and the fields they read).

    Returns:
        ``rule.<id>`` for every rule, ``match.logit``, then every default feature
        (:func:`apiflag.model.data.default_features`) that no rule reads.
    """
    present = set(columns)
    read = read_by_rules(rules)
    unread = [
        f
        for f in default_features(spec, present)
        if f not in read and not f.startswith(RULE_PREFIX) and f != MATCH_LOGIT
    ]
    hits = [rule_input(r.id) for r in rules if rule_input(r.id) in present]
    match = [MATCH_LOGIT] if MATCH_LOGIT in present else []
    return [*hits, *match, *unread]


def _match_logit(probability: pd.Series) -> np.ndarray:
    p = probability.to_numpy(dtype=float).clip(_EPS, 1.0 - _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p / (1.0 - p))


def input_frame(
    features: pd.DataFrame,
    rule_hits: pd.DataFrame | None,
    matches: pd.DataFrame | None,
    rule_ids: Iterable[str],
) -> pd.DataFrame:
    """Return the feature table with one ``rule.<id>`` column per rule and ``match.logit``.

    Args:
        features: the night's feature table (``traveller_id`` and feature columns).
        rule_hits: the night's rule hits (``traveller_id, rule_id``), or None.
        matches: the matcher's matches (``traveller_id, probability``), or None.
        rule_ids: every rule of the catalogue (a rule that did not fire is False).

    Returns:
        A copy of ``features`` with the added columns, same row order.
    """
    ids = features["traveller_id"].astype(str)
    added: dict[str, Any] = {}
    fired: dict[str, set[str]] = {}
    if rule_hits is not None and len(rule_hits):
        for rid, tid in zip(
            rule_hits["rule_id"].astype(str), rule_hits["traveller_id"].astype(str), strict=True
        ):
            fired.setdefault(rid, set()).add(tid)
    for rid in sorted(set(rule_ids)):
        added[rule_input(rid)] = ids.isin(fired.get(rid, set())).to_numpy(dtype=bool)
    logit = np.full(len(features), np.nan)
    if matches is not None and len(matches):
        best = matches.groupby(matches["traveller_id"].astype(str))["probability"].max()
        logit = _match_logit(ids.map(best.astype(float)))
    added[MATCH_LOGIT] = logit
    return features.assign(**added)


def flagged_mask(frame: pd.DataFrame, rule_ids: Iterable[str], threshold: float) -> np.ndarray:
    """Return which rows of an :func:`input_frame` are flagged (a rule hit or a strong match).

    Args:
        frame: an :func:`input_frame` result.
        rule_ids: the catalogue's rule ids.
        threshold: the case-match probability at or above which a match is queued.
    """
    cols = [rule_input(r) for r in rule_ids if rule_input(r) in frame.columns]
    hit = frame[cols].to_numpy(dtype=bool).any(axis=1) if cols else np.zeros(len(frame), bool)
    cut = math.log(threshold / (1.0 - threshold)) if 0.0 < threshold < 1.0 else math.inf
    logit = frame[MATCH_LOGIT].to_numpy(dtype=float) if MATCH_LOGIT in frame.columns else None
    strong = np.zeros(len(frame), bool)
    if logit is not None:
        strong = np.nan_to_num(logit, nan=-np.inf) >= cut - 1e-9
    return np.asarray(hit | strong, dtype=bool)


def model_inputs(
    columns: Iterable[str], features: Sequence[str] | None = None
) -> tuple[list[FeatureInfo], list[str]]:
    """Return the input specification and the inputs for a training table's columns.

    Reads the feature specification and the rule catalogue of the checkout.

    Args:
        columns: the training table's columns.
        features: inputs asked for (default :func:`default_inputs`).
    """
    from apiflag.model.data import load_feature_spec
    from apiflag.rules import load_catalogue

    rules = load_catalogue().rules
    spec = input_spec(load_feature_spec(), [r.id for r in rules])
    chosen = list(features) if features is not None else default_inputs(spec, columns, rules)
    return spec, chosen
