"""``apiflag retention``, ``apiflag reidentify`` and ``apiflag stats``.

Thin shells over :mod:`apiflag.privacy.retention`, :mod:`apiflag.privacy.reidentify` and
:mod:`apiflag.privacy.stats`; every refusal is one line on stderr and exit 1.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from apiflag.daterange import date_range_options, parse_range
from apiflag.errors import UsageError
from apiflag.privacy.policy import load_settings
from apiflag.privacy.roles import current_role, current_user, require


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


@click.group()
def retention() -> None:
    """Mask personal data after the masking period; delete everything after the maximum."""


@retention.command("apply")
@click.option("--as-of", "as_of", help="Measure the periods from this date (default today).")
@click.option("--masking-days", type=int, help="Masking period in days (config: 180).")
@click.option("--max-years", type=int, help="Maximum period in years (config: 5).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def apply_command(
    as_of: str | None, masking_days: int | None, max_years: int | None, fmt: str
) -> None:
    """Mask every store for nights past the masking period, delete nights past the maximum."""
    from apiflag.privacy.retention import apply_retention

    day = _date(as_of, "--as-of")
    settings = load_settings(masking_days=masking_days, max_years=max_years)
    report = apply_retention(day, settings, actor=current_user())
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"as of {report.as_of}: masked nights before {report.mask_before} "
        f"({report.masking_days} days), deleted nights before {report.delete_before} "
        f"({report.max_years} years)"
    )
    click.echo(f"masked: {len(report.nights_masked)} nights; deleted: {len(report.nights_deleted)}")
    click.echo(f"held for open cases: {report.held_travellers} travellers")
    for key, value in sorted(report.counts.items()):
        click.echo(f"  {key}: {value}")


@retention.command("hold")
@click.argument("flag_id")
@click.option("--case-ref", required=True, help="The case that needs the data readable.")
@click.option("--role", "role", default=None, help="Role to act in (default APIFLAG_ROLE).")
def hold_command(flag_id: str, case_ref: str, role: str | None) -> None:
    """Keep a flag decided hearing or victim_support unmasked until its case is closed."""
    from apiflag.privacy.retention import place_hold

    acting = current_role(role)
    require(acting, "retention.hold")
    place_hold(flag_id, case_ref, actor=current_user())
    click.echo(f"{flag_id}: held for case {case_ref}")


@retention.command("close-case")
@click.argument("case_ref")
@click.option("--role", "role", default=None, help="Role to act in (default APIFLAG_ROLE).")
def close_case_command(case_ref: str, role: str | None) -> None:
    """Release every hold of a closed case; the next retention run masks its travellers."""
    from apiflag.privacy.retention import close_case

    acting = current_role(role)
    require(acting, "retention.hold")
    closed = close_case(case_ref, actor=current_user())
    click.echo(f"case {case_ref}: {closed} holds released")


@click.command()
@click.argument("flag_id")
@click.option("--case-ref", default=None, help="Case reference (required).")
@click.option("--role", "role", required=True, help="Must be supervisor.")
@click.option("--reason", default="", help="Why the originals are needed (required).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def reidentify(flag_id: str, case_ref: str | None, role: str, reason: str, fmt: str) -> None:
    """Show a flag's original personal values (supervisor with a case reference; audited)."""
    from apiflag.privacy.reidentify import reidentify as run

    result = run(flag_id, case_ref=case_ref, role=role, reason=reason)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(f"flag {result['flag_id']} (night {result['night']}), case {result['case_ref']}")
    for table, items in result["values"].items():
        for item in items:
            fields = ", ".join(f"{k}={v}" for k, v in item.items())
            click.echo(f"  {table}: {fields}")


@click.command()
@date_range_options(start_aliases=("--from",), end_aliases=("--to",))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
def stats(start: str, end: str, fmt: str) -> None:
    """Counts per track, rule, outcome and group; no personal data, counts 1-4 shown as <5."""
    from apiflag.privacy.stats import render, statistics, suppress

    first, last = parse_range(start, end)
    require(current_role(), "stats")
    click.echo(render(suppress(statistics(first, last)), fmt, first, last), nl=fmt == "json")
