"""Vectorised rule evaluation over a whole night's feature table.

Each condition becomes one numpy boolean mask over all travellers (the operator table's
function, never ``eval`` or a query string); masks are combined with ``&``/``|`` along the rule's
``all``/``any`` tree, and a rule fires where ``when`` holds and ``unless`` does not. Identical
conditions shared by several rules are computed once.

Guarantees: every hit row carries the rule's ``R-xxx@version``, its track and weight, the values of
every field the rule read (``observed``, JSON) and the catalogue digest; a rule whose review date
has passed on the night being scored is skipped and named in ``warnings``, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from apiflag.features import FEATURES
from apiflag.rules.operators import OPERATORS, Column
from apiflag.rules.schema import AllOf, AnyOf, Condition, Node, Rule

__all__ = ["HITS_COLUMNS", "RuleResult", "evaluate", "rule_mask"]

HITS_COLUMNS = (
    "traveller_id",
    "rule_id",
    "rule_version",
    "ref",
    "track",
    "weight",
    "observed",
    "rules_digest",
)


@dataclasses.dataclass(frozen=True)
class RuleResult:
    """What the rules stage returns for one night.

    Attributes:
        hits: one row per (traveller, rule) that fired, columns :data:`HITS_COLUMNS`.
        rules_digest: SHA-256 of the catalogue that produced the hits.
        evaluated: ``R-xxx@v`` of the rules evaluated.
        skipped: ``R-xxx@v`` of the rules skipped (review date passed).
        warnings: one line per skipped rule, saying why.
    """

    hits: pd.DataFrame
    rules_digest: str
    evaluated: tuple[str, ...]
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]


class _Columns:
    """Feature columns prepared once per evaluation, and condition masks cached by content."""

    def __init__(self, features: pd.DataFrame, types: Mapping[str, str]) -> None:
        self.features = features
        self.types = types
        self.cols: dict[str, Column] = {}
        self.masks: dict[str, np.ndarray] = {}

    def column(self, field: str) -> Column:
        col = self.cols.get(field)
        if col is None:
            if field not in self.features.columns:
                raise KeyError(f"feature table has no column {field!r}")
            col = Column.of(self.features[field], self.types.get(field, "str"))
            self.cols[field] = col
        return col

    def condition(self, cond: Condition) -> np.ndarray:
        key = json.dumps([cond.field, cond.op, cond.value, cond.ref], sort_keys=True, default=str)
        mask = self.masks.get(key)
        if mask is None:
            operand: Any = self.column(cond.ref) if cond.ref else cond.value
            mask = OPERATORS[cond.op].apply(self.column(cond.field), operand)
            self.masks[key] = mask
        return mask


def _node(node: Node, cols: _Columns) -> np.ndarray:
    if isinstance(node, Condition):
        return cols.condition(node)
    if isinstance(node, AllOf):
        out = _node(node.all[0], cols).copy()
        for child in node.all[1:]:
            out &= _node(child, cols)
        return out
    assert isinstance(node, AnyOf)
    out = _node(node.any[0], cols).copy()
    for child in node.any[1:]:
        out |= _node(child, cols)
    return out


def _types_of(features: pd.DataFrame) -> dict[str, str]:
    return {name: spec.type for name, spec in FEATURES.items() if name in features.columns}


def rule_mask(rule: Rule, features: pd.DataFrame, _cols: Any = None) -> np.ndarray:
    """Where ``rule`` fires on ``features``: ``when`` holds and ``unless`` does not.

    Args:
        rule: the rule.
        features: a feature table (columns named by dotted path, typed as FEATURE_SPEC says).

    Returns:
        A boolean numpy array, one entry per row of ``features``.

    Raises:
        KeyError: the table lacks a field the rule reads.
    """
    cols = _cols if isinstance(_cols, _Columns) else _Columns(features, _types_of(features))
    fired = _node(rule.when, cols)
    if rule.unless is not None:
        fired = fired & ~_node(rule.unless, cols)
    return fired


def _json_values(col: Column, idx: np.ndarray) -> pa.Array:
    """JSON literals of one column at rows ``idx`` (``null`` where missing)."""
    null = col.null[idx]
    if col.kind == "bool":
        arr = pa.array(col.values[idx], mask=null)
    elif col.kind == "num":
        vals = col.values[idx]
        whole = np.isfinite(vals) & (np.floor(vals) == vals) & (np.abs(vals) < 2**53)
        if whole[~null].all():
            arr = pa.array(np.where(null, 0, vals).astype(np.int64), mask=null)
        else:
            arr = pa.array(vals, mask=null | ~np.isfinite(vals))
    elif col.kind == "date":
        arr = pa.array(
            [
                None if n else json.dumps(str(pd.Timestamp(v).date()))
                for v, n in zip(col.values[idx], null, strict=True)
            ],
            type=pa.string(),
        )
        return pc.fill_null(arr, "null")
    else:
        strings = pa.array(col.values.to_numpy(dtype=object, na_value=None)[idx], type=pa.string())
        enc = pc.dictionary_encode(strings)
        literal = pa.array([json.dumps(s) for s in enc.dictionary.to_pylist()], type=pa.string())
        arr = pc.take(literal, enc.indices)
        return pc.fill_null(arr, "null")
    return pc.fill_null(pc.cast(arr, pa.string()), "null")


def _observed(rule: Rule, cols: _Columns, idx: np.ndarray) -> pa.Array:
    parts: list[Any] = []
    for i, field in enumerate(rule.fields()):
        parts.append(("{" if i == 0 else ", ") + json.dumps(field) + ": ")
        parts.append(_json_values(cols.column(field), idx))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def evaluate(
    rules: Sequence[Rule],
    features: pd.DataFrame,
    *,
    rules_digest: str,
    night: dt.date | str | None = None,
) -> RuleResult:
    """Evaluate every rule over the whole feature table at once.

    Args:
        rules: the catalogue's rules (see :func:`apiflag.rules.catalogue.load_catalogue`).
        features: the night's feature table (``traveller_id`` plus dotted-path columns).
        rules_digest: the catalogue digest to stamp on every hit.
        night: the night being scored; rules whose ``review_by`` is before it are skipped with
            a warning. None skips nothing (use only for tests and examples).

    Returns:
        The hits table, the digest, and which rules ran or were skipped and why.

    Raises:
        KeyError: the feature table lacks a field a rule reads.
    """
    cols = _Columns(features, _types_of(features))
    day = dt.date.fromisoformat(str(night)[:10]) if night is not None else None
    traveller = pa.array(features["traveller_id"].astype("str").array).cast(pa.string())
    batches: list[pa.Table] = []
    ran: list[Rule] = []
    evaluated: list[str] = []
    skipped: list[str] = []
    warnings: list[str] = []
    for rule in rules:
        if day is not None and rule.review_by < day:
            skipped.append(rule.ref)
            warnings.append(
                f"{rule.ref} skipped: review_by {rule.review_by} is before night {day}; "
                "the rule must be reviewed and re-approved"
            )
            continue
        evaluated.append(rule.ref)
        idx = np.flatnonzero(rule_mask(rule, features, cols))
        n = len(idx)
        if n == 0:
            continue
        batches.append(
            pa.table(
                {
                    "row": pa.array(idx),
                    "rule": pa.array(np.full(n, len(ran), dtype=np.int32)),
                    "observed": _observed(rule, cols, idx),
                }
            )
        )
        ran.append(rule)
    if batches:
        t = pa.concat_tables(batches)
        rule_at = t["rule"]

        def per_rule(values: list[Any], type_: pa.DataType) -> pa.ChunkedArray:
            return pc.take(pa.array(values, type=type_), rule_at)

        table = pa.table(
            {
                "traveller_id": pc.take(traveller, t["row"]),
                "rule_id": per_rule([r.id for r in ran], pa.string()),
                "rule_version": per_rule([r.version for r in ran], pa.int64()),
                "ref": per_rule([r.ref for r in ran], pa.string()),
                "track": per_rule([r.track for r in ran], pa.string()),
                "weight": per_rule([r.weight for r in ran], pa.float64()),
                "observed": t["observed"],
                "rules_digest": per_rule([rules_digest] * len(ran), pa.string()),
            }
        )
        hits = table.to_pandas(types_mapper=_pandas_types)
    else:
        hits = pd.DataFrame(
            {
                "traveller_id": pd.array([], dtype="str"),
                "rule_id": pd.array([], dtype="str"),
                "rule_version": np.array([], dtype=np.int64),
                "ref": pd.array([], dtype="str"),
                "track": pd.array([], dtype="str"),
                "weight": np.array([], dtype=np.float64),
                "observed": pd.array([], dtype="str"),
                "rules_digest": pd.array([], dtype="str"),
            }
        )
    return RuleResult(hits, rules_digest, tuple(evaluated), tuple(skipped), tuple(warnings))


def _pandas_types(t: pa.DataType) -> Any:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype(storage="pyarrow", na_value=np.nan)
    return None
