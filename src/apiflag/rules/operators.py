"""The one table of rule operators: it drives evaluation, operand checks, error text and docs.

Every operator is a row of :data:`OPERATORS`: what operand it takes, which feature types it
applies to, a sentence template, a line of documentation, and the vectorised function that turns
a whole feature column into a boolean mask. Nothing else in apiflag knows an operator by name.

Null semantics (one rule, everywhere): a missing value never satisfies a condition, except
``is_null``. So ``{op: ne, value: true}`` is false for an unknown value, and an ``unless`` that
reads an unknown value does not exonerate. Rule text is data: it is never passed to ``eval`` or
to a pandas query string.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["Column", "OPERATORS", "Operator", "OperandKind", "operators_markdown"]

OperandKind = Literal["scalar", "number", "list", "pair", "bool", "pattern"]


@dataclasses.dataclass(frozen=True)
class Column:
    """One feature column prepared for evaluation.

    ``kind`` is ``num`` (float64 values, NaN where null), ``bool`` (bool values), ``str``
    (a pandas str Series) or ``date`` (datetime64 values). ``null`` marks missing values.
    """

    kind: Literal["num", "bool", "str", "date"]
    values: Any
    null: np.ndarray

    @classmethod
    def of(cls, series: pd.Series, feature_type: str) -> Column:
        """Prepare ``series`` (typed as FEATURE_SPEC says) for the operators."""
        null = series.isna().to_numpy(dtype=bool)
        if feature_type == "bool":
            values = series.astype("boolean").to_numpy(dtype=bool, na_value=False)
            return cls("bool", values, null)
        if feature_type in ("int", "float"):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            return cls("num", values, null)
        if feature_type == "date":
            values = pd.to_datetime(series, errors="coerce").to_numpy(dtype="datetime64[us]")
            return cls("date", values, null)
        return cls("str", series.astype("str"), null)

    def scalar(self, value: Any) -> Any:
        """Convert a rule's operand to this column's domain."""
        if self.kind == "date":
            return np.datetime64(pd.Timestamp(value).to_datetime64(), "us")
        if self.kind == "num" and isinstance(value, bool):
            return float(value)
        return value


def _mask(x: Any) -> np.ndarray:
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=bool, na_value=False)
    return np.asarray(x, dtype=bool)


def _other(col: Column, operand: Any) -> tuple[Any, np.ndarray]:
    """The right-hand side: a Column (``ref``) or a scalar, and its null mask."""
    if isinstance(operand, Column):
        rhs = operand.values
        if col.kind == "str":
            rhs = operand.values.to_numpy(dtype=object, na_value=None)
        return rhs, operand.null
    return col.scalar(operand), np.zeros(1, dtype=bool)


def _compare(fn: Callable[[Any, Any], Any]) -> Callable[[Column, Any], np.ndarray]:
    def apply(col: Column, operand: Any) -> np.ndarray:
        rhs, rhs_null = _other(col, operand)
        if col.kind == "str":
            lhs = col.values
            if isinstance(operand, Column):
                lhs = col.values.to_numpy(dtype=object, na_value=None)
                ok = ~(col.null | rhs_null)
                out = np.zeros(len(col.null), dtype=bool)
                out[ok] = _mask(fn(lhs[ok], rhs[ok]))
                return out
            return _mask(fn(lhs, rhs)) & ~col.null
        with np.errstate(invalid="ignore"):
            return _mask(fn(col.values, rhs)) & ~col.null & ~rhs_null

    return apply


def _is_in(col: Column, operand: Any) -> np.ndarray:
    if col.kind == "str":
        return _mask(col.values.isin(list(operand))) & ~col.null
    values = [col.scalar(v) for v in operand]
    return np.isin(col.values, np.asarray(values, dtype=col.values.dtype)) & ~col.null


def _not_in(col: Column, operand: Any) -> np.ndarray:
    return ~_is_in(col, operand) & ~col.null


def _between(col: Column, operand: Any) -> np.ndarray:
    lo, hi = (col.scalar(v) for v in operand)
    with np.errstate(invalid="ignore"):
        return (col.values >= lo) & (col.values <= hi) & ~col.null


def _is_null(col: Column, operand: Any) -> np.ndarray:
    return col.null.copy() if operand in (None, True) else ~col.null


def _matches(col: Column, operand: Any) -> np.ndarray:
    return _mask(col.values.str.contains(str(operand), regex=True)) & ~col.null


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _scalar_ok(v: Any) -> bool:
    return isinstance(v, bool | str) or _is_number(v)


def check_operand_shape(kind: OperandKind, value: Any) -> str | None:
    """Return why ``value`` is not a valid operand of this shape, or None when it is."""
    if kind == "scalar":
        return None if _scalar_ok(value) else "needs one value (true/false, a number or a text)"
    if kind == "number":
        return None if _is_number(value) else "needs a number"
    if kind == "bool":
        return (
            None if value is None or isinstance(value, bool) else "takes true or false (or nothing)"
        )
    if kind == "list":
        if not isinstance(value, list) or not value:
            return "needs a non-empty list of values, e.g. [a, b]"
        bad = [v for v in value if not _scalar_ok(v) or isinstance(v, bool)]
        return f"list items must be numbers or texts, got {bad[0]!r}" if bad else None
    if kind == "pair":
        if not isinstance(value, list) or len(value) != 2 or not all(_is_number(v) for v in value):
            return "needs a list of two numbers [low, high]"
        return None if value[0] <= value[1] else "needs low <= high"
    if not isinstance(value, str) or not value:
        return "needs a regular expression text"
    try:
        re.compile(value)
    except re.error as exc:
        return f"has an invalid regular expression: {exc}"
    return None


def check_operand_type(kind: OperandKind, value: Any, feature_type: str) -> str | None:
    """Return why ``value`` does not fit a feature of ``feature_type``, or None when it does."""
    items = value if kind in ("list", "pair") else [value]
    if kind in ("bool", "pattern"):
        return None
    for v in items:
        if feature_type == "bool" and not isinstance(v, bool):
            return f"compares a true/false feature with {v!r}; use true or false"
        if feature_type in ("int", "float") and not _is_number(v):
            return f"compares a numeric feature with {v!r}; use a number"
        if feature_type == "str" and not isinstance(v, str):
            return f"compares a text feature with {v!r}; quote it as text"
    return None


@dataclasses.dataclass(frozen=True)
class Operator:
    """One row of the operator table."""

    name: str
    operand: OperandKind
    types: frozenset[str]
    ref_ok: bool
    template: str
    doc: str
    apply: Callable[[Column, Any], np.ndarray]

    def sentence(self, field: str, operand: Any) -> str:
        """Render ``field op operand`` for people (``booking.one_way is true``)."""
        shown = _show(operand)
        if self.operand == "bool":
            return self.template.format(
                field=field, value="" if operand in (None, True) else "not "
            )
        return self.template.format(field=field, value=shown)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else str(v)


# Dates are monitoring-only features (date of birth): no operator but is_null compares them.
_ALL = frozenset({"bool", "int", "float", "str"})
_ANY = _ALL | {"date"}
_ORDERED = frozenset({"int", "float"})
_LISTABLE = frozenset({"int", "float", "str"})


def _op(
    name: str,
    operand: OperandKind,
    types: frozenset[str],
    ref_ok: bool,
    template: str,
    doc: str,
    apply: Callable[[Column, Any], np.ndarray],
) -> Operator:
    return Operator(name, operand, types, ref_ok, template, doc, apply)


OPERATORS: Mapping[str, Operator] = {
    op.name: op
    for op in (
        _op(
            "eq",
            "scalar",
            _ALL,
            True,
            "{field} is {value}",
            "equal to the value",
            _compare(lambda a, b: a == b),
        ),
        _op(
            "ne",
            "scalar",
            _ALL,
            True,
            "{field} is not {value}",
            "known and not equal to the value",
            _compare(lambda a, b: a != b),
        ),
        _op(
            "lt",
            "number",
            _ORDERED,
            True,
            "{field} < {value}",
            "less than",
            _compare(lambda a, b: a < b),
        ),
        _op(
            "le",
            "number",
            _ORDERED,
            True,
            "{field} <= {value}",
            "less than or equal to",
            _compare(lambda a, b: a <= b),
        ),
        _op(
            "gt",
            "number",
            _ORDERED,
            True,
            "{field} > {value}",
            "greater than",
            _compare(lambda a, b: a > b),
        ),
        _op(
            "ge",
            "number",
            _ORDERED,
            True,
            "{field} >= {value}",
            "greater than or equal to",
            _compare(lambda a, b: a >= b),
        ),
        _op(
            "in", "list", _LISTABLE, False, "{field} in {value}", "one of the listed values", _is_in
        ),
        _op(
            "not_in",
            "list",
            _LISTABLE,
            False,
            "{field} not in {value}",
            "known and none of the listed values",
            _not_in,
        ),
        _op(
            "between",
            "pair",
            _ORDERED,
            False,
            "{field} between {value}",
            "between low and high, both included: [low, high]",
            _between,
        ),
        _op(
            "is_null",
            "bool",
            _ANY,
            False,
            "{field} is {value}unknown",
            "missing (value true, the default) or present (value false)",
            _is_null,
        ),
        _op(
            "matches",
            "pattern",
            frozenset({"str"}),
            False,
            "{field} matches {value}",
            "contains a match of the regular expression (anchor with ^ and $)",
            _matches,
        ),
    )
}


def operators_markdown() -> str:
    """The operator table as markdown, for the catalogue report and the README."""
    lines = [
        "| op | operand | feature types | `ref` allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for op in OPERATORS.values():
        lines.append(
            f"| `{op.name}` | {op.operand} | {', '.join(sorted(op.types))} | "
            f"{'yes' if op.ref_ok else 'no'} | {op.doc} |"
        )
    lines.append("")
    lines.append("A missing value satisfies no operator except `is_null`.")
    return "\n".join(lines)


def operand_summary(names: Sequence[str] | None = None) -> str:
    """One line listing the known operators (for error messages)."""
    return ", ".join(names or list(OPERATORS))
