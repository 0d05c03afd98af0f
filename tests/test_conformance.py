"""`apiflag conformance FILE...`: every deviation per file and carrier, what the reader did,
the share of travellers read clean; text, JSON and HTML carry the same figures."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest

import apiflag.edifact
from apiflag.cli import main
from apiflag.edifact import parse_bytes
from apiflag.edifact.conformance import (
    GENERIC_ACTION,
    TREATMENTS,
    conformance_report,
    parsed_report,
    render_html,
    render_text,
)
from apiflag.edifact.loss import RecordLoss, read_warning
from apiflag.edifact.tokenizer import decode, tokenize

DATA = Path(__file__).parent / "data" / "messages"
SAMPLES = sorted((DATA / "real").glob("*.txt")) + sorted((DATA / "hand").glob("*.edi"))

# synthetic travellers: Vietnamese, Korean, Indonesian single name, Spanish double surname,
# Russian patronymic
TRAVELLERS = [
    ("NGUYEN", "VAN AN", "M", "880512", "VNM"),
    ("KIM", "MIN-JUN", "M", "950203", "KOR"),
    ("SUKARNO", "", "Q", "010730", "IDN"),  # sex Q: not M/F/X/U
    ("GARCIA MARQUEZ", "MARIA JOSE", "F", "790921", "ESP"),
    ("IVANOV", "PYOTR ILYICH", "M", "660101", "RUS"),
]


def paxlst_message(
    ref: str,
    carrier: str,
    travellers: list[tuple[str, str, str, str, str]],
    *,
    declared: int | None = None,
    unknown: int = 0,
    unt_extra: int = 0,
) -> list[str]:
    """One PAXLST message (segments without terminators) with the deviations asked for."""
    body = [
        "BGM+745",
        f"TDT+20+{carrier}701+++{carrier}",
        "LOC+125+SGN",
        "DTM+189:2611210005:201",
        "LOC+87+NRT",
        "DTM+232:2611210810:201",
    ]
    for i, (surname, given, sex, born, nat) in enumerate(travellers):
        body += [
            f"NAD+FL+++{surname}:{given}" if given else f"NAD+FL+++{surname}",
            f"ATT+2++{sex}",
            f"DTM+329:{born}",
            f"NAT+2+{nat}",
            f"DOC+P:110:111+{carrier}{i:07d}",
        ]
        if i == 1:
            body += ["XYZ+1"] * unknown
    body.append(f"CNT+42:{len(travellers) if declared is None else declared}")
    return [
        f"UNH+{ref}+PAXLST:D:05B:UN:IATA",
        *body,
        f"UNT+{len(body) + 2 + unt_extra}+{ref}",
    ]


def interchange(messages: list[list[str]], sender: str = "ZGAIR", trailer: str = "") -> str:
    segments = ["UNB+UNOA:4+" + sender + "+JPNAPIS+261120:1800+IC1"]
    for m in messages:
        segments += m
    segments.append(f"UNZ+{len(messages)}+IC1")
    return "UNA:+.? '" + "'\n".join(segments) + "'\n" + trailer


def deviating_file() -> str:
    """ZG: sex Q, two unknown XYZ segments, CNT says 6 of 5, UNT one too many, text after UNZ."""
    msg = paxlst_message("M1", "ZG", TRAVELLERS, declared=6, unknown=2, unt_extra=1)
    return interchange([msg], trailer="This e-mail is confidential.\n")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(["conformance", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def report_json(paths: list[Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code, out, err = run(["--format", "json", *map(str, paths)], capsys)
    return code, json.loads(out), err


def summary(dev: dict[str, Any]) -> tuple[Any, ...]:
    return (dev["tag"], dev["code"], dev["count"], dev["action"])


def test_deviations_counts_carrier_and_shares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zg.edi"
    path.write_text(deviating_file())
    code, doc, err = report_json([path], capsys)
    assert (code, err) == (0, "")
    (f,) = doc["files"]
    assert (f["status"], f["kind"], f["messages"], f["declared"], f["error"]) == (
        "read", "PAXLST", 1, 6, None,
    )  # fmt: skip
    (c,) = f["carriers"]
    assert (c["carrier"], c["named_by"], c["senders"], c["messages"]) == (
        "ZG", ["TDT"], ["ZGAIR"], 1,
    )  # fmt: skip
    devs = {d["code"]: d for d in c["deviations"]}
    assert sorted(summary(d) for d in c["deviations"]) == [
        ("ATT", "W_BAD_VALUE", 1, "read as null"),
        ("CNT", "W_CNT_MISMATCH", 1, "counted, travellers kept"),
        ("UNT", "W_SEGMENT_COUNT", 1, "counted, message kept"),
        ("UNZ", "W_TRAILING_TEXT", 1, "ignored the text after UNZ"),
        ("XYZ", "W_UNKNOWN_SEGMENT", 2, "ignored the segment"),
    ]
    # the ATT of the third traveller: UNB 1, UNH 2, 6 header segments, 5 per traveller, 2 XYZ
    assert devs["W_BAD_VALUE"]["first_segments"] == [2 + 6 + 5 + 5 + 2 + 2]
    assert devs["W_BAD_VALUE"]["field"] == "sex"
    # every traveller is read; SUKARNO's sex is null, so that traveller is degraded
    t = c["travellers"]
    assert t == {"clean": 4, "degraded": 1, "quarantined": 0, "total": 5}
    assert c["shares"] == {"clean": 0.8, "degraded": 0.2, "quarantined": 0.0}
    assert f["travellers"] == t and doc["summary"]["carriers"][0]["travellers"] == t


def test_each_carrier_gets_its_own_deviations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zg = paxlst_message("M1", "ZG", TRAVELLERS[2:3])  # sex Q
    b2 = paxlst_message("M2", "B2", TRAVELLERS[:2], declared=3)  # CNT 3 of 2
    path = tmp_path / "two.edi"
    path.write_text(interchange([zg, b2], sender="HUB"))
    code, doc, _ = report_json([path], capsys)
    assert code == 0
    by = {c["carrier"]: c for c in doc["files"][0]["carriers"]}
    assert sorted(by) == ["B2", "ZG"]
    assert [summary(d) for d in by["ZG"]["deviations"]] == [
        ("ATT", "W_BAD_VALUE", 1, "read as null")
    ]
    assert [summary(d) for d in by["B2"]["deviations"]] == [
        ("CNT", "W_CNT_MISMATCH", 1, "counted, travellers kept")
    ]
    assert (by["ZG"]["travellers"]["total"], by["B2"]["travellers"]["total"]) == (1, 2)
    assert by["B2"]["senders"] == ["HUB"]


def test_truncated_file_is_read_and_its_cut_traveller_quarantined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.edi"
    text = deviating_file()
    cut.write_text(text[: text.index("NAT+2+KOR")])  # inside KIM's NAD group
    code, doc, err = report_json([cut], capsys)
    assert (code, err) == (0, "")
    (c,) = doc["files"][0]["carriers"]
    assert c["travellers"] == {"clean": 1, "degraded": 0, "quarantined": 1, "total": 2}
    assert c["shares"] == {"clean": 0.5, "degraded": 0.0, "quarantined": 0.5}
    lost = [d for d in c["deviations"] if d["code"] == "E_TRUNCATED"]
    kim = 2 + 6 + 5 + 1  # UNB, UNH, the header, NGUYEN's five segments: KIM's NAD
    assert [(d["tag"], d["count"], d["travellers"], d["action"], d["first_segments"])
            for d in lost] == [("NAD", 1, 1, "quarantined the traveller", [kim])]  # fmt: skip
    assert {d["code"] for d in c["deviations"]} == {"E_TRUNCATED", "W_TRUNCATED"}


def test_refused_file_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.edi"
    good.write_text(deviating_file())
    cut = tmp_path / "mail.txt"
    cut.write_text("Dear colleague,\nthe manifest of ZG701 follows tomorrow.\n")
    missing = tmp_path / "missing.edi"
    code, doc, err = report_json([good, cut, missing], capsys)
    assert code == 1
    lines = err.splitlines()
    assert re.fullmatch(rf"{re.escape(str(cut))}: segment 0: E_NO_UNB: .+", lines[0])
    assert re.fullmatch(rf"{re.escape(str(missing))}: segment 0: E_READ: .+", lines[1])
    assert lines[2] == "apiflag: 2 of 3 file(s) refused whole"
    assert "Traceback" not in err
    read, refused, unreadable = doc["files"]
    assert read["status"] == "read" and read["carriers"]
    assert (refused["status"], refused["error"], refused["carriers"]) == ("refused", lines[0], [])
    assert (refused["refusal"]["code"], refused["refusal"]["action"]) == (
        "E_NO_UNB", "refused the file",
    )  # fmt: skip
    assert (unreadable["status"], unreadable["error"]) == ("unreadable", lines[1])
    assert doc["summary"] | {"carriers": None} == {
        "files": 3, "read": 1, "refused": 2, "carriers": None,
    }  # fmt: skip
    # the text form names the refused files with their one-line error too
    code, out, _ = run([str(cut), str(missing)], capsys)
    assert code == 1 and lines[0] in out and lines[1] in out


def test_exit_zero_with_deviations_and_out_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zg.edi"
    path.write_text(deviating_file())
    report = tmp_path / "report.html"
    code, out, err = run(["--format", "html", "--out", str(report), str(path)], capsys)
    assert (code, out, err) == (0, "", "")
    assert report.read_text().startswith("<!doctype html>")
    code, _, err = run(["--out", str(tmp_path / "no" / "dir.txt"), str(path)], capsys)
    assert code == 1 and err.count("\n") == 1 and "cannot write the report" in err


class _Cells(HTMLParser):
    """The text of every table row of a page, cell by cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} %"


