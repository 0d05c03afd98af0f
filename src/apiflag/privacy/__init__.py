"""Privacy by design: keyed pseudonyms, retention, re-identification, roles, statistics.

Personal data is masked with keyed pseudonyms (HMAC-SHA256 under a secret kept in
``$APIFLAG_HOME/secrets``) after the masking period and deleted after the maximum period; the
originals survive only encrypted in the vault, which a supervisor with a case reference may open.
Nothing here prints or logs a personal value; audit events carry counts only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apiflag.privacy.keys import pseudonym
from apiflag.privacy.policy import RetentionSettings, load_settings

if TYPE_CHECKING:
    from apiflag.privacy.retention import RetentionReport, apply_retention

__all__ = ["RetentionReport", "RetentionSettings", "apply_retention", "load_settings", "pseudonym"]


def __getattr__(name: str) -> Any:
    """Import the retention stage (pandas, SQLAlchemy) only when it is asked for."""
    if name in {"apply_retention", "RetentionReport"}:
        from apiflag.privacy import retention

        return getattr(retention, name)
    raise AttributeError(name)
