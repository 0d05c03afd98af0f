"""The fast columnar reader against the tolerant reader, file by file.

For every file it reads, :func:`apiflag.edifact.fast.read_fast` must give exactly the warehouse
columns, message metadata, drop counts and message count that the tolerant reader's records
give once ingest converts them; and it must leave to the tolerant reader every file that reader
warns about, quarantines records of, or refuses. Inputs: the goldens worlds, the hand-written
and real-world fixtures, and synthetic worlds of both versions with a high mess share.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tarfile
from pathlib import Path

import pytest

from apiflag.carrier_quality import file_rows
from apiflag.edifact import fast, parse_bytes
from apiflag.edifact.fast import file_columns, read_fast, tolerant_columns
from apiflag.errors import ParseError
from apiflag.synth.world import WorldConfig, generate_world

DATA = Path(__file__).parent / "data"
NIGHT = dt.date(2026, 11, 20)


def _goldens() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(DATA / "goldens" / "world_parse.tar.gz") as tar:
        for member in tar.getmembers():
            fh = tar.extractfile(member) if member.isfile() else None
            if fh is not None and member.name.startswith("in/"):
                out[member.name] = fh.read()
    return out


GOLDENS = _goldens()
FIXTURES = sorted(
    p for p in (DATA / "messages").rglob("*") if p.is_file() and p.suffix in (".edi", ".txt")
)


def _same(data: bytes, file: str, night: dt.date = NIGHT) -> bool:
    """Assert the fast reader agrees with the tolerant one; return whether it read the file."""
    sha = hashlib.sha256(data).hexdigest()
    fast = read_fast(data, file, sha, night)
    try:
        slow = tolerant_columns(data, file, sha, night, parse_bytes)
    except ParseError:
        assert fast is None, f"{file}: the fast reader read a file the tolerant reader refuses"
        return False
    if fast is None:
        return False
    parsed = parse_bytes(data, file)
    assert parsed.warnings == [] and parsed.lost == [], f"{file}: fast read a file with warnings"
    assert parsed.degraded == 0, f"{file}: fast read a file with degraded travellers"
    assert file_rows(file, sha, fast.parsed) == file_rows(file, sha, parsed), file
    assert (fast.kind, fast.dropped, fast.messages) == (slow.kind, slow.dropped, slow.messages)
    assert fast.batch.metas == slow.batch.metas, file
    for table, columns in slow.batch.cols.items():
        for column, values in columns.items():
            assert fast.batch.cols[table][column] == values, f"{file}: {table}.{column}"
    return True


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_goldens_fast_equals_tolerant(name: str) -> None:
    _same(GOLDENS[name], name)


def test_goldens_are_read_both_ways() -> None:
    fast = [name for name, data in GOLDENS.items() if _same(data, name)]
    assert 0 < len(fast) < len(GOLDENS)  # plain files fast, messy ones (mess 0.4) tolerant


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(DATA)))
def test_fixtures_fast_equals_tolerant(path: Path) -> None:
    _same(path.read_bytes(), path.name)


@pytest.fixture(scope="module", params=[("D05B", "13.1", 5), ("D02B", "11.1", 9)])
def messy_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    paxlst, pnrgov, seed = request.param
    out = tmp_path_factory.mktemp("fast") / "world"
    config = WorldConfig(
        seed=seed, arrivals=1500, history_nights=0, mess_share=0.5,
        paxlst_version=paxlst, pnrgov_version=pnrgov,
    )  # fmt: skip
    generate_world(out, config)
    return out


def test_messy_worlds_fast_equals_tolerant(messy_world: Path) -> None:
    files = sorted(messy_world.glob("nights/*/*/*.edi"))
    fast = [f for f in files if _same(f.read_bytes(), f.name, dt.date.fromisoformat(f.parts[-3]))]
    assert len(files) > 20
    assert len(files) // 4 < len(fast) < len(files)  # half the files are messy


PLAIN = (
    "UNA:+.? 'UNB+UNOA:4+ZGAPIS:ZZ+JPNAPIS:ZZ+261120:0315+A1++APIS'\n"
    "UNH+P1+PAXLST:D:05B:UN:IATA'\nBGM+745'\nTDT+20+ZG21+++ZG'\nLOC+125+BKK'\n"
    "DTM+189:2611200010:201'\nLOC+87+NRT'\nDTM+232:2611200815:201'\n"
    "NAD+FL+++O?'BRIEN:MARY ANN'\nATT+2++F'\nDTM+329:900101'\nNAT+2+IRL'\n"
    "DOC+P:110:111+PA1234567'\nDTM+36:300101'\nLOC+91+IRL'\n"
    "NAD+FL+++SATO:YUKI'\nATT+2++F'\nDTM+329:050602'\nNAT+2+JPN'\nFTX+AAI+++MEAL'\n"
    "CNT+42:2'\nUNT+21+P1'\nUNZ+1+A1'\n"
)


def test_a_plain_file_with_released_apostrophes_is_read_fast() -> None:
    data = PLAIN.encode()
    assert _same(data, "plain.edi")
    fast = read_fast(data, "plain.edi", "0" * 64, NIGHT)
    assert fast is not None
    assert fast.batch.cols["travellers"]["surname"] == ["O'BRIEN", "SATO"]
    assert fast.dropped == {"FTX:AAI": 1}


PNR_PLAIN = (
    "UNA:+.? 'UNB+IATA:1+QK+JPNPNR+261121:0335+QK1'\n"
    "UNH+1+PNRGOV:11:1:IA+QK6226/211126/0315'\nMSG+:22'\nORG+QK:BKK'\n"
    "TVL+211126:0315:211126:0515+BKK+NGO+QK+6226'\nEQN+1'\nSRC'\n"
    "RCI+QK:0JB362::161126:0315'\nDAT+700:161126:0315'\n"
    "IFT+4:28::QK+CTCM ?+81 90 9559 6464'\nIFT+4:28::QK+CTCE kaewkla927//example.com'\n"
    "TIF+KAEWKLA+PIMCHANOK DARAMS:A:1'\n"
    "SSR+DOCS:HK:1:QK:::::/P/THA/P44244414/THA/11NOV83/F/01JAN30/KAEWKLA/PIMCHANOK/DARA'\n"
    "SSR+VGML:HK:1:QK'\nFOP+CC::1300.00:VI:4111XXXXXXXX1111:0129'\n"
    "IFT+4:43+PIMCHANOK DARA KAEWKLA+?+66 81 234 5678'\nTIF+KAEWKLA+SOMCHAI MR:A:2'\n"
    "TVL+211126:0315:211126:0515+BKK+NGO+QK+6226:Y'\nUNT+18+1'\nUNZ+1+QK1'\n"
)


def test_a_plain_push_with_released_plus_signs_is_read_fast() -> None:
    data = PNR_PLAIN.encode()
    assert _same(data, "push.edi", dt.date(2026, 11, 21))
    fast = read_fast(data, "push.edi", "0" * 64, dt.date(2026, 11, 21))
    assert fast is not None
    cols = fast.batch.cols
    assert cols["booking_contacts"]["value"][0] == "+819095596464"
    assert cols["payments"]["payer_phone"] == ["+66812345678"]
    assert cols["pnr_travellers"]["title"] == ["MS", "MR"]
    assert fast.dropped == {"VGML": 1}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("UNA:+.? '", "ZCZC 123\nUNA:+.? '"),  # a telex header
        ("MARY ANN", "MARY?:ANN"),  # a released component separator
        ("CNT+42:2", "CNT+42:3"),  # W_CNT_MISMATCH
        ("NAT+2+JPN", "NAT+2+JAPAN"),  # a value read as null with a warning
        ("ATT+2++F'\nDTM+329:050602", "ATT+2++F'\nXYZ+1'\nDTM+329:050602"),  # unknown segment
        ("UNT+21+P1", "UNT+20+P1"),  # W_SEGMENT_COUNT
        ("UNZ+1+A1'\n", "UNZ+1+A1'\nthis message is confidential\n"),  # W_TRAILING_TEXT
        ("SATO:YUKI", "SATO :YUKI"),  # a blank the tolerant reader strips
        ("+P1+PAXLST", "+P1+PAXLST:D:05B:UN:IATA+REF+01:C'\nBGM+745'\nUNT+3+P0'\nUNH+P1+PAXLST"),
    ],
)
def test_what_the_fast_reader_leaves_to_the_tolerant_reader(old: str, new: str) -> None:
    assert old in PLAIN
    data = PLAIN.replace(old, new, 1).encode()
    assert read_fast(data, "x.edi", "0" * 64, NIGHT) is None
    columns = file_columns(data, "x.edi", "0" * 64, NIGHT, parse_bytes)
    assert not columns.fast


def test_a_failure_inside_the_fast_reader_leaves_the_file_to_the_tolerant_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the fast reader")

    monkeypatch.setattr(fast, "read_manifest", broken)
    data = PLAIN.encode()
    columns = file_columns(data, "plain.edi", "0" * 64, NIGHT, parse_bytes)
    assert not columns.fast
    assert columns.batch.cols["travellers"]["surname"] == ["O'BRIEN", "SATO"]
