"""Tokenizer: the layouts real feeds arrive in, and the envelope defects it refuses or flags."""

from __future__ import annotations

import pytest

from apiflag.edifact.tokenizer import decode, tokenize
from apiflag.errors import ParseError

TIDY = (
    "UNA:+.? 'UNB+UNOA:4+S+R+261120:1800+IC1'UNH+M1+PAXLST:D:05B:UN:IATA'"
    "BGM+745'NAD+FL+++O?'BRIEN:ANN?+MARIE'UNT+4+M1'UNZ+1+IC1'"
)


def _body(text: str) -> list[tuple[str, list[list[str]]]]:
    interchange = tokenize(text)[0]
    return [(s.tag, s.elements[1:]) for m in interchange.messages for s in m.body]


def _nad(text: str) -> list[list[str]]:
    return dict(_body(text))["NAD"]


LAYOUTS = {
    "tidy": TIDY,
    "newline after each segment": TIDY.replace("'", "'\n").replace("?'\n", "?'"),
    "CRLF": TIDY.replace("'", "'\r\n").replace("?'\r\n", "?'"),
    "leading spaces": "   " + TIDY.replace("'", "'  ").replace("?'  ", "?'"),
    "wrapped at 17 columns": "\r\n".join(TIDY[i : i + 17] for i in range(0, len(TIDY), 17)),
    "telex header and SOH/STX/ETX": "\x01QU JPNAPXS\r\n.QKAPXS 201800\r\n\x02" + TIDY + "\x03\r\n",
    "disclaimer after UNZ": TIDY + "\r\n\r\nConfidentiality notice: this e-mail ...\r\n",
    "custom separators": (
        "UNA!*.# ~UNB*UNOA!4*S*R*261120!1800*IC1~UNH*M1*PAXLST!D!05B!UN!IATA~"
        "BGM*745~NAD*FL***O'BRIEN!ANN+MARIE~UNT*4*M1~UNZ*1*IC1~"
    ),
    "custom separators with release": (
        "UNA:+.\\ #UNB+UNOA:4+S+R+261120:1800+IC1#UNH+M1+PAXLST:D:05B:UN:IATA#"
        "BGM+745#NAD+FL+++O'BRIEN:ANN\\+MARIE#UNT+4+M1#UNZ+1+IC1#"
    ),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_gives_the_same_segments(layout: str) -> None:
    """Wrapping, headers, CRLF, spaces, disclaimers and separators change nothing."""
    assert _body(LAYOUTS[layout]) == _body(TIDY)
    assert _nad(LAYOUTS[layout]) == [["FL"], [""], [""], ["O'BRIEN", "ANN+MARIE"]]


def test_released_release_character_then_terminator() -> None:
    """'??' is a literal '?', so the following "'" terminates the segment."""
    text = TIDY.replace("O?'BRIEN:ANN?+MARIE'", "WHAT??'")
    assert _nad(text)[3] == ["WHAT?"]


def test_without_una_separators_come_from_unb() -> None:
    text = "UNB*UNOA:4*S*R*261120:1800*IC1#UNH*M1*PAXLST:D:05B:UN:IATA#BGM*745#UNT*3*M1#UNZ*1*IC1#"
    assert _body(text) == [("BGM", [["745"]])]


def test_line_break_as_terminator_declared_in_una() -> None:
    text = "UNA:+.? \nUNB+UNOA:4+S+R+261120:1800+IC1\nUNH+M1+PAXLST:D:05B:UN:IATA\nBGM+745\nUNT+3+M1\nUNZ+1+IC1\n"
    assert _body(text) == [("BGM", [["745"]])]


def test_two_interchanges_in_one_file_number_segments_on() -> None:
    interchanges = tokenize(TIDY + "\r\n" + TIDY)
    assert len(interchanges) == 2
    assert interchanges[0].unb.number == 1
    assert interchanges[1].unb.number == interchanges[0].unz.number + 1


def test_latin1_bytes_decode() -> None:
    assert decode("MÜLLER".encode("latin-1")) == "MÜLLER"
    assert decode("MÜLLER".encode()) == "MÜLLER"


@pytest.mark.parametrize(
    ("text", "code", "segment"),
    [
        ("", "E_EMPTY", 0),
        ("   \r\n  ", "E_EMPTY", 0),
        ("Hello, this is an e-mail without any message.", "E_NO_UNB", 0),
        (TIDY[: TIDY.index("UNZ")], "E_TRUNCATED", 5),
        (TIDY.replace("UNT+4+M1'", ""), "E_TRUNCATED", 5),
        (TIDY.replace("UNA:+.? '", "UNA:::? '"), "E_BAD_UNA", 0),
        (TIDY.replace("BGM+745'", "BGM+745'bgm+1'"), "E_BAD_SEGMENT", 4),
        (TIDY.replace("UNT+4+M1'", "UNT+4+M1'BGM+745'"), "E_ENVELOPE", 6),
        (TIDY.replace("BGM", "\ue001GM"), "E_BAD_CHARACTER", 0),
    ],
    ids=["empty", "blank", "prose", "no UNZ", "no UNT", "bad UNA", "bad tag", "outside", "pua"],
)
def test_envelope_defects_are_errors(text: str, code: str, segment: int) -> None:
    with pytest.raises(ParseError) as info:
        tokenize(text)
    assert (info.value.code, info.value.segment) == (code, segment)


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (TIDY.replace("UNT+4+M1", "UNT+159+M1"), "W_SEGMENT_COUNT"),
        (TIDY.replace("UNT+4+M1", "UNT+4+M2"), "W_REFERENCE"),
        (TIDY.replace("UNZ+1+IC1", "UNZ+3+IC1"), "W_MESSAGE_COUNT"),
        (TIDY.replace("UNZ+1+IC1", "UNZ+1+IC9"), "W_REFERENCE"),
        (TIDY + "\r\nEmail secured by Antivirus", "W_TRAILING_TEXT"),
    ],
)
def test_count_and_reference_defects_are_warnings(text: str, warning: str) -> None:
    interchange = tokenize(text)[0]
    assert any(f": {warning}: " in w for w in interchange.warnings), interchange.warnings
    assert len(interchange.messages) == 1
