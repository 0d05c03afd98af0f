"""``apiflag queue``, ``apiflag explain`` and ``apiflag audit``: the analysts' and auditors' commands.

Every command works on the queue database of :func:`apiflag.config.db_url`. Listing, showing
and explaining a flag show personal data, so each is recorded in the audit log under the
current user (``$APIFLAG_USER``, else the login name) and role. Roles come from
:mod:`apiflag.privacy.roles` (``$APIFLAG_HOME/config.yaml``, ``$APIFLAG_ROLE``): auditors and
model owners see keyed pseudonyms instead of personal data; only analysts and supervisors
decide. A user's mistake (unknown flag, outcome,
reason or status, a flag already decided) is one line on stderr and exit status 1; a malformed
option value is exit status 2.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from apiflag import atomic
from apiflag.errors import ApiflagError, UsageError

__all__ = ["audit", "explain", "queue"]


def current_user() -> str:
    """Return who runs the command: the login's account, else ``$APIFLAG_USER`` or the login."""
    from apiflag.privacy import roles

    try:
        return roles.current_user().strip() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def acting_analyst(analyst: str) -> str:
    """Return ``--analyst`` after checking it is the account the CLI acts as (once accounts exist).

    Raises:
        ApiflagError: accounts exist and ``analyst`` names another account than this login's.
    """
    from apiflag.privacy import roles

    account = roles.cli_account()
    if account is not None and analyst.strip() != account.name:
        raise ApiflagError(
            f"--analyst {analyst}: this login acts as account {account.name}; "
            "a decision is recorded under your own account only"
        )
    return analyst


def acting_role(action: str) -> str:
    """Return the current role (``apiflag.privacy.roles``) after checking it may do ``action``.

    Raises:
        ApiflagError: the user has no such role, or the role may not do ``action``.
    """
    from apiflag.privacy import roles

    role = roles.current_role()
    roles.require(role, action)
    return role


def as_seen_by(role: str, record: Any) -> Any:
    """Return ``record`` as ``role`` may see it: keyed pseudonyms instead of personal data."""
    from apiflag.privacy import roles

    return roles.redact_for(role, record)


def _format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"--format {value!r}: allowed are {', '.join(allowed)}")
    return value


