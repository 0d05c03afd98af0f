"""``apiflag parse FILE...``: print the parse contract as JSON Lines.

The reader loses as little as it can (see :mod:`apiflag.edifact.loss`): a value it cannot
read is null (the row's ``degraded`` names the field), a traveller or booking it cannot read
is quarantined as a record, and only a file whose envelope cannot be read is refused whole.

Exit status 0 when every file was read, even with lost values or records; with
``--warnings`` each lost value is a line ``FILE: warning: segment N: W_CODE: ...`` and each
quarantined record a line ``FILE: lost: segments A-B: CODE: traveller quarantined: ...`` on
stderr. A file refused whole prints nothing on stdout and one line ``FILE: segment N: CODE:
message`` on stderr; the other files are still printed and the exit status is 1 at the end.
A missing or unreadable file gives the same one-line form with ``E_READ``.
"""

from __future__ import annotations

import json
import sys

import click

from apiflag.edifact import contract_rows, parse_bytes
from apiflag.errors import ApiflagError, ParseError

__all__ = ["parse"]


@click.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--warnings/--no-warnings",
    "show_warnings",
    default=False,
    help="Also print each file's warnings and quarantined records on stderr "
    "('FILE: warning: segment N: W_CODE: ...', 'FILE: lost: segments A-B: CODE: ...').",
)
@click.option(
    "--dropped/--no-dropped",
    "show_dropped",
    default=False,
    help="Also print each file's dropped sensitive-data counts on stderr (codes, never values).",
)
def parse(files: tuple[str, ...], show_warnings: bool, show_dropped: bool) -> None:
    """Parse PAXLST/PNRGOV FILES; print one JSON object per traveller (JSON Lines).

    Keys per the parse contract in the README (null where the message does not say; ``degraded``
    names the fields that could not be read). Exit status 0 when every file was read; a file
    refused whole is reported on stderr, the others are still printed, and the status is 1.
    """
    failed = 0
    out = sys.stdout
    for name in files:
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            click.echo(f"{name}: segment 0: E_READ: {exc.strerror or exc}", err=True)
            failed += 1
            continue
        try:
            parsed = parse_bytes(data, name)
        except ParseError as exc:
            click.echo(str(exc.with_file(name)), err=True)
            failed += 1
            continue
        lines = [json.dumps(row, ensure_ascii=False) for row in contract_rows(parsed, name)]
        if lines:
            out.write("\n".join(lines) + "\n")
        if show_warnings:
            for warning in parsed.warnings:
                click.echo(f"{name}: warning: {warning}", err=True)
            for loss in parsed.lost:
                click.echo(f"{name}: lost: {loss}", err=True)
        if show_dropped and parsed.dropped:
            counts = ", ".join(f"{code}={n}" for code, n in parsed.dropped.items())
            click.echo(f"{name}: dropped: {counts}", err=True)
    out.flush()
    if failed:
        raise _Failed(f"{failed} of {len(files)} file(s) could not be parsed")


class _Failed(ApiflagError):
    """Some files failed; each was already reported on its own line."""
