"""Pseudonyms, the masking dictionary, retention settings, roles and redaction, suppression."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiflag.errors import ApiflagError, UsageError
from apiflag.privacy.keys import is_pseudonym, pseudonym, secrets_dir
from apiflag.privacy.masking import PersonalDictionary
from apiflag.privacy.policy import RetentionSettings, column_kind, load_settings
from apiflag.privacy.roles import can, current_role, redact_for, require
from apiflag.privacy.stats import StatRow, age_band_of, suppress

# --------------------------------------------------------------------------- pseudonyms


def test_pseudonym_is_keyed_stable_and_kind_separated() -> None:
    token = pseudonym("name", "VORTIGANE")
    assert is_pseudonym(token) and token.startswith("PSN:name:")
    assert pseudonym("name", "VORTIGANE") == token
    assert pseudonym("document", "VORTIGANE") != token.replace("name", "document")
    assert pseudonym("name", "VORTIGANF") != token
    assert pseudonym("name", token) == token  # never masked twice


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("name", "Müller  anna", "MULLER ANNA"),
        ("phone", "+66 81 555-0101", "66815550101"),
        ("email", "A.B@Example.JP", "a.b@example.jp"),
        ("document", "pq 71-234", "PQ71234"),
    ],
)
def test_pseudonym_normalises_before_hashing(kind: str, a: str, b: str) -> None:
    assert pseudonym(kind, a) == pseudonym(kind, b)


def test_key_is_created_private_and_survives_across_processes(apiflag_home: Path) -> None:
    token = pseudonym("name", "SEVERINA")
    key = secrets_dir() / "pseudonym.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir().stat().st_mode) == 0o700
    # a fresh process with the same home computes the same token
    import subprocess
    import sys

    code = "from apiflag.privacy.keys import pseudonym; print(pseudonym('name', 'SEVERINA'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == token


def test_another_home_gives_other_tokens(
    apiflag_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pseudonym("name", "SEVERINA")
    other = tmp_path / "other-home"
    other.mkdir()
    monkeypatch.setenv("APIFLAG_HOME", str(other))
    assert pseudonym("name", "SEVERINA") != first


def test_a_key_readable_by_others_is_refused(
    apiflag_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "loose-home"
    (other / "secrets").mkdir(parents=True)
    key = other / "secrets" / "pseudonym.key"
    key.write_text("ab" * 32)
    os.chmod(key, 0o644)
    monkeypatch.setenv("APIFLAG_HOME", str(other))
    with pytest.raises(ApiflagError, match="readable by others"):
        pseudonym("name", "X")


# --------------------------------------------------------------------------- dictionary


@pytest.mark.parametrize(
    ("text", "expect_gone", "expect_kept"),
    [
        ("Surname VORTIGANE agrees", ["VORTIGANE"], ["Surname", "agrees"]),
        ("payer Miluska Vortigane, cash", ["Miluska", "Vortigane"], ["payer", "cash"]),
        ("phone +66 81 555 0101.", ["555 0101"], ["phone"]),
        ("mail miluska.v@example.th now", ["miluska.v@example.th"], ["mail", "now"]),
        ("an adult with AN child", ["AN child"], ["an adult"]),
    ],
)
def test_sweep_replaces_values_inside_text(
    text: str, expect_gone: list[str], expect_kept: list[str]
) -> None:
    d = PersonalDictionary()
    for kind, value in [
        ("name", "VORTIGANE"),
        ("name", "MILUSKA"),
        ("name", "MILUSKA VORTIGANE"),
        ("phone", "+66 81 555 0101"),
        ("email", "miluska.v@example.th"),
        ("name", "AN"),
    ]:
        d.add(kind, value)
    swept, n = d.sweep(text)
    assert n >= 1
    for gone in expect_gone:
        assert gone not in swept
    for kept in expect_kept:
        assert kept in swept
    assert d.sweep(swept) == (swept, 0)  # idempotent


def test_places_seats_and_document_dates_are_not_searched_for_in_text() -> None:
    d = PersonalDictionary()
    assert d.add("place", "ARE") == pseudonym("place", "ARE")
    d.add("seat", "12A")
    d.add("date", "2026-11-10")
    d.add("dob", "2026-11-10")
    text = "nationality ARE, seat 12A, calibration 2026-11-10"
    assert d.without_kinds({"dob"}).sweep(text) == (text, 0)
    assert "2026-11-10" not in d.sweep(text)[0]  # within its own night a birth date is


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=12)


@given(st.lists(names, min_size=1, max_size=6, unique=True), st.lists(names, max_size=6))
def test_sweep_leaves_no_known_value(values: list[str], filler: list[str]) -> None:
    d = PersonalDictionary()
    for v in values:
        d.add("name", v)
    words = [
        w for pair in zip(values, filler + [""] * len(values), strict=False) for w in pair if w
    ]
    swept, _ = d.sweep(" ".join(words) + ".")
    remaining = set(swept.replace(".", " ").split())
    assert not (set(values) & remaining)


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("table", "column", "kind"),
    [
        ("travellers", "surname", "name"),
        ("travellers", "date_of_birth", "dob"),
        ("travellers", "nationality", None),
        ("documents", "number", "document"),
        ("flights", "number", None),
        ("match_fields", "observed", "redact"),
        ("features", "traveller.date_of_birth", "dob"),
        ("flags", "person_surname", "name"),
        ("flags", "monitor_age_band", None),
    ],
)
def test_column_policy(table: str, column: str, kind: str | None) -> None:
    assert column_kind(table, column) == kind


def test_settings_come_from_config_then_flags(apiflag_home: Path) -> None:
    assert load_settings() == RetentionSettings(180, 5)
    (apiflag_home / "config.yaml").write_text("retention:\n  masking_days: 90\n  max_years: 3\n")
    assert load_settings() == RetentionSettings(90, 3)
    assert load_settings(masking_days=30) == RetentionSettings(30, 3)


@pytest.mark.parametrize(
    ("yaml_text", "error", "match"),
    [
        ("retention: [1, 2]\n", ApiflagError, "must be a mapping"),
        ("retention:\n  masking_dayz: 3\n", ApiflagError, "unknown key 'masking_dayz'"),
        ("retention:\n  max_years: five\n", ApiflagError, "not a whole number"),
        ("retention:\n  masking_days: 0\n", UsageError, "at least 1"),
        ("retention:\n  masking_days: 400\n  max_years: 1\n", UsageError, "shorter than"),
        ("retention: {\n", ApiflagError, "not valid YAML"),
    ],
)
def test_bad_settings_are_refused(
    apiflag_home: Path, yaml_text: str, error: type[Exception], match: str
) -> None:
    (apiflag_home / "config.yaml").write_text(yaml_text)
    with pytest.raises(error, match=match):
        load_settings()


def test_cut_offs() -> None:
    s = RetentionSettings(180, 5)
    assert s.mask_before(dt.date(2026, 11, 27)) == dt.date(2026, 5, 31)
    assert s.delete_before(dt.date(2028, 2, 29)) == dt.date(2023, 2, 28)


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("config_text", "env_role", "expected"),
    [
        ("", None, "analyst"),
        ("", "auditor", "auditor"),
        ("roles:\n  alice: [supervisor, analyst]\n", None, "supervisor"),
        ("roles:\n  alice: [supervisor, analyst]\n", "analyst", "analyst"),
        ("roles:\n  alice: auditor\n", "supervisor", ApiflagError),
        ("roles:\n  bob: auditor\n", None, ApiflagError),
        ("roles:\n  alice: wizard\n", None, ApiflagError),
        ("", "wizard", ApiflagError),
    ],
)
def test_current_role(
    apiflag_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_text: str,
    env_role: str | None,
    expected: str | type[Exception],
) -> None:
    monkeypatch.setenv("APIFLAG_USER", "alice")
    if env_role:
        monkeypatch.setenv("APIFLAG_ROLE", env_role)
    else:
        monkeypatch.delenv("APIFLAG_ROLE", raising=False)
    if config_text:
        (apiflag_home / "config.yaml").write_text(config_text)
    if isinstance(expected, str):
        assert current_role() == expected
    else:
        with pytest.raises(expected):
            current_role()


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("analyst", "queue.decide", True),
        ("auditor", "queue.decide", False),
        ("auditor", "audit.view", True),
        ("model_owner", "queue.show", False),
        ("model_owner", "explain", True),
        ("analyst", "reidentify", False),
        ("supervisor", "reidentify", True),
    ],
)
def test_permissions(role: str, action: str, allowed: bool) -> None:
    assert can(role, action) is allowed
    if not allowed:
        with pytest.raises(ApiflagError, match=f"role {role}: may not {action}"):
            require(role, action)


ITEM = {
    "flag_id": "F20260110-1",
    "track": "examination",
    "traveller": {
        "surname": "VORTIGANE",
        "given_names": "MILUSKA",
        "date_of_birth": "1991-03-14",
        "flight": "QK21",
        "documents": [{"type": "P", "number": "PQX71234"}],
    },
    "contributions": [
        {"source_id": "R-101@1", "sentence": "Paid by MILUSKA VORTIGANE in cash", "observed": "x"},
    ],
    "note": "called +66 81 555 0101",
}


@pytest.mark.parametrize("role", ["auditor", "model_owner"])
def test_redaction_hides_every_personal_value(role: str) -> None:
    shown = redact_for(role, ITEM)
    text = repr(shown)
    for value in ("VORTIGANE", "MILUSKA", "1991-03-14", "PQX71234", "555 0101"):
        assert value not in text
    assert shown["traveller"]["surname"] == pseudonym("name", "VORTIGANE")
    assert shown["traveller"]["flight"] == "QK21"
    assert shown["contributions"][0]["observed"] is None
    assert "in cash" in shown["contributions"][0]["sentence"]
    assert ITEM["traveller"]["surname"] == "VORTIGANE"  # the input is untouched


@pytest.mark.parametrize("role", ["analyst", "supervisor"])
def test_analysts_and_supervisors_see_the_record(role: str) -> None:
    assert redact_for(role, ITEM) == ITEM


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    ("count", "shown"), [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (120, 120), (None, None)]
)
def test_small_cells_are_suppressed(count: int | None, shown: int | str | None) -> None:
    (row,) = suppress([StatRow("sex", "F", count, count)])
    assert row["arrivals"] == shown and row["flags"] == shown


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (dt.date(2009, 1, 11), "12-17"),
        (dt.date(2008, 1, 10), "18-24"),
        (dt.date(1990, 6, 1), "35-49"),
        (dt.date(1970, 1, 1), "50-64"),
        (dt.date(1950, 1, 1), "65+"),
        (None, "unknown"),
    ],
)
def test_age_band(born: dt.date | None, band: str) -> None:
    assert age_band_of(born, dt.date(2026, 1, 10)) == band
