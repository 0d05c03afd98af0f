"""What combine is given and returns: its settings, rule texts, the result, the flag id."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.matching.model import load_model
from apiflag.normalise import key_value
from apiflag.records import RULE_TRACKS, Flag
from apiflag.settings import DEFAULT_AGE_BANDS, DEFAULT_CAPACITY, Settings

__all__ = [
    "BASELINE_IDS",
    "CombineResult",
    "CombineSettings",
    "LN2",
    "RULE_TRACK_ORDER",
    "RuleInfo",
    "flag_id_for",
    "sigmoid",
]


RULE_TRACK_ORDER = RULE_TRACKS


LN2 = math.log(2.0)


BASELINE_IDS = frozenset({"model:intercept", "prior:model_baseline"})


@dataclass(frozen=True)
class CombineSettings:
    """Knobs of the combine stage.

    Attributes:
        capacity: how many items (besides case matches) analysts can review per night.
        case_match_threshold: match probability at or above which a case match is queued
            regardless of capacity (default: the matcher's reporting threshold,
            ``models/matcher.json``; the night uses the settings' ``match_threshold``).
        match_weight_base: the base of the matcher's field weights (2 for log2 Bayes factors,
            ``math.e`` when they are already natural log-odds).
        minor_age: under this age on the night a traveller is a minor (protection only).
        age_bands: lower bounds of the monitoring age bands (settings ``age_bands``).
    """

    capacity: int = DEFAULT_CAPACITY
    case_match_threshold: float = field(default_factory=lambda: load_model().default_threshold)
    match_weight_base: float = 2.0
    minor_age: int = 18
    age_bands: tuple[int, ...] = DEFAULT_AGE_BANDS

    @classmethod
    def from_settings(cls, settings: Settings, match_threshold: float) -> CombineSettings:
        """Return the combine knobs of the run's settings and the threshold the matcher used."""
        return cls(
            capacity=settings.capacity,
            case_match_threshold=match_threshold,
            age_bands=settings.age_bands,
        )

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ApiflagError(f"combine: capacity must be >= 0, got {self.capacity}")
        if not 0.0 <= self.case_match_threshold <= 1.0:
            raise ApiflagError(
                f"combine: case_match_threshold must be in [0, 1], got {self.case_match_threshold}"
            )
        if self.match_weight_base <= 1.0:
            raise ApiflagError(
                f"combine: match_weight_base must be > 1, got {self.match_weight_base}"
            )


@dataclass(frozen=True)
class RuleInfo:
    """What an explanation says about a rule: its title, rationale and exonerating conditions."""

    title: str
    rationale: str = ""
    exonerating: tuple[str, ...] = ()
    track: str = ""


@dataclass(frozen=True)
class CombineResult:
    """A combined night.

    Attributes:
        night: the arrival night.
        travellers: one row per arriving traveller (``combined.parquet``): traveller_id,
            flag_id (None when not flagged), track, total (the policy score),
            outcome_log_odds and probability (NaN without a champion), flagged, queued,
            priority (None when not flagged), minor (a minor or may be one: protection
            only), minor_status (``minor``, ``adult``, ``unknown``), case_match_probability,
            strong_case_match (a match at or above ``case_match_threshold``: always queued).
        flags: the queued flags, priority order.
        contributions: explanation rows of every flagged traveller (queued and overflow): the
            :class:`~apiflag.records.Contribution` columns plus ``rationale`` and ``against``
            (JSON list of exonerating conditions that did not apply).
        people: personal data of every flagged traveller, keyed by flag_id (surname,
            given_names, date_of_birth, document_number) plus flight and monitoring columns.
        overflow: flagged travellers that capacity kept out of the queue.
        capacity: the capacity used.
        flagged_by_track: flagged travellers per track (queued or not).
        code_digests: ``{stage: code digest}`` the night ran with (every flag records their
            :func:`~apiflag.provenance.combined_digest`).
    """

    night: dt.date
    travellers: pd.DataFrame
    flags: tuple[Flag, ...]
    contributions: pd.DataFrame
    people: pd.DataFrame
    overflow: int
    capacity: int
    rules_digest: str
    model_uri: str | None
    model_version: str | None
    flagged_by_track: dict[str, int] = field(default_factory=dict)
    code_digests: dict[str, str] = field(default_factory=dict)
    evidence: pd.DataFrame | None = None

    @property
    def ranked_by(self) -> str:
        """How the queue is ranked, in words for the queue, the report and the explanation."""
        if self.model_uri is None:
            return "policy weights alone (no champion model: no outcome probability is shown)"
        return (
            f"policy weights; outcome probability from {self.model_uri} "
            f"(version {self.model_version}) breaks ties"
        )


def sigmoid(x: float) -> float:
    """Return the logistic sigmoid of ``x`` without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def flag_id_for(night: dt.date, key: Sequence[Any], track: str) -> str:
    """Return the deterministic flag id of a traveller key on a night and track.

    Args:
        night: the arrival night.
        key: the traveller key after the night: carrier, number, surname, given_names,
            date_of_birth, document_number (as written in the PAXLST; case and spacing ignored).
        track: the flag's track.

    Returns:
        ``F<YYYYMMDD>-<16 hex>``: 64 bits of SHA-256 over the normalised key and track.
    """
    material = "\x1f".join([night.isoformat(), *(key_value(v) for v in key), track])
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]
    return f"F{night:%Y%m%d}-{digest}"
