"""The one pair of date-range options of the command line: ``--start D --end D`` (inclusive).

Every command that takes a range of nights (``backfill``, ``stats``, ``rescreen`` ...) declares
it with :func:`date_range_options`; older spellings stay as aliases (``stats --from/--to``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from apiflag.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def date_range_options(
    *, start_aliases: Sequence[str] = (), end_aliases: Sequence[str] = ()
) -> Callable[[F], F]:
    """Add ``--start`` and ``--end`` (both required, YYYY-MM-DD) to a click command.

    The command receives them as the strings ``start`` and ``end``; :func:`parse_range`
    validates them. ``start_aliases``/``end_aliases`` are older names that keep working.
    """

    def decorate(command: F) -> F:
        command = click.option(
            "--end", *end_aliases, "end", required=True, help="Last night, inclusive (YYYY-MM-DD)."
        )(command)
        return click.option(
            "--start", *start_aliases, "start", required=True, help="First night (YYYY-MM-DD)."
        )(command)

    return decorate


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


def parse_range(start: str, end: str) -> tuple[dt.date, dt.date]:
    """Return the validated ``(start, end)``.

    Raises:
        UsageError: one line: a value that is not a date, or an end before the start.
    """
    first, last = _date(start, "--start"), _date(end, "--end")
    if last < first:
        raise UsageError(f"--end {last} is before --start {first}")
    return first, last


def nights_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return every night from ``start`` to ``end``, inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
