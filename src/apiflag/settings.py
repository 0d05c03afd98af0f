"""The operator's settings, in one place: ``$APIFLAG_HOME/config.yaml``, flags on top.

Every value a night depends on besides its inputs and the reviewable model files is here:

```yaml
capacity: 50                 # items (besides case matches) analysts can review per night
match_threshold: 0.8         # case-match probability that is reported and queued regardless of
                             # capacity (default: models/matcher.json's default_threshold)
time_zone: Asia/Tokyo        # the zone whose calendar date names a night and runs the schedules
history_days: 30             # nights before tonight the features read
age_bands: [0, 12, 18, 25, 35, 50, 65]   # lower bounds of the monitoring age bands
outcome_error_rate: 0.0      # known share of wrong recorded review outcomes (re-review audit);
                             # model training calibrates the probability through it
retention:
  masking_days: 180          # mask personal data after this many days
  max_years: 5               # delete everything after this many years
```

Other top-level sections (:data:`OTHER_SECTIONS`, e.g. ``roles:``) belong to the module that
reads them and pass through untouched. A bad value is refused with one line per value, naming
the file, the key, the value and why. A command-line flag overrides the file for that run
(:func:`load_settings` with overrides), and the nightly run records what it used
(:meth:`Settings.record`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from apiflag import config
from apiflag.errors import ApiflagError, UsageError

__all__ = [
    "DEFAULT_AGE_BANDS",
    "DEFAULT_CAPACITY",
    "OTHER_SECTIONS",
    "RetentionPeriods",
    "Settings",
    "age_band_labels",
    "age_bands_of",
    "config_path",
    "load_settings",
    "read_config",
]

#: Items (besides case matches) analysts can review per night, unless configured.
DEFAULT_CAPACITY = 50
#: Lower bounds of the monitoring age bands: 0-11, 12-17, 18-24, 25-34, 35-49, 50-64, 65+.
DEFAULT_AGE_BANDS: tuple[int, ...] = (0, 12, 18, 25, 35, 50, 65)
#: Sections of ``config.yaml`` that other modules read and validate (roles and accounts: access
#: control; alerts: :mod:`apiflag.alerts`).
OTHER_SECTIONS = frozenset({"roles", "accounts", "alerts", "cluster"})


def config_path() -> Path:
    """Return ``$APIFLAG_HOME/config.yaml``."""
    return config.home() / "config.yaml"


def read_config() -> dict[str, Any]:
    """Return the parsed ``config.yaml`` of the home (empty when there is none).

    Raises:
        ApiflagError: the file is not YAML or not a mapping.
    """
    path = config_path()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ApiflagError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiflagError(f"{path}: must be a mapping of settings")
    return data


def age_band_labels(bounds: tuple[int, ...]) -> tuple[str, ...]:
    """Return the band names of these lower bounds (``(0, 18, 65)`` -> ``0-17, 18-64, 65+``)."""
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(bounds, bounds[1:], strict=False)]
    return (*labels, f"{bounds[-1]}+")


def age_bands_of(bounds: tuple[int, ...], ages: np.ndarray) -> np.ndarray:
    """Return the band of each age in years under these lower bounds (``unknown``: NaN or < 0)."""
    ages = np.asarray(ages, dtype=float)
    labels = np.array([*age_band_labels(bounds), "unknown"], dtype=object)
    where = np.searchsorted(np.asarray(bounds, dtype=float), ages, side="right") - 1
    where[np.isnan(ages) | (ages < 0)] = len(labels) - 1
    return labels[where]


class RetentionPeriods(BaseModel):
    """How long personal data stays readable, and how long anything is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    masking_days: int = Field(180, description="mask personal data after this many days")
    max_years: int = Field(5, description="delete everything after this many years")

    @field_validator("masking_days", "max_years")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @model_validator(mode="after")
    def _masking_before_deletion(self) -> RetentionPeriods:
        if self.masking_days >= 365 * self.max_years:
            raise ValueError(
                f"the masking period ({self.masking_days} days) must be shorter than the "
                f"maximum period ({self.max_years} years)"
            )
        return self


