"""The MLflow lifecycle: log and register a trained scorecard, list versions, promote one.

Decides where MLflow state lives and what a promotion requires, and guarantees:

* tracking and registry use :func:`apiflag.config.mlflow_tracking_uri` (SQLite under
  ``$APIFLAG_HOME`` by default) and the experiment keeps its artifacts under
  :func:`apiflag.config.mlflow_artifact_root`, never the working directory;
* every run logs its parameters, metrics, reliability diagram and score histogram (PNG),
  fairness table, proxy audit, model card, the scorecard as JSON and the training-data digest,
  and registers the model (sklearn flavour, cloudpickle, with signature and input example) as a
  new version of ``apiflag-scorecard``;
* nothing promotes itself: :func:`promote` needs a named approver and a reason, refuses a
  version whose gates fail (calibration error above the limit, discrimination below the floor,
  no fairness report, a protected feature), writes an audit event, and only then moves the
  ``champion`` alias.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apiflag import config
from apiflag.audit import append_event
from apiflag.errors import ApiflagError
from apiflag.model.data import check_no_protected, is_protected_name, load_feature_spec
from apiflag.model.report import model_card, plot_reliability, plot_score_histogram
from apiflag.model.train import TrainingResult
from apiflag.queue.store import open_engine

__all__ = [
    "CHAMPION_ALIAS",
    "EXPERIMENT_NAME",
    "REGISTERED_MODEL",
    "GateSettings",
    "RegisteredVersion",
    "check_gates",
    "list_versions",
    "log_and_register",
    "mlflow_client",
    "promote",
]

REGISTERED_MODEL = "apiflag-scorecard"
EXPERIMENT_NAME = "apiflag-scorecard"
CHAMPION_ALIAS = "champion"
FAIRNESS_ARTIFACT = "fairness.csv"
#: the seed and per-night weights of the training table's sample of unflagged travellers
SAMPLING_ARTIFACT = "sampling.json"
LIST_METRICS = ("roc_auc", "pr_auc", "brier", "ece")


@dataclass(frozen=True)
class GateSettings:
    """Promotion gates: the evaluation a version must pass before it can become champion."""

    max_ece: float = 0.05
    min_roc_auc: float = 0.6


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str
    model_uri: str


def mlflow_client() -> Any:
    """Point MLflow at apiflag's store and return a client for it."""
    import mlflow
    from mlflow import MlflowClient

    uri = config.mlflow_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def store_exists() -> bool:
    """Return False when the tracking store is a SQLite file that does not exist yet.

    Reading from a fresh home then answers "nothing registered" without creating (and
    migrating) an empty MLflow database.
    """
    uri = config.mlflow_tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True


