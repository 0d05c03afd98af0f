"""The desk's pages: queue, case file, decisions, report, fairness, models, statistics, audit.

Each handler gathers through :mod:`apiflag.web.views` and the project's own functions, redacts
with :func:`apiflag.privacy.roles.redact_for` for the session's role, and renders a template.
Access, sessions and CSRF are enforced before any handler runs (:mod:`apiflag.web.app`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from apiflag import explain as ex
from apiflag.audit import check_chain, count_events, read_events
from apiflag.errors import ApiflagError
from apiflag.privacy.roles import redact_for, sees_personal_data
from apiflag.queue import store
from apiflag.queue.reasons import REASONS, REOPEN
from apiflag.web import views
from apiflag.web.desk import Desk, DeskError
from apiflag.web.session import Session

__all__ = ["register"]

TRACKS = ("protection", "examination", "case_match", "document_integrity")


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DeskError(400, f"{name} {value!r}: expected a date YYYY-MM-DD") from None


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        raise DeskError(400, f"page {value!r}: expected a number") from None


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise DeskError(400, f"{name} {value!r}: allowed are {', '.join(allowed)}")
    return value


def _latest_night(desk: Desk) -> dt.date | None:
    with desk.engine.connect() as conn:
        value = conn.execute(select(func.max(store.flags.c.night))).scalar()
    return value if isinstance(value, dt.date) else None


def register(app: FastAPI, desk: Desk) -> None:
    """Add every page route to ``app``."""
    _queue_pages(app, desk)
    _decision_routes(app, desk)
    _oversight_pages(app, desk)
    _audit_pages(app, desk)


def _queue_pages(app: FastAPI, desk: Desk) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        session: Session = request.state.session
        target = "/models" if session.role == "model_owner" else "/queue"
        return RedirectResponse(target, status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request) -> Response:
        session: Session = request.state.session
        q = request.query_params
        night = _date(q.get("night"), "night") or _latest_night(desk)
        filters = views.QueueFilters(
            night=night,
            track=_choice(q.get("track"), TRACKS, "track"),
            status=_choice(q.get("status"), store.STATUSES, "status"),
            flight=(q.get("flight") or "").strip().upper() or None,
            airport=(q.get("airport") or "").strip().upper() or None,
        )
        now = desk.now()
        rows = views.queue_rows(
            desk.engine, filters, actor=session.user, role=session.role, now=now
        )
        undecided = [r for r in rows if r["status"] in ("new", "in_review")]
        page = views.paginate(rows, _page_number(q.get("page")))
        # pseudonyms are keyed, so redacting the page alone gives what redacting all would
        page = views.Page(redact_for(session.role, page.items), page.number, page.pages, page.total)
        run = views.night_run(desk.engine, night) if night else None
        query = {k: v for k, v in q.items() if k != "page" and v}
        return desk.page(
            request,
            "queue.html",
            rows=page,
            filters=filters,
            run=run,
            undecided=len(undecided),
            before_landing=sum(1 for r in undecided if not r["landed"]),
            tracks=TRACKS,
            statuses=store.STATUSES,
            query=query,
            now=now,
        )

    @app.get("/flags/{flag_id}", response_class=HTMLResponse)
    def case_file(request: Request, flag_id: str) -> Response:
        return _case_file(request, desk, flag_id)


def _case_file(
    request: Request, desk: Desk, flag_id: str, status: int = 200, message: str = ""
) -> Response:
    session: Session = request.state.session
    try:
        exp = ex.explanation(desk.engine, flag_id, actor=session.user, role=session.role)
    except ApiflagError as exc:
        raise DeskError(404, str(exc)) from None
    with desk.engine.connect() as conn:
        traveller_id = conn.execute(
            select(store.flags.c.traveller_id).where(store.flags.c.flag_id == flag_id)
        ).scalar_one()
    linked = views.linked_travellers(exp["night"], str(traveller_id))
    seen = redact_for(session.role, {"exp": exp, "linked": linked})
    exp, linked = seen["exp"], seen["linked"]
    sections = ex._sections(exp)
    chart = views.bars(sections["prior"] + sections["fired"] + sections["against"], 220.0)
    return desk.page(
        request,
        "case.html",
        status,
        e=exp,
        s=sections,
        chart=chart,
        who=ex._who(exp),
        degraded=ex.degraded_notes(exp),
        meaning=ex.TRACK_MEANING.get(exp["track"], exp["track"]),
        flight=views.flight_info(exp["night"], str(traveller_id)),
        linked=linked,
        graph=views.graph(linked),
        decided=exp["status"] in store.DECIDED,
        reasons=REASONS,
        reopen=sorted(REOPEN),
        personal=sees_personal_data(session.role),
        message=message,
        small=ex.SMALL,
    )


def _history_length(desk: Desk, flag_id: str) -> int:
    with desk.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(store.dispositions)
                .where(store.dispositions.c.flag_id == flag_id)
            ).scalar_one()
        )


def _decision_routes(app: FastAPI, desk: Desk) -> None:
    async def change(request: Request, flag_id: str, kind: str) -> Response:
        session: Session = request.state.session
        form = await request.form()
        seen = str(form.get("seen", ""))
        note = str(form.get("note", "")).strip() or None
        try:
            if seen != str(_history_length(desk, flag_id)):
                raise ApiflagError(
                    f"flag {flag_id} changed since you opened it (someone else decided or "
                    "re-opened it): read it again before you decide"
                )
            if kind == "decide":
                outcome, _, reason = str(form.get("decision", "")).partition("/")
                store.decide(desk.engine, flag_id, outcome, reason, session.user, note)
            else:
                store.reopen(desk.engine, flag_id, str(form.get("reason", "")), session.user, note)
        except ApiflagError as exc:
            return _case_file(request, desk, flag_id, 409, str(exc))
        return RedirectResponse(f"/flags/{flag_id}?done={kind}", status_code=303)

    @app.post("/flags/{flag_id}/decide")
    async def decide(request: Request, flag_id: str) -> Response:
        return await change(request, flag_id, "decide")

    @app.post("/flags/{flag_id}/reopen")
    async def reopen(request: Request, flag_id: str) -> Response:
        return await change(request, flag_id, "reopen")

    @app.post("/flags/{flag_id}/hold")
    async def hold(request: Request, flag_id: str) -> Response:
        from apiflag.privacy.retention import place_hold

        session: Session = request.state.session
        case_ref = str((await request.form()).get("case_ref", "")).strip()
        try:
            place_hold(flag_id, case_ref, actor=session.user, db_url=desk.url)
        except ApiflagError as exc:
            return _case_file(request, desk, flag_id, 409, str(exc))
        return RedirectResponse(f"/flags/{flag_id}?done=hold", status_code=303)

    @app.post("/flags/{flag_id}/reidentify", response_class=HTMLResponse)
    async def reidentify(request: Request, flag_id: str) -> Response:
        from apiflag.privacy.reidentify import reidentify as reveal

        session: Session = request.state.session
        form = await request.form()
        try:
            shown = reveal(
                flag_id,
                case_ref=str(form.get("case_ref", "")).strip(),
                role=session.role,
                reason=str(form.get("reason", "")).strip(),
                actor=session.user,
                db_url=desk.url,
                signed_in=True,
            )
        except ApiflagError as exc:
            return _case_file(request, desk, flag_id, 409, str(exc))
        return desk.page(request, "reidentified.html", shown=shown)


def _oversight_pages(app: FastAPI, desk: Desk) -> None:
    @app.get("/reports", response_class=HTMLResponse)
    def reports(request: Request) -> Response:
        nights = views.paginate(
            views.report_nights(), _page_number(request.query_params.get("page"))
        )
        return desk.page(request, "reports.html", nights=nights, query={})

    @app.get("/reports/{night}", response_class=HTMLResponse)
    def report(request: Request, night: str) -> Response:
        day = _date(night, "night")
        path = views.report_path(str(day))
        if path is None:
            raise DeskError(404, f"no report for night {night}")
        response = HTMLResponse(path.read_text(encoding="utf-8"))
        # the report is a self-contained file with its own inline styles and images
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        )
        return response

    @app.get("/fairness", response_class=HTMLResponse)
    def fairness(request: Request) -> Response:
        night = _date(request.query_params.get("night"), "night") or _latest_night(desk)
        rows = views.fairness(str(night)) if night else []
        return desk.page(
            request, "fairness.html", night=night, charts=views.fairness_charts(rows), rows=rows
        )

    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> Response:
        from apiflag.model.registry import list_versions

        versions = list_versions()
        wanted = request.query_params.get("version")
        chosen = next(
            (v for v in versions if v["version"] == wanted),
            next(
                (v for v in versions if "champion" in v["aliases"]),
                versions[0] if versions else None,
            ),
        )
        card = views.model_card(chosen["run_id"]) if chosen and chosen.get("run_id") else None
        return desk.page(request, "models.html", versions=versions, chosen=chosen, card=card)

    @app.get("/stats", response_class=HTMLResponse)
    def stats(request: Request) -> Response:
        from apiflag.privacy.stats import statistics, suppress

        q = request.query_params
        end = _date(q.get("to"), "to") or _latest_night(desk) or dt.date.today()
        start = _date(q.get("from"), "from") or end - dt.timedelta(days=29)
        if start > end:
            raise DeskError(400, f"from {start} is after to {end}")
        rows = suppress(statistics(start, end, desk.url))
        page = views.paginate(rows, _page_number(q.get("page")), 40)
        query = {"from": start.isoformat(), "to": end.isoformat()}
        return desk.page(request, "stats.html", rows=page, start=start, end=end, query=query)


def _audit_pages(app: FastAPI, desk: Desk) -> None:
    def audit_page(request: Request, check: Any = None) -> Response:
        session: Session = request.state.session
        q = request.query_params
        obj = (q.get("object") or "").strip() or None
        action = (q.get("action") or "").strip() or None
        number = _page_number(q.get("page"))
        total = count_events(desk.engine, object=obj, action=action)
        size = views.PAGE_SIZE
        pages = max(1, -(-total // size))
        number = min(number, pages)
        newest = read_events(desk.engine, object=obj, action=action, limit=number * size)
        events = list(reversed(newest))[(number - 1) * size : number * size]
        shown = redact_for(
            session.role,
            [
                {**e.model_dump(mode="json"), "details": json.dumps(e.details, sort_keys=True)}
                for e in events
            ],
        )
        page = views.Page(shown, number, pages, total)
        query = {k: v for k, v in {"object": obj, "action": action}.items() if v}
        return desk.page(request, "audit.html", events=page, query=query, check=check)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request) -> Response:
        return audit_page(request)

    @app.get("/audit/verify", response_class=HTMLResponse)
    def verify(request: Request) -> Response:
        return audit_page(request, check_chain(desk.engine))
