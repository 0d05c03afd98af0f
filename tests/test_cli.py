"""The command line as a user meets it: one line per mistake, stable exit codes, lazy commands."""

from __future__ import annotations

import pytest

from apiflag.cli import COMMANDS, cli, main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    code = info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--out", "x", "--arrivals", "-5"],
        ["synth", "--out", "x", "--paxlst-version", "D99"],
        ["no-such-command"],
        ["queue", "list", "--format", "yaml"],
    ],
    ids=["negative-count", "unknown-version", "unknown-command", "unknown-format"],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert argv[-1] in err  # names the offending value


def test_refused_action_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["queue", "show", "F-no-such-flag"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "F-no-such-flag" in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_and_has_help(name: str) -> None:
    """Each lazily imported command exists under its name and documents itself."""
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None
    assert command.help or command.short_help or command.callback.__doc__  # type: ignore[union-attr]


def test_demo_queue_without_a_champion_prints_no_probability(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from apiflag.orchestration.cli import print_queue

    item = {"priority": 1, "probability": None, "track": "protection", "status": "new"}
    print_queue([item | {"flag_id": "F1"}, item | {"priority": 2, "flag_id": "F2"}])
    out = capsys.readouterr().out
    assert "ranked by policy weights alone" in out
    assert "     1       -  protection" in out and "F2" in out
    print_queue([item | {"probability": 0.25, "flag_id": "F3"}])
    out = capsys.readouterr().out
    assert " 0.250  protection" in out and "policy weights alone" not in out
