"""Sessions of the review desk: a signed cookie with idle and absolute expiry, and CSRF tokens.

The session is a cookie signed with the desk's secret (itsdangerous, HMAC-SHA1 over a
timestamped payload): ``{u: account, r: active role, c: CSRF token, i: issued at}``. It is
re-signed on every request, so the signature's timestamp is the last activity: a cookie older
than :data:`IDLE_SECONDS` is refused, and so is one issued more than :data:`ABSOLUTE_SECONDS`
ago however active. A cookie signed with another secret, or altered, is refused. Before sign-in
a separate short-lived cookie carries the CSRF token of the sign-in form.

The secret is ``APIFLAG_WEB_SECRET`` or ``$APIFLAG_HOME/secrets/web.key`` (created 0600 on first
use). Rotating it signs everyone out.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from apiflag.privacy.keys import read_or_create, secrets_dir

__all__ = [
    "ABSOLUTE_SECONDS",
    "COOKIE",
    "IDLE_SECONDS",
    "PRE_COOKIE",
    "Session",
    "Signer",
    "load_secret",
    "tokens_match",
]

COOKIE = "apiflag_session"
PRE_COOKIE = "apiflag_signin"
IDLE_SECONDS = 30 * 60
"""A session unused for this long is over."""
ABSOLUTE_SECONDS = 10 * 60 * 60
"""A session is over this long after sign-in, however active (one shift)."""
PRE_SECONDS = 15 * 60


def load_secret() -> str:
    """Return the signing secret: ``APIFLAG_WEB_SECRET``, else the key file (created if missing)."""
    given = os.environ.get("APIFLAG_WEB_SECRET", "").strip()
    if given:
        return given
    key = read_or_create(secrets_dir() / "web.key", secrets.token_hex(32).encode("ascii"))
    return key.decode("ascii").strip()


@dataclass(frozen=True)
class Session:
    """A valid session."""

    user: str
    role: str
    csrf: str
    issued: float


def tokens_match(expected: str, given: str | None) -> bool:
    """Compare two CSRF tokens in constant time (an empty or missing token never matches)."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected, str(given))


class Signer:
    """Signs and checks the session and sign-in cookies with one secret.

    Args:
        secret: the signing secret.
        idle: idle expiry in seconds.
        absolute: absolute expiry in seconds.
    """

    def __init__(
        self, secret: str, idle: int = IDLE_SECONDS, absolute: int = ABSOLUTE_SECONDS
    ) -> None:
        self._session = URLSafeTimedSerializer(secret, salt="apiflag.session")
        self._pre = URLSafeTimedSerializer(secret, salt="apiflag.signin")
        self.idle = idle
        self.absolute = absolute

    def new(self, user: str, role: str) -> Session:
        """Return a fresh session (a new CSRF token) for ``user`` acting as ``role``."""
        return Session(user, role, secrets.token_urlsafe(32), time.time())

    def dump(self, session: Session) -> str:
        """Return the cookie value of ``session``, signed now (the idle clock restarts)."""
        return self._session.dumps(
            {"u": session.user, "r": session.role, "c": session.csrf, "i": session.issued}
        )

    def load(self, value: str | None) -> Session | None:
        """Return the session of a cookie value, or None when missing, forged or expired."""
        if not value:
            return None
        try:
            data: Any = self._session.loads(value, max_age=self.idle)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict):
            return None
        try:
            session = Session(str(data["u"]), str(data["r"]), str(data["c"]), float(data["i"]))
        except (KeyError, TypeError, ValueError):
            return None
        if time.time() - session.issued > self.absolute:
            return None
        return session

    def pre_token(self) -> tuple[str, str]:
        """Return ``(token, cookie value)`` for a sign-in form."""
        token = secrets.token_urlsafe(32)
        return token, self._pre.dumps(token)

    def pre_load(self, value: str | None) -> str | None:
        """Return the sign-in form's token from its cookie, or None."""
        if not value:
            return None
        try:
            token = self._pre.loads(value, max_age=PRE_SECONDS)
        except (BadSignature, SignatureExpired):
            return None
        return token if isinstance(token, str) else None
