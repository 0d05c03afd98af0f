"""Reason codes: the small, documented table of why a flag moved to a state.

Every status change carries one of these codes (plus the analyst and an optional note), so
statistics can count outcomes by reason without reading free text. Decisions use the codes of
their outcome; re-opening a decided flag uses ``REOPEN``; taking a new flag into review uses
``REVIEW``. Changing this table is a policy change: record it in CHANGELOG.md.
"""

from __future__ import annotations

from apiflag.errors import ApiflagError

__all__ = ["OUTCOMES", "REASONS", "REOPEN", "REVIEW", "check_reason", "reasons_markdown"]

REASONS: dict[str, dict[str, str]] = {
    "hearing": {
        "case_record_confirmed": "Identity agrees with the case-database record on manual comparison",
        "indicators_corroborated": "Several indicators corroborated by documents and booking",
        "document_doubt": "Doubt about the travel document needs examination",
        "escort_or_controller": "Traveller appears to escort or control other travellers",
    },
    "victim_support": {
        "victim_indicators": "Indicators that the traveller may be a victim: protective interview",
        "minor_at_risk": "A minor travelling alone or with an unrelated adult",
        "former_victim_return": "Former victim returning: risk of re-victimisation",
        "document_held_by_other": "Someone else appears to hold the traveller's document or ticket",
    },
    "cleared": {
        "family_or_known_relation": "Family or a documented relation explains the link",
        "legitimate_purpose": "Business, study or tourism purpose documented",
        "different_person": "Not the person in the case record (name collision)",
        "data_error": "An airline data error explains the hit",
        "no_indicators_on_review": "Review found no indicator",
    },
}
REOPEN: dict[str, str] = {
    "new_information": "New information about the traveller or the case",
    "decision_error": "The recorded decision was wrong or entered on the wrong flag",
    "supervisor_review": "A supervisor asked for the decision to be reviewed",
    "case_request": "A case officer or court asked for the flag to be examined again",
}
REVIEW: dict[str, str] = {"taken": "An analyst started reviewing the flag"}

OUTCOMES: tuple[str, ...] = tuple(REASONS)


def check_reason(outcome: str, reason: str) -> None:
    """Refuse an unknown outcome or a reason code that does not belong to it.

    Args:
        outcome: ``hearing``, ``victim_support``, ``cleared`` (or ``reopen``).
        reason: the reason code.

    Raises:
        ApiflagError: naming the allowed values.
    """
    table = REOPEN if outcome == "reopen" else REASONS.get(outcome)
    if table is None:
        raise ApiflagError(
            f"unknown outcome {outcome!r}: allowed outcomes are {', '.join(OUTCOMES)}"
        )
    if reason not in table:
        raise ApiflagError(
            f"unknown reason {reason!r} for {outcome}: allowed reasons are {', '.join(table)}"
        )


def reasons_markdown() -> str:
    """Return the reason-code table as markdown (README and ``apiflag queue reasons``)."""
    lines = ["| outcome | code | meaning |", "|---|---|---|"]
    for outcome, table in [*REASONS.items(), ("reopen", REOPEN)]:
        for code, text in table.items():
            lines.append(f"| {outcome} | `{code}` | {text} |")
    return "\n".join(lines)
