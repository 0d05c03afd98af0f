"""Training data for the model: which columns may be features, and how time is split.

Decides three things and guarantees them:

* **No protected attribute is ever a feature.** A feature list naming a column the feature
  specification marks protected, or whose name says it is one (nationality, sex, age, date or
  place of birth, residence, religion, meal or medical codes, minors), is refused with an
  :class:`~apiflag.errors.ApiflagError` (exit 1). Protected columns stay in the table for the
  fairness report and the proxy audit only.
* **Time split.** Nights are sorted; the last ``eval_fraction`` of them are for evaluation
  only, the last ``calibration_fraction`` of the remaining ones calibrate, the rest fit. No
  night is in two slices, and every evaluation night is later than every training night.
* **Labels come from recorded outcomes only** (``history/outcomes.csv``), never from ``truth/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.model.scorecard import FeatureKind

__all__ = [
    "FLAGGED",
    "FeatureInfo",
    "LABEL",
    "REVIEWED",
    "WEIGHT",
    "MATCH_SCORE",
    "NIGHT",
    "PROTECTED_MONITORING",
    "RULE_SCORE",
    "TRAVELLER_ID",
    "TimeSplit",
    "check_no_protected",
    "default_features",
    "fit_population",
    "frame_digest",
    "is_protected_name",
    "load_feature_spec",
    "split_by_time",
]

TRAVELLER_ID = "traveller_id"
NIGHT = "night"
LABEL = "label"
#: the population columns of a training table (:func:`apiflag.model.pipeline.build_training_frame`)
FLAGGED = "flagged"
REVIEWED = "reviewed"
WEIGHT = "weight"
RULE_SCORE = "rules.score"
MATCH_SCORE = "match.score"
#: the monitoring columns the fairness report groups by: (column, report name)
PROTECTED_MONITORING = (
    ("traveller.nationality", "nationality"),
    ("traveller.sex", "sex"),
    ("traveller.age_band", "age_band"),
)

_PROTECTED_TOKENS = {
    "nationality",
    "citizenship",
    "sex",
    "gender",
    "age",
    "age_band",
    "agegroup",
    "age_group",
    "date_of_birth",
    "dob",
    "birth",
    "birth_date",
    "place_of_birth",
    "country_of_residence",
    "residence",
    "religion",
    "ethnicity",
    "ethnic",
    "race",
    "meal",
    "medical",
    "health",
    "is_minor",
    "minor",
    "name_origin",
}


@dataclass(frozen=True)
class FeatureInfo:
    """One feature as the model sees it: name, kind, protected flag and description."""

    name: str
    kind: FeatureKind
    protected: bool
    description: str = ""
    unit: str = ""


def is_protected_name(name: str) -> bool:
    """Return True when a column's name says it carries a protected attribute.

    The check splits the dotted name into words (``traveller.age_band`` -> ``traveller``,
    ``age_band``, ``age``, ``band``) so that ``agency`` or ``baggage`` do not trip it.
    """
    lowered = name.lower()
    parts = set(re.split(r"[.]", lowered))
    words = set(re.split(r"[._\-]", lowered))
    return bool((parts | words) & _PROTECTED_TOKENS)


def _kind_of(type_name: str) -> FeatureKind:
    t = type_name.lower()
    if t in {"bool", "boolean", "flag"}:
        return "boolean"
    if t in {"int", "integer", "float", "number", "numeric", "count", "hours", "double", "real"}:
        return "numeric"
    return "categorical"


def _get(entry: Any, key: str, default: Any = None) -> Any:
    if isinstance(entry, dict):
        return entry.get(key, default)
    return getattr(entry, key, default)


def load_feature_spec(spec: Iterable[Any] | None = None) -> list[FeatureInfo]:
    """Return the feature specification as :class:`FeatureInfo` rows.

    Args:
        spec: entries with ``name, type, protected`` (and optionally ``description, unit``) as
            objects or dicts; default ``apiflag.features.FEATURE_SPEC``.

    Raises:
        ApiflagError: no specification is available.
    """
    if spec is None:
        try:
            from apiflag import features as features_module
        except ImportError as exc:
            raise ApiflagError(
                "apiflag.features is not available: cannot read the feature specification"
            ) from exc
        spec = features_module.FEATURE_SPEC
        if isinstance(spec, dict):
            spec = [{"name": k, **(v if isinstance(v, dict) else vars(v))} for k, v in spec.items()]
    out: list[FeatureInfo] = []
    for entry in spec:
        if isinstance(entry, FeatureInfo):
            out.append(entry)
            continue
        name = str(_get(entry, "name"))
        protected = bool(_get(entry, "protected", False)) or is_protected_name(name)
        type_name = str(_get(entry, "type", _get(entry, "kind", "numeric")))
        if type_name == "date":
            continue  # dates are not model inputs (durations are features of their own)
        out.append(
            FeatureInfo(
                name=name,
                kind=_kind_of(type_name),
                protected=protected,
                description=str(_get(entry, "description", "") or ""),
                unit=str(_get(entry, "unit", "") or ""),
            )
        )
    return out


def check_no_protected(features: Sequence[str], spec: Sequence[FeatureInfo]) -> None:
    """Refuse a feature list that names a protected attribute.

    Args:
        features: the feature names a model would use.
        spec: the feature specification.

    Raises:
        ApiflagError: one or more features are protected (named in the message), or unknown.
    """
    by_name = {f.name: f for f in spec}
    bad = [f for f in features if (f in by_name and by_name[f].protected) or is_protected_name(f)]
    if bad:
        raise ApiflagError(
            "feature specification names protected attribute(s): "
            + ", ".join(bad)
            + " (kept for fairness monitoring only; never model features)"
        )
    unknown = [f for f in features if f not in by_name]
    if unknown:
        raise ApiflagError("feature(s) not in the feature specification: " + ", ".join(unknown))


#: features the model leaves to other stages by default: the case-match track scores these itself,
#: so a model weight on them would count the same evidence twice in the combined score.
DEFAULT_EXCLUDE_PREFIXES = ("traveller.case_match_",)


def default_features(spec: Sequence[FeatureInfo], columns: Iterable[str]) -> list[str]:
    """Return the default model features: non-protected spec entries present in ``columns``.

    Identifiers (``*_id``), dates and the case-match columns (``traveller.case_match_*``,
    scored by the case-match track) are left out.
    """
    present = set(columns)
    return [
        f.name
        for f in spec
        if not f.protected
        and f.name in present
        and not f.name.endswith("_id")
        and not f.name.startswith(DEFAULT_EXCLUDE_PREFIXES)
    ]


@dataclass(frozen=True)
class TimeSplit:
    """Which nights fit the weights, which calibrate, which evaluate."""

    fit: tuple[dt.date, ...]
    calibration: tuple[dt.date, ...]
    evaluation: tuple[dt.date, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return first/last night and count per slice."""
        return {
            name: {"first": str(v[0]), "last": str(v[-1]), "nights": len(v)}
            for name, v in (
                ("fit", self.fit),
                ("calibration", self.calibration),
                ("evaluation", self.evaluation),
            )
        }


