"""The review desk application: sessions, the role guard, CSRF, sign-in and sign-out.

:func:`create_app` builds a FastAPI application over the queue database. One dependency,
:func:`_guard`, runs before every route: it looks the route up in
:data:`apiflag.web.access.ROUTE_ROLES` (a route missing there is refused), requires a valid
session unless the route is in :data:`~apiflag.web.access.PUBLIC`, requires the session's role
to be allowed, and requires the session's CSRF token on every POST. A middleware re-signs the
session cookie after each request (the idle clock) and sets the security headers (a strict
Content-Security-Policy: nothing is loaded from anywhere but the desk itself).

Sign-in is throttled per client address (:data:`THROTTLE_FAILURES` failures in
:data:`THROTTLE_SECONDS` answer 429 for the rest of the window) on top of the per-account lockout
of :func:`apiflag.privacy.accounts.authenticate`; sign-in, sign-out, failures, throttling and
role changes are audit events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from apiflag.audit import append_event
from apiflag.privacy import accounts
from apiflag.queue import store
from apiflag.web import access, pages
from apiflag.web.desk import HERE, THROTTLE_FAILURES, THROTTLE_SECONDS, Desk, DeskError
from apiflag.web.session import COOKIE, PRE_COOKIE, Session, Signer, load_secret, tokens_match

__all__ = ["THROTTLE_FAILURES", "THROTTLE_SECONDS", "DeskError", "create_app"]

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class _SignIn(Exception):
    """No valid session on a page: send the person to the sign-in form."""


def client_of(request: Request) -> str:
    """Return the client's address (as the server sees it, after a trusted proxy)."""
    return request.client.host if request.client else "unknown"


def _route_key(request: Request) -> tuple[str, str] | None:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return (request.method, str(path)) if path is not None else None


async def _guard(request: Request) -> None:
    """Enforce session, role and CSRF for the route being called (see the module docstring)."""
    key = _route_key(request)
    if key is None:
        raise DeskError(404, "no such page")
    if key in access.PUBLIC:
        return
    if key not in access.ROUTE_ROLES:
        raise DeskError(403, "this page is not in the route table")
    desk: Desk = request.app.state.desk
    session = desk.signer.load(request.cookies.get(COOKIE))
    account = accounts.get_account(desk.engine, session.user) if session else None
    if session is None or account is None or account.disabled or session.role not in account.roles:
        if request.method == "GET":
            raise _SignIn()
        raise DeskError(401, "your session has ended: sign in again")
    if account.password_set_at and account.password_set_at.timestamp() > session.issued:
        raise _SignIn() if request.method == "GET" else DeskError(401, "sign in again")
    request.state.session = session
    request.state.roles = account.roles
    if not access.allowed(key[0], key[1], session.role):
        raise DeskError(403, f"role {session.role} may not open this page")
    if request.method == "POST":
        form = await request.form()
        token = form.get("csrf")
        if not tokens_match(session.csrf, token if isinstance(token, str) else None):
            append_event(desk.engine, session.user, "web.csrf_refused", key[1], {"method": key[0]})
            raise DeskError(403, "the form's security token is missing or wrong: reload the page")


def create_app(
    db_url: str | None = None,
    *,
    secret: str | None = None,
    idle: int | None = None,
    absolute: int | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """Build the desk application.

    Args:
        db_url: the queue database (default :func:`apiflag.config.db_url`).
        secret: the cookie-signing secret (default :func:`apiflag.web.session.load_secret`).
        idle: session idle expiry in seconds (default 30 minutes).
        absolute: session absolute expiry in seconds (default 10 hours).
        now: the clock for "has the flight landed" (default: the real time, UTC).

    Returns:
        The ASGI application.

    Raises:
        ApiflagError: the database cannot be opened.
        RuntimeError: a route is missing from the route table.
    """
    engine = accounts.ready(store.open_engine(db_url))
    signer = Signer(secret or load_secret())
    if idle is not None:
        signer.idle = idle
    if absolute is not None:
        signer.absolute = absolute
    desk = Desk(engine, signer, now or (lambda: dt.datetime.now(dt.UTC)))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(_guard)])
    app.state.desk = desk
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _auth_routes(app, desk)
    pages.register(app, desk)
    _handlers(app, desk)
    app.middleware("http")(_headers_and_refresh)
    missing = sorted(set(route_keys(app)) - set(access.ROUTE_ROLES) - access.PUBLIC)
    if missing:
        raise RuntimeError(f"routes missing from apiflag.web.access.ROUTE_ROLES: {missing}")
    return app


