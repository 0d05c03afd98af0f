"""Goldens: files that parsed before the reader was made tolerant still give the same rows.

The inputs and outputs were recorded from the reader of commit 6d85d7e on worlds written by the
writer of that commit (see tests/data/goldens/README.md), so this compares the reader against
its own past, not against today's writer.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from apiflag.edifact import contract_rows, parse_bytes

ARCHIVE = Path(__file__).parent / "data" / "goldens" / "world_parse.tar.gz"


def _load() -> dict[str, tuple[bytes, list[dict[str, object]]]]:
    inputs: dict[str, bytes] = {}
    outputs: dict[str, list[dict[str, object]]] = {}
    with tarfile.open(ARCHIVE) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            assert fh is not None
            data = fh.read()
            folder, name = member.name.split("/", 1)
            if folder == "in":
                inputs[name] = data
            elif folder == "out":
                rows = [json.loads(line) for line in data.decode().splitlines()]
                outputs[name.removesuffix(".jsonl")] = rows
    assert inputs.keys() == outputs.keys()
    return {name: (inputs[name], outputs[name]) for name in sorted(inputs)}


GOLDENS = _load()


def test_the_goldens_cover_both_formats_and_versions() -> None:
    versions = {row["source"]["version"] for _, rows in GOLDENS.values() for row in rows}  # type: ignore[index]
    assert {"D05B", "D02B", "13.1", "11.1"} <= versions
    assert sum(len(rows) for _, rows in GOLDENS.values()) > 1000


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_same_rows_as_before(name: str) -> None:
    data, expected = GOLDENS[name]
    parsed = parse_bytes(data, f"in/{name}")
    rows = contract_rows(parsed, f"in/{name}")
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert {key: got[key] for key in want} == want