def _experiment_id(client: Any) -> str:
    exp = client.get_experiment_by_name(EXPERIMENT_NAME)
    if exp is not None:
        return str(exp.experiment_id)
    root = config.mlflow_artifact_root() / EXPERIMENT_NAME
    root.mkdir(parents=True, exist_ok=True)
    return str(client.create_experiment(EXPERIMENT_NAME, artifact_location=root.as_uri()))


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    out = []
    for dist in ("apiflag", "scikit-learn", "pandas", "numpy", "pyarrow", "scipy", "cloudpickle"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except Exception:  # a distribution without metadata (editable dev install)
            out.append(dist)
    return out


def log_and_register(result: TrainingResult, source: str) -> RegisteredVersion:
    """Log one training run to MLflow and register its model as a new version.

    Args:
        result: the trained and evaluated scorecard.
        source: where the data came from (recorded as a parameter and in the card).

    Returns:
        The new registered version.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    client = mlflow_client()
    exp_id = _experiment_id(client)
    model = result.model
    features = list(model.features)
    example = result_example(result)
    signature = infer_signature(example, model.predict(example))
    with mlflow.start_run(experiment_id=exp_id, run_name="apiflag-scorecard-train") as run:
        params = {
            **result.settings.to_params(),
            "source": source,
            "n_features": len(features),
            "calibration_method": model.calibration_method_,
            "training_data_sha256": result.data_digest,
            **{
                f"split.{k}.{kk}": vv
                for k, v in result.split.to_dict().items()
                for kk, vv in v.items()
            },
        }
        sampling = result.sampling
        if sampling:
            params["sampling.seed"] = sampling.get("seed")
            params["sampling.unflagged_per_night"] = sampling.get("unflagged_per_night")
            params["sampling.flagged_only"] = sampling.get("flagged_only")
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"count.{k}": float(v) for k, v in result.counts.items()})
        mlflow.set_tags(
            {
                "apiflag.features": json.dumps(features),
                "apiflag.training_data_sha256": result.data_digest,
                "apiflag.fairness_rows": str(len(result.fairness)),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            plot_reliability(result, out / "reliability.png")
            plot_score_histogram(result, out / "score_histogram.png")
            result.fairness.to_csv(out / FAIRNESS_ARTIFACT, index=False)
            result.proxies.to_csv(out / "proxy_audit.csv", index=False)
            result.reliability.to_csv(out / "reliability.csv", index=False)
            result.comparison.to_csv(out / "comparison.csv", index=False)
            model.weight_table().to_csv(out / "weights.csv", index=False)
            (out / "scorecard.json").write_text(json.dumps(model.to_dict(), indent=2))
            (out / "features.json").write_text(json.dumps(features, indent=2))
            (out / "training_data.sha256").write_text(result.data_digest + "\n")
            if sampling:
                (out / SAMPLING_ARTIFACT).write_text(json.dumps(sampling, indent=2, default=str))
            (out / "model_card.md").write_text(model_card(result, source=source))
            mlflow.log_artifacts(str(out))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=signature,
            input_example=example,
            registered_model_name=REGISTERED_MODEL,
            pip_requirements=_pip_requirements(),
        )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    tags = {
        "features": json.dumps(features),
        "training_data_sha256": result.data_digest,
        "run_id": run_id,
        "calibration": model.calibration_method_,
    }
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL, version, key, value)
    m = result.metrics
    client.update_model_version(
        REGISTERED_MODEL,
        version,
        description=_description(
            version,
            run_id,
            f"Calibration {model.calibration_method_}. Evaluation nights: ROC AUC "
            f"{m['roc_auc']:.4f}, PR AUC {m['pr_auc']:.4f}, Brier {m['brier']:.5f}, "
            f"ECE {m['ece']:.4f}.",
            "Not promoted (scoring uses only the `champion` alias, moved by a named approver).",
        ),
    )
    return RegisteredVersion(
        REGISTERED_MODEL, version, run_id, f"models:/{REGISTERED_MODEL}/{version}"
    )


def _description(version: str, run_id: str, metrics: str, approval: str) -> str:
    return (
        f"apiflag-scorecard version {version}: binned logistic scorecard with a monotone "
        f"calibration. {metrics}\n\nApproval: {approval}\n\nFull model card: "
        f"runs:/{run_id}/model_card.md"
    )


def result_example(result: TrainingResult, rows: int = 5) -> pd.DataFrame:
    """Return a small input example: the model's feature columns of a few evaluation rows.

    Numeric and boolean features are given as float64 (NaN for missing), categorical ones as
    strings, so the logged signature accepts the missing values real nights carry.
    """
    kinds = {f.name: f.kind for f in result.features}
    example = result.example_frame.head(rows).reset_index(drop=True)
    out = {}
    for name in result.model.features:
        col = example[name]
        if kinds.get(name) == "categorical":
            out[name] = col.astype(object).where(col.notna(), None)
        else:
            values = col.astype(object).where(col.notna(), np.nan)
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out)


def _version(client: Any, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(REGISTERED_MODEL, str(version))
    except MlflowException as exc:
        raise ApiflagError(f"model {REGISTERED_MODEL} has no version {version!r}") from exc


def _version_features(mv: Any) -> list[str]:
    raw = (mv.tags or {}).get("features")
    return list(json.loads(raw)) if raw else []


def list_versions() -> list[dict[str, Any]]:
    """Return every registered version, newest first, with aliases, metrics and features.

    Returns:
        Dicts with ``version, aliases, run_id, created, roc_auc, pr_auc, brier, ece,
        features, approver``.
    """
    from mlflow.exceptions import MlflowException

    if not store_exists():
        return []
    client = mlflow_client()
    try:
        versions = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    except MlflowException:
        return []
    try:
        aliases_by_version: dict[str, list[str]] = {}
        for alias, ver in (client.get_registered_model(REGISTERED_MODEL).aliases or {}).items():
            aliases_by_version.setdefault(str(ver), []).append(alias)
    except MlflowException:
        aliases_by_version = {}
    out = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        out.append(
            {
                "version": str(mv.version),
                "aliases": sorted(aliases_by_version.get(str(mv.version), [])),
                "run_id": mv.run_id,
                "created": dt.datetime.fromtimestamp(
                    mv.creation_timestamp / 1000, tz=dt.UTC
                ).isoformat(timespec="seconds"),
                **{k: metrics.get(k) for k in LIST_METRICS},
                "features": _version_features(mv),
                "approver": (mv.tags or {}).get("approver"),
            }
        )
    return out


def _calibration_gate(metrics: dict[str, float], max_ece: float) -> list[str]:
    """Refuse an ECE above the limit, and an evaluation too small to measure it to the limit.

    The ECE is measured on the reviewed flagged travellers of the evaluation nights, the
    population the probability is shown for. On few travellers even a perfectly calibrated
    model shows an ECE above the limit (its noise floor, logged by training): the gate then
    says that calibration could not be measured, not that the model is miscalibrated.
    """
    ece = metrics.get("ece")
    if ece is None or not np.isfinite(ece):
        return ["no calibration error (ece) recorded"]
    floor = metrics.get("ece_equal_mass_noise_floor")
    rows = metrics.get("count.eval_rows")
    failures = [f"ECE {ece:.4f} above the limit {max_ece}"] if ece > max_ece else []
    if floor is not None and rows is not None and np.isfinite(floor) and floor > max_ece:
        failures.append(
            f"calibration cannot be measured to {max_ece}: on {rows:.0f} reviewed flagged "
            f"evaluation travellers a perfectly calibrated model shows an ECE of about "
            f"{floor:.3f}; more history nights with outcomes are needed"
        )
    return failures


def check_gates(version: str, gates: GateSettings | None = None) -> list[str]:
    """Return the reasons a version may not be promoted (empty when every gate passes).

    Args:
        version: the registered version.
        gates: the limits.

    Raises:
        ApiflagError: the version does not exist.
    """
    gates = gates or GateSettings()
    if not store_exists():
        raise ApiflagError(f"model {REGISTERED_MODEL} has no version {str(version)!r}")
    client = mlflow_client()
    mv = _version(client, version)
    failures: list[str] = []
    run = client.get_run(mv.run_id)
    metrics = run.data.metrics
    failures.extend(_calibration_gate(metrics, gates.max_ece))
    auc = metrics.get("roc_auc")
    if auc is None or not np.isfinite(auc):
        failures.append("no ROC AUC recorded")
    elif auc < gates.min_roc_auc:
        failures.append(f"ROC AUC {auc:.4f} below the floor {gates.min_roc_auc}")
    artifacts = {a.path for a in client.list_artifacts(mv.run_id)}
    if FAIRNESS_ARTIFACT not in artifacts or run.data.tags.get("apiflag.fairness_rows") in (
        None,
        "0",
    ):
        failures.append("no fairness report")
    features = _version_features(mv)
    if not features:
        failures.append("no feature list recorded")
    protected = [f for f in features if is_protected_name(f)]
    try:
        spec = load_feature_spec()
        check_no_protected([f for f in features if f not in protected], spec)
    except ApiflagError as exc:
        if "protected" in str(exc):
            failures.append(str(exc))
    if protected:
        failures.append("protected feature(s): " + ", ".join(protected))
    return failures


def _append_audit_event(actor: str, action: str, obj: str, details: dict[str, Any]) -> None:
    """Write the promotion to the audit log of the queue database."""
    engine = open_engine(config.db_url())
    try:
        append_event(engine, actor, action, obj, details)
    finally:
        engine.dispose()


def promote(
    version: str,
    approver: str | None,
    reason: str | None,
    gates: GateSettings | None = None,
) -> dict[str, Any]:
    """Promote a version to ``champion`` after a named person approves it and its gates pass.

    Args:
        version: the registered version to promote.
        approver: the person approving (required).
        reason: why (required).
        gates: promotion limits.

    Returns:
        ``{"version", "previous", "approver", "reason", "approved_at", "audited"}``.

    Raises:
        ApiflagError: no approver or reason, unknown version, or a failing gate (all reasons in
            one line).
    """
    if not approver or not approver.strip():
        raise ApiflagError("promotion refused: a named approver is required (--approver NAME)")
    if not reason or not reason.strip():
        raise ApiflagError("promotion refused: a reason is required (--reason TEXT)")
    failures = check_gates(version, gates)
    if failures:
        raise ApiflagError(f"promotion of version {version} refused: " + "; ".join(failures))
    client = mlflow_client()
    mv = _version(client, version)
    previous: str | None
    try:
        previous = str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS).version)
    except Exception:
        previous = None
    approved_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    details = {
        "model": REGISTERED_MODEL,
        "version": str(version),
        "previous_champion": previous,
        "reason": reason,
        "run_id": mv.run_id,
        "training_data_sha256": (mv.tags or {}).get("training_data_sha256"),
    }
    _append_audit_event(approver, "model.promote", f"models:/{REGISTERED_MODEL}/{version}", details)
    for key, value in (
        ("approver", approver),
        ("approval_reason", reason),
        ("approved_at", approved_at),
    ):
        client.set_model_version_tag(REGISTERED_MODEL, str(version), key, value)
    _update_card(client, mv, approver, reason, approved_at)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, str(version))
    return {
        "version": str(version),
        "previous": previous,
        "approver": approver,
        "reason": reason,
        "approved_at": approved_at,
        "audited": True,  # _append_audit_event raises rather than skip
    }


def _update_card(client: Any, mv: Any, approver: str, reason: str, approved_at: str) -> None:
    """Append the approval to the run's model card (a new artifact ``model_card.md``)."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client.download_artifacts(mv.run_id, "model_card.md", tmp))
        text = local.read_text()
        head, _, _ = text.partition("## Approval\n")
        text = (
            head + f"## Approval\nApproved by **{approver}** on {approved_at} as version "
            f"{mv.version}: {reason}\n"
        )
        local.write_text(text)
        client.log_artifact(mv.run_id, str(local))
        old = str(mv.description or "")
        head = old.split("\n\nApproval:")[0]
        client.update_model_version(
            REGISTERED_MODEL,
            mv.version,
            description=f"{head}\n\nApproval: approved by {approver} on {approved_at}: {reason}"
            f"\n\nFull model card: runs:/{mv.run_id}/model_card.md",
        )


def champion_version() -> str | None:
    """Return the champion's version, or None when no version holds the alias."""
    if not store_exists():
        return None
    client = mlflow_client()
    try:
        return str(client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS).version)
    except Exception:
        return None
