"""Mutation property: damaging one spot of a file never loses another traveller.

Real EDIFACT files (two synthetic worlds, PAXLST D05B/D02B and PNRGOV 13.1/11.1 with a third
of their files messy, plus the hand-written and real-world fixtures) are damaged at one spot
each, in the named classes of :mod:`mutation_helpers`. For every class:

* no exception but :class:`~apiflag.errors.ParseError`, and that only where the damage hits
  the envelope (a header segment);
* at least 99 % of the travellers the damage does not touch load with identical values
  (their whole parse-contract row, segment number aside);
* a cut file loads no row that differs from the whole file's (nothing half read); re-wrapped
  lines change no row at all; a dropped or repeated segment inside a record and a cut are
  reported (a warning or a quarantined record).

The default suite runs about 500 mutants, the slow suite 10,000+. Both are seeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiflag.edifact import parse_bytes
from mutation_helpers import (
    BAD_COUNTRIES,
    BAD_DATES,
    BAD_NUMBERS,
    BAD_SEXES,
    BAD_TIMES,
    CLASSES,
    Base,
    ClassStats,
    Mutant,
    check,
    corpus,
    mutants,
    report,
    run,
    write_worlds,
)

FIXTURES = Path(__file__).parent / "data" / "messages"
MIN_SHARE = 0.99


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_worlds(tmp_path_factory.mktemp("mutation-worlds"))


@pytest.fixture(scope="module")
def small(worlds: list[Path]) -> list[Base]:
    """The corpus of the default suite: the fixtures and the worlds' files up to 16 kB."""
    return corpus(worlds, FIXTURES, 16_000)


def _assert_property(stats: dict[str, ClassStats], per_class: int) -> None:
    table = report(stats)
    for cls, s in stats.items():
        assert s.mutants >= per_class, f"{cls}: only {s.mutants} mutants\n{table}"
        assert s.untouched > 0, f"{cls}: no untouched traveller to check\n{table}"
        assert not s.failures, f"{cls}: {s.failures[0]}\n{table}"
        assert s.share >= MIN_SHARE, f"{cls}: {s.share:.4f} of untouched travellers\n{table}"


def test_the_corpus_covers_both_kinds_every_version_and_the_messy_layouts(
    small: list[Base],
) -> None:
    bases = small
    versions = {json.loads(b.keys[0])["source"]["version"] for b in bases}
    assert {"D05B", "D02B", "13.1", "11.1"} <= versions
    texts = [b.text for b in bases]
    assert any("\x01" in t for t in texts)  # a telex header
    assert any("UNA" in t and "UNA:+.? '" not in t for t in texts)  # other separators
    assert any(b.name.startswith("messages/real/") for b in bases)
    for cls in CLASSES:
        assert any(m.cls == cls for _, m in mutants(bases, len(CLASSES), 0))


def test_damaging_one_spot_loses_no_other_traveller(small: list[Base]) -> None:
    """About 500 mutants (42 per class) on the small files: the default gate."""
    stats = run(small, 42 * len(CLASSES), seed=2026)
    _assert_property(stats, 42)


@pytest.mark.slow
def test_damaging_one_spot_loses_no_other_traveller_10k(worlds: list[Path]) -> None:
    """10,200 mutants (850 per class) on every file of both worlds and the fixtures."""
    stats = run(corpus(worlds, FIXTURES), 850 * len(CLASSES), seed=11)
    _assert_property(stats, 850)


def test_the_harness_sees_a_lost_neighbour(small: list[Base]) -> None:
    """A mutant that deletes another record than the one it says it touches is caught."""
    base = next(b for b in small if b.kind == "PAXLST" and len(b.records) > 3)
    victim, neighbour = base.records[1], base.records[2]
    start = base.segments[neighbour.first].start
    stop = base.segments[neighbour.last].stop
    text = base.text[:start] + base.text[stop:]
    lying = Mutant(
        "dropped_segment", "a whole other record", base.encode(text), frozenset(victim.rows)
    )
    stats = ClassStats()
    check(base, lying, stats)
    assert stats.survived == stats.untouched - len(neighbour.rows)
    assert stats.share < 1.0


def test_the_harness_flags_a_row_a_cut_file_half_read(small: list[Base]) -> None:
    """An exact mutant (a cut) whose rows differ from the whole file's is a breach."""
    base = next(b for b in small if b.kind == "PAXLST" and len(b.records) > 3)
    seg = next(
        s for s in base.segments if s.tag == "DTM" and s.qualifier() == "329"
    )  # a birth date: the row changes
    text = base.text[: seg.start] + base.text[seg.stop :]
    changed = Mutant("truncation", "a birth date gone", base.encode(text), frozenset(), exact=True)
    stats = ClassStats()
    check(base, changed, stats)
    assert any("not in the base" in f for f in stats.failures)


def test_mutants_are_deterministic(small: list[Base]) -> None:
    bases = small
    first = [(m.cls, m.detail, m.data) for _, m in mutants(bases, 60, seed=5)]
    again = [(m.cls, m.detail, m.data) for _, m in mutants(bases, 60, seed=5)]
    assert first == again
    assert all(m.data != b.data for b, m in mutants(bases, 60, seed=5))


def test_no_damaged_value_is_repeated_in_a_warning_or_a_loss(small: list[Base]) -> None:
    """Warnings and losses name a value's class, never the value (it may be personal data).

    Every message a value mutant adds (its new warnings and record losses) is scanned for the
    damaged values the mutants write and for the surnames of the base's travellers.
    """
    damaged = [
        v
        for v in (*BAD_DATES, *BAD_TIMES, *BAD_SEXES, *BAD_COUNTRIES, *BAD_NUMBERS)
        if len(v) >= 4  # shorter ones ("0", "XX") are in any text
    ]
    scanned = 0
    for base, mutant in mutants(small, 40 * len(CLASSES), seed=17):
        if not mutant.cls.startswith("value_"):
            continue
        parsed = parse_bytes(mutant.data, base.name)
        new = (set(parsed.warnings) - set(base.warnings)) | (
            {str(x) for x in parsed.lost} - set(base.lost)
        )
        names = {json.loads(k)["surname"] for k in base.keys} - {None}
        for line in new:
            scanned += 1
            for value in (*damaged, *(n for n in names if len(n) >= 4)):
                assert value not in line, f"{value!r} repeated: {line} ({mutant.detail})"
    assert scanned >= 100  # the value mutants did make the reader speak
