"""The training report: reliability diagram, score histogram and the model card (markdown).

Decides what a model owner, an approver and an auditor read about one trained version, and
guarantees the card always states its purpose, data, features, metrics, calibration choice,
fairness and proxy findings, limits, and who approved it (or that nobody has yet).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from apiflag.model.scorecard import ISOTONIC_MIN_POSITIVES
from apiflag.model.train import TrainingResult

__all__ = ["PROXY_WARN", "model_card", "plot_reliability", "plot_score_histogram"]

#: a feature whose Cramer's V with nationality or sex reaches this is called out as a proxy.
PROXY_WARN = 0.3


def plot_reliability(result: TrainingResult, path: Path) -> None:
    """Write the reliability diagram (observed rate against mean predicted, per bin) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.reliability[result.reliability["n"] > 0]
    top = float(max(table["mean_predicted"].max(), table["observed_rate"].max(), 0.05))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
    for _, row in table.iterrows():
        ax.annotate(f"n={int(row['n'])}", (row["mean_predicted"], row["observed_rate"]), fontsize=7)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"Reliability (evaluation nights), ECE {result.metrics['ece']:.4f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_score_histogram(result: TrainingResult, path: Path) -> None:
    """Write the histogram of calibrated log-odds on evaluation nights, by recorded outcome."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = result.eval_scores
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.histogram_bin_edges(ev["log_odds"], bins=40)
    for label, name in ((0, "no concern recorded"), (1, "concern confirmed")):
        part = ev.loc[ev["label"] == label, "log_odds"]
        ax.hist(
            part,
            bins=[float(e) for e in edges],
            alpha=0.6,
            density=True,
            label=f"{name} (n={len(part)})",
        )
    ax.set_xlabel("calibrated log-odds")
    ax.set_ylabel("density")
    ax.set_title("Score distribution on evaluation nights")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _md_table(frame: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float | np.floating):
                cells.append("" if np.isnan(v) else floatfmt.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card(
    result: TrainingResult,
    *,
    source: str,
    version: str | None = None,
    approver: str | None = None,
    reason: str | None = None,
    approved_at: str | None = None,
) -> str:
    """Return the model card as markdown.

    Args:
        result: the training run.
        source: where the data came from (world directory or table file).
        version: registered version, when known.
        approver: who promoted it (None: not promoted).
        reason: the approver's reason.
        approved_at: when (ISO time).
    """
    m = result.metrics
    model = result.model
    c = result.counts
    split = result.split.to_dict()
    method = model.calibration_method_
    why = (
        f"the cross-fitted calibration has {c['calibration_positives']} positives among "
        f"{c['calibration_rows']} travellers, fewer than {ISOTONIC_MIN_POSITIVES}: isotonic "
        "regression would overfit so few positives, so the two-parameter Platt sigmoid is used"
        if method == "sigmoid"
        else f"the cross-fitted calibration has at least {ISOTONIC_MIN_POSITIVES} positives and "
        "negatives, enough for the non-parametric isotonic map"
    )
    if method == "sigmoid" and model.calibration != "auto":
        why = f"the training settings forced '{method}'"
    feats = pd.DataFrame(
        [
            {
                "feature": f.name,
                "kind": f.kind,
                "unit": f.unit,
                "bins": " / ".join(b.labels),
                "description": f.description,
            }
            for f, b in zip(result.features, model.bins_, strict=True)
        ]
    )
    strong = result.proxies.loc[
        (result.proxies[["nationality_cramers_v", "sex_cramers_v"]].fillna(0) >= PROXY_WARN).any(
            axis=1
        ),
        "feature",
    ].tolist()
    fair = result.fairness.loc[result.fairness["score_source"] == "model"].drop(
        columns="score_source"
    )
    approval = (
        f"Approved by **{approver}** on {approved_at}: {reason}"
        if approver
        else "Not promoted. Scoring uses only the version under the `champion` alias, which "
        "a named approver moves with `apiflag model promote`."
    )
    return f"""# Model card: apiflag-scorecard{f" version {version}" if version else ""}

## Purpose
Ranks arriving travellers for a human review of possible trafficking in persons (protection of
possible victims, examination of possible traffickers). It refines the order of travellers that
case matches and rules have already flagged; it never flags anyone alone and never decides:
a person reviews every flag.

## Data
- Source: `{source}`; labels are recorded hearing outcomes (`history/outcomes.csv`); a
  traveller without an outcome row was not reviewed and counts as "no concern recorded".
- Split by time: training {split["fit"]["first"]} to {split["calibration"]["last"]}
  ({c["fit_rows"]} travellers, {c["fit_positives"]} positives; the weights are fitted on all of
  them and the calibration is cross-fitted over all of them in {c.get("calibration_folds", 0)}
  blocks of nights, each scored by a scorecard fitted on the others, through the known review
  error rate {result.settings.outcome_error_rate}); evaluation {split["evaluation"]["first"]} to
  {split["evaluation"]["last"]} ({c["eval_rows"]}, {c["eval_positives"]}).
- Recorded outcomes whose traveller was not found in the warehouse (not used):
  {c.get("outcomes_unmatched", 0)}.
- Training-data digest (SHA-256): `{result.data_digest}`

## Model
Binned scorecard: each feature is cut into bins (quantiles for numbers, levels otherwise, a
`missing` bin), one weight per bin (log-odds points, centred on the average training
traveller), summed with an intercept ({model.intercept_:+.4f}); then a monotone calibration.
Calibration: **{method}**, because {why}. Every score splits exactly into intercept +
feature contributions + calibration step.

## Features (none protected)
{_md_table(feats)}

## Metrics (evaluation nights, capacity {result.settings.capacity} a night)
{_md_table(result.comparison)}

ROC AUC {m["roc_auc"]:.4f}, PR AUC {m["pr_auc"]:.4f}, Brier {m["brier"]:.5f}, ECE {m["ece"]:.4f}.

## Reliability (10 bins)
{_md_table(result.reliability)}

## Fairness (capacity flags of the model, evaluation nights)
{_md_table(fair)}

## Proxy audit (how well each feature and the score predict nationality and sex)
{_md_table(result.proxies)}

{"Strong proxies (Cramer's V >= " + str(PROXY_WARN) + "): " + ", ".join(strong) + ". Review before approval." if strong else "No feature reaches Cramer's V " + str(PROXY_WARN) + " with nationality or sex."}

## Limits
- Labels exist only where a past review happened: the model learns what earlier reviews found,
  including their blind spots; unreviewed travellers are presumed "no concern", so probabilities
  are of a *recorded* concern, not of trafficking itself.
- Positives are rare; metrics on the evaluation nights carry wide uncertainty.
- Outcome noise (wrong recorded outcomes) caps the attainable precision.
- A proxy of a protected attribute can carry bias even though no protected attribute is used;
  read the proxy audit and the fairness table before approving.

## Approval
{approval}
"""
