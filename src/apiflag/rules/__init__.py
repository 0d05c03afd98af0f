"""Transparent rules: a reviewed catalogue of YAML files, a linter, and a vectorised evaluator.

Public surface for the nightly flow::

    catalogue = load_catalogue()                      # refuses a catalogue that does not lint
    result = catalogue.evaluate(features, night=night)  # hits + digest + skipped-rule warnings
    write_hits(result, night)                         # warehouse/night=<D>/rule_hits.parquet

or simply :func:`run_rules` for a night whose ``features.parquet`` is written.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from apiflag import atomic, config
from apiflag.rules.catalogue import Catalogue, catalogue_digest, default_rules_dir, load_catalogue
from apiflag.rules.evaluate import HITS_COLUMNS, RuleResult, evaluate, rule_mask
from apiflag.rules.schema import Rule

__all__ = [
    "Catalogue",
    "HITS_COLUMNS",
    "Rule",
    "RuleResult",
    "catalogue_digest",
    "default_rules_dir",
    "evaluate",
    "load_catalogue",
    "read_hits",
    "rule_mask",
    "run_rules",
    "write_hits",
]


def write_hits(result: RuleResult, night: str) -> Path:
    """Write ``rule_hits.parquet`` for a night (temp file, then rename).

    The digest, evaluated and skipped rules and warnings go into the Parquet metadata under
    ``apiflag.rules`` so the file explains itself.

    Returns:
        The written path.
    """
    out = config.warehouse_dir(night) / "rule_hits.parquet"
    table = pa.Table.from_pandas(result.hits[list(HITS_COLUMNS)], preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"apiflag.rules"] = json.dumps(
        {
            "rules_digest": result.rules_digest,
            "evaluated": list(result.evaluated),
            "skipped": list(result.skipped),
            "warnings": list(result.warnings),
        }
    ).encode()
    return atomic.write_parquet(out, table.replace_schema_metadata(meta))


def read_hits(night: str) -> tuple[pd.DataFrame, dict[str, object]]:
    """Read a night's ``rule_hits.parquet`` and its ``apiflag.rules`` metadata."""
    path = config.warehouse_dir(night) / "rule_hits.parquet"
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"apiflag.rules", b"{}"))
    return table.to_pandas(), meta


def run_rules(night: str, *, rules_dir: Path | None = None) -> RuleResult:
    """Evaluate the catalogue on a night's ``features.parquet`` and write its rule hits.

    Args:
        night: the arrival night, ``YYYY-MM-DD``.
        rules_dir: the catalogue folder (default :func:`default_rules_dir`).

    Raises:
        ApiflagError: no feature table for the night, or the catalogue does not lint.
    """
    from apiflag.errors import ApiflagError

    path = config.warehouse_dir(night) / "features.parquet"
    if not path.exists():
        raise ApiflagError(f"{path}: no feature table for night {night} (build features first)")
    catalogue = load_catalogue([rules_dir] if rules_dir else None)
    result = catalogue.evaluate(pd.read_parquet(path), night=dt.date.fromisoformat(night))
    write_hits(result, night)
    return result
