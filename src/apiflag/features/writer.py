"""Writing a night's feature table to the warehouse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from apiflag import atomic, config


def write_features(features: pd.DataFrame, night: str) -> Path:
    """Write ``warehouse/night=<D>/features.parquet`` (temp file, then rename).

    Returns:
        The written path.
    """
    return atomic.write_parquet(config.warehouse_dir(night) / "features.parquet", features)
