"""Training and evaluation of one scorecard on a labelled, time-ordered table (no MLflow here).

Decides the training recipe and guarantees it is reproducible: the same table, features and
settings give the same bins, weights, calibration and metrics (deterministic solver, stable
sorts; a sampled table records its seed). It is fitted and evaluated on the flagged travellers
with a recorded outcome only (:func:`apiflag.model.data.fit_population`). The table is split by
night (:func:`apiflag.model.data.split_by_time`): every metric is computed on the latest nights
only; the earlier (training) nights, fit and calibration nights together, fit the weights, and
the calibration is cross-fitted over all of them (``calibration_folds`` blocks of nights, each
scored by a scorecard fitted on the others, :meth:`Scorecard.cross_fit`) through the known
review-error rate ``outcome_error_rate`` (:func:`apiflag.model.scorecard.fit_platt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.model.data import (
    LABEL,
    MATCH_SCORE,
    NIGHT,
    PROTECTED_MONITORING,
    RULE_SCORE,
    TRAVELLER_ID,
    FeatureInfo,
    TimeSplit,
    check_no_protected,
    default_features,
    fit_population,
    frame_digest,
    night_codes,
    split_by_time,
)
from apiflag.model.evaluate import (
    capacity_flags,
    ece_sampling,
    group_metrics,
    proxy_audit,
    reliability_table,
    score_metrics,
)
from apiflag.model.scorecard import Scorecard
from apiflag.settings import DEFAULT_CAPACITY, Settings, load_settings

__all__ = ["DEFAULT_CAPACITY", "TrainSettings", "TrainingResult", "train_scorecard"]


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one training run (all are logged as MLflow parameters)."""

    capacity: int = DEFAULT_CAPACITY
    n_bins: int = 5
    C: float = 1.0
    calibration: str = "auto"
    min_level_count: int = 20
    eval_fraction: float = 0.3
    #: blocks of training nights the calibration is cross-fitted over (see Scorecard.cross_fit)
    calibration_folds: int = 5
    seed: int = 0
    #: known share of wrong recorded outcomes (``outcome_error_rate`` of apiflag.settings; see
    #: ``Scorecard.outcome_error_rate``)
    outcome_error_rate: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> TrainSettings:
        """Training settings with the operator's capacity and review-error rate.

        From ``settings`` (:func:`apiflag.settings.load_settings`, i.e. ``config.yaml``, when
        None), ``overrides`` on top.
        """
        s = settings if settings is not None else load_settings()
        values: dict[str, Any] = {
            "capacity": s.capacity,
            "outcome_error_rate": s.outcome_error_rate,
        }
        values.update(overrides)
        return cls(**values)

    def to_params(self) -> dict[str, Any]:
        """Return the settings as a flat parameter dict."""
        return dict(vars(self))


@dataclass
class TrainingResult:
    """Everything one training run produced, ready to be logged and reported."""

    model: Scorecard
    features: list[FeatureInfo]
    settings: TrainSettings
    split: TimeSplit
    metrics: dict[str, float]
    comparison: pd.DataFrame
    reliability: pd.DataFrame
    fairness: pd.DataFrame
    proxies: pd.DataFrame
    eval_scores: pd.DataFrame
    data_digest: str
    example_frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    #: how the table's unflagged travellers were sampled (seed, per-night weights), if at all
    sampling: dict[str, Any] = field(default_factory=dict)


