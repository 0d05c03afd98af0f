"""The glass-box scorecard: binned features, a logistic regression, a monotone calibration.

Decides how a traveller's feature values become a calibrated probability, and guarantees that
every score splits *exactly* into rows a person can read:

``log_odds = intercept + sum(feature contributions) + calibration step``

summed left to right in that order, bit for bit (the calibration step is defined as
``calibrated - raw`` and the reported ``log_odds`` is computed as ``raw + step``).

* Numeric features are cut at training-set quantiles (at most ``n_bins`` bins, plus a
  ``missing`` bin); booleans have the levels ``false``/``true``/``missing``; categoricals keep
  levels seen at least ``min_level_count`` times in training, the rest fall in ``other``.
* Each bin is one one-hot column of an L2 logistic regression. Per feature, the bin weights are
  centred on the training mean (the mean moves into the intercept), so a contribution reads as
  "compared with the average traveller in training".
* The calibration maps the raw log-odds monotonically: Platt (sigmoid, ``a * raw + b``) when
  positives are few, isotonic only with plenty of them (``ISOTONIC_MIN_POSITIVES``), because
  isotonic regression overfits small samples (scikit-learn user guide, "Probability
  calibration"). Training fits it by K-fold cross-fitting over every training row
  (:meth:`Scorecard.cross_fit`: each row's raw score comes from a scorecard fitted without its
  nights), and, with a known review-error rate, through the review-error likelihood
  (:func:`fit_platt`), so the map is the true outcome's and not flattened by wrong records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from apiflag.errors import ApiflagError

__all__ = [
    "ISOTONIC_MIN_POSITIVES",
    "FeatureKind",
    "FeatureBins",
    "Scorecard",
    "choose_calibration",
    "fit_platt",
]

FeatureKind = Literal["numeric", "boolean", "categorical"]
CalibrationMethod = Literal["sigmoid", "isotonic"]

#: isotonic calibration needs at least this many positives (and negatives) in the slice.
ISOTONIC_MIN_POSITIVES = 1000
_PROB_EPS = 1e-6
MISSING = "missing"
OTHER = "other"
INTERCEPT_ID = "model:intercept"
CALIBRATION_ID = "model:calibration"


def choose_calibration(n_positive: int, n_negative: int) -> CalibrationMethod:
    """Choose the calibration method from the calibration slice's class counts.

    Isotonic regression is non-parametric and only pays off with plenty of data in both
    classes; below ``ISOTONIC_MIN_POSITIVES`` of either it overfits and the two-parameter
    Platt sigmoid is the safer choice.

    Args:
        n_positive: positives in the calibration slice.
        n_negative: negatives in the calibration slice.

    Returns:
        ``"isotonic"`` or ``"sigmoid"``.
    """
    if min(n_positive, n_negative) >= ISOTONIC_MIN_POSITIVES:
        return "isotonic"
    return "sigmoid"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass(frozen=True)
class FeatureBins:
    """How one feature is binned: its kind, cut points or levels, and bin labels."""

    name: str
    kind: FeatureKind
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Bin labels in bin-index order (the last is always ``missing``)."""
        if self.kind == "numeric":
            e = self.edges
            if not e:
                return ("all", MISSING)
            out = [f"< {_fmt(e[0])}"]
            out += [f"[{_fmt(lo)}, {_fmt(hi)})" for lo, hi in zip(e[:-1], e[1:], strict=True)]
            out.append(f">= {_fmt(e[-1])}")
            return (*out, MISSING)
        if self.kind == "boolean":
            return ("false", "true", MISSING)
        return (*self.levels, OTHER, MISSING)

    @property
    def n_bins(self) -> int:
        """Number of bins including ``missing``."""
        return len(self.labels)

    def bin_index(self, values: pd.Series) -> np.ndarray:
        """Return each value's bin index (int32), ``n_bins - 1`` for a missing value."""
        missing_idx = self.n_bins - 1
        if self.kind == "numeric":
            x = _as_float(values, self.name)
            idx = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x, side="right")
            idx = idx.astype(np.int32)
            idx[np.isnan(x)] = missing_idx
            return idx
        if self.kind == "boolean":
            x = _as_float(values, self.name)
            idx = np.where(x > 0.5, 1, 0).astype(np.int32)
            idx[np.isnan(x)] = missing_idx
            return idx
        cat = pd.Categorical(values.astype(object), categories=list(self.levels))
        codes = np.asarray(cat.codes, dtype=np.int32).copy()
        isna = np.asarray(values.isna(), dtype=bool)
        codes[(codes < 0) & ~isna] = len(self.levels)
        codes[isna] = missing_idx
        return codes

    def observed(self, values: pd.Series) -> pa.Array:
        """Return the observed values as an Arrow string array (no Python objects).

        Numbers print rounded to 4 decimals for reading (the bin is decided on the exact
        value), booleans as ``true``/``false``, a missing value as ``missing``.
        """
        if self.kind == "numeric":
            x = _as_float(values, self.name)
            rounded = pc.round(pa.array(x, from_pandas=True), ndigits=4)
            text = pc.cast(rounded, pa.string())
        elif self.kind == "boolean":
            x = _as_float(values, self.name)
            text = pc.if_else(
                pa.array(x > 0.5, mask=np.isnan(x)), pa.scalar("true"), pa.scalar("false")
            )
        else:
            text = pa.array(values.astype(object).to_numpy(), type=pa.string(), from_pandas=True)
        return pc.fill_null(text, MISSING)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description (kind, edges, levels, labels)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "labels": list(self.labels),
        }


