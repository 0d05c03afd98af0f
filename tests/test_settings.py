"""The one settings object: config.yaml, flags on top, one line per bad value, one vocabulary."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml

from apiflag import explain, records
from apiflag.cli import main
from apiflag.errors import ApiflagError, UsageError
from apiflag.privacy.roles import current_role
from apiflag.privacy.stats import age_band_of
from apiflag.queue.combine import CombineSettings
from apiflag.rules.schema import Rule
from apiflag.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def _write(home: Path, text: str) -> Path:
    path = home / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    s = load_settings()
    assert (s.capacity, s.match_threshold, s.time_zone, s.history_days) == (
        50,
        None,
        "Asia/Tokyo",
        30,
    )
    assert s.age_band_labels == ("0-11", "12-17", "18-24", "25-34", "35-49", "50-64", "65+")
    assert (s.retention.masking_days, s.retention.max_years) == (180, 5)


def test_file_then_flags(apiflag_home: Path) -> None:
    _write(
        apiflag_home,
        "capacity: 12\nmatch_threshold: 0.9\ntime_zone: Europe/Brussels\nhistory_days: 14\n"
        "age_bands: [0, 18, 65]\nretention:\n  masking_days: 90\n  max_years: 3\n"
        "roles:\n  alice: auditor\n",
    )
    s = load_settings()
    assert (s.capacity, s.match_threshold, s.time_zone, s.history_days) == (
        12,
        0.9,
        "Europe/Brussels",
        14,
    )
    assert s.age_band_labels == ("0-17", "18-64", "65+")
    assert (s.retention.masking_days, s.retention.max_years) == (90, 3)
    over = load_settings(capacity=3, match_threshold=None, masking_days=30)
    assert (over.capacity, over.match_threshold, over.retention.masking_days) == (3, 0.9, 30)
    # the record is what a run stores, and reads back to the same settings
    assert Settings.model_validate(over.record()) == over


def test_roles_and_alerts_sections_pass_through_to_their_modules(
    apiflag_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFLAG_USER", "alice")
    monkeypatch.delenv("APIFLAG_ROLE", raising=False)
    _write(
        apiflag_home,
        "capacity: 7\nroles:\n  alice: [supervisor, analyst]\nalerts:\n  within_hours: 3\n",
    )
    assert current_role() == "supervisor"
    assert load_settings().capacity == 7


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("capacity: -1\n", "capacity: -1: must be at least 0"),
        ("capacity: many\n", "capacity: 'many': not a whole number"),
        ("capacity: 2.5\n", "capacity: 2.5: not a whole number"),
        ("match_threshold: 1.5\n", "match_threshold: 1.5: must be between 0 and 1 (exclusive)"),
        ("match_threshold: high\n", "match_threshold: 'high': not a number"),
        ("time_zone: Mars/Olympus\n", "time_zone: 'Mars/Olympus': not a time zone name"),
        ("history_days: 0\n", "history_days: 0: must be between 1 and 366 days"),
        ("age_bands: [5, 18]\n", "age_bands: (5, 18): the first band must start at 0"),
        ("age_bands: [0, 30, 18]\n", "age_bands: (0, 30, 18): lower bounds must increase"),
        ("age_bands: [0, x]\n", "age_bands.1: 'x': not a whole number"),
        ("capacty: 3\n", "unknown key 'capacty' (allowed: capacity, match_threshold"),
        ("retention: 3\n", "retention: must be a mapping"),
        ("retention:\n  masking_days: 0\n", "retention.masking_days: 0: must be at least 1"),
        ("retention:\n  keep: 1\n", "retention: unknown key 'keep' (allowed: masking_days"),
        (
            "retention:\n  masking_days: 400\n  max_years: 1\n",
            "retention: the masking period (400 days) must be shorter than the maximum",
        ),
    ],
)
def test_each_bad_value_is_named_with_its_reason(apiflag_home: Path, text: str, line: str) -> None:
    path = _write(apiflag_home, text)
    with pytest.raises(UsageError) as info:
        load_settings()
    message = str(info.value)
    assert message.count("\n") == 0, message
    assert message.startswith(f"{path}: ") and line in message, message


def test_several_bad_values_give_one_line_each(apiflag_home: Path) -> None:
    _write(apiflag_home, "capacity: -2\nhistory_days: 1000\ntime_zone: Nowhere\n")
    with pytest.raises(UsageError) as info:
        load_settings()
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert [line.split(": ")[1] for line in lines] == ["capacity", "time_zone", "history_days"]


def test_a_bad_flag_is_named_too() -> None:
    with pytest.raises(UsageError, match="capacity: -4: must be at least 0"):
        load_settings(capacity=-4)


def test_not_yaml_is_one_line(apiflag_home: Path) -> None:
    _write(apiflag_home, "capacity: [\n")
    with pytest.raises(ApiflagError, match="not valid YAML"):
        load_settings()


def test_cli_refuses_a_bad_file_with_one_line_per_value(
    apiflag_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(apiflag_home, "capacity: -1\nmatch_threshold: 2\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--night", "2026-11-20"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2
    assert "config.yaml: capacity: -1: must be at least 0" in lines[0]
    assert "config.yaml: match_threshold: 2: must be between 0 and 1" in lines[1]


def test_a_bad_command_line_value_is_named_as_the_command_line_not_the_file(
    apiflag_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(apiflag_home, "match_threshold: 2\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "train", "--world", str(apiflag_home), "--outcome-error-rate", "0.7"])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" not in line]
    assert len(lines) == 2, lines
    assert "config.yaml: match_threshold: 2: must be between 0 and 1" in lines[0]
    assert "command line: outcome_error_rate: 0.7: must be at least 0 and below 0.5" in lines[1]


def test_combine_takes_capacity_threshold_and_bands_from_the_settings() -> None:
    s = Settings(capacity=7, age_bands=(0, 18))
    c = CombineSettings.from_settings(s, 0.93)
    assert (c.capacity, c.case_match_threshold, c.age_bands) == (7, 0.93, (0, 18))
    # without settings, combine's threshold is the matcher's own (models/matcher.json), not a copy
    matcher = yaml.safe_load((REPO / "models" / "matcher.json").read_text(encoding="utf-8"))
    assert CombineSettings().case_match_threshold == matcher["default_threshold"]


def test_one_age_band_vocabulary_for_features_report_and_stats() -> None:
    s = Settings()
    ages = np.array([0, 11, 12, 17, 18, 24, 25, 34, 35, 49, 50, 64, 65, 101, np.nan, -1])
    assert list(s.age_bands_of(ages)) == [
        "0-11", "0-11", "12-17", "12-17", "18-24", "18-24", "25-34", "25-34",
        "35-49", "35-49", "50-64", "50-64", "65+", "65+", "unknown", "unknown",
    ]  # fmt: skip
    night = dt.date(2026, 1, 10)
    assert age_band_of(dt.date(2009, 1, 11), night) == "12-17"
    assert age_band_of(dt.date(2009, 1, 11), night, Settings(age_bands=(0, 18))) == "0-17"
    feature = next(f for f in records_feature_spec() if f.name == "traveller.age_band")
    assert all(label in feature.description for label in s.age_band_labels)


def records_feature_spec() -> tuple[typing.Any, ...]:
    from apiflag.features import FEATURE_SPEC

    return FEATURE_SPEC


def test_one_track_vocabulary() -> None:
    assert records.TRACKS == ("case_match", "protection", "document_integrity", "examination")
    assert set(typing.get_args(Rule.model_fields["track"].annotation)) == set(records.RULE_TRACKS)
    assert set(explain.TRACK_MEANING) == set(records.TRACKS)


def test_deployments_use_the_settings_time_zone_and_pass_no_capacity() -> None:
    doc = yaml.safe_load((REPO / "flows" / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in doc["deployments"]:
        assert "capacity" not in (deployment.get("parameters") or {})
        for schedule in deployment["schedules"]:
            assert schedule["timezone"] == Settings().time_zone