def _night(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--night {value!r}: expected YYYY-MM-DD") from exc


@click.group()
def queue() -> None:
    """The review queue: list flags, show one, record a decision."""


@queue.command("list")
@click.option("--night", help="Only this arrival night (YYYY-MM-DD).")
@click.option(
    "--status", help="Only this status: new, in_review, hearing, victim_support, cleared."
)
@click.option("--format", "fmt", default="text", show_default=True, help="text or json.")
def list_command(night: str | None, status: str | None, fmt: str) -> None:
    """List queue items, best priority first."""
    from apiflag.queue import store

    fmt = _format(fmt, ("text", "json"))
    role = acting_role("queue.list")
    engine = store.open_engine()
    items = store.list_flags(engine, _night(night), status, actor=current_user(), role=role)
    items = as_seen_by(role, items)
    if fmt == "json":
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("no flags")
        return
    click.echo(ranking_note(items))
    click.echo(
        f"{'flag_id':27} {'night':10} {'pri':>4} {'policy':>6} {'prob':>6} {'match':>6} "
        f"{'track':18} {'status':14} traveller"
    )
    for i in items:
        t = i["traveller"]
        click.echo(
            f"{i['flag_id']:27} {i['night']:10} {i['priority']:>4} {i['policy_score']:>+6.2f} "
            f"{fmt_probability(i['probability'])} {fmt_probability(i['match_probability'])} "
            f"{i['track']:18} {i['status']:14} {t['surname'] or ''}, {t['given_names'] or ''} "
            f"({t['flight']})"
        )


def fmt_probability(p: float | None) -> str:
    """A probability in six characters, ``     -`` when there is none."""
    return f"{'-':>6}" if p is None else f"{p:>6.3f}"


def ranking_note(items: list[dict[str, Any]]) -> str:
    """Say how a listing is ranked and what its figures mean."""
    if all(i["model_version"] is None for i in items):
        return (
            "ranked by policy weights alone (no champion model: no outcome probability); "
            "match = case-match probability (identity, not guilt)"
        )
    return (
        "ranked by policy score (rule weights); prob = outcome probability fitted on reviewed "
        "flagged travellers; match = case-match probability (identity, not guilt)"
    )


@queue.command("show")
@click.argument("flag_id")
@click.option("--format", "fmt", default="text", show_default=True, help="text or json.")
def show_command(flag_id: str, fmt: str) -> None:
    """Show one flag: traveller, score, versions and its history."""
    from apiflag.queue import store

    fmt = _format(fmt, ("text", "json"))
    role = acting_role("queue.show")
    view = store.get_flag(store.open_engine(), flag_id, actor=current_user(), role=role)
    view = as_seen_by(role, view)
    if fmt == "json":
        click.echo(json.dumps(view, indent=2, ensure_ascii=False, default=str))
        return
    f, t = view["flag"], view["traveller"]
    click.echo(f"{f['flag_id']}  night {f['night']}  track {f['track']}  status {f['status']}")
    click.echo(
        f"traveller: {t['surname']}, {t['given_names']}  born {t['date_of_birth']}  "
        f"document {t['document_number']}  flight {t['flight']}"
    )
    click.echo(
        f"priority {f['priority']}  policy score {f['total']:+.2f}  outcome probability "
        f"{fmt_probability(f['probability']).strip()}  match probability "
        f"{fmt_probability(f['match_probability']).strip()}"
    )
    for r in view["contributions"]:
        if r["source"] != "total":
            click.echo(f"  {r['weight']:+6.2f}  {r.get('column') or 'legacy':8}  {r['sentence']}")
    click.echo(f"see `apiflag explain {f['flag_id']}` for the full case file")
    for h in view["history"]:
        click.echo(f"  {h['at']}  {h['from']} -> {h['to']}  {h['reason']}  by {h['analyst']}")


@queue.command("decide")
@click.argument("flag_id")
@click.option("--outcome", required=True, help="hearing, victim_support or cleared.")
@click.option(
    "--reason", required=True, help="A reason code of the outcome (`apiflag queue reasons`)."
)
@click.option("--analyst", required=True, help="Who decides.")
@click.option("--note", default=None, help="Free text (masked after the retention period).")
def decide_command(flag_id: str, outcome: str, reason: str, analyst: str, note: str | None) -> None:
    """Record a decision on a flag."""
    from apiflag.queue import store

    acting_role("queue.decide")
    analyst = acting_analyst(analyst)
    d = store.decide(store.open_engine(), flag_id, outcome, reason, analyst, note)
    click.echo(
        f"{d.flag_id}: {d.outcome} ({d.reason_code}) by {d.analyst} at {d.decided_at:%Y-%m-%d %H:%M:%S}Z"
    )


@queue.command("reopen")
@click.argument("flag_id")
@click.option(
    "--reason",
    required=True,
    help="new_information, decision_error, supervisor_review, case_request.",
)
@click.option("--analyst", required=True, help="Who re-opens.")
@click.option("--note", default=None, help="Why, in words.")
def reopen_command(flag_id: str, reason: str, analyst: str, note: str | None) -> None:
    """Re-open a decided flag (back to in_review); the earlier decision stays in the history."""
    from apiflag.queue import store

    acting_role("queue.decide")
    analyst = acting_analyst(analyst)
    d = store.reopen(store.open_engine(), flag_id, reason, analyst, note)
    click.echo(f"{d.flag_id}: re-opened (was {d.outcome}; {d.reason_code}) by {d.analyst}")


@queue.command("review")
@click.argument("flag_id")
@click.option("--analyst", required=True, help="Who takes the flag.")
def review_command(flag_id: str, analyst: str) -> None:
    """Take a new flag into review (a rerun of its night then leaves it alone)."""
    from apiflag.queue import store

    acting_role("queue.decide")
    analyst = acting_analyst(analyst)
    store.start_review(store.open_engine(), flag_id, analyst)
    click.echo(f"{flag_id}: in_review by {analyst}")


@queue.command("reasons")
def reasons_command() -> None:
    """Print the table of reason codes per outcome."""
    from apiflag.queue.reasons import reasons_markdown

    click.echo(reasons_markdown())


@click.command("explain")
@click.argument("flag_id")
@click.option("--format", "fmt", default="text", show_default=True, help="text, json or html.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output (a copy of personal data: keep it "
    "under $APIFLAG_HOME, where retention masks it, or delete it after use).",
)
@click.option("--redact", is_flag=True, help="Leave out observed values, identity and notes.")
def explain(flag_id: str, fmt: str, out: Path | None, redact: bool) -> None:
    """Explain a flag: every contribution, the total, the versions and the input messages."""
    from apiflag import explain as ex
    from apiflag.queue import store

    fmt = _format(fmt, ("text", "json", "html"))
    role = acting_role("explain")
    exp = ex.explanation(store.open_engine(), flag_id, actor=current_user(), role=role)
    exp = as_seen_by(role, exp)
    if redact:
        exp = ex.redact(exp)
    if fmt == "json":
        body = json.dumps(exp, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "html":
        body = ex.render_html(exp)
    else:
        body = ex.render_text(exp)
    if out is None:
        click.echo(body, nl=False)
        return
    try:
        atomic.write_text(out, body, parents=False)
    except OSError as exc:
        raise ApiflagError(f"{out}: cannot write: {exc.strerror}") from exc
    click.echo(f"wrote {out}")


@click.group()
def audit() -> None:
    """The audit log: verify its hash chain, read who did what."""


@audit.command("log")
@click.option(
    "--object", "obj", default=None, help="Only events about this id (a flag id, a night)."
)
@click.option("--action", default=None, help="Only this action or family (queue, flag.view, ...).")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest N events.")
@click.option("--format", "fmt", default="text", show_default=True, help="text or json.")
def log_command(obj: str | None, action: str | None, limit: int, fmt: str) -> None:
    """Show audit events, oldest first (who viewed, decided, promoted, masked what)."""
    from apiflag.audit import read_events
    from apiflag.queue import store

    fmt = _format(fmt, ("text", "json"))
    if limit < 1:
        raise UsageError(f"--limit {limit}: must be at least 1")
    acting_role("audit.view")
    events = read_events(store.open_engine(), object=obj, action=action, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        return
    for e in events:
        details = json.dumps(e.details, sort_keys=True, ensure_ascii=False)
        click.echo(
            f"{e.seq:>6} {e.time:%Y-%m-%d %H:%M:%S} {e.actor:16} {e.action:16} {e.object} {details}"
        )


@audit.command("verify")
def verify_command() -> None:
    """Walk the hash chain; exit 1 naming the first broken event."""
    from apiflag.audit import check_chain
    from apiflag.queue import store

    acting_role("audit.verify")
    check = check_chain(store.open_engine())
    if check.broken_seq is not None:
        # echoed here (not raised) so that embedding callers such as click's CliRunner see it too
        click.echo(
            f"apiflag: audit chain broken at event {check.broken_seq} ({check.broken_action} "
            f"{check.broken_object}): {check.reason}; {check.checked - 1} events before it verify",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"audit chain intact: {check.checked} events, head {check.head_seq} {check.head_hash}"
    )
