"""One night's warehouse partition masked: its dictionary, its Parquet files, masked dates.

:class:`NightMasker` builds the night's :class:`~apiflag.privacy.masking.PersonalDictionary`
from the policy's warehouse columns (values of held travellers kept apart), rewrites each Parquet
file with keyed pseudonyms (each column keeping its type) and writes the masked dates' tokens and
age bands to ``$APIFLAG_HOME/privacy/night=<D>/masked_dates.parquet``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from apiflag import atomic, config
from apiflag.privacy.masking import (
    MaskedFrame,
    PersonalDictionary,
    collect,
    collect_quoted,
    mask_frame,
)
from apiflag.privacy.policy import WAREHOUSE_COLUMNS
from apiflag.privacy.stats import age_band_of
from apiflag.settings import Settings
from apiflag.settings import load_settings as load_app_settings

__all__ = ["Held", "NightMasker", "privacy_dir"]


def privacy_dir(night: str) -> Path:
    """Return the night's privacy folder (``masked_dates.parquet``)."""
    return config.home() / "privacy" / f"night={night}"


def _read_parquet(path: Path) -> tuple[pa.Table, pd.DataFrame]:
    table = pq.read_table(path)
    return table, table.to_pandas()


def _date_columns(schema: pa.Schema) -> frozenset[str]:
    return frozenset(
        f.name for f in schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)
    )


def _write_masked(path: Path, original: pa.Table, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, schema=original.schema, preserve_index=False)
    metadata = original.schema.metadata
    atomic.write_parquet(path, table.replace_schema_metadata(metadata), compression="zstd")


def _row_keys(table: str, frame: pd.DataFrame) -> list[str]:
    """Return, per row, the key that finds it again (``owner_id/seq`` for documents)."""
    if table == "documents" and "owner_id" in frame.columns:
        seq = frame["seq"].tolist() if "seq" in frame.columns else list(range(len(frame)))
        return [f"{o}/{q}" for o, q in zip(frame["owner_id"].tolist(), seq, strict=True)]
    for column in ("traveller_id", "pnr_traveller_id", "booking_id"):
        if column in frame.columns:
            return [str(v) for v in frame[column].tolist()]
    return [str(i) for i in range(len(frame))]


@dataclass
class Held:
    """The travellers of a night held for an open case, and their PNR rows and bookings."""

    travellers: set[str] = field(default_factory=set)
    pnr_travellers: set[str] = field(default_factory=set)
    bookings: set[str] = field(default_factory=set)

    def keep(self, table: str, frame: pd.DataFrame) -> pd.Series | None:
        if not self.travellers:
            return None

        def isin(column: str, values: set[str]) -> pd.Series:
            if column not in frame.columns:
                return pd.Series(False, index=frame.index)
            return frame[column].isin(values).fillna(False).astype(bool)

        if table == "documents":
            return isin("owner_id", self.travellers | self.pnr_travellers)
        if table == "pnr_travellers":
            return isin("pnr_traveller_id", self.pnr_travellers)
        if table == "booking_contacts":
            booking_level = (
                frame["pnr_traveller_id"].isna()
                if "pnr_traveller_id" in frame.columns
                else pd.Series(True, index=frame.index)
            )
            return isin("pnr_traveller_id", self.pnr_travellers) | (
                booking_level & isin("booking_id", self.bookings)
            )
        if table in {"bookings", "payments"}:
            return isin("booking_id", self.bookings)
        if "traveller_id" in frame.columns:
            return isin("traveller_id", self.travellers)
        return None


@dataclass
class NightMasker:
    """One night being masked: its dictionary, held values, counts and masked dates."""

    night: str
    held: Held
    dictionary: PersonalDictionary = field(default_factory=PersonalDictionary)
    held_values: PersonalDictionary = field(default_factory=PersonalDictionary)
    counts: dict[str, int] = field(default_factory=dict)
    dates: list[dict[str, str]] = field(default_factory=list)
    settings: Settings = field(default_factory=load_app_settings)

    def count(self, key: str, n: int) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def build_dictionary(self, folder: Path) -> None:
        travellers = folder / "travellers.parquet"
        if travellers.is_file() and self.held.travellers:
            frame = pq.read_table(travellers).to_pandas()
            held = frame[frame["traveller_id"].isin(self.held.travellers)]
            for column, target in (
                ("pnr_traveller_id", self.held.pnr_travellers),
                ("booking_id", self.held.bookings),
            ):
                if column in held.columns:
                    target.update(str(v) for v in held[column].dropna())
        for table in WAREHOUSE_COLUMNS:
            path = folder / f"{table}.parquet"
            if not path.is_file():
                continue
            frame = pq.read_table(path).to_pandas()
            keep = self.held.keep(table, frame)
            if keep is not None and keep.any():
                collect(table, frame[keep], self.held_values)
                frame = frame[~keep]
            collect(table, frame, self.dictionary)

    def mask_parquet(
        self, path: Path, table: str, dictionary: PersonalDictionary, scoped: bool
    ) -> int:
        original, frame = _read_parquet(path)
        if frame.empty:
            return 0
        keep = self.held.keep(table, frame) if scoped else None
        # the values an explanation sentence quotes (the case person's too) are swept out of it
        collect_quoted(frame if keep is None else frame[~keep], dictionary)
        result: MaskedFrame = mask_frame(
            table, frame, dictionary, keep=keep, date_columns=_date_columns(original.schema)
        )
        if not result.changed:
            return 0
        if result.dates:
            keys = _row_keys(table, frame)
            columns = {column: frame[column].tolist() for column in {c for _, c, _ in result.dates}}
            for position, column, token in result.dates:
                band = ""
                if column == "date_of_birth" and self.night:
                    band = _age_band(columns[column][position], self.night, self.settings)
                self.dates.append(
                    {
                        "table": table,
                        "row_key": keys[position],
                        "column": column,
                        "pseudonym": token,
                        "age_band": band,
                    }
                )
        _write_masked(path, original, result.frame)
        return result.changed

    def write_dates(self) -> None:
        if not self.dates:
            return
        folder = privacy_dir(self.night)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "masked_dates.parquet"
        frame = pd.DataFrame(self.dates)
        if path.is_file():
            frame = pd.concat([pq.read_table(path).to_pandas(), frame], ignore_index=True)
        frame = frame.drop_duplicates(["table", "row_key", "column"], keep="first")
        atomic.write_parquet(path, frame)


def _age_band(value: Any, night: str, settings: Settings) -> str:
    return age_band_of(value, dt.date.fromisoformat(night), settings)