def split_by_time(
    nights: Iterable[Any], eval_fraction: float = 0.3, calibration_fraction: float = 0.25
) -> TimeSplit:
    """Split nights by time: earlier fit, then calibrate, the latest evaluate.

    Args:
        nights: the nights present (dates or ISO strings; duplicates ignored).
        eval_fraction: share of nights kept for evaluation (at least one).
        calibration_fraction: share of the remaining nights used for calibration (at least one).

    Raises:
        ApiflagError: fewer than three distinct nights.
    """
    days = sorted({_as_date(n) for n in nights})
    if len(days) < 3:
        raise ApiflagError(
            f"need at least 3 history nights to fit, calibrate and evaluate; found {len(days)}"
        )
    n_eval = min(max(1, round(len(days) * eval_fraction)), len(days) - 2)
    rest = days[: len(days) - n_eval]
    n_cal = min(max(1, round(len(rest) * calibration_fraction)), len(rest) - 1)
    return TimeSplit(
        fit=tuple(rest[: len(rest) - n_cal]),
        calibration=tuple(rest[len(rest) - n_cal :]),
        evaluation=tuple(days[len(days) - n_eval :]),
    )


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def night_codes(frame: pd.DataFrame) -> tuple[np.ndarray, list[dt.date]]:
    """Return each row's night as a code into a list of distinct ``datetime.date`` nights."""
    codes, uniques = pd.factorize(frame[NIGHT], use_na_sentinel=True)
    if (codes < 0).any():
        raise ApiflagError("training table has rows without a night")
    return np.asarray(codes, dtype=np.int64), [_as_date(v) for v in uniques]


def fit_population(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Return the rows the outcome model is fitted and evaluated on, and population figures.

    The probability is shown for flagged travellers and means "the chance that a review finds
    indicators", so its labels are recorded outcomes of flagged travellers: rows with
    ``flagged`` False (the weighted sample of the unflagged) and rows with ``reviewed`` False
    (no outcome was recorded: unknown, not "no concern") are left out. A table without those
    columns (a prepared ``--table``) is used whole.

    Returns:
        ``(rows, figures)``: the rows (attrs kept) and weighted counts of the whole table
        (``population.*``: travellers, flagged, reviewed flagged, recorded positives among
        the reviewed unflagged sample, estimated over all unflagged travellers).
    """
    attrs = dict(frame.attrs)
    n = len(frame)
    flagged = frame[FLAGGED].to_numpy(dtype=bool) if FLAGGED in frame else np.ones(n, bool)
    reviewed = frame[REVIEWED].to_numpy(dtype=bool) if REVIEWED in frame else np.ones(n, bool)
    weight = frame[WEIGHT].to_numpy(dtype=float) if WEIGHT in frame else np.ones(n)
    y = frame[LABEL].to_numpy(dtype=float)
    un = ~flagged & reviewed
    figures = {
        "population.travellers": float(weight.sum()),
        "population.flagged": float(flagged.sum()),
        "population.flagged_reviewed": float((flagged & reviewed).sum()),
        "population.flagged_unreviewed": float((flagged & ~reviewed).sum()),
        "population.unflagged_sampled": float((~flagged).sum()),
    }
    if un.any():
        figures["population.unflagged_recorded_positive_rate"] = float(
            np.average(y[un], weights=weight[un])
        )
    rows = frame.loc[flagged & reviewed].reset_index(drop=True)
    rows.attrs.update(attrs)
    return rows, figures


def frame_digest(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """Return a SHA-256 of the given columns' names and values, in row order.

    The same data gives the same digest on any machine (pandas' stable row hashing).
    """
    h = hashlib.sha256()
    for col in columns:
        h.update(col.encode())
        h.update(b"\0")
        values = frame[col]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            values = values.astype(str)
        h.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return h.hexdigest()
