"""``apiflag synth``: write a synthetic world of arrivals in Japan.

Bad arguments (negative counts, an unknown version, ``--out`` that is a file) give one line
on stderr and exit status 2.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from apiflag.synth.patterns import (
    CONFOUNDERS,
    DEFAULT_CONFOUNDER_RATES,
    DEFAULT_PATTERN_SHARES,
    PATTERNS,
)
from apiflag.synth.world import (
    DEFAULT_PREVALENCE,
    PAXLST_VERSIONS,
    PNRGOV_VERSIONS,
    WorldConfig,
    generate_world,
    summarize_world,
)


def _shares(values: tuple[str, ...]) -> tuple[dict[str, float], dict[str, float]]:
    patterns = dict(DEFAULT_PATTERN_SHARES)
    confounders = dict(DEFAULT_CONFOUNDER_RATES)
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--share")
        try:
            value = float(raw)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: {raw!r} is not a number", param_hint="--share"
            ) from None
        if name in PATTERNS:
            patterns[name] = value
        elif name in CONFOUNDERS:
            confounders[name] = value
        else:
            raise click.BadParameter(
                f"{item!r}: unknown name {name!r} (patterns: {', '.join(PATTERNS)}; "
                f"confounders: {', '.join(CONFOUNDERS)})",
                param_hint="--share",
            )
    return patterns, confounders


def summary_lines(out: Path, summary: dict[str, Any]) -> list[str]:
    """Render :func:`summarize_world` for people: totals, patterns, confounders, case database."""
    t = summary["totals"]
    lines = [
        f"world {out}: {len(summary['nights'])} night(s) + {summary['history_nights']} history, "
        f"{t['flights']} flights, {t['passengers']} passengers, {t['crew']} crew, "
        f"{t['bookings']} bookings, {t['files']} files ({t['messy_files']} messy)"
    ]
    for kind in ("patterns", "confounders"):
        parts = ", ".join(
            f"{k} {v['instances']}/{v['travellers']}" for k, v in summary[kind].items()
        )
        lines.append(f"{kind} (instances/travellers): {parts}")
    db = summary["casedb"]
    lines.append(
        f"case database: {db['cases']} cases, {db['persons']} persons, {db['identifiers']} identifiers"
    )
    return lines


@click.command("synth")
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="World folder to write."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="The one seed."
)
@click.option(
    "--nights", default=1, show_default=True, type=click.IntRange(min=1), help="Current nights."
)
@click.option(
    "--arrivals",
    default=2000,
    show_default=True,
    type=click.IntRange(min=200),
    help="Passengers per current night.",
)
@click.option(
    "--history-nights",
    default=28,
    show_default=True,
    type=click.IntRange(min=0),
    help="Earlier nights with past outcomes (training labels).",
)
@click.option(
    "--history-arrivals",
    default=None,
    type=click.IntRange(min=200),
    help="Passengers per history night [default: --arrivals].",
)
@click.option(
    "--start",
    "start",
    default="2026-11-20",
    show_default=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First current night (arrival date in Japan).",
)
@click.option(
    "--paxlst-version", default="D05B", show_default=True, type=click.Choice(PAXLST_VERSIONS)
)
@click.option(
    "--pnrgov-version", default="13.1", show_default=True, type=click.Choice(PNRGOV_VERSIONS)
)
@click.option(
    "--prevalence",
    default=DEFAULT_PREVALENCE,
    show_default=True,
    type=click.FloatRange(min=0.0, max=0.1, min_open=True),
    help="Share of arrivals truly involved in a planted pattern.",
)
@click.option(
    "--mess-share",
    default=0.02,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of message files written with real-world mess.",
)
@click.option(
    "--share",
    "shares",
    multiple=True,
    metavar="NAME=VALUE",
    help="Pattern share of the prevalence budget, or confounder instances per 1,000 arrivals.",
)
@click.option(
    "--min-per-pattern",
    default=None,
    type=click.IntRange(min=0),
    help="Instances of each pattern/confounder guaranteed per current night "
    "[default: 1 at the default prevalence or above, else 0].",
)
@click.option("--force", is_flag=True, help="Replace an existing world in --out.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def synth(
    out: Path,
    seed: int,
    nights: int,
    arrivals: int,
    history_nights: int,
    history_arrivals: int | None,
    start: dt.datetime,
    paxlst_version: str,
    pnrgov_version: str,
    prevalence: float,
    mess_share: float,
    shares: tuple[str, ...],
    min_per_pattern: int | None,
    force: bool,
    fmt: str,
) -> None:
    """Write a synthetic world: PAXLST/PNRGOV per night, history with outcomes, case DB, truth."""
    patterns, confounders = _shares(shares)
    cfg = WorldConfig(
        seed=seed,
        nights=nights,
        arrivals=arrivals,
        history_nights=history_nights,
        history_arrivals=history_arrivals,
        start=start.date(),
        paxlst_version=paxlst_version,
        pnrgov_version=pnrgov_version,
        prevalence=prevalence,
        mess_share=mess_share,
        pattern_shares=tuple(patterns.items()),
        confounder_rates=tuple(confounders.items()),
        min_per_pattern=min_per_pattern,
    )
    generate_world(out, cfg, force=force)
    summary = summarize_world(out)
    if fmt == "json":
        click.echo(json.dumps(summary, sort_keys=True))
        return
    for line in summary_lines(out, summary):
        click.echo(line)
