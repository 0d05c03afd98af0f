"""Per-carrier data quality: ingest stores what ``apiflag conformance`` counts, night after
night, and the nightly report names a carrier whose share of degraded or quarantined traveller
records rose above the report's rule against its median over its earlier nights.

Every night is real EDIFACT text: passenger lists written by the synthetic world's writer
(:func:`apiflag.synth.render.render_paxlst`), damaged the way real feeds are (a birth date that
is not a date, a traveller without a surname), then ingested with :func:`ingest_night`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from apiflag import carrier_quality, ingest, warehouse
from apiflag.carrier_quality import DropRule, carrier_trends
from apiflag.cli import cli
from apiflag.report import build_report
from apiflag.report.nightly import CARRIER_DROP
from apiflag.synth.render import render_paxlst
from ingest_helpers import api_traveller, leg, manifest
from queue_helpers import small_night

TONIGHT = dt.date(2026, 11, 21)
HISTORY = [TONIGHT - dt.timedelta(days=d) for d in range(7, 0, -1)]  # 2026-11-14 .. 11-20
BAD_DATE = "75Q3XX"  # six characters that are no date: read as null, the traveller degraded

# carrier -> (flight number, passengers per night, damaged birth dates per history night,
#             tonight's damaged birth dates, tonight's travellers without a surname)
PLAN: dict[str, tuple[str, int, list[int], int, int]] = {
    # steady: never damaged before; tonight 4 of 40 = +10.0 points, exactly the rule, not more
    "QK": ("21", 40, [0, 0, 0, 0, 0, 0, 0], 4, 0),
    # degrading: median 2.5 % (1 of 40), tonight 5 dates + 1 record lost = 6 of 40 = 15 %
    "ZG": ("77", 40, [1, 1, 2, 1, 1, 1, 0], 5, 1),
    # small: 5 a night, tonight 2 of 5 damaged: too few records to compare, said so
    "SM": ("5", 5, [0, 0, 0, 0, 0, 0, 0], 2, 0),
}
NEW = ("NX", "808", 35)  # flies for the first time tonight


def _paxlst(carrier: str, number: str, night: dt.date, n: int, bad: int, nameless: int) -> str:
    """A passenger list of ``n`` travellers, ``bad`` birth dates damaged, ``nameless`` without
    a surname (the record cannot be read and is quarantined)."""
    people = [
        api_traveller(
            f"TRAVELLER{chr(65 + i // 26)}{chr(65 + i % 26)}",
            "ANNA MARIE",
            dt.date(1960, 1, 1) + dt.timedelta(days=397 * i + ord(carrier[0])),
            f"{carrier}{i:04d}",
            i + 1,
            doc=f"{carrier}{night:%m%d}{i:04d}",
        )
        for i in range(n)
    ]
    flight = leg(
        number,
        carrier,
        departure=dt.datetime.combine(night, dt.time(0, 5)),
        arrival=dt.datetime.combine(night, dt.time(8, 10)),
    )
    text = render_paxlst(manifest(people, flight, ref=f"{carrier}{night:%d}"))
    for t in people[:bad]:
        dob = t.date_of_birth
        assert dob is not None
        old = f"DTM+329:{dob:%y%m%d}'"
        assert text.count(old) == 1
        text = text.replace(old, f"DTM+329:{BAD_DATE}'")
    for t in people[bad : bad + nameless]:
        text, n_sub = re.subn(rf"NAD\+FL\+\+\+{t.surname}:", "NAD+FL+++:", text)
        assert n_sub == 1
    return text


def _write_night(root: Path, night: dt.date, index: int | None) -> Path:
    """The night folder: every carrier of PLAN, and NX tonight (``index`` None)."""
    folder = root / night.isoformat() / "paxlst"
    folder.mkdir(parents=True)
    for carrier, (number, n, history, bad_tonight, nameless) in PLAN.items():
        bad = bad_tonight if index is None else history[index]
        lost = nameless if index is None else 0
        text = _paxlst(carrier, number, night, n, bad, lost)
        (folder / f"{carrier}{number}_BKK_pax.edi").write_text(text)
    if index is None:
        carrier, number, n = NEW
        (folder / f"{carrier}{number}_BKK_pax.edi").write_text(
            _paxlst(carrier, number, night, n, 0, 0)
        )
    return folder.parent


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    """Seven history nights and tonight, each ingested from its own folder."""
    for i, night in enumerate(HISTORY):
        ingest.ingest_night(night, _write_night(tmp_path, night, i), workers=1)
    ingest.ingest_night(TONIGHT, _write_night(tmp_path, TONIGHT, None), workers=1)
    return tmp_path


def test_the_degrading_carrier_is_named_the_steady_one_is_not(nights: Path) -> None:
    quality = carrier_trends(TONIGHT, CARRIER_DROP)
    by = {t.carrier: t for t in quality.trends}
    assert set(by) == {"QK", "ZG", "SM", "NX"}
    zg = by["ZG"]
    assert (zg.status, zg.travellers, zg.lost) == ("dropped", 40, 6)
    assert zg.median == pytest.approx(0.025)
    assert zg.nights == tuple(reversed(HISTORY))  # most recent first, the median is over these
    qk = by["QK"]  # +10.0 points is the rule's edge: named only when *more* than 10
    assert (qk.status, qk.lost, qk.median) == ("steady", 4, 0.0)
    assert (by["SM"].status, by["SM"].travellers, by["SM"].lost) == ("few", 5, 2)
    assert (by["NX"].status, by["NX"].nights) == ("new", ())

    # the same nights under a rule one point stricter name QK as well: the rule decides
    stricter = dataclasses.replace(CARRIER_DROP, rise_points=CARRIER_DROP.rise_points - 1)
    named = {t.carrier for t in carrier_trends(TONIGHT, stricter).of("dropped")}
    assert named == {"QK", "ZG"}

    night = small_night(TONIGHT)
    path, markdown = build_report(
        TONIGHT, night.combine(capacity=2), night.travellers, carriers=quality, plot=False
    )
    html = path.read_text()
    section = html[html.index("<h2>Data quality</h2>") :]
    sentence = (
        "carrier ZG: 15.0 % of its 40 traveller records tonight degraded or quarantined (6), "
        "against a median of 2.5 % over its 7 earlier nights from 2026-11-14 to 2026-11-20"
    )
    for text in (section, markdown):
        assert sentence in text
        assert "carrier QK:" not in text and "carrier SM:" not in text
        assert "NX (0 earlier nights; tonight 0.0 % of 35 records degraded or quarantined)" in text
        assert "too few traveller records tonight to compare (under 30): SM (2 of 5" in text
        assert (
            "(rule: share of traveller records degraded or quarantined tonight more than 10 "
            "percentage points above its own median over its last 30 earlier nights with "
            "records; at least 7 such nights and 30 records tonight)"
        ) in text
    assert '<div class="warn"><b>Carriers whose data quality dropped</b>' in section


def test_a_steady_night_names_no_carrier(nights: Path, tmp_path: Path) -> None:
    """Tonight again, but every carrier as on its usual nights: nobody is named."""
    calm = tmp_path / "calm"
    folder = _write_night(calm, TONIGHT, 6)
    ingest.ingest_night(TONIGHT, folder, workers=1)
    quality = carrier_trends(TONIGHT, CARRIER_DROP)
    assert quality.of("dropped") == []
    assert {t.carrier: t.status for t in quality.trends} == {
        "QK": "steady",
        "ZG": "steady",
        "SM": "few",
    }
    assert quality.named_notes() == []
    assert quality.other_notes()[0].startswith(
        "per-carrier data quality: no carrier's share of traveller records degraded or "
        "quarantined rose more than 10 percentage points above its median (2 carriers compared)"
    )


def test_the_median_is_over_the_last_window_nights_with_records(nights: Path) -> None:
    """A window of 3 takes the 3 most recent earlier nights; too little history is new."""
    rule = DropRule(min_travellers=30, rise_points=10.0, window=3, min_history=3, lookback_days=180)
    zg = next(t for t in carrier_trends(TONIGHT, rule).trends if t.carrier == "ZG")
    assert zg.nights == (HISTORY[-1], HISTORY[-2], HISTORY[-3])
    assert zg.median == pytest.approx(0.025)  # 0 %, 2.5 %, 2.5 %
    short = dataclasses.replace(rule, lookback_days=2)  # only two earlier nights in reach
    assert {t.status for t in carrier_trends(TONIGHT, short).trends} == {"new"}


def test_a_night_ingested_without_the_tables_says_so(nights: Path) -> None:
    (warehouse.night_dir(TONIGHT) / "carrier_quality.parquet").unlink()
    quality = carrier_trends(TONIGHT, CARRIER_DROP)
    assert not quality.stored and quality.trends == ()
    assert "no counts stored for night 2026-11-21" in quality.notes()[0]


# --------------------------------------------------------------------------- reconciliation


def _conformance(files: list[Path]) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["conformance", "--format", "json", *map(str, files)])
    assert result.exit_code in (0, 1), result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture
def messy_night(tmp_path: Path) -> Path:
    """A synthetic night with a fifth of the files messy, plus damage of every kind."""
    out = tmp_path / "w"
    args = ["synth", "--out", str(out), "--seed", "4", "--arrivals", "200"]
    args += ["--history-nights", "0", "--mess-share", "0.2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    folder = out / "nights" / "2026-11-20"
    pax = sorted((folder / "paxlst").glob("*_pax.edi"))
    text = pax[0].read_text()
    dates = re.findall(r"DTM.329.(\d{6})", text)
    assert dates
    (folder / "paxlst" / "ZD1_BAD_pax.edi").write_text(text.replace(dates[0], BAD_DATE, 1))
    lines = pax[-1].read_bytes().splitlines(keepends=True)
    (folder / "paxlst" / "ZZ1_CUT_pax.edi").write_bytes(b"".join(lines[: len(lines) // 2]))
    pnr = sorted((folder / "pnrgov").iterdir())
    pnr_lines = pnr[0].read_bytes().splitlines(keepends=True)
    (folder / "pnrgov" / "ZZ2_CUT_t72.edi").write_bytes(b"".join(pnr_lines[: len(pnr_lines) // 3]))
    (folder / "paxlst" / "mail.txt").write_text("Dear colleague, the list follows.\n")
    shutil.copy(pax[1], folder / "paxlst" / "ZR1_RESENT_pax.edi")  # identical resend
    return folder


def test_the_stored_counts_reconcile_with_apiflag_conformance(messy_night: Path) -> None:
    night = dt.date(2026, 11, 20)
    report = ingest.ingest_night(night, messy_night, workers=1)
    files = sorted(p for sub in ("paxlst", "pnrgov") for p in (messy_night / sub).iterdir())
    distinct = [p for p in files if p.name != "ZR1_RESENT_pax.edi"]  # ingest reads it once
    doc = _conformance(distinct)
    assert doc["summary"]["refused"] == 1  # mail.txt: refused whole, in ingest's quarantine

    quality = warehouse.read_table(night, "carrier_quality")
    deviations = warehouse.read_table(night, "carrier_deviations")
    rel = {str(p): f"{p.parent.name}/{p.name}" for p in distinct}
    expected_q, expected_d = [], []
    for f in doc["files"]:
        for c in f["carriers"]:
            t = c["travellers"]
            expected_q.append(
                (rel[f["file"]], c["carrier"], c["messages"], c["declared"],
                 t["clean"], t["degraded"], t["quarantined"])
            )  # fmt: skip
            for d in c["deviations"]:
                expected_d.append(
                    (rel[f["file"]], c["carrier"], d["tag"], d["code"], d["field"], d["count"],
                     d["travellers"], d["first_segments"][0])
                )  # fmt: skip
    cols = ["file", "carrier", "messages", "declared", "clean", "degraded", "quarantined"]
    got_q = [
        tuple(None if pd.isna(v) else v for v in row)
        for row in quality[cols].astype(object).itertuples(index=False, name=None)
    ]
    assert sorted(got_q, key=str) == sorted(expected_q, key=str)
    dcols = ["file", "carrier", "tag", "code", "field", "count", "travellers", "segment"]
    got_d = [
        tuple(None if pd.isna(v) else v for v in row)
        for row in deviations[dcols].astype(object).itertuples(index=False, name=None)
    ]
    assert sorted(got_d, key=str) == sorted(expected_d, key=str)

    # the damage is there to be counted: degraded, quarantined, truncation, trailing text
    assert quality["degraded"].sum() >= 1 and quality["quarantined"].sum() >= 2
    assert {"W_BAD_VALUE", "E_TRUNCATED"} <= set(deviations["code"])
    assert "ZR1_RESENT_pax.edi" not in " ".join(quality["file"])
    assert "paxlst/mail.txt" in set(warehouse.read_table(night, "quarantine")["file"])

    # the night's totals per carrier in reconciliation.json = conformance's summary
    summary = {c["carrier"]: c for c in doc["summary"]["carriers"]}
    totals: Counter[str] = Counter()
    for c in doc["summary"]["carriers"]:
        totals.update(c["travellers"])
    assert (
        f"carriers {len(summary)}: traveller records clean {totals['clean']}, "
        f"degraded {totals['degraded']}, quarantined {totals['quarantined']}\n"
    ) in report.render()
    stored = json.loads((warehouse.night_dir(night) / "reconciliation.json").read_text())
    assert stored["carriers"] == report.reconciliation["carriers"]
    assert {c["carrier"] for c in stored["carriers"]} == set(summary)
    for c in stored["carriers"]:
        s = summary[c["carrier"]]
        assert (c["clean"], c["degraded"], c["quarantined"], c["travellers"]) == (
            s["travellers"]["clean"], s["travellers"]["degraded"],
            s["travellers"]["quarantined"], s["travellers"]["total"],
        )  # fmt: skip
        assert (c["files"], c["messages"]) == (s["files"], s["messages"])
        if c["files_without_count"] == 0:
            assert c["declared"] == s["declared"]
        codes: Counter[str] = Counter()
        for d in s["deviations"]:
            codes[d["code"]] += d["count"]
        assert c["deviations"] == dict(codes)


def test_carriers_add_up_to_the_file(messy_night: Path) -> None:
    """Over one file the carriers' figures are the reader's own totals for it."""
    from apiflag.edifact import parse_bytes
    from apiflag.edifact.carriers import account_parsed

    for path in sorted(messy_night.glob("*/*.edi")):
        parsed = parse_bytes(path.read_bytes(), path.name)
        accounts = account_parsed(parsed)
        assert sum(a.clean + a.degraded for a in accounts) == parsed.travellers, path.name
        assert sum(a.degraded for a in accounts) == parsed.degraded, path.name
        assert sum(a.quarantined for a in accounts) == parsed.quarantined, path.name
        assert sum(a.messages for a in accounts) >= parsed.messages, path.name
        declared = [a.declared for a in accounts]
        total = None if None in declared else sum(d for d in declared if d is not None)
        assert total == parsed.declared, path.name
        rows = carrier_quality.file_rows(path.name, "0" * 64, parsed)["carrier_quality"]
        assert [(r["carrier"], r["clean"], r["degraded"], r["quarantined"]) for r in rows] == [
            (a.carrier, a.clean, a.degraded, a.quarantined) for a in accounts
        ]


def test_thirty_night_median_with_the_report_rule(tmp_path: Path) -> None:
    """32 earlier nights: the median is over the last 30 only, as CARRIER_DROP says."""
    assert CARRIER_DROP.window == 30
    earlier = [TONIGHT - dt.timedelta(days=d) for d in range(32, 0, -1)]
    # the two oldest nights 10 % (4 of 40); of the last 30, 16 clean and 14 at 2.5 % (1 of 40):
    # the median over 30 is 0 %, over all 32 it would be 1.25 %
    damaged = [4, 4] + [0, 1] * 14 + [0, 0]
    for night, bad in [*zip(earlier, damaged, strict=True), (TONIGHT, 5)]:
        folder = tmp_path / night.isoformat() / "paxlst"
        folder.mkdir(parents=True)
        (folder / "ZG77_BKK_pax.edi").write_text(_paxlst("ZG", "77", night, 40, bad, 0))
        ingest.ingest_night(night, folder.parent, workers=1)
    (zg,) = carrier_trends(TONIGHT, CARRIER_DROP).trends
    assert zg.nights == tuple(reversed(earlier[2:]))
    assert zg.median == 0.0
    assert (zg.status, zg.lost, zg.travellers) == ("dropped", 5, 40)  # 12.5 % > 0 % + 10
    (line,) = carrier_trends(TONIGHT, CARRIER_DROP).named_notes()
    assert line.endswith("median of 0.0 % over its 30 earlier nights from 2026-10-22 to 2026-11-20")
