"""The matcher's parameters: one reviewable, versioned JSON file (``models/matcher.json``).

Decides how a comparison level turns into evidence. Each level of each field carries
``m`` = P(level | same person) and ``u`` = P(level | different persons); its weight is the
log2 Bayes factor ``log2(m / u)``; the probability is a calibrated function of the match weight
(``calibration``). The prior is stated per traveller (``p_traveller_in_db``:
how often an arriving traveller is a person of the case database) and spread over the
database's persons when matching, so a larger database asks for more evidence. Exact name
agreement on a common value weighs less (term frequency: ``u`` becomes that value's frequency).
``missing`` levels weigh exactly 0: absence is not evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiflag import atomic
from apiflag.errors import ApiflagError

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FIELDS",
    "GATE_LEVELS",
    "Level",
    "MatcherModel",
    "load_model",
]

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[3] / "models" / "matcher.json"

FIELDS: dict[str, tuple[str, ...]] = {
    "surname": ("exact", "phonetic", "partial", "jw_high", "jw_mid", "different"),
    "given_names": (
        "exact",
        "phonetic",
        "dropped_middle",
        "jw_high",
        "jw_mid",
        "initial",
        "different",
    ),
    "name_order": ("as_recorded", "swapped", "reordered"),
    "date_of_birth": ("exact", "day_month_swapped", "one_part_off", "year_only", "different"),
    "document": ("exact", "one_edit", "different"),
    "nationality": ("same", "different"),
}
"""Each compared field and its levels, best first; every field except name_order may also be
``missing`` (weight 0)."""

GATE_LEVELS: dict[str, frozenset[str]] = {
    "date_of_birth": frozenset({"exact", "day_month_swapped", "one_part_off"}),
    "document": frozenset({"exact", "one_edit"}),
}
"""A pair is reportable only when at least one of these agrees: name evidence alone never is."""


@dataclass(frozen=True)
class Level:
    """One comparison level: its m and u probabilities and the resulting weight."""

    name: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        """log2 Bayes factor ``log2(m / u)``."""
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class MatcherModel:
    """Fitted matcher parameters, read from and written to one JSON document.

    Attributes:
        version: the parameters' version (bumped whenever they change).
        p_traveller_in_db: prior probability that an arriving traveller is a case person.
        default_threshold: reporting threshold on the match probability.
        jw_high: Jaro-Winkler similarity of the ``jw_high`` level.
        jw_mid: Jaro-Winkler similarity of the ``jw_mid`` level.
        levels: field -> level name -> :class:`Level`.
        term_frequencies: ``surname``/``given_names`` -> value -> frequency among travellers.
        tf_floor: frequency assumed for a value missing from the term-frequency table.
        calibration_slope: slope of the calibration of match weights (log2 units).
        calibration_intercept: intercept of that calibration: the probability is
            ``1 / (1 + 2 ** -(slope * match_weight + intercept))``. Fellegi-Sunter weights assume
            fields independent (they are not: NGUYEN and THI HUONG go together), so the raw
            weight is over-confident; the calibration is fitted on labelled candidate pairs.
        estimation: how and on what the parameters were estimated (provenance, free form).
    """

    version: str
    p_traveller_in_db: float
    default_threshold: float
    jw_high: float
    jw_mid: float
    levels: dict[str, dict[str, Level]]
    term_frequencies: dict[str, dict[str, float]] = field(default_factory=dict)
    tf_floor: float = 1e-4
    calibration_slope: float = 1.0
    calibration_intercept: float = 0.0
    estimation: dict[str, Any] = field(default_factory=dict)

    def weight(self, field_name: str, level: str) -> float:
        """Return the weight of one level (0 for ``missing``)."""
        if level == "missing":
            return 0.0
        return self.levels[field_name][level].weight

    def probability(self, match_weight: Any) -> Any:
        """Return the calibrated probability of a match weight (scalar or array)."""
        import numpy as np

        z = (
            self.calibration_slope * np.asarray(match_weight, dtype=float)
            + self.calibration_intercept
        )
        return 1.0 / (1.0 + np.exp2(-np.clip(z, -1000, 1000)))

    def prior_weight(self, n_persons: int) -> float:
        """Return the prior log-odds (log2) that one traveller is one given case person."""
        p = self.p_traveller_in_db / max(n_persons, 1)
        return math.log2(p / (1.0 - p))

    def tf_weight(self, field_name: str, value: str) -> float:
        """Return the weight of exact agreement on ``value`` (term-frequency adjusted)."""
        u = self.term_frequencies.get(field_name, {}).get(value, self.tf_floor)
        return math.log2(self.levels[field_name]["exact"].m / u)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON document (levels in their fixed order, weights shown for review)."""
        return {
            "format": "apiflag-matcher",
            "version": self.version,
            "p_traveller_in_db": self.p_traveller_in_db,
            "default_threshold": self.default_threshold,
            "jw_high": self.jw_high,
            "jw_mid": self.jw_mid,
            "levels": {
                f: {
                    name: {
                        "m": round(lv.m, 8),
                        "u": round(lv.u, 10),
                        "weight": round(lv.weight, 3),
                    }
                    for name, lv in ((n, self.levels[f][n]) for n in FIELDS[f])
                }
                for f in FIELDS
            },
            "calibration": {
                "slope": round(self.calibration_slope, 6),
                "intercept": round(self.calibration_intercept, 6),
            },
            "tf_floor": self.tf_floor,
            "term_frequencies": {
                f: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0])))
                for f, v in sorted(self.term_frequencies.items())
            },
            "estimation": self.estimation,
        }

    def save(self, path: Path) -> None:
        """Write the JSON document atomically (temp file, then rename)."""
        atomic.write_text(path, json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n")

    def digest(self) -> str:
        """Return the SHA-256 of the canonical JSON (recorded with every match)."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "<json>") -> MatcherModel:
        """Build a model from its JSON document, checking every field and level is present.

        Raises:
            ApiflagError: a missing field or level, or a probability outside (0, 1].
        """
        try:
            if data.get("format") != "apiflag-matcher":
                raise ValueError("not an apiflag-matcher document")
            levels: dict[str, dict[str, Level]] = {}
            for f, names in FIELDS.items():
                levels[f] = {}
                for name in names:
                    raw = data["levels"][f][name]
                    m, u = float(raw["m"]), float(raw["u"])
                    if not (0 < m <= 1 and 0 < u <= 1):
                        raise ValueError(f"{f}.{name}: m and u must be in (0, 1]")
                    levels[f][name] = Level(name, m, u)
            return cls(
                version=str(data["version"]),
                p_traveller_in_db=float(data["p_traveller_in_db"]),
                default_threshold=float(data["default_threshold"]),
                jw_high=float(data["jw_high"]),
                jw_mid=float(data["jw_mid"]),
                levels=levels,
                term_frequencies={
                    k: {str(a): float(b) for a, b in v.items()}
                    for k, v in data.get("term_frequencies", {}).items()
                },
                tf_floor=float(data.get("tf_floor", 1e-4)),
                calibration_slope=float(data.get("calibration", {}).get("slope", 1.0)),
                calibration_intercept=float(data.get("calibration", {}).get("intercept", 0.0)),
                estimation=dict(data.get("estimation", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiflagError(f"{source}: not a valid matcher model: {exc!r}") from exc


def load_model(path: Path | None = None) -> MatcherModel:
    """Read the matcher model (default: ``models/matcher.json`` of the checkout).

    Raises:
        ApiflagError: the file is missing or invalid.
    """
    if path is None:
        path = DEFAULT_MODEL_PATH
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ApiflagError(f"{path}: matcher model not found") from exc
    except json.JSONDecodeError as exc:
        raise ApiflagError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    return MatcherModel.from_json(data, str(path))