def test_text_and_html_carry_the_same_figures(tmp_path: Path) -> None:
    zg = paxlst_message("M1", "ZG", TRAVELLERS, declared=6, unknown=2, unt_extra=1)
    b2 = paxlst_message("M2", "B2", TRAVELLERS[:2], declared=3)
    path = tmp_path / "two.edi"
    path.write_text(interchange([zg, b2]))
    doc = conformance_report([str(path), str(DATA / "hand" / "pnrgov_11_1_two_pnrs.edi")])
    text = render_text(doc)
    page = _Cells()
    page.feed(render_html(doc))
    page_text = " ".join(" ".join(page.text).split())
    text_rows = [line.split() for line in text.splitlines()]
    for f in doc["files"]:
        for c in [*f["carriers"], *doc["summary"]["carriers"]]:
            t, s = c["travellers"], c["shares"]
            for k in ("clean", "degraded", "quarantined"):
                figure = f"{k} {t[k]} ({_pct(s[k])})"
                assert figure in text and figure in page_text
            for d in c["deviations"]:
                head = [d["tag"], d["code"], d["field"] or "", str(d["count"]), d["action"]]
                assert any(r[:5] == head for r in page.rows), head
                words = " ".join(x for x in head if x).split()
                assert any(r[: len(words)] == words for r in text_rows), head
    assert page.scripts == 0


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_markup_is_escaped_in_html(tmp_path: Path) -> None:
    odd = tmp_path / "<script>alert(1)<!--.edi"
    people = [("<script>", "alert(1)</script>", "Q", "900101", "THA"), *TRAVELLERS[:1]]
    odd.write_text(interchange([paxlst_message("M1", "ZG", people, declared=3)]))
    tagged = tmp_path / "tag.edi"
    tagged.write_text(deviating_file().replace("NAT+2+KOR", "<script>+2+KOR"))
    doc = conformance_report([str(odd), str(tagged)])
    codes = {d["code"] for c in doc["files"][1]["carriers"] for d in c["deviations"]}
    assert "W_BAD_SEGMENT" in codes  # the segment without a tag is reported, then ignored
    assert "<script>" in doc["files"][0]["file"]
    page = render_html(doc)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    for value in _strings(doc):
        assert str(markupsafe.escape(value)) in page, value  # Jinja2's autoescape


