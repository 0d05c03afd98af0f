"""``apiflag ingest``: a thin shell over :func:`apiflag.ingest.stage.ingest_night`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from apiflag import config
from apiflag.errors import UsageError
from apiflag.ingest.stage import ingest_night

__all__ = ["ingest_command"]


@click.command("ingest")
@click.option(
    "--night",
    "night_text",
    required=True,
    metavar="YYYY-MM-DD",
    help="Local arrival night to ingest.",
)
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path),
    default=None,
    help="A synthetic world (DIR/nights/<night>/...) or a night folder; "
    "default: the world under $APIFLAG_HOME.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parser processes (default: up to 2 for large nights).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Print the reconciliation for people or as JSON.",
)
def ingest_command(night_text: str, source: Path | None, workers: int | None, fmt: str) -> None:
    """Archive, parse or quarantine, and load one night's PAXLST and PNRGOV messages.

    Prints the reconciliation (messages in = parsed + quarantined, travellers per flight
    against the message's CNT, API-PNR links) and stores it beside the night's warehouse.
    """
    try:
        night = dt.date.fromisoformat(night_text)
    except ValueError:
        raise UsageError(f"--night {night_text!r}: not a date (YYYY-MM-DD)") from None
    report = ingest_night(
        night, source if source is not None else config.world_dir(), workers=workers
    )
    click.echo(report.to_json() if fmt == "json" else report.render(), nl=False)