def _as_float(values: pd.Series, name: str) -> np.ndarray:
    try:
        if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return np.asarray(
            pd.to_numeric(values.astype(object), errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        )
    except (TypeError, ValueError) as exc:
        raise ApiflagError(f"feature {name!r}: values are not numeric ({exc})") from exc


def _fit_bins(
    name: str, kind: FeatureKind, values: pd.Series, n_bins: int, min_level_count: int
) -> FeatureBins:
    if kind == "numeric":
        x = _as_float(values, name)
        x = np.sort(x[~np.isnan(x)])
        edges: list[float] = []
        while x.size and len(edges) < n_bins - 1:
            lo = float(x[0])
            want = n_bins - 1 - len(edges)
            qs = np.quantile(x, np.linspace(0, 1, want + 2)[1:-1], method="inverted_cdf")
            new = sorted({float(q) for q in qs if float(q) > lo})
            if new:
                edges.extend(new)
                break
            # one value holds most of the mass (e.g. zero counts): cut it off, bin the rest
            x = x[x > lo]
            if x.size:
                edges.append(float(x[0]))
        return FeatureBins(name, kind, edges=tuple(edges))
    if kind == "boolean":
        return FeatureBins(name, kind)
    counts = values.dropna().astype(str).value_counts()
    keep = sorted(str(k) for k, c in counts.items() if c >= min_level_count)
    return FeatureBins(name, kind, levels=tuple(keep))


class Scorecard(ClassifierMixin, BaseEstimator):
    """A binned logistic-regression scorecard with a monotone calibration.

    ``__init__`` stores settings; :meth:`fit` learns the bins, weights and calibration
    (learned state ends in ``_``). Choose a smaller ``C`` when positives are few (stronger
    shrinkage towards "no effect"); ``n_bins`` trades resolution for stability per bin.

    Args:
        features: feature names, in the order their contributions are listed.
        kinds: each feature's kind (numeric, boolean, categorical).
        n_bins: quantile bins per numeric feature (missing values get their own bin).
        C: inverse L2 regularisation strength of the logistic regression.
        calibration: ``"auto"`` (by data size, see :func:`choose_calibration`), ``"sigmoid"``
            or ``"isotonic"``.
        min_level_count: categorical levels rarer than this in training become ``other``.
        random_state: seed (the solver is deterministic; kept for reproducibility records).
        outcome_error_rate: the known share ``e`` of recorded outcomes that are wrong (either
            way, from a re-review audit; 0 = trust the records). The fit and calibration learn
            the chance ``r`` that a review *records* a concern, ``r = e + (1 - 2 e) t`` for the
            chance ``t`` of a true one, so with ``e > 0`` the calibrated probability is
            ``t = (r - e) / (1 - 2 e)`` (clipped): calibrated against what is true, not against
            what reviews record (:meth:`recorded_probability` maps back).
    """

    def __init__(
        self,
        features: Sequence[str] = (),
        kinds: dict[str, FeatureKind] | None = None,
        n_bins: int = 5,
        C: float = 1.0,
        calibration: Literal["auto", "sigmoid", "isotonic"] = "auto",
        min_level_count: int = 20,
        random_state: int = 0,
        outcome_error_rate: float = 0.0,
    ) -> None:
        self.features = features
        self.kinds = kinds
        self.n_bins = n_bins
        self.C = C
        self.calibration = calibration
        self.min_level_count = min_level_count
        self.random_state = random_state
        self.outcome_error_rate = outcome_error_rate

    # ------------------------------------------------------------------ fitting

    def _design(self, X: pd.DataFrame) -> tuple[list[np.ndarray], sparse.csr_matrix]:
        idx = [b.bin_index(X[b.name]) for b in self.bins_]
        offsets = np.cumsum([0] + [b.n_bins for b in self.bins_])
        n = len(X)
        cols = np.stack([i + off for i, off in zip(idx, offsets[:-1], strict=True)], axis=1)
        rows = np.repeat(np.arange(n), len(idx))
        data = np.ones(rows.size, dtype=np.float64)
        mat = sparse.csr_matrix((data, (rows, cols.ravel())), shape=(n, int(offsets[-1])))
        return idx, mat

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        X_cal: pd.DataFrame | None = None,
        y_cal: Any = None,
    ) -> Scorecard:
        """Learn bins and weights on ``X, y`` and the calibration on ``X_cal, y_cal``.

        Training uses :meth:`cross_fit` (every row fits and calibrates); this form calibrates
        on a separate slice.

        Args:
            X: fitting rows, one column per feature.
            y: 0/1 labels for ``X``.
            X_cal: the held-out calibration slice (later in time than ``X``); when None the
                calibration is fitted on ``X`` itself (only for tests and tiny data).
            y_cal: 0/1 labels for ``X_cal``.

        Returns:
            self

        Raises:
            ApiflagError: a feature column is missing, or a label set has a single class.
        """
        self._check_error_rate()
        self._fit_weights(X, y)
        Xc, yc = (X, y) if X_cal is None else (X_cal, y_cal)
        self._calibrate(self.raw_log_odds(Xc), np.asarray(yc, dtype=np.int8))
        self.calibration_folds_ = 0
        return self

    def cross_fit(self, X: pd.DataFrame, y: Any, groups: Any, n_folds: int = 5) -> Scorecard:
        """Fit the weights on every row and the calibration on every row, out of fold.

        The groups (nights) are sorted and cut into ``n_folds`` contiguous blocks; each
        block's raw log-odds come from a scorecard (bins and weights) fitted on the other
        blocks, so the calibration sees every row scored as an unseen traveller is, and no
        row is kept out of the calibration (K-fold cross-fitting). The shipped weights are
        then fitted on all rows. With ``outcome_error_rate`` ``e > 0`` the Platt map is
        fitted through the review-error likelihood (:func:`fit_platt`).

        Args:
            X: every training row, one column per feature.
            y: 0/1 recorded labels for ``X``.
            groups: one group (night) per row; a group never straddles two folds.
            n_folds: number of folds (at most the number of groups; at least 2).

        Returns:
            self

        Raises:
            ApiflagError: fewer than two groups, or a fold's training rows have one class.
        """
        self._check_error_rate()
        yv = np.asarray(y, dtype=np.int8)
        raw = self.out_of_fold_raw(X, yv, groups, n_folds)
        self._fit_weights(X, yv)
        self._calibrate(raw, yv)
        return self

    def out_of_fold_raw(
        self, X: pd.DataFrame, y: np.ndarray, groups: Any, n_folds: int
    ) -> np.ndarray:
        """Each row's raw log-odds from a scorecard fitted without its fold (see cross_fit)."""
        g = np.asarray(groups)
        if len(g) != len(X):
            raise ApiflagError(f"{len(g)} groups for {len(X)} training rows")
        order, code = np.unique(g, return_inverse=True)
        k = min(int(n_folds), len(order))
        if k < 2:
            raise ApiflagError(
                f"cross-fitting needs at least 2 folds of nights; have {len(order)} night(s) "
                f"and {n_folds} fold(s)"
            )
        fold_of_group = np.arange(len(order)) * k // len(order)
        fold = fold_of_group[code]
        raw = np.empty(len(X), dtype=np.float64)
        for f in range(k):
            out = fold == f
            member = Scorecard(**self.get_params())
            train_rows = np.flatnonzero(~out)
            if len(np.unique(y[train_rows])) < 2:
                held = order[fold_of_group == f]
                raise ApiflagError(
                    f"cross-fitting fold {f + 1} of {k} (nights {held[0]} to {held[-1]}): the "
                    "other folds' outcomes have a single class; more reviewed nights are needed"
                )
            member._fit_weights(X.iloc[train_rows], y[train_rows])
            raw[out] = member.raw_log_odds(X.iloc[np.flatnonzero(out)])
        self.calibration_folds_ = k
        return raw

    def _check_error_rate(self) -> None:
        if not 0.0 <= self.outcome_error_rate < 0.5:
            raise ApiflagError(
                f"outcome_error_rate must be in [0, 0.5), got {self.outcome_error_rate}"
            )

    def _fit_weights(self, X: pd.DataFrame, y: Any) -> None:
        """Learn the bins, the centred bin weights and the intercept on ``X, y``."""
        feats = list(self.features)
        kinds = dict(self.kinds or {})
        missing = [f for f in feats if f not in X.columns]
        if missing:
            raise ApiflagError(f"training table lacks feature column(s): {', '.join(missing)}")
        yv = np.asarray(y, dtype=np.int8)
        if len(np.unique(yv)) < 2:
            raise ApiflagError("training labels have a single class: cannot fit a model")
        self.bins_ = [
            _fit_bins(f, kinds.get(f, "numeric"), X[f], self.n_bins, self.min_level_count)
            for f in feats
        ]
        idx, mat = self._design(X)
        lr = LogisticRegression(C=self.C, solver="lbfgs", max_iter=1000, tol=1e-6)
        lr.fit(mat, yv)
        coef = lr.coef_.ravel()
        intercept = float(lr.intercept_[0])
        self.weights_: list[np.ndarray] = []
        off = 0
        for b, ix in zip(self.bins_, idx, strict=True):
            w = coef[off : off + b.n_bins].astype(np.float64)
            off += b.n_bins
            counts = np.bincount(ix, minlength=b.n_bins)
            mean = float(counts @ w) / max(len(ix), 1)
            centred = w - mean
            centred[counts == 0] = 0.0  # a bin never seen in training: the average traveller
            self.weights_.append(centred)
            intercept += mean
        self.intercept_ = intercept
        self.classes_ = np.array([0, 1])
        self.n_fit_ = len(yv)
        self.n_fit_positive_ = int(yv.sum())

    def _calibrate(self, raw: np.ndarray, yc: np.ndarray) -> None:
        """Fit the monotone map from raw log-odds to the true outcome's log-odds."""
        npos = int(yc.sum())
        nneg = len(yc) - npos
        if npos == 0 or nneg == 0:
            raise ApiflagError("calibration slice has a single class: cannot calibrate")
        method = choose_calibration(npos, nneg) if self.calibration == "auto" else self.calibration
        self.calibration_method_: CalibrationMethod = method
        self.n_calibration_ = len(yc)
        self.n_calibration_positive_ = npos
        if method == "sigmoid":
            self.platt_a_, self.platt_b_ = fit_platt(raw, yc, float(self.outcome_error_rate))
            if self.platt_a_ <= 0:
                raise ApiflagError(
                    "calibration slope is not positive: the raw score does not rank the "
                    "calibration slice (too few positives or no signal)"
                )
        else:
            iso = IsotonicRegression(
                y_min=_PROB_EPS, y_max=1 - _PROB_EPS, increasing=True, out_of_bounds="clip"
            )
            iso.fit(raw, yc)
            self.iso_x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.iso_y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)

    # ------------------------------------------------------------------ scoring

    def _contributions(self, X: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
        missing = [b.name for b in self.bins_ if b.name not in X.columns]
        if missing:
            raise ApiflagError(f"feature table lacks model feature(s): {', '.join(missing)}")
        idx = [b.bin_index(X[b.name]) for b in self.bins_]
        contrib = [w[i] for w, i in zip(self.weights_, idx, strict=True)]
        return idx, contrib

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """Intercept plus the feature contributions, summed left to right."""
        _, contrib = self._contributions(X)
        return self._sum(contrib, len(X))

    def _sum(self, contrib: list[np.ndarray], n: int) -> np.ndarray:
        raw = np.full(n, self.intercept_, dtype=np.float64)
        for c in contrib:
            raw = raw + c
        return raw

    def calibrated_log_odds(self, raw: np.ndarray) -> np.ndarray:
        """Map raw log-odds through the fitted monotone calibration (before the exact sum).

        The Platt map is fitted through the review-error likelihood, so ``a * raw + b`` is
        already the true outcome's log-odds; the isotonic map learns the recorded rate ``r``
        and is taken back to the true one, ``(r - e) / (1 - 2 e)``.
        """
        if self.calibration_method_ == "sigmoid":
            return self.platt_a_ * np.asarray(raw, dtype=np.float64) + self.platt_b_
        e = float(getattr(self, "outcome_error_rate", 0.0))
        p = np.interp(raw, self.iso_x_, self.iso_y_)
        if e > 0.0:  # from the chance a review records a concern to the chance of a true one
            p = (p - e) / (1.0 - 2.0 * e)
        p = np.clip(p, _PROB_EPS, 1 - _PROB_EPS)
        return np.log(p) - np.log1p(-p)

    def recorded_probability(self, probability: np.ndarray) -> np.ndarray:
        """The chance that a review records a concern, ``e + (1 - 2 e) p``, for probability ``p``.

        What the model's probability is compared with on recorded (not true) outcomes; equal
        to ``p`` when ``outcome_error_rate`` is 0.
        """
        e = float(getattr(self, "outcome_error_rate", 0.0))
        return e + (1.0 - 2.0 * e) * np.asarray(probability, dtype=np.float64)

    def decompose(self, X: pd.DataFrame) -> dict[str, Any]:
        """Score ``X`` and keep every part of the sum.

        Returns:
            ``{"bin_index": [n] per feature, "contributions": [n] per feature, "raw": [n],
            "step": [n], "log_odds": [n], "probability": [n]}`` where ``log_odds`` is
            exactly ``((intercept + c_1) + ... + c_k) + step``.
        """
        idx, contrib = self._contributions(X)
        raw = self._sum(contrib, len(X))
        step = self.calibrated_log_odds(raw) - raw
        log_odds = raw + step
        prob = 1.0 / (1.0 + np.exp(-log_odds))
        return {
            "bin_index": idx,
            "contributions": contrib,
            "raw": raw,
            "step": step,
            "log_odds": log_odds,
            "probability": prob,
        }

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return ``[[1 - p, p], ...]`` with the calibrated probability ``p``."""
        p = self.decompose(X)["probability"]
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the calibrated probability (the pyfunc output; no threshold is applied)."""
        return np.asarray(self.decompose(X)["probability"])

    def explain(
        self,
        X: pd.DataFrame,
        traveller_ids: Sequence[str] | pd.Series | np.ndarray,
        *,
        with_model_rows: bool = True,
    ) -> tuple[dict[str, Any], pd.DataFrame]:
        """Score ``X`` and return its explanation rows.

        Per traveller the rows are, by ``order``: ``model:intercept`` (0), one
        ``feature:<name>`` row per feature (1..k: observed value, bin label, weight) and
        ``model:calibration`` (k + 1, its bin names the method). Python's ``sum()`` over one
        traveller's weights, in ``order``, equals its ``log_odds`` exactly. The frame is laid
        out by ``order`` (all intercept rows, then each feature's rows), travellers in input
        order within each block: contiguous columns keep a million travellers fast. String
        columns are categoricals built from codes; ``observed`` is an Arrow string column.

        Args:
            X: feature rows.
            traveller_ids: one unique id per row of ``X``.
            with_model_rows: include the intercept and calibration rows (False: features only).

        Returns:
            ``(parts, frame)``: the :meth:`decompose` dict and the long frame with columns
            ``traveller_id, order, source_id, feature, observed, bin, weight``.

        Raises:
            ApiflagError: a traveller id repeats, or a model feature is missing.
        """
        ids = pd.Index(np.asarray(traveller_ids, dtype=object), dtype=object)
        if len(ids) != len(X):
            raise ApiflagError(f"{len(ids)} traveller ids for {len(X)} feature rows")
        if not ids.is_unique:
            dup = ids[ids.duplicated()][0]
            raise ApiflagError(f"traveller_id {dup!r} appears more than once in the feature table")
        parts = self.decompose(X)
        n = len(X)
        k = len(self.bins_)
        kinds = list(range(k + 2)) if with_model_rows else list(range(1, k + 1))
        r = len(kinds)
        names = ["(intercept)", *[b.name for b in self.bins_], "(calibration)"]
        source_ids = [INTERCEPT_ID, *[f"feature:{b.name}" for b in self.bins_], CALIBRATION_ID]

        weights = np.empty((r, n), dtype=np.float64)
        bin_idx = np.zeros((r, n), dtype=np.int32)
        bin_labels: dict[str, int] = {"": 0}
        observed_blocks: list[pa.Array] = []
        nothing = pa.nulls(n, pa.string())
        for row, kind in enumerate(kinds):
            if kind == 0:
                weights[row] = self.intercept_
                observed_blocks.append(nothing)
            elif kind == k + 1:
                weights[row] = parts["step"]
                bin_idx[row] = _intern(bin_labels, [self.calibration_method_])[0]
                observed_blocks.append(nothing)
            else:
                b = self.bins_[kind - 1]
                weights[row] = parts["contributions"][kind - 1]
                bin_idx[row] = _intern(bin_labels, list(b.labels))[parts["bin_index"][kind - 1]]
                observed_blocks.append(b.observed(X[b.name]).cast(pa.string()))
        order = np.repeat(np.asarray(kinds, dtype=np.int32), n)
        observed = pd.array(pa.concat_arrays(observed_blocks), dtype=pd.ArrowDtype(pa.string()))

        def cat(codes: np.ndarray, categories: Sequence[str] | pd.Index) -> pd.Categorical:
            dtype = pd.CategoricalDtype(
                pd.Index(np.asarray(categories, dtype=object), dtype=object)
            )
            return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)

        frame = pd.DataFrame(
            {
                "traveller_id": cat(np.tile(np.arange(n, dtype=np.int32), r), ids),
                "order": order,
                "source_id": cat(order, source_ids),
                "feature": cat(order, names),
                "observed": observed,
                "bin": cat(bin_idx.ravel(), list(bin_labels)),
                "weight": weights.ravel(),
            },
            copy=False,
        )
        return parts, frame

    # ------------------------------------------------------------------ description

    def to_dict(self) -> dict[str, Any]:
        """Return the whole fitted model as one JSON-ready document (settings + parameters)."""
        cal: dict[str, Any] = {
            "method": self.calibration_method_,
            "outcome_error_rate": float(getattr(self, "outcome_error_rate", 0.0)),
        }
        if self.calibration_method_ == "sigmoid":
            cal.update(a=self.platt_a_, b=self.platt_b_)
        else:
            cal.update(x=self.iso_x_.tolist(), y=self.iso_y_.tolist())
        return {
            "kind": "apiflag-scorecard/1",
            "settings": {
                "n_bins": self.n_bins,
                "C": self.C,
                "calibration": self.calibration,
                "min_level_count": self.min_level_count,
                "random_state": self.random_state,
            },
            "intercept": self.intercept_,
            "features": [
                {**b.to_dict(), "weights": [float(v) for v in w]}
                for b, w in zip(self.bins_, self.weights_, strict=True)
            ],
            "calibration": cal,
            "fitted_on": {
                "rows": self.n_fit_,
                "positives": self.n_fit_positive_,
                "calibration_rows": self.n_calibration_,
                "calibration_positives": self.n_calibration_positive_,
                "calibration_folds": int(getattr(self, "calibration_folds_", 0)),
            },
        }

    def weight_table(self) -> pd.DataFrame:
        """Return one row per feature bin: feature, bin, weight (log-odds points)."""
        rows = [
            {"feature": b.name, "bin": label, "weight": float(w[i])}
            for b, w in zip(self.bins_, self.weights_, strict=True)
            for i, label in enumerate(b.labels)
        ]
        return pd.DataFrame(rows, columns=["feature", "bin", "weight"])


