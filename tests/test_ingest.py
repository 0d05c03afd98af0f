"""Ingest of one night with hand-built records: archive, quarantine, push order, night filter,
reconciliation, idempotence and the CLI. The real parser's end-to-end runs are in
test_ingest_e2e.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from apiflag import config, ingest, warehouse
from apiflag.cli import cli
from apiflag.edifact.rows import MSG
from apiflag.errors import ApiflagError, ParseError
from ingest_helpers import (
    NIGHT,
    FakeParsed,
    FakeParser,
    api_traveller,
    booking,
    leg,
    manifest,
    pnr_message,
    pnr_traveller,
    write_night,
)

DOB = dt.date(2005, 6, 2)
T72 = dt.datetime(2026, 11, 18, 0, 5)
DEP = dt.datetime(2026, 11, 21, 0, 20)


@pytest.fixture
def parser(monkeypatch: pytest.MonkeyPatch) -> FakeParser:
    fake = FakeParser()
    monkeypatch.setattr(ingest.pool, "parse_bytes", fake)
    return fake


def _pax() -> FakeParsed:
    return FakeParsed(
        "PAXLST",
        manifests=[
            manifest(
                [
                    api_traveller("KAEWKLA", "PIMCHANOK DARA", DOB, "QKTT02", 24, doc="AC7654321"),
                    api_traveller("SATO", "YUKI", dt.date(1992, 10, 10), "QKTT03", 37, doc="TK1"),
                    api_traveller("CHAIYAPORN", "SOMCHAI", None, None, 11),
                ]
            )
        ],
        dropped={"VGML": 1},
        warnings=["segment 40: W_CNT_MISMATCH: CNT declares 4, 3 listed", "something odd"],
    )


def _crew() -> FakeParsed:
    crew = [api_traveller("PILOT", "ANN", None, None, 9, role="crew")]
    return FakeParsed("PAXLST", manifests=[manifest(crew, code="250", ref="C1")])


def _push(prepared: dt.datetime | None, given: str, push_type: str = "full") -> FakeParsed:
    b = booking("QKTT02", [pnr_traveller("1", "KAEWKLA", given, DOB, 12)], segment=7)
    return FakeParsed("PNRGOV", pnr_messages=[pnr_message([b], prepared, push_type)])


def _world(root: Path, parser: FakeParser, **extra: object) -> Path:
    files: dict[str, object] = {
        "paxlst/QK21_BKK_pax.edi": _pax(),
        "paxlst/QK21_BKK_crew.edi": _crew(),
        "pnrgov/QK21_BKK_t72.edi": _push(T72, "PIMCHANOK"),
        "pnrgov/QK21_BKK_dep.edi": _push(DEP, "PIMCHANOK DARA"),
    }
    files.update(extra)
    return write_night(root, parser, files)  # type: ignore[arg-type]


def test_a_night_loads_links_and_reconciles(tmp_path: Path, parser: FakeParser) -> None:
    report = ingest.ingest_night(NIGHT, _world(tmp_path / "w", parser), workers=1)
    r = report.reconciliation
    assert r["messages"] == {
        "arrived": 4,
        "resends": 0,
        "distinct": 4,
        "parsed": 4,
        "quarantined": 0,
        "balanced": True,
        "by_kind": {"PAXLST": 2, "PNRGOV": 2},
        "unh_messages": 0,  # the stand-in parser does not count UNH messages
        "other_night": 0,
    }
    travellers = warehouse.read_table(NIGHT, "travellers")
    assert list(travellers["surname"]) == ["PILOT", "KAEWKLA", "SATO", "CHAIYAPORN"]
    assert set(travellers["flight_id"]) == {"QK21-20261121"}
    k = travellers.set_index("surname").loc["KAEWKLA"]
    assert k["link_level"] == "exact" and k["link_confidence"] == 1.0
    assert k["document_number"] == "AC7654321"
    current = warehouse.read_table(NIGHT, "pnr_travellers")
    assert k["pnr_traveller_id"] == current["pnr_traveller_id"].item()
    assert r["links"]["passengers_linked"] == 1 and r["links"]["passengers_unlinked"] == 2
    assert r["flights"]["per_flight"][0]["cnt_ok"] is True
    assert r["sensitive_dropped"] == {"VGML": 1}
    assert r["parser_warnings"] == {"W_CNT_MISMATCH": 1, "W_OTHER": 1}
    saved = json.loads((warehouse.night_dir(NIGHT) / "reconciliation.json").read_text())
    assert saved == json.loads(report.to_json())
    assert "balanced" in report.render()


@pytest.mark.parametrize(
    ("t72", "dep", "winner"),
    [
        ((T72, "full"), (DEP, "full"), "dep"),
        ((DEP, "full"), (T72, "full"), "t72"),  # the file named t72 was prepared later
        ((DEP, "full"), (DEP, "changed"), "dep"),  # same minute: the changed push is later
        ((DEP, "changed"), (DEP, "full"), "t72"),
        ((None, "full"), (T72, "full"), "dep"),  # a push without a time counts as oldest
    ],
)
def test_later_push_supersedes_and_both_are_kept(
    tmp_path: Path,
    parser: FakeParser,
    t72: tuple[dt.datetime | None, str],
    dep: tuple[dt.datetime | None, str],
    winner: str,
) -> None:
    root = _world(
        tmp_path / "w",
        parser,
        **{
            "pnrgov/QK21_BKK_t72.edi": _push(t72[0], "T72", t72[1]),
            "pnrgov/QK21_BKK_dep.edi": _push(dep[0], "DEP", dep[1]),
        },
    )
    ingest.ingest_night(NIGHT, root, workers=1)
    every = warehouse.read_table(NIGHT, "pnr_travellers", current=False)
    assert sorted(every["given_names"]) == ["DEP", "T72"]
    assert list(warehouse.read_table(NIGHT, "pnr_travellers")["given_names"]) == [winner.upper()]
    bookings = warehouse.read_table(NIGHT, "bookings", current=False)
    assert sorted(bookings["push_seq"]) == [1, 2]
    assert bookings["superseded"].sum() == 1
    assert len(warehouse.read_table(NIGHT, "payments")) == 1
    assert len(warehouse.read_table(NIGHT, "documents", current=False)) == 4  # 2 API + 2 PNR
    assert len(warehouse.read_table(NIGHT, "documents")) == 3


def test_quarantine_keeps_the_night_going(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(
        tmp_path / "w",
        parser,
        **{
            "paxlst/ZZ9_XXX_pax.edi": ParseError("E_SEGMENT_COUNT", "UNT says 40, found 39", 41),
            "pnrgov/ZZ9_XXX_t72.edi": KeyError("TIF"),
        },
    )
    report = ingest.ingest_night(NIGHT, root, workers=1)
    m = report.reconciliation["messages"]
    assert (m["distinct"], m["parsed"], m["quarantined"], m["balanced"]) == (6, 4, 2, True)
    q = warehouse.read_table(NIGHT, "quarantine").set_index("file")
    assert q.loc["paxlst/ZZ9_XXX_pax.edi", "code"] == "E_SEGMENT_COUNT"
    assert q.loc["paxlst/ZZ9_XXX_pax.edi", "segment"] == 41
    assert q.loc["pnrgov/ZZ9_XXX_t72.edi", "code"] == ingest.E_INTERNAL
    assert "KeyError" in q.loc["pnrgov/ZZ9_XXX_t72.edi", "message"]
    copies = sorted(p.name for p in (warehouse.night_dir(NIGHT) / "quarantine").iterdir())
    assert copies == ["paxlst__ZZ9_XXX_pax.edi", "pnrgov__ZZ9_XXX_t72.edi"]
    assert (warehouse.night_dir(NIGHT) / "quarantine" / copies[0]).read_bytes() == (
        root / "nights" / NIGHT.isoformat() / "paxlst" / "ZZ9_XXX_pax.edi"
    ).read_bytes()
    assert len(warehouse.read_table(NIGHT, "travellers")) == 4
    assert "E_SEGMENT_COUNT" in report.render()


def test_empty_interchange_is_quarantined(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(tmp_path / "w", parser, **{"paxlst/EMPTY.edi": FakeParsed("PAXLST")})
    ingest.ingest_night(NIGHT, root, workers=1)
    assert list(warehouse.read_table(NIGHT, "quarantine")["code"]) == [ingest.E_EMPTY]


def test_identical_resends_are_archived_once_and_loaded_once(
    tmp_path: Path, parser: FakeParser
) -> None:
    root = _world(tmp_path / "w", parser)
    night = root / "nights" / NIGHT.isoformat()
    resend = night / "paxlst" / "QK21_BKK_pax_resend.edi"
    resend.write_bytes((night / "paxlst" / "QK21_BKK_pax.edi").read_bytes())
    report = ingest.ingest_night(NIGHT, root, workers=1)
    m = report.reconciliation["messages"]
    assert (m["arrived"], m["resends"], m["distinct"], m["parsed"]) == (5, 1, 4, 4)
    assert len(warehouse.read_table(NIGHT, "travellers")) == 4
    stored = sorted(p for p in config.archive_dir().glob("??/*") if p.is_file())
    assert len(stored) == 4
    for path in stored:
        assert ingest.archive_path(path.name) == path
    log = (config.archive_dir() / "arrivals" / f"night={NIGHT}.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in log]
    assert len(entries) == 5
    resent = [e for e in entries if e["resend_of"]]
    assert [e["file"] for e in resent] == ["paxlst/QK21_BKK_pax_resend.edi"]
    assert resent[0]["resend_of"] == "paxlst/QK21_BKK_pax.edi"


def test_messages_about_other_nights_are_counted_not_loaded(
    tmp_path: Path, parser: FakeParser
) -> None:
    tomorrow = leg(number="5", arrival=dt.datetime(2026, 11, 22, 0, 30))
    other_pnr = pnr_message(
        [booking("XX1", [pnr_traveller("1", "A", "B", None, 5)], 4)],
        T72,
        flight=leg(number="77", arrival=dt.datetime(2026, 11, 23, 9, 0)),
    )
    root = _world(
        tmp_path / "w",
        parser,
        **{
            "paxlst/QK5_BKK_pax.edi": FakeParsed(
                "PAXLST", manifests=[manifest([api_traveller("X", "Y", None, None, 3)], tomorrow)]
            ),
            "pnrgov/QK77_BKK_t72.edi": FakeParsed("PNRGOV", pnr_messages=[other_pnr]),
        },
    )
    report = ingest.ingest_night(NIGHT, root, workers=1)
    assert report.reconciliation["messages"]["other_night"] == 2
    assert "X" not in set(warehouse.read_table(NIGHT, "travellers")["surname"])
    assert "XX1" not in set(
        warehouse.read_table(NIGHT, "bookings", current=False)["record_locator"]
    )
    assert list(warehouse.read_table(NIGHT, "flights")["flight_id"]) == ["QK21-20261121"]


def test_pnr_without_arrival_time_joins_the_flight_by_departure_date(
    tmp_path: Path, parser: FakeParser
) -> None:
    no_arrival = leg(arrival=None)
    b = booking("QKTT02", [pnr_traveller("1", "KAEWKLA", "PIMCHANOK", DOB, 12)], segment=7)
    wrong_day = leg(arrival=None, departure=dt.datetime(2026, 11, 14, 0, 5))
    root = _world(
        tmp_path / "w",
        parser,
        **{
            "pnrgov/QK21_BKK_t72.edi": FakeParsed(
                "PNRGOV", pnr_messages=[pnr_message([b], T72, flight=no_arrival)]
            ),
            "pnrgov/QK21_BKK_dep.edi": FakeParsed(
                "PNRGOV", pnr_messages=[pnr_message([b], DEP, flight=wrong_day)]
            ),
        },
    )
    report = ingest.ingest_night(NIGHT, root, workers=1)
    assert report.reconciliation["bookings"]["pushes"] == 1
    assert report.reconciliation["messages"]["other_night"] == 1


def test_cnt_mismatch_is_reported_per_flight(tmp_path: Path, parser: FakeParser) -> None:
    short = FakeParsed(
        "PAXLST", manifests=[manifest([api_traveller("A", "B", None, None, 5)], declared=3)]
    )
    root = _world(tmp_path / "w", parser, **{"paxlst/QK21_BKK_pax.edi": short})
    report = ingest.ingest_night(NIGHT, root, workers=1)
    flights = report.reconciliation["flights"]
    assert flights["cnt_mismatches"] == 1
    f = flights["per_flight"][0]
    assert (f["passengers_parsed"], f["passengers_declared"], f["cnt_ok"]) == (1, 3, False)
    assert (f["crew_parsed"], f["crew_declared"]) == (1, 1)
    assert "CNT mismatch QK21-20261121" in report.render()


def _snapshot(*folders: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def test_rerun_is_idempotent(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(
        tmp_path / "w",
        parser,
        **{"paxlst/BAD.edi": ParseError("E_UNB_MISSING", "no UNB", 0)},
    )
    ingest.ingest_night(NIGHT, root, workers=1)
    archive = _snapshot(config.archive_dir())
    tables = {k: v[0] for k, v in _snapshot(warehouse.night_dir(NIGHT)).items()}
    ids = warehouse.read_table(NIGHT, "travellers")["traveller_id"].tolist()
    ingest.ingest_night(NIGHT, root, workers=1)
    assert _snapshot(config.archive_dir()) == archive  # same bytes, not even rewritten
    assert {k: v[0] for k, v in _snapshot(warehouse.night_dir(NIGHT)).items()} == tables
    assert warehouse.read_table(NIGHT, "travellers")["traveller_id"].tolist() == ids


def test_source_layouts(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(tmp_path / "w", parser)
    night_folder = root / "nights" / NIGHT.isoformat()
    assert ingest.night_source(root, NIGHT) == night_folder
    assert ingest.night_source(night_folder, NIGHT) == night_folder
    history = tmp_path / "h"
    (history / "history" / "nights" / NIGHT.isoformat() / "pnrgov").mkdir(parents=True)
    assert ingest.night_source(history, NIGHT).parent.parent.name == "history"
    with pytest.raises(ApiflagError, match="no messages for night 2026-11-22"):
        ingest.night_source(root, dt.date(2026, 11, 22))
    with pytest.raises(ApiflagError, match="no such folder"):
        ingest.night_source(tmp_path / "missing", NIGHT)


@pytest.mark.parametrize(
    ("kind", "value", "normalized"),
    [
        ("phone", "+66 81-111 2222", "66811112222"),
        ("phone", "0066811112222", "66811112222"),
        ("email", " Yuki.Sato@Example.JP", "yuki.sato@example.jp"),
        ("address", "1-2 Chome  Minato,  Tokyo", "1-2 CHOME MINATO, TOKYO"),
    ],
)
def test_contact_normalisation(kind: str, value: str, normalized: str) -> None:
    assert ingest.normalize_contact(kind, value) == normalized


def test_contacts_keep_their_traveller(tmp_path: Path, parser: FakeParser) -> None:
    ingest.ingest_night(NIGHT, _world(tmp_path / "w", parser), workers=1)
    contacts = warehouse.read_table(NIGHT, "booking_contacts")
    phone = contacts.loc[contacts["kind"] == "phone"].iloc[0]
    email = contacts.loc[contacts["kind"] == "email"].iloc[0]
    assert pd.isna(phone["pnr_traveller_id"]) and phone["normalized"] == "66811112222"
    pnr = warehouse.read_table(NIGHT, "pnr_travellers")
    assert email["pnr_traveller_id"] == pnr["pnr_traveller_id"].item()
    assert email["normalized"] == "a.b@example.jp"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--night", "21/11/2026"], 2, "--night '21/11/2026': not a date"),
        (["--night", "2026-11-21", "--from", "/nonexistent/world"], 1, "no such folder"),
    ],
)
def test_cli_reports_user_mistakes_in_one_line(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from apiflag.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["ingest", *args])
    assert exc.value.code == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_prints_the_reconciliation(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(tmp_path / "w", parser)
    result = CliRunner().invoke(
        cli, ["ingest", "--night", "2026-11-21", "--from", str(root), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["messages"]["balanced"] is True
    text = CliRunner().invoke(cli, ["ingest", "--night", "2026-11-21", "--from", str(root)])
    assert "distinct 4 = parsed 4 + quarantined 0 (balanced)" in text.output


def _list(people: list[tuple[str, int]], prepared: dt.datetime | None, function: str | None = None):
    travellers = [
        api_traveller(name, "A", dt.date(1990, 1, 1 + ord(name[0]) % 28), None, seg, doc=f"D{name}")
        for name, seg in people
    ]
    return FakeParsed(
        "PAXLST", manifests=[manifest(travellers, prepared=prepared, function=function)]
    )


@pytest.mark.parametrize(
    ("lists", "loaded", "replaced", "cancelled"),
    [
        # a list resent at closing (CLOB) names everyone again: nobody doubles
        (
            [([("A", 1), ("B", 2)], T72, None), ([("A", 3), ("B", 4), ("C", 5)], DEP, "CLOB")],
            {"A": 3, "B": 4, "C": 5},
            2,
            0,
        ),
        # the file order lies: the later-prepared list still wins
        (
            [([("A", 1), ("B", 2)], DEP, None), ([("A", 3), ("B", 4)], T72, None)],
            {"A": 1, "B": 2},
            2,
            0,
        ),
        # parts of one list sent as separate files add up
        ([([("A", 1)], T72, None), ([("B", 2)], T72, None)], {"A": 1, "B": 2}, 0, 0),
        # a change message replaces only whom it names
        ([([("A", 1), ("B", 2)], T72, None), ([("B", 7)], DEP, "CP")], {"A": 1, "B": 7}, 1, 0),
        # a cancellation removes the traveller
        ([([("A", 1), ("B", 2)], T72, None), ([("B", 2)], DEP, "XR")], {"A": 1}, 0, 2),
        # ... unless a later list names them again
        ([([("A", 1)], T72, "XR"), ([("A", 4)], DEP, None)], {"A": 4}, 1, 0),
    ],
    ids=["closing-list", "file-order-lies", "parts", "change", "cancel", "reinstated"],
)
def test_later_lists_replace_and_cancel_travellers(
    tmp_path: Path,
    parser: FakeParser,
    lists: list[tuple[list[tuple[str, int]], dt.datetime, str | None]],
    loaded: dict[str, int],
    replaced: int,
    cancelled: int,
) -> None:
    files = {f"paxlst/QK21_BKK_{i}.edi": _list(*spec) for i, spec in enumerate(lists)}
    root = _world(
        tmp_path / "w",
        parser,
        **{
            "paxlst/QK21_BKK_pax.edi": FakeParsed(
                "PAXLST", manifests=[manifest([], declared=None)]
            ),
            **files,
        },
    )
    report = ingest.ingest_night(NIGHT, root, workers=1)
    travellers = warehouse.read_table(NIGHT, "travellers")
    passengers = travellers.loc[travellers["role"] == "passenger"]
    assert sorted(zip(passengers["surname"], passengers["segment"], strict=True)) == sorted(
        loaded.items()
    )
    t = report.reconciliation["travellers"]
    assert (t["replaced"], t["cancelled"]) == (replaced, cancelled)
    flight = report.reconciliation["flights"]["per_flight"][0]
    assert flight["loaded"] == len(travellers)
    assert (flight["replaced"], flight["cancelled"]) == (replaced, cancelled)
    docs = warehouse.read_table(NIGHT, "documents")
    api_docs = docs.loc[docs["owner_kind"] == "api", "owner_id"]
    assert set(api_docs) == set(
        travellers.loc[travellers["document_number"].notna(), "traveller_id"]
    )


def test_an_unreadable_file_stops_with_its_name(tmp_path: Path, parser: FakeParser) -> None:
    root = _world(tmp_path / "w", parser)
    broken = root / "nights" / NIGHT.isoformat() / "paxlst" / "GONE.edi"
    broken.symlink_to(tmp_path / "nowhere.edi")
    with pytest.raises(ApiflagError, match="GONE.edi: cannot read"):
        ingest.ingest_night(NIGHT, root, workers=1)
    assert not warehouse.night_dir(NIGHT).exists()  # nothing half-written


_pushes = st.lists(
    st.tuples(
        st.sampled_from(["AAA111", "BBB222"]),
        st.one_of(st.none(), st.integers(0, 3).map(lambda h: T72 + dt.timedelta(hours=h))),
        st.sampled_from(["full", "changed"]),
    ),
    min_size=1,
    max_size=8,
)


@given(pushes=_pushes, seed=st.randoms(use_true_random=False))
def test_push_order_keeps_exactly_the_latest_push_current(
    pushes: list[tuple[str, dt.datetime | None, str]], seed: object
) -> None:
    metas = [{"prepared": when, "push_type": kind} for _, when, kind in pushes]
    frame = warehouse.empty_table("bookings").to_pandas()
    rows = pd.DataFrame(
        {
            "booking_id": [f"B{i}" for i in range(len(pushes))],
            "record_locator": [loc for loc, _, _ in pushes],
            "last_transaction": pd.Series([None] * len(pushes), dtype="datetime64[us]"),
            "segment": list(range(len(pushes))),
            MSG: list(range(len(pushes))),
        }
    )
    bookings = pd.concat([frame, rows], ignore_index=True)
    bookings[MSG] = bookings[MSG].astype("int32")  # as the Arrow tag column is
    shuffled = bookings.sample(frac=1.0, random_state=seed.randint(0, 10**6))  # type: ignore[attr-defined]
    out = ingest.assemble.push_order(shuffled, metas, ["F1"] * len(pushes))
    for locator in {loc for loc, _, _ in pushes}:
        mine = [i for i, (loc, _, _) in enumerate(pushes) if loc == locator]
        latest = max(
            mine,
            key=lambda i: (
                pushes[i][1] is not None,
                pushes[i][1] or dt.datetime.min,
                ingest.assemble.PUSH_RANK[pushes[i][2]],
                i,
            ),
        )
        group = out.loc[out["record_locator"] == locator].set_index("booking_id")
        assert list(group.index[~group["superseded"].astype(bool)]) == [f"B{latest}"]
        assert sorted(group["push_seq"]) == list(range(1, len(mine) + 1))
        assert group.loc[f"B{latest}", "push_seq"] == len(mine)