def train_scorecard(
    frame: pd.DataFrame,
    spec: Sequence[FeatureInfo],
    features: Sequence[str] | None = None,
    settings: TrainSettings | None = None,
) -> TrainingResult:
    """Fit, calibrate and evaluate a scorecard on a labelled table.

    Args:
        frame: one row per traveller with ``traveller_id``, ``night``, ``label``, the feature
            columns, and optionally ``rules.score``, ``match.score`` and the protected
            monitoring columns.
        spec: the feature specification.
        features: the features to use; default every non-protected feature of ``spec``
            present in ``frame``.
        settings: training settings.

    Returns:
        The fitted model and its evaluation on the latest nights.

    Raises:
        ApiflagError: a protected or unknown feature is requested, a required column is
            missing, or a slice has no positives.
    """
    settings = settings or TrainSettings()
    if settings.capacity < 1:
        raise ApiflagError(f"capacity must be at least 1, got {settings.capacity}")
    if settings.calibration_folds < 2:
        raise ApiflagError(
            f"calibration_folds must be at least 2, got {settings.calibration_folds}"
        )
    for col in (TRAVELLER_ID, NIGHT, LABEL):
        if col not in frame.columns:
            raise ApiflagError(f"training table lacks column {col!r}")
    frame, population = fit_population(frame)
    if features is None:
        features = default_features(spec, frame.columns)
    features = list(features)
    if not features:
        raise ApiflagError("no usable features: the feature specification and table share none")
    check_no_protected(features, spec)
    by_name = {f.name: f for f in spec}
    used = [by_name[f] for f in features]

    split, night_code, nights, y, (in_fit, in_cal, in_eval), counts = _slices(frame, settings)

    model = Scorecard(
        features=tuple(features),
        kinds={f.name: f.kind for f in used},
        n_bins=settings.n_bins,
        C=settings.C,
        calibration=settings.calibration,  # type: ignore[arg-type]
        min_level_count=settings.min_level_count,
        random_state=settings.seed,
        outcome_error_rate=settings.outcome_error_rate,
    )
    in_train = in_fit | in_cal  # every reviewed training row fits and (out of fold) calibrates
    model.cross_fit(
        frame.loc[in_train], y[in_train], night_code[in_train], settings.calibration_folds
    )
    counts["calibration_folds"] = int(model.calibration_folds_)

    ev = frame.loc[in_eval].reset_index(drop=True)
    yv = y[in_eval]
    ev_nights = nights[in_eval]
    ev_codes = night_code[in_eval]
    parts = model.decompose(ev)
    log_odds = parts["log_odds"]
    model_prob = parts["probability"]
    # the slice's outcomes are recorded ones: calibration is measured on that scale
    prob = model.recorded_probability(model_prob)
    parts = {**parts, "probability": prob}
    comparison, metrics, flags = _compare_sources(ev, yv, ev_codes, settings.capacity, parts)
    metrics.update(population)
    spread = ece_sampling(yv, prob, 10, seed=settings.seed)
    metrics["ece_equal_mass"] = spread["ece"]
    metrics["ece_equal_mass_noise_floor"] = spread["noise_floor"]
    metrics["ece_equal_mass_ci_high"] = spread["ci_high"]

    fairness = pd.concat(
        [
            group_metrics(ev, PROTECTED_MONITORING, flags[name], yv).assign(score_source=name)
            for name in flags
            if name in ("model", "model_plus_rules")
        ],
        ignore_index=True,
    )
    bins = dict(zip(model.features, parts["bin_index"], strict=True))
    proxies = proxy_audit(ev, bins, log_odds)
    eval_scores = pd.DataFrame(
        {
            TRAVELLER_ID: ev[TRAVELLER_ID].astype(str).to_numpy(),
            NIGHT: ev_nights,
            "label": yv,
            "raw_log_odds": parts["raw"],
            "log_odds": log_odds,
            "probability": model_prob,
            "flagged": flags["model"],
        }
    )
    digest_cols = [TRAVELLER_ID, NIGHT, LABEL, *features]
    return TrainingResult(
        model=model,
        features=used,
        settings=settings,
        split=split,
        metrics=metrics,
        comparison=comparison,
        reliability=reliability_table(yv, prob, 10),
        fairness=fairness,
        proxies=proxies,
        eval_scores=eval_scores,
        data_digest=frame_digest(frame, digest_cols),
        example_frame=ev[features].head(5).reset_index(drop=True),
        counts=counts,
        sampling=dict(frame.attrs.get("sampling") or {}),
    )


def _compare_sources(
    ev: pd.DataFrame, yv: np.ndarray, ev_codes: np.ndarray, cap: int, parts: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, float], dict[str, np.ndarray]]:
    """Metrics of the model, the rules, the matches and model plus rules on the eval slice."""
    log_odds = parts["log_odds"]
    sources: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        "model": (log_odds, parts["probability"])
    }
    if RULE_SCORE in ev.columns:
        rules = ev[RULE_SCORE].to_numpy(dtype=np.float64, na_value=0.0)
        sources["rules"] = (rules, None)
        sources["model_plus_rules"] = (log_odds + rules, None)
    if MATCH_SCORE in ev.columns:
        sources["matches"] = (ev[MATCH_SCORE].to_numpy(dtype=np.float64, na_value=0.0), None)
    rows = []
    metrics: dict[str, float] = {}
    flags: dict[str, np.ndarray] = {}
    for name, (score, p) in sources.items():
        m = score_metrics(yv, score, ev_codes, cap, p)
        rows.append({"source": name, **m})
        flags[name] = capacity_flags(score, ev_codes, cap)
        for key, value in m.items():
            metrics[key if name == "model" else f"{name}.{key}"] = value
    return pd.DataFrame(rows), metrics, flags


def _slices(
    frame: pd.DataFrame, settings: TrainSettings
) -> tuple[TimeSplit, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...], dict[str, int]]:
    """Split the rows by night into fit, calibration and evaluation slices, and count them.

    Returns:
        The split, each row's night code and night, the labels, the three row masks and the
        counts.

    Raises:
        ApiflagError: a slice has no positive outcome.
    """
    night_code, night_days = night_codes(frame)
    split = split_by_time(night_days, settings.eval_fraction)
    slice_of_day = np.asarray(
        [0 if d in split.fit else 1 if d in split.calibration else 2 for d in night_days],
        dtype=np.int8,
    )
    row_slice = slice_of_day[night_code]
    in_fit, in_cal, in_eval = row_slice == 0, row_slice == 1, row_slice == 2
    nights = np.asarray(night_days, dtype=object)[night_code]
    y = frame[LABEL].to_numpy(dtype=np.int8)
    in_train = in_fit | in_cal
    counts = {
        "rows": len(frame),
        "fit_rows": int(in_train.sum()),
        "fit_positives": int(y[in_train].sum()),
        # cross-fitted: the calibration sees every training row, scored out of fold
        "calibration_rows": int(in_train.sum()),
        "calibration_positives": int(y[in_train].sum()),
        "eval_rows": int(in_eval.sum()),
        "eval_positives": int(y[in_eval].sum()),
        "outcomes_unmatched": int(frame.attrs.get("unmatched_outcomes", 0)),
    }
    for name in ("fit", "eval"):
        if counts[f"{name}_positives"] == 0:
            raise ApiflagError(
                f"the {name} slice ({counts[f'{name}_rows']} travellers) has no positive "
                "outcome: more history nights with reviewed positives are needed"
            )
    return split, night_code, nights, y, (in_fit, in_cal, in_eval), counts
