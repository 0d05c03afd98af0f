"""Evaluation on later nights: discrimination, calibration, capacity, fairness, proxies.

Decides what "good enough to promote" is measured with, and guarantees every figure is computed
the same way for the model, rules alone, case matches alone and model plus rules:

* ROC AUC, PR AUC (average precision), Brier score, expected calibration error (ECE, 10 equal
  width bins, weighted by bin size) and a reliability table;
* precision and recall at review capacity: per night the ``capacity`` highest scores are
  flagged (ties broken by traveller order), as the queue would;
* per nationality, sex and age band: travellers, positives, flag rate, true and false positive
  rates of the capacity flags (written here, fairlearn is not a dependency);
* a proxy audit: how well each feature, and the score, predict nationality and sex
  (Cramer's V, normalised mutual information, and for sex a one-feature AUC).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
)

__all__ = [
    "calibration_error",
    "ece_sampling",
    "equal_mass_reliability",
    "queue_decile_rates",
    "capacity_flags",
    "cramers_v",
    "group_metrics",
    "normalized_mutual_information",
    "proxy_audit",
    "reliability_table",
    "score_metrics",
]


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Return the reliability table: per equal-width probability bin, count, mean p, rate.

    Args:
        y: 0/1 outcomes.
        p: predicted probabilities in [0, 1].
        n_bins: number of equal-width bins on [0, 1].

    Returns:
        Columns ``bin, lower, upper, n, mean_predicted, observed_rate`` (empty bins kept with
        n = 0 and NaN means).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    sp = np.bincount(idx, weights=p, minlength=n_bins)
    sy = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(n > 0, sp / np.maximum(n, 1), np.nan)
        rate = np.where(n > 0, sy / np.maximum(n, 1), np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": np.arange(n_bins) / n_bins,
            "upper": (np.arange(n_bins) + 1) / n_bins,
            "n": n,
            "mean_predicted": mean_p,
            "observed_rate": rate,
        }
    )


def calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: size-weighted mean |observed rate - mean p| over bins."""
    table = reliability_table(y, p, n_bins)
    used = table[table["n"] > 0]
    total = float(used["n"].sum())
    if total == 0:
        return float("nan")
    gap = (used["observed_rate"] - used["mean_predicted"]).abs()
    return float((gap * used["n"]).sum() / total)


def equal_mass_reliability(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10
) -> tuple[float, pd.DataFrame]:
    """ECE with equal-mass bins: the rows sorted by p, cut into ``n_bins`` bins of equal size.

    Equal-width bins leave most bins empty when probabilities crowd near 0; equal-mass bins
    give each bin the same number of travellers, so each observed rate rests on as many.

    Args:
        y: 0/1 outcomes.
        p: predicted probabilities.
        n_bins: number of bins (fewer when there are fewer rows).

    Returns:
        ``(ece, table)``: the size-weighted mean |observed rate - mean p|, and per bin
        ``bin, n, lower, upper, mean_predicted, observed_rate``.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, min(n_bins, max(len(p), 1))) if len(part)]
    rows = [
        {
            "bin": i,
            "n": len(part),
            "lower": float(p[part].min()),
            "upper": float(p[part].max()),
            "mean_predicted": float(p[part].mean()),
            "observed_rate": float(y[part].mean()),
        }
        for i, part in enumerate(parts)
    ]
    table = pd.DataFrame(
        rows, columns=["bin", "n", "lower", "upper", "mean_predicted", "observed_rate"]
    )
    if not len(table):
        return float("nan"), table
    gap = (table["observed_rate"] - table["mean_predicted"]).abs()
    return float((gap * table["n"]).sum() / table["n"].sum()), table


def ece_sampling(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, draws: int = 200, seed: int = 0
) -> dict[str, float]:
    """The sampling error of the equal-mass ECE: its noise floor and a bootstrap interval.

    ECE is a mean of absolute gaps, so even a perfectly calibrated model shows one: with ``n``
    rows in ``n_bins`` bins each observed rate has a standard error of about
    ``sqrt(p (1 - p) n_bins / n)``. The *noise floor* is the ECE a perfectly calibrated model
    with these very probabilities would show on average (outcomes drawn as Bernoulli(p));
    the interval is the 2.5 and 97.5 percentiles of the ECE over bootstrap resamples of rows.

    Returns:
        ``ece, noise_floor, noise_floor_p95, ci_low, ci_high, n``.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(seed)
    ece = equal_mass_reliability(y, p, n_bins)[0]
    floor = [
        equal_mass_reliability((rng.random(len(p)) < p).astype(float), p, n_bins)[0]
        for _ in range(draws)
    ]
    boot = []
    for _ in range(draws):
        idx = rng.integers(0, len(p), len(p))
        boot.append(equal_mass_reliability(y[idx], p[idx], n_bins)[0])
    return {
        "ece": ece,
        "noise_floor": float(np.mean(floor)) if floor else float("nan"),
        "noise_floor_p95": float(np.percentile(floor, 95)) if floor else float("nan"),
        "ci_low": float(np.percentile(boot, 2.5)) if boot else float("nan"),
        "ci_high": float(np.percentile(boot, 97.5)) if boot else float("nan"),
        "n": float(len(p)),
    }


