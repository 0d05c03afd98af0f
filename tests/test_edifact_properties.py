"""Properties: the synthetic writer's messages read back as the records they were written from,
in every layout real feeds use; a UNA that lies, a wrong UNT count and random bytes never crash.

The mutation property (one spot damaged, no other traveller lost) is in
test_edifact_mutations.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiflag.edifact import ParsedFile, parse_bytes, parse_text
from apiflag.edifact.tokenizer import tokenize
from apiflag.errors import ParseError
from apiflag.synth.render import RenderStyle, render_paxlst, render_pnrgov
from edifact_helpers import (
    SEPARATOR_SETS,
    comparable,
    envelope,
    manifests,
    pnr_messages,
    write_segments,
)

# a share of the active profile (ci: 60 -> 40 and 20; thorough: 1000 -> 666 and 333)
_ROUND_TRIPS = max(10, (settings.default.max_examples or 60) * 2 // 3)
_MUTATIONS = max(5, (settings.default.max_examples or 60) // 3)

styles = st.builds(
    RenderStyle,
    separators=st.sampled_from(SEPARATOR_SETS),
    segment_newline=st.booleans(),
    crlf=st.booleans(),
    wrap=st.none() | st.sampled_from([64, 69, 17]),
    telex=st.booleans(),
    parts=st.integers(1, 3),
    disclaimer=st.none() | st.just("Confidentiality Notice: UNB+ is not a header here."),
    title_glued=st.booleans(),
    leading_spaces=st.integers(0, 3),
)


def _sorted_contacts(dump: Any) -> Any:
    for booking in dump.get("bookings", []):
        booking["contacts"] = sorted(
            booking["contacts"], key=lambda c: (c["traveller_ref"] or "", c["kind"], c["value"])
        )
    return dump


@given(manifest=manifests(), style=styles)
@settings(
    max_examples=_ROUND_TRIPS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_paxlst_round_trip(manifest: Any, style: RenderStyle) -> None:
    """parse(render(m)) == m for any layout: separators, wrapping, telex, parts, disclaimer."""
    parsed = parse_text(render_paxlst(manifest, style), "x.edi")
    assert parsed.kind == "PAXLST" and len(parsed.manifests) == 1
    back = parsed.manifests[0]
    assert comparable(back) == comparable(manifest)
    assert back.complete
    assert [t.segment for t in back.travellers] == sorted(t.segment or 0 for t in back.travellers)


@given(message=pnr_messages(), style=styles)
@settings(
    max_examples=_ROUND_TRIPS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_pnrgov_round_trip(message: Any, style: RenderStyle) -> None:
    """parse(render(m)) == m for PNRGOV, titles glued or spaced, contacts and payers kept."""
    parsed = parse_text(render_pnrgov(message, style), "x.edi")
    assert parsed.kind == "PNRGOV" and len(parsed.pnr_messages) == 1
    back = parsed.pnr_messages[0]
    assert _sorted_contacts(comparable(back)) == _sorted_contacts(comparable(message))
    assert not any("W_EQN_MISMATCH" in w for w in parsed.warnings)


_DATA = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), min_size=0, max_size=12
)


@given(
    seps=st.sampled_from(SEPARATOR_SETS),
    body=st.lists(
        st.lists(st.lists(_DATA, min_size=1, max_size=3), min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
)
def test_tokenizer_reads_back_released_characters(seps: str, body: list[list[list[str]]]) -> None:
    """Any data, including separators and the release character, survives a write/read."""
    segments = envelope([[["FTX"], *elements] for elements in body])
    # data elements that are pure whitespace at the start of a segment are not representable
    interchange = tokenize(write_segments(segments, seps))[0]
    read = [m.body for m in interchange.messages][0]
    assert len(read) == len(body)
    for seg, elements in zip(read, body, strict=True):
        got = [[c.strip() for c in e] for e in seg.elements[1:]]
        assert got == [[c.strip() for c in e] for e in elements]
    assert not interchange.warnings


# ------------------------------------------------------------------ whole-file damage

_BASE_STYLE = RenderStyle(separators=":+.? '", segment_newline=True)
_FUZZ = settings(
    max_examples=_MUTATIONS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _outcome(text: str) -> ParsedFile | ParseError:
    """Parse; anything but a ParsedFile or a ParseError fails the test by propagating."""
    try:
        return parse_bytes(text.encode("latin-1", "replace"), "fuzz.edi")
    except ParseError as exc:
        assert re.fullmatch(r"E_[A-Z_]+", exc.code)
        assert exc.file == "fuzz.edi" and exc.segment >= 0
        return exc


@st.composite
def rendered(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return render_paxlst(draw(manifests()), _BASE_STYLE)
    return render_pnrgov(draw(pnr_messages()), _BASE_STYLE)


@given(text=rendered(), seps=st.sampled_from(SEPARATOR_SETS[1:]))
@_FUZZ
def test_a_una_that_lies_about_the_separators_never_crashes(text: str, seps: str) -> None:
    """A UNA that lies about the separators gives a ParseError or some parse, never a crash."""
    _outcome("UNA" + seps + text[9:])


@given(manifest=manifests(), delta=st.integers(1, 50))
@_FUZZ
def test_wrong_unt_count_is_a_warning_and_loses_nothing(manifest: Any, delta: int) -> None:
    text = render_paxlst(manifest, _BASE_STYLE)
    m = re.search(r"UNT\+(\d+)\+", text)
    assert m is not None
    wrong = text[: m.start(1)] + str(int(m.group(1)) + delta) + text[m.end(1) :]
    parsed = parse_text(wrong)
    assert comparable(parsed.manifests[0]) == comparable(manifest)
    assert any("W_SEGMENT_COUNT" in w for w in parsed.warnings)


@pytest.mark.parametrize("seed", range(3))
def test_random_garbage_is_refused_cleanly(seed: int) -> None:
    import random

    rng = random.Random(seed)
    blob = bytes(rng.randrange(256) for _ in range(2000))
    with pytest.raises(ParseError):
        parse_bytes(blob, "garbage.bin")
