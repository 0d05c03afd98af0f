"""``apiflag model``: train, list and promote scorecard versions.

A refused action (protected feature, missing approver, failing gate) is one line on stderr and
exit status 1; nothing is registered or promoted half-way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
import yaml

from apiflag.errors import ApiflagError, UsageError

__all__ = ["model"]


@click.group()
def model() -> None:
    """Train, list and promote the glass-box scorecard (MLflow registry)."""


def _read_feature_list(path: Path) -> list[str]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the feature list ({exc})") from exc
    if isinstance(data, dict):
        data = data.get("features")
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data) or not data:
        raise UsageError(f"{path}: expected a YAML list of feature names (or {{features: [...]}})")
    return list(data)


@model.command("train")
@click.option("--world", type=click.Path(path_type=Path, file_okay=False), help="World directory.")
@click.option(
    "--table",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A prepared training table (Parquet) instead of a world.",
)
@click.option(
    "--capacity",
    type=int,
    default=None,
    help="Flags per night (default: capacity in $APIFLAG_HOME/config.yaml, else 50).",
)
@click.option(
    "--features",
    "features_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML list of input names (default: each rule hit, the match logit and every "
    "feature no rule reads).",
)
@click.option("--n-bins", type=int, default=5, show_default=True)
@click.option("--C", "c", type=float, default=1.0, show_default=True, help="Inverse L2 strength.")
@click.option(
    "--calibration",
    type=click.Choice(["auto", "sigmoid", "isotonic"]),
    default="auto",
    show_default=True,
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--outcome-error-rate",
    type=float,
    default=None,
    help="Known share of wrong recorded outcomes (default: config.yaml's outcome_error_rate); "
    "the calibration is fitted through it.",
)
@click.option(
    "--cluster",
    default=None,
    help="Prepare the history nights (ingest to rules) on a Dask cluster first: 'local' or "
    "tls://SCHEDULER:8786 (see docs/OPERATIONS.md).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def train_command(
    world: Path | None,
    table: Path | None,
    capacity: int | None,
    features_file: Path | None,
    n_bins: int,
    c: float,
    calibration: str,
    seed: int,
    outcome_error_rate: float | None,
    cluster: str | None,
    fmt: str,
) -> None:
    """Train, evaluate and register a new scorecard version (not promoted)."""
    from apiflag.model.inputs import RULE_PREFIX, model_inputs
    from apiflag.model.registry import log_and_register
    from apiflag.model.train import TrainSettings, train_scorecard
    from apiflag.settings import load_settings

    if (world is None) == (table is None):
        raise UsageError("give exactly one of --world DIR or --table FILE")
    if cluster is not None and world is None:
        raise UsageError("--cluster prepares a --world's history nights; a --table has none")
    if capacity is not None and capacity < 1:
        raise UsageError(f"--capacity must be at least 1, got {capacity}")
    operator = load_settings(capacity=capacity, outcome_error_rate=outcome_error_rate)
    if operator.capacity < 1:
        raise UsageError(f"capacity must be at least 1, got {operator.capacity}")
    features = _read_feature_list(features_file) if features_file else None
    spec, _ = model_inputs(())
    if features is not None:
        from apiflag.model.data import check_no_protected

        check_no_protected(features, spec)  # refuse before any expensive work
    if table is not None:
        try:
            frame = pd.read_parquet(table)
        except (OSError, ValueError) as exc:
            raise ApiflagError(f"{table}: cannot read the training table ({exc})") from exc
        source = str(table)
    else:
        assert world is not None
        from apiflag.model.pipeline import Sampling, build_training_frame

        if cluster is not None:
            from apiflag.orchestration.cli import prepare_history
            from apiflag.orchestration.cluster import parse_cluster

            parse_cluster(cluster)
            prepared = prepare_history(world, cluster)
            click.echo(f"prepared {prepared} history nights on the cluster", err=True)
        frame = build_training_frame(
            world, progress=lambda line: click.echo(line, err=True), sampling=Sampling(seed=seed)
        )
        source = str(world)
    if features is None and any(str(c).startswith(RULE_PREFIX) for c in frame.columns):
        spec, features = model_inputs(frame.columns)
    settings = TrainSettings.from_settings(
        operator, n_bins=n_bins, C=c, calibration=calibration, seed=seed
    )
    result = train_scorecard(frame, spec, features, settings)
    reg = log_and_register(result, source)
    summary: dict[str, Any] = {
        "model": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "calibration": result.model.calibration_method_,
        "metrics": {k: result.metrics[k] for k in sorted(result.metrics)},
        "counts": result.counts,
    }
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    m = result.metrics
    click.echo(f"registered {reg.name} version {reg.version} (run {reg.run_id}); not promoted")
    click.echo(
        f"evaluation: roc_auc {m['roc_auc']:.4f}  pr_auc {m['pr_auc']:.4f}  "
        f"brier {m['brier']:.5f}  ece {m['ece']:.4f}  calibration {summary['calibration']}"
    )
    for source_name in ("rules", "matches", "model_plus_rules"):
        if f"{source_name}.pr_auc" in m:
            click.echo(f"  {source_name}: pr_auc {m[f'{source_name}.pr_auc']:.4f}")
    click.echo(f"promote with: apiflag model promote {reg.version} --approver NAME --reason TEXT")


@model.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def list_command(fmt: str) -> None:
    """List registered versions with aliases, metrics and features."""
    from apiflag.model.registry import list_versions

    versions = list_versions()
    if fmt == "json":
        click.echo(json.dumps(versions, indent=2))
        return
    if not versions:
        click.echo("no registered versions of apiflag-scorecard")
        return

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    click.echo("version  aliases    roc_auc  pr_auc   brier    ece      features  approver")
    for v in versions:
        click.echo(
            f"{v['version']:<8} {','.join(v['aliases']) or '-':<10} {f(v['roc_auc']):<8} "
            f"{f(v['pr_auc']):<8} {f(v['brier']):<8} {f(v['ece']):<8} "
            f"{len(v['features']):<9} {v['approver'] or '-'}"
        )


@model.command("promote")
@click.argument("version")
@click.option("--approver", default=None, help="The person approving (required).")
@click.option("--reason", default=None, help="Why this version should score (required).")
@click.option("--max-ece", type=float, default=0.05, show_default=True)
@click.option("--min-roc-auc", type=float, default=0.6, show_default=True)
def promote_command(
    version: str, approver: str | None, reason: str | None, max_ece: float, min_roc_auc: float
) -> None:
    """Move the champion alias to VERSION after its gates pass (needs a named approver)."""
    from apiflag.model.registry import GateSettings, promote

    done = promote(
        version, approver, reason, GateSettings(max_ece=max_ece, min_roc_auc=min_roc_auc)
    )
    prev = f" (was version {done['previous']})" if done["previous"] else ""
    click.echo(
        f"version {done['version']} is now champion{prev}; approved by {done['approver']} "
        f"at {done['approved_at']}"
    )
