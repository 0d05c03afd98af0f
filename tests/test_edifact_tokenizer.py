"""Tokenizer: the layouts real feeds arrive in, and the envelope defects it refuses or flags."""

from __future__ import annotations

import pytest

from apiflag.edifact.loss import read_warning
from apiflag.edifact.tokenizer import Interchange, decode, tokenize
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


@pytest.mark.parametrize("at", [1, 2, 4, 5])
def test_a_line_wrapped_inside_the_next_una_is_still_its_service_string(at: int) -> None:
    """A file wrapped at a fixed width may break the next interchange's UNA anywhere."""
    una = "UNA:+.? '"
    wrapped = una[: 3 + at] + "\n" + una[3 + at :]
    interchanges = tokenize(TIDY + TIDY.replace(una, wrapped))
    assert len(interchanges) == 2
    assert [w for ic in interchanges for w in ic.warnings] == []
    assert _nad(TIDY) == [m.body[1].elements[1:] for m in interchanges[1].messages][0]


def test_latin1_bytes_decode() -> None:
    assert decode("MÜLLER".encode("latin-1")) == "MÜLLER"
    assert decode("MÜLLER".encode()) == "MÜLLER"


def test_a_stray_byte_in_a_utf8_file_garbles_only_itself() -> None:
    """One byte of line noise must not turn every other accented name into Latin-1 mojibake."""
    text = "NAD+FL+++MÜLLER:JOSÉ’NAD+FL+++ÅSTRÖM:BJÖRN’"
    noisy = text.encode()[:20] + b"\xa2" + text.encode()[20:]
    assert decode(noisy).replace("\ufffd", "") == text
    latin = "NAD+FL+++MÜLLER:JOSÉ'".encode("latin-1") + "ÅSTRÖM".encode()
    assert decode(latin) == latin.decode("latin-1")  # mostly Latin-1: read as Latin-1


@pytest.mark.parametrize(
    ("text", "code", "segment"),
    [
        ("", "E_EMPTY", 0),
        ("   \r\n  ", "E_EMPTY", 0),
        ("Hello, this is an e-mail without any message.", "E_NO_UNB", 0),
        (TIDY.replace("UNA:+.? '", "UNA:::? '"), "E_BAD_UNA", 0),
        (TIDY.replace("BGM", "\ue001GM"), "E_BAD_CHARACTER", 0),
    ],
    ids=["empty", "blank", "prose", "bad UNA", "pua"],
)
def test_only_an_unreadable_envelope_is_an_error(text: str, code: str, segment: int) -> None:
    with pytest.raises(ParseError) as info:
        tokenize(text)
    assert (info.value.code, info.value.segment) == (code, segment)


def _codes(interchange: Interchange) -> list[str]:
    return [read_warning(w).code for w in interchange.warnings]


def test_a_file_cut_short_keeps_what_it_has_and_says_so() -> None:
    (interchange,) = tokenize(TIDY[: TIDY.index("UNT")])
    (message,) = interchange.messages
    assert (message.truncated, message.unt, interchange.unz) == (True, None, None)
    assert [s.tag for s in message.body] == ["BGM", "NAD"]
    assert _codes(interchange).count("W_TRUNCATED") == 2  # no UNT, no UNZ


def test_a_message_without_unt_ends_at_the_next_unh() -> None:
    second = "UNH+M2+PAXLST:D:05B:UN:IATA'BGM+745'UNT+3+M2'"
    text = TIDY.replace("UNT+4+M1'", second).replace("UNZ+1", "UNZ+2")
    (interchange,) = tokenize(text)
    first, other = interchange.messages
    assert (first.unt, first.truncated, [s.tag for s in first.body]) == (
        None,
        False,
        ["BGM", "NAD"],
    )
    assert (other.truncated, other.unh.get(1)) == (False, "M2")
    assert "W_NO_UNT" in _codes(interchange)


def test_an_unreadable_segment_is_reported_and_skipped() -> None:
    (interchange,) = tokenize(TIDY.replace("BGM+745'", "BGM+745'bgm+1'"))
    assert [s.tag for s in interchange.messages[0].body] == ["BGM", "", "NAD"]  # its reader knows
    (line,) = [w for w in interchange.warnings if "W_BAD_SEGMENT" in w]
    assert line.startswith("segment 4: W_BAD_SEGMENT: ")
    assert "bgm" not in line  # the content is not repeated: it may be personal data


def test_segments_outside_a_message_are_kept_apart_as_a_stray_run() -> None:
    (interchange,) = tokenize(TIDY.replace("UNT+4+M1'", "UNT+4+M1'BGM+745'NAD+FL+++X'"))
    assert len(interchange.messages) == 1
    assert [[s.tag for s in run] for run in interchange.stray] == [["BGM", "NAD"]]
    assert "W_ENVELOPE" in _codes(interchange)


def test_an_interchange_without_unz_runs_into_the_next_and_both_are_read() -> None:
    text = TIDY.replace("UNZ+1+IC1'", "") + "\r\n" + TIDY
    first, second = tokenize(text)
    assert (first.unz, len(first.messages), len(second.messages)) == (None, 1, 1)
    assert second.unz is not None and "W_TRUNCATED" in _codes(first)


@pytest.mark.parametrize(
    "text",
    [
        TIDY.replace("NAD+FL", "NAD +FL").replace("UNH+M1", "UNH +M1"),
        TIDY.replace("'", " '\r\n ")
        .replace("? '\r\n ", "?'")
        .replace("UNA:+.? '\r\n ", "UNA:+.? '"),
        TIDY.replace("UNA:+.? '", "UNA:+.? \r\n"),  # a line break in the sixth place
        TIDY.replace("UNA:+.? '", "UNA:+.?'"),  # five characters
    ],
    ids=["blank after tag", "blanks around terminators", "UNA newline", "UNA short"],
)
def test_habits_of_real_senders_give_the_same_segments(text: str) -> None:
    assert _body(text) == _body(TIDY)


def test_a_una_the_file_does_not_follow_is_overruled_with_a_warning() -> None:
    plain = TIDY.replace("O?'BRIEN", "OBRIEN")
    text = plain.replace("'", "\u2019").replace("UNA:+.? \u2019", "UNA:+.? '")
    assert _body(text) == _body(plain)
    (interchange,) = tokenize(text)
    assert interchange.separators.terminator == "\u2019"
    assert _codes(interchange)[0] == "W_UNA_MISMATCH"
    assert "W_UNA_MISMATCH" not in _codes(tokenize(TIDY)[0])
    wrapped = text.replace("UNH+M1", "UN\r\nH+M1")  # a line wrapped inside the UNH tag
    assert _body(wrapped) == _body(plain)


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