def fit_platt(raw: np.ndarray, y: np.ndarray, error_rate: float = 0.0) -> tuple[float, float]:
    """Fit the Platt map ``sigmoid(a * raw + b)`` to the *true* outcome from recorded ones.

    A review records the wrong outcome with the known chance ``e`` (either way), so a recorded
    concern has the chance ``q = e + (1 - 2 e) sigmoid(a * raw + b)``; ``a, b`` maximise that
    likelihood (with ``e = 0``: ordinary Platt scaling). Fitting the plain sigmoid to the
    recorded outcomes instead flattens the curve towards ``e`` and ``1 - e``.

    Args:
        raw: raw log-odds of the calibration rows (out of fold when cross-fitted).
        y: their recorded 0/1 outcomes.
        error_rate: the known share ``e`` of wrong recorded outcomes, in [0, 0.5).

    Returns:
        ``(a, b)``.
    """
    x = np.asarray(raw, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=2000, tol=1e-10)
    platt.fit(x.reshape(-1, 1), yv.astype(np.int8))
    a0, b0 = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    e = float(error_rate)
    if e == 0.0:
        return a0, b0
    scale = 1.0 - 2.0 * e

    def nll(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * x + ab[1]
        s, s_neg = expit(z), expit(-z)
        q, q_neg = e + scale * s, e + scale * s_neg  # recorded concern / no concern
        value = -float(np.sum(yv * np.log(q) + (1.0 - yv) * np.log(q_neg)))
        dz = -scale * s * s_neg * (yv / q - (1.0 - yv) / q_neg)
        return value, np.array([float(dz @ x), float(dz.sum())])

    res = minimize(nll, np.array([a0, b0]), jac=True, method="L-BFGS-B", tol=1e-12)
    return float(res.x[0]), float(res.x[1])


def _intern(table: dict[str, int], labels: list[str]) -> np.ndarray:
    """Add labels to a label -> index table; return their indices (dictionary stays unique)."""
    out = np.empty(len(labels), dtype=np.int32)
    for i, label in enumerate(labels):
        out[i] = table.setdefault(label, len(table))
    return out


def logit(p: float) -> float:
    """Return log(p / (1 - p)) for 0 < p < 1."""
    return math.log(p) - math.log1p(-p)
