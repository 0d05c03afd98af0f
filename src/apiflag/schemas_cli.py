"""``apiflag schemas export|check``: one JSON Schema per record contract, kept in ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from apiflag.errors import ApiflagError
from apiflag.records import RECORDS


def render_schemas() -> dict[str, str]:
    """Return ``{file name: JSON Schema text}`` for every record in :data:`RECORDS`."""
    out = {}
    for name, model in sorted(RECORDS.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"https://apiflag.invalid/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def stale_schemas(folder: Path) -> list[str]:
    """Return the schema files in ``folder`` that are missing, changed or no longer wanted."""
    wanted = render_schemas()
    stale = [
        n
        for n, text in wanted.items()
        if not (folder / n).is_file() or (folder / n).read_text(encoding="utf-8") != text
    ]
    extra = [p.name for p in folder.glob("*.schema.json") if p.name not in wanted]
    return sorted(stale + extra)


@click.group()
def schemas() -> None:
    """Export or check the JSON Schemas of the data contracts."""


@schemas.command("export")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Folder to write into.",
)
def export(out: Path) -> None:
    """Write one JSON Schema per record into OUT."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = render_schemas()
    for old in out.glob("*.schema.json"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        (out / name).write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(wanted)} schemas to {out}")


@schemas.command("check")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
def check(folder: Path) -> None:
    """Exit 1 when the schema files in DIR are out of date."""
    stale = stale_schemas(folder)
    if stale:
        raise ApiflagError(
            f"{folder}: out of date: {', '.join(stale)} (run apiflag schemas export)"
        )
    click.echo(f"{folder}: {len(render_schemas())} schemas in sync")