def queue_decile_rates(y: np.ndarray, rank: np.ndarray, nights: np.ndarray) -> pd.DataFrame:
    """Observed outcome rate per decile of each night's queue order, pooled over nights.

    Args:
        y: 0/1 outcomes of the ranked (flagged) travellers.
        rank: each traveller's position in its night's order (1 = first).
        nights: each traveller's night.

    Returns:
        ``decile`` (1 = the top tenth of each night's order), ``n``, ``positives``, ``rate``.
    """
    frame = pd.DataFrame({"y": y, "rank": rank, "night": nights})
    size = frame.groupby("night")["rank"].transform("size").to_numpy()
    decile = np.minimum((10 * (frame["rank"].to_numpy() - 1)) // np.maximum(size, 1), 9) + 1
    out = frame.assign(decile=decile).groupby("decile")["y"].agg(["size", "sum"])
    return pd.DataFrame(
        {
            "decile": out.index.to_numpy(dtype=int),
            "n": out["size"].to_numpy(dtype=int),
            "positives": out["sum"].to_numpy(dtype=int),
            "rate": (out["sum"] / out["size"]).to_numpy(dtype=float),
        }
    )


def capacity_flags(score: np.ndarray, nights: np.ndarray, capacity: int) -> np.ndarray:
    """Flag the ``capacity`` highest scores of each night (a stable sort breaks ties).

    Args:
        score: ranking score (higher first); NaN never flagged.
        nights: the night of each row.
        capacity: flags per night.

    Returns:
        Boolean array, True for flagged rows.
    """
    score = np.asarray(score, dtype=np.float64)
    frame = pd.DataFrame({"night": nights, "score": np.nan_to_num(score, nan=-np.inf)})
    frame["pos"] = np.arange(len(frame))
    ordered = frame.sort_values(["night", "score", "pos"], ascending=[True, False, True])
    rank = ordered.groupby("night", sort=False).cumcount().to_numpy()
    flagged = np.zeros(len(frame), dtype=bool)
    chosen = ordered["pos"].to_numpy()[rank < capacity]
    flagged[chosen] = True
    flagged &= np.isfinite(frame["score"].to_numpy())
    return flagged


def score_metrics(
    y: np.ndarray,
    score: np.ndarray,
    nights: np.ndarray,
    capacity: int,
    probability: np.ndarray | None = None,
) -> dict[str, float]:
    """Discrimination and capacity metrics of one score, plus calibration when it is a probability.

    Args:
        y: 0/1 outcomes.
        score: ranking score (any monotone scale).
        nights: night of each row (for capacity flags).
        capacity: flags per night.
        probability: calibrated probabilities; when given, ``brier`` and ``ece`` are added.

    Returns:
        ``roc_auc, pr_auc, precision_at_capacity, recall_at_capacity, flagged, positives,
        flag_rate`` (and ``brier, ece``).
    """
    y = np.asarray(y, dtype=np.int8)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-1e9)
    flagged = capacity_flags(score, nights, capacity)
    tp = int((flagged & (y == 1)).sum())
    pos = int(y.sum())
    two = 0 < pos < len(y)
    out = {
        "roc_auc": float(roc_auc_score(y, score)) if two else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if two else float("nan"),
        "precision_at_capacity": tp / int(flagged.sum()) if flagged.any() else float("nan"),
        "recall_at_capacity": tp / pos if pos else float("nan"),
        "flagged": float(flagged.sum()),
        "positives": float(pos),
        "flag_rate": float(flagged.mean()) if len(y) else float("nan"),
    }
    if probability is not None:
        out["brier"] = float(brier_score_loss(y, probability))
        out["ece"] = calibration_error(y, probability)
    return out


def group_metrics(
    frame: pd.DataFrame, groups: Sequence[tuple[str, str]], flagged: np.ndarray, y: np.ndarray
) -> pd.DataFrame:
    """Flag rate, TPR and FPR of the capacity flags per value of each monitoring column.

    Args:
        frame: rows with the monitoring columns.
        groups: ``(column, report name)`` pairs; absent columns are skipped.
        flagged: the capacity flags.
        y: 0/1 outcomes.

    Returns:
        Columns ``attribute, group, n, positives, flagged, flag_rate, tpr, fpr`` (TPR is NaN for
        a group without positives). Missing values form the group ``(missing)``.
    """
    rows: list[dict[str, Any]] = []
    y = np.asarray(y, dtype=np.int8)
    for column, name in groups:
        if column not in frame.columns:
            continue
        values = frame[column].astype(object).where(frame[column].notna(), "(missing)")
        g = pd.DataFrame({"group": values.astype(str).to_numpy(), "f": flagged, "y": y})
        for group, part in g.groupby("group", sort=True):
            pos = int(part["y"].sum())
            neg = len(part) - pos
            rows.append(
                {
                    "attribute": name,
                    "group": group,
                    "n": len(part),
                    "positives": pos,
                    "flagged": int(part["f"].sum()),
                    "flag_rate": float(part["f"].mean()),
                    "tpr": float((part["f"] & (part["y"] == 1)).sum() / pos) if pos else np.nan,
                    "fpr": float((part["f"] & (part["y"] == 0)).sum() / neg) if neg else np.nan,
                }
            )
    return pd.DataFrame(
        rows, columns=["attribute", "group", "n", "positives", "flagged", "flag_rate", "tpr", "fpr"]
    )


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ca, ua = pd.factorize(pd.Series(a, dtype=object).fillna("(missing)"))
    cb, ub = pd.factorize(pd.Series(b, dtype=object).fillna("(missing)"))
    flat = np.bincount(ca * len(ub) + cb, minlength=len(ua) * len(ub))
    return flat.reshape(len(ua), len(ub)).astype(np.float64)


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramer's V between two categorical arrays (0 = independent, 1 = one determines the other)."""
    table = _contingency(a, b)
    if table.shape[0] < 2 or table.shape[1] < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    k = min(table.shape) - 1
    return math.sqrt(chi2 / (n * k))