class Settings(BaseModel):
    """The settings one run uses (see the module docstring for the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    capacity: int = Field(
        DEFAULT_CAPACITY, description="items besides case matches analysts review per night"
    )
    match_threshold: float | None = Field(
        None, description="case-match probability reported and queued (None: the matcher's)"
    )
    time_zone: str = Field("Asia/Tokyo", description="zone whose date names a night")
    history_days: int = Field(30, description="nights before tonight the features read")
    age_bands: tuple[int, ...] = Field(DEFAULT_AGE_BANDS, description="band lower bounds")
    outcome_error_rate: float = Field(
        0.0, description="known share of wrong recorded review outcomes (training calibrates)"
    )
    retention: RetentionPeriods = Field(default_factory=RetentionPeriods)

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be at least 0")
        return value

    @field_validator("match_threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("must be between 0 and 1 (exclusive)")
        return value

    @field_validator("outcome_error_rate", mode="before")
    @classmethod
    def _error_rate(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not 0.0 <= value < 0.5:
            raise ValueError("must be at least 0 and below 0.5 (a share of wrong outcomes)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("not a time zone name (e.g. Asia/Tokyo)")
        return value

    @field_validator("history_days")
    @classmethod
    def _history(cls, value: int) -> int:
        if not 1 <= value <= 366:
            raise ValueError("must be between 1 and 366 days")
        return value

    @field_validator("age_bands", mode="before")
    @classmethod
    def _bands(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(value, tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            if not value or value[0] != 0:
                raise ValueError("the first band must start at 0")
            if any(b <= a for a, b in zip(value, value[1:], strict=False)):
                raise ValueError("lower bounds must increase")
            if value[-1] > 120:
                raise ValueError("the last band must start at 120 or below")
        return value

    @property
    def zone(self) -> dt.tzinfo:
        """The time zone as an object."""
        try:
            return ZoneInfo(self.time_zone)
        except ZoneInfoNotFoundError:  # pragma: no cover - validated above
            raise ApiflagError(f"time_zone: {self.time_zone!r}: unknown") from None

    def today(self) -> dt.date:
        """Return today's date in :attr:`time_zone` (the night a scheduled run works on)."""
        return dt.datetime.now(self.zone).date()

    @property
    def age_band_labels(self) -> tuple[str, ...]:
        """The monitoring age band names, youngest first."""
        return age_band_labels(self.age_bands)

    def age_band(self, age: float | None) -> str:
        """Return the monitoring band of ``age`` (``unknown`` for none or a negative age)."""
        return str(self.age_bands_of(np.array([np.nan if age is None else age], dtype=float))[0])

    def age_bands_of(self, ages: np.ndarray) -> np.ndarray:
        """Return the band of each age in years (``unknown`` for NaN or negative), as objects."""
        return age_bands_of(self.age_bands, ages)

    def record(self) -> dict[str, Any]:
        """Return the settings as plain JSON data (what a run records it used)."""
        return self.model_dump(mode="json")


_TYPE_MESSAGES = {
    "int_type": "not a whole number",
    "int_from_float": "not a whole number",
    "float_type": "not a number",
    "string_type": "not text",
    "tuple_type": "not a list",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
}


def _allowed(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _describe(path: Path, exc: ValidationError, given: frozenset[str] = frozenset()) -> str:
    """One line per bad value: where it came from, key, value and why.

    The source is the file, or the command line for a key in ``given``.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        source = "command line" if loc and loc[-1] in given else path
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = ".".join(loc[:-1])
            model = RetentionPeriods if parent == "retention" else Settings
            where = f"{parent}: " if parent else ""
            lines.append(f"{path}: {where}unknown key {loc[-1]!r} (allowed: {_allowed(model)})")
            continue
        message = _TYPE_MESSAGES.get(kind) or str(err["msg"]).removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, dict) or kind == "missing" else f" {value!r}:"
        lines.append(f"{source}: {key}:{shown} {message}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Return the settings: each override not None, else ``config.yaml``, else the default.

    Args:
        overrides: command-line values by key; ``masking_days`` and ``max_years`` override
            the ``retention`` section.

    Returns:
        The validated settings.

    Raises:
        ApiflagError: ``config.yaml`` is not YAML or not a mapping.
        UsageError: one line per bad value, naming the key, the value and why.
    """
    path = config_path()
    given = frozenset(k for k, v in overrides.items() if v is not None)
    data = {k: v for k, v in read_config().items() if k not in OTHER_SECTIONS}
    retention = data.get("retention")
    if retention is not None and not isinstance(retention, dict):
        raise UsageError(f"{path}: retention: must be a mapping (masking_days, max_years)")
    retention = dict(retention or {})
    for key in ("masking_days", "max_years"):
        value = overrides.pop(key, None)
        if value is not None:
            retention[key] = value
    if retention:
        data["retention"] = retention
    data.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(data.get("age_bands"), list):
        data["age_bands"] = tuple(data["age_bands"])
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_describe(path, exc, given)) from None
