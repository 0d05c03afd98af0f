"""Privacy by design: keyed pseudonyms, retention, re-identification, roles, statistics.

Personal data is masked with keyed pseudonyms (HMAC-SHA256 under a secret kept in
``$APIFLAG_HOME/secrets``) after the masking period and deleted after the maximum period; the
originals survive only encrypted in the vault, which a supervisor with a case reference may open.
Nothing here prints or logs a personal value; audit events carry counts only.
"""

from __future__ import annotations

from apiflag.privacy.keys import pseudonym
from apiflag.privacy.policy import RetentionSettings, load_settings

__all__ = ["RetentionSettings", "load_settings", "pseudonym"]
