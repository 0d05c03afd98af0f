"""What every desk request shares: its state and its refusal page.

:class:`Desk` holds the database, cookie signer, templates and sign-in throttle;
:class:`DeskError` is a refused request, shown as a page. Kept apart from :mod:`.app`
(which builds the application) so the page modules need not import the application.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from apiflag.web import access
from apiflag.web.session import COOKIE, Session, Signer

__all__ = ["THROTTLE_FAILURES", "THROTTLE_SECONDS", "Desk", "DeskError", "Throttle"]

HERE = Path(__file__).parent
THROTTLE_FAILURES = 10
THROTTLE_SECONDS = 300


class DeskError(Exception):
    """A refused request, shown as a page with ``status`` and one line of ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Throttle:
    """Failed sign-ins per client address within a sliding window."""

    def __init__(self, limit: int = THROTTLE_FAILURES, seconds: int = THROTTLE_SECONDS) -> None:
        self.limit = limit
        self.seconds = seconds
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, client: str) -> collections.deque[float]:
        times = self._failures.setdefault(client, collections.deque())
        while times and time.monotonic() - times[0] > self.seconds:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        """Return whether ``client`` has used up its failures for now."""
        return len(self._recent(client)) >= self.limit

    def fail(self, client: str) -> None:
        """Count one failure of ``client``."""
        self._recent(client).append(time.monotonic())


class Desk:
    """What every request needs: the database, the cookie signer, templates, the throttle."""

    def __init__(self, engine: Engine, signer: Signer, now: Callable[[], dt.datetime]) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self.signer = signer
        self.now = now
        self.throttle = Throttle()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["allowed"] = access.allowed

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render template ``name`` with the session, its CSRF token and ``context``."""
        session: Session | None = getattr(request.state, "session", None)
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "session": session,
                "csrf": session.csrf if session else "",
                "roles": getattr(request.state, "roles", ()),
                **context,
            },
            status_code=status,
        )

    def set_session(self, request: Request, response: Response, session: Session) -> None:
        """Put ``session`` into the response's cookie (Secure over HTTPS)."""
        response.set_cookie(
            COOKIE,
            self.signer.dump(session),
            max_age=self.signer.idle,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
