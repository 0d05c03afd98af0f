"""``apiflag rules``: lint the catalogue, evaluate a night, write the catalogue report.

``lint`` exits 1 when any file is refused (one line per finding: file, rule, code, why), 0 when
the catalogue is clean. ``evaluate`` writes ``rule_hits.parquet`` for a night (temp file, then
rename). ``report`` measures the catalogue on a night and writes markdown.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from apiflag import atomic
from apiflag.errors import ApiflagError, UsageError

__all__ = ["rules"]


def _date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc


@click.group()
def rules() -> None:
    """Transparent rules: lint the catalogue, evaluate a night, report on the catalogue."""


@rules.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--today", help="Refuse review dates before this day (default: today, UTC).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def lint(paths: tuple[Path, ...], today: str | None, fmt: str) -> None:
    """Check rule files or folders (default: the catalogue): schema, fields, examples, dates.

    Exit 0 when clean, 1 with one line per problem otherwise.
    """
    from apiflag.rules.catalogue import default_rules_dir
    from apiflag.rules.lint import lint_paths

    day = _date(today, "--today") or dt.datetime.now(dt.UTC).date()
    targets = list(paths) or [default_rules_dir()]
    report = lint_paths(targets, today=day)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "rules": len(report.rules),
                    "findings": report.table().to_dict("records"),
                }
            )
        )
    else:
        for finding in report.findings:
            click.echo(finding.line(), err=True)
        if report.ok:
            click.echo(f"{len(report.rules)} rules: ok")
    if not report.ok:
        raise SystemExit(1)


@rules.command("evaluate")
@click.option("--night", required=True, help="Arrival night YYYY-MM-DD (reads features.parquet).")
@click.option("--rules-dir", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def evaluate_command(night: str, rules_dir: Path | None, fmt: str) -> None:
    """Evaluate the catalogue on a night's feature table and write rule_hits.parquet."""
    from apiflag.rules import run_rules

    _date(night, "--night")
    result = run_rules(night, rules_dir=rules_dir)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    summary = {
        "night": night,
        "rules_digest": result.rules_digest,
        "hits": len(result.hits),
        "evaluated": list(result.evaluated),
        "skipped": list(result.skipped),
        "warnings": list(result.warnings),
    }
    if fmt == "json":
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{night}: {len(result.hits)} hits from {len(result.evaluated)} rules "
            f"({len(result.skipped)} skipped), digest {result.rules_digest[:12]}"
        )


@rules.command("report")
@click.option(
    "--night", "nights", multiple=True, help="Night(s) with a feature table (default: all)."
)
@click.option(
    "--truth",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A synthetic world's truth/travellers.csv (or the world folder) for precision.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Markdown file to write."
)
@click.option("--rules-dir", type=click.Path(exists=True, path_type=Path), default=None)
def report_command(
    nights: tuple[str, ...], truth: Path | None, out: Path | None, rules_dir: Path | None
) -> None:
    """Write the catalogue report: per-rule hit rate, precision against truth, overlap."""
    import pandas as pd

    from apiflag import config
    from apiflag.rules.catalogue import load_catalogue
    from apiflag.rules.report import catalogue_report, truth_labels

    catalogue = load_catalogue([rules_dir] if rules_dir else None)
    chosen = list(nights) or sorted(
        p.name.removeprefix("night=")
        for p in config.warehouse_dir().glob("night=*")
        if (p / "features.parquet").exists()
    )
    if not chosen:
        raise ApiflagError(
            f"{config.warehouse_dir()}: no night has a features.parquet (run the nightly job)"
        )
    frames = []
    for night in chosen:
        _date(night, "--night")
        path = config.warehouse_dir(night) / "features.parquet"
        if not path.exists():
            raise ApiflagError(f"{path}: no feature table for night {night}")
        frames.append(pd.read_parquet(path))
    features = pd.concat(frames, ignore_index=True)
    labels = truth_labels(truth, chosen) if truth is not None else None
    text = catalogue_report(
        catalogue, features, labels=labels, night=max(chosen), source=f"nights {', '.join(chosen)}"
    )
    if out is None:
        click.echo(text)
    else:
        atomic.write_text(out, text, parents=False)
        click.echo(f"wrote {out}")