def test_treatment_table() -> None:
    """Every warning code of the package docs has an action; an unknown code a generic one."""
    documented = set(re.findall(r"``(W_[A-Z_]+)``", apiflag.edifact.__doc__ or ""))
    assert len(documented) >= 10
    assert documented <= set(TREATMENTS)
    text = interchange([paxlst_message("M1", "ZG", TRAVELLERS[:3])])
    parsed = parse_bytes(text.encode(), "x.edi")
    nad = next(s for s in tokenize(decode(text.encode()))[0].messages[0].body if s.tag == "NAD")
    odd = dataclasses.replace(
        parsed, warnings=[f"segment {nad.number}: W_NEW_HABIT: something new", "not a warning"]
    )
    ics = tokenize(text)
    report = parsed_report("x.edi", odd, ics, {nad.number: "NAD"})
    devs = {d["code"]: d for d in report["carriers"][0]["deviations"]}
    assert (devs["W_NEW_HABIT"]["tag"], devs["W_NEW_HABIT"]["action"]) == ("NAD", GENERIC_ACTION)
    assert devs["W_OTHER"]["action"] == TREATMENTS["W_OTHER"].action


def test_degraded_and_quarantined_shares_per_carrier() -> None:
    """Exact accounting on what the tolerant reader returns: degraded fields, lost records."""
    text = interchange(
        [
            paxlst_message("M1", "ZG", [TRAVELLERS[i] for i in (0, 1, 3)]),  # no sex Q
            paxlst_message("M2", "B2", TRAVELLERS[4:] + TRAVELLERS[:1]),
        ]
    )
    ics = tokenize(text)
    tags = {s.number: s.tag for ic in ics for m in ic.messages for s in (m.unh, *m.body, m.unt)}
    parsed = parse_bytes(text.encode(), "x.edi")
    zg, b2 = parsed.manifests
    first = zg.travellers[0].model_copy(update={"degraded": ("date_of_birth",)})
    zg = zg.model_copy(update={"travellers": (first, *zg.travellers[1:])})
    nad_b2 = b2.travellers[1].segment
    assert nad_b2 is not None
    b2 = b2.model_copy(update={"travellers": b2.travellers[:1]})
    dob = (zg.travellers[0].segment or 0) + 2
    lost = RecordLoss("traveller", nad_b2, nad_b2 + 4, "E_BAD_VALUE", "NAD has no surname", 1)
    lines = [f"segment {dob}: W_BAD_VALUE: DTM+329 date_of_birth: 6 digits value not a date"]
    odd = dataclasses.replace(parsed, manifests=[zg, b2], lost=[lost], warnings=lines)
    report = parsed_report("x.edi", odd, ics, tags)
    by = {c["carrier"]: c for c in report["carriers"]}
    assert by["ZG"]["travellers"] == {"clean": 2, "degraded": 1, "quarantined": 0, "total": 3}
    assert by["ZG"]["shares"] == {"clean": 0.6667, "degraded": 0.3333, "quarantined": 0.0}
    assert by["B2"]["travellers"] == {"clean": 1, "degraded": 0, "quarantined": 1, "total": 2}
    assert by["B2"]["shares"] == {"clean": 0.5, "degraded": 0.0, "quarantined": 0.5}
    (w,) = by["ZG"]["deviations"]
    assert (w["tag"], w["code"], w["field"], w["count"], w["first_segments"]) == (
        "DTM+329", "W_BAD_VALUE", "date_of_birth", 1, [dob],
    )  # fmt: skip
    (q,) = by["B2"]["deviations"]
    assert (q["tag"], q["code"], q["count"], q["travellers"], q["action"]) == (
        "NAD", "E_BAD_VALUE", 1, 1, "quarantined the traveller",
    )  # fmt: skip
    assert report["travellers"] == {"clean": 3, "degraded": 1, "quarantined": 1, "total": 5}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_report_what_parse_warns(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On the real and hand fixtures: no crash, and the same warnings as `apiflag parse`."""
    try:
        main(["parse", "--warnings", str(sample)])
        parse_code = 0
    except SystemExit as exc:
        parse_code = int(exc.code or 0)
    _, err = capsys.readouterr()
    prefix = f"{sample}: warning: "
    lines = [line[len(prefix) :] for line in err.splitlines() if line.startswith(prefix)]
    warned = Counter((w.code, w.segment) for w in map(read_warning, lines))
    lost = f"{sample}: lost: "
    for line in err.splitlines():  # "segments A-B: CODE: kind quarantined: ..."
        if line.startswith(lost):
            m = re.match(r"segments? (\d+)(?:-\d+)?: (E_[A-Z_]+): ", line[len(lost) :])
            assert m is not None, line
            warned[(m.group(2), int(m.group(1)))] += 1
    code, doc, err = report_json([sample], capsys)
    assert code == parse_code and "Traceback" not in err
    (f,) = doc["files"]
    reported: Counter[tuple[str, int]] = Counter()
    for c in f["carriers"]:
        assert c["carrier"] != "?"
        for d in c["deviations"]:
            assert d["count"] <= 10  # so first_segments lists every occurrence
            reported.update((d["code"], s) for s in d["first_segments"])
    assert reported == warned
    assert f["travellers"]["total"] == parse_bytes(sample.read_bytes()).travellers