def normalized_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information of two categorical arrays over the mean of their entropies (0..1)."""
    table = _contingency(a, b)
    n = table.sum()
    if n == 0:
        return 0.0
    pab = table / n
    pa_ = pab.sum(1)
    pb_ = pab.sum(0)
    nz = pab > 0
    mi = float((pab[nz] * np.log(pab[nz] / np.outer(pa_, pb_)[nz])).sum())
    ha = float(-(pa_[pa_ > 0] * np.log(pa_[pa_ > 0])).sum())
    hb = float(-(pb_[pb_ > 0] * np.log(pb_[pb_ > 0])).sum())
    denom = (ha + hb) / 2
    return max(0.0, mi / denom) if denom > 0 else 0.0


def _one_feature_auc(codes: np.ndarray, target: np.ndarray) -> float:
    """AUC of the best score one categorical feature gives for a binary target (in-sample).

    Each category scores its own positive rate; the AUC follows from the grouped counts
    (ties within a category count one half), so no per-row sort is needed.
    """
    ck, _ = pd.factorize(pd.Series(codes, dtype=object).fillna("(missing)"))
    pos = np.bincount(ck, weights=target, minlength=ck.max() + 1)
    tot = np.bincount(ck, minlength=ck.max() + 1).astype(np.float64)
    neg = tot - pos
    rate = np.divide(pos, tot, out=np.zeros_like(pos), where=tot > 0)
    uniq, inv = np.unique(rate, return_inverse=True)
    p_g = np.bincount(inv, weights=pos, minlength=len(uniq))
    n_g = np.bincount(inv, weights=neg, minlength=len(uniq))
    n_below = np.concatenate([[0.0], np.cumsum(n_g)[:-1]])
    total_p, total_n = p_g.sum(), n_g.sum()
    if total_p == 0 or total_n == 0:
        return float("nan")
    auc = float((p_g * (n_below + 0.5 * n_g)).sum() / (total_p * total_n))
    return max(auc, 1.0 - auc)


def proxy_audit(
    frame: pd.DataFrame,
    bins: dict[str, np.ndarray],
    score: np.ndarray,
    nationality: str = "traveller.nationality",
    sex: str = "traveller.sex",
) -> pd.DataFrame:
    """How well each feature (as binned by the model) and the score predict nationality and sex.

    Args:
        frame: rows with the protected columns.
        bins: feature name -> bin index per row (the model's own view of the feature).
        score: the model's log-odds (cut into deciles for the categorical measures).
        nationality: nationality column.
        sex: sex column.

    Returns:
        One row per feature plus ``(score)``: ``feature, nationality_cramers_v,
        nationality_nmi, sex_cramers_v, sex_auc`` (NaN where a column is absent).
    """
    decile = pd.qcut(pd.Series(score).rank(method="first"), 10, labels=False).to_numpy()
    items = [*bins.items(), ("(score)", decile)]
    nat = (
        frame[nationality].astype(object).fillna("(missing)").to_numpy()
        if nationality in frame
        else None
    )
    sx = frame[sex].astype(object).fillna("(missing)").to_numpy() if sex in frame else None
    sx_bin = None
    if sx is not None:
        keep = np.isin(sx, ["F", "M"])
        sx_bin = (keep, (sx[keep] == "F").astype(np.int8))
    rows = []
    for name, codes in items:
        row: dict[str, Any] = {"feature": name}
        if nat is not None:
            row["nationality_cramers_v"] = cramers_v(codes, nat)
            row["nationality_nmi"] = normalized_mutual_information(nat, codes)
        else:
            row["nationality_cramers_v"] = row["nationality_nmi"] = np.nan
        if sx is not None and sx_bin is not None:
            keep, target = sx_bin
            row["sex_cramers_v"] = cramers_v(codes, sx)
            ok = 0 < target.sum() < len(target)
            row["sex_auc"] = _one_feature_auc(np.asarray(codes)[keep], target) if ok else np.nan
        else:
            row["sex_cramers_v"] = row["sex_auc"] = np.nan
        rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["feature", "nationality_cramers_v", "nationality_nmi", "sex_cramers_v", "sex_auc"],
    )