def route_keys(app: FastAPI) -> list[tuple[str, str]]:
    """Return ``(method, path)`` of every route of ``app``, static files included."""
    keys: list[tuple[str, str]] = []
    for route in app.routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None)
        if methods is None:  # a mount: the static files
            keys.append(("GET", f"{path}/{{path:path}}"))
            continue
        keys += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return keys


async def _headers_and_refresh(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    desk: Desk = request.app.state.desk
    session = getattr(request.state, "session", None)
    if session is not None and not getattr(request.state, "signed_out", False):
        if COOKIE not in response.headers.get("set-cookie", ""):
            desk.set_session(request, response, session)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if request.url.scheme == "https":
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _handlers(app: FastAPI, desk: Desk) -> None:
    @app.exception_handler(DeskError)
    async def refused(request: Request, exc: DeskError) -> Response:
        return desk.page(request, "error.html", exc.status, message=exc.message)

    @app.exception_handler(_SignIn)
    async def sign_in(request: Request, exc: _SignIn) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _auth_routes(app: FastAPI, desk: Desk) -> None:
    def login_form(
        request: Request, next_url: str, status: int = 200, message: str = ""
    ) -> Response:
        token, cookie = desk.signer.pre_token()
        response = desk.page(
            request, "login.html", status, pre=token, next_url=next_url, message=message
        )
        response.set_cookie(
            PRE_COOKIE,
            cookie,
            max_age=900,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return login_form(request, _safe_next(next))

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        next_url = _safe_next(str(form.get("next", "/")))
        client = client_of(request)
        expected = desk.signer.pre_load(request.cookies.get(PRE_COOKIE))
        if expected is None or not tokens_match(expected, str(form.get("csrf", ""))):
            append_event(desk.engine, "anonymous", "web.csrf_refused", "/login", {"client": client})
            return login_form(request, next_url, 403, "The form expired: please sign in again.")
        if desk.throttle.blocked(client):
            append_event(desk.engine, "anonymous", "auth.throttled", "/login", {"client": client})
            return login_form(
                request, next_url, 429, "Too many failed sign-ins from here: wait a few minutes."
            )
        account = accounts.authenticate(desk.engine, name, password, client=client)
        if account is None:
            desk.throttle.fail(client)
            return login_form(
                request,
                next_url,
                401,
                "Sign-in failed: wrong name or password, or the account is locked or disabled.",
            )
        session = desk.signer.new(account.name, account.roles[0])
        response = RedirectResponse(next_url, status_code=303)
        desk.set_session(request, response, session)
        response.delete_cookie(PRE_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session: Session = request.state.session
        append_event(desk.engine, session.user, "auth.signout", f"account:{session.user}", {})
        request.state.signed_out = True
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.post("/role")
    async def switch_role(request: Request) -> Response:
        session: Session = request.state.session
        wanted = str((await request.form()).get("role", ""))
        if wanted not in request.state.roles:
            raise DeskError(403, f"your account has no role {wanted!r}")
        changed = Session(session.user, wanted, session.csrf, session.issued)
        append_event(
            desk.engine, session.user, "auth.role", f"account:{session.user}", {"role": wanted}
        )
        request.state.session = changed
        response = RedirectResponse("/", status_code=303)
        desk.set_session(request, response, changed)
        return response
