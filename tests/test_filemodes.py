"""Data at rest: the home, the world and everything apiflag writes are private to its account.

Every test starts from a shell-like umask of 022 (files 644, folders 755 by default), the
setting under which a home used to be readable by every local account.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apiflag import config, filemodes

REPO = Path(__file__).resolve().parents[1]
APIFLAG = Path(sys.executable).with_name("apiflag")


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _open_entries(root: Path) -> list[str]:
    """Every entry under root (root included) with a group or others permission bit."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            out.append(f"{path.relative_to(root.parent)} {mode:o}")
    return out


def _shell(command: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "APIFLAG_HOME": str(home),
        "PREFECT_HOME": str(REPO / ".prefect"),
    }
    env.pop("APIFLAG_DB_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        ["sh", "-c", f"umask 022 && {command}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_night_under_umask_022_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"  # does not exist yet: apiflag creates it
    world = tmp_path / "feeds" / "world"
    done = _shell(
        f"{APIFLAG} synth --out {world} --arrivals 200 --history-nights 0 --seed 3 "
        f"&& {APIFLAG} run --night 2026-11-20 --from {world} --orchestrator plain --capacity 5 "
        f"&& {APIFLAG} queue list --format json",
        home,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    # what holds personal data is there, and private
    written = {p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()}
    for expected in (
        "apiflag.db",
        "reports/2026-11-20.html",
        "warehouse/night=2026-11-20/travellers.parquet",
        "warehouse/night=2026-11-20/matches.parquet",
        "warehouse/night=2026-11-20/combined.parquet",
        "archive/arrivals/night=2026-11-20.jsonl",
    ):
        assert expected in written
    raw = [p for p in written if p.startswith("archive/") and not p.startswith("archive/arrivals")]
    assert len(raw) >= 4  # the raw messages, one file per distinct message
    assert _open_entries(home) == []
    # the synthetic world outside the home: its own folder and every file in it
    assert (world / "truth" / "travellers.csv").is_file()
    assert _open_entries(world) == []
    assert stat.S_IMODE(world.stat().st_mode) == filemodes.DIR_MODE
    assert stat.S_IMODE((world / "casedb.sqlite").stat().st_mode) == filemodes.FILE_MODE


def test_library_use_under_umask_022_is_private_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    import pandas as pd

    from apiflag import atomic
    from apiflag.queue.store import open_engine
    from apiflag.synth.world import WorldConfig, generate_world

    home = tmp_path / "fresh-home"
    monkeypatch.setenv("APIFLAG_HOME", str(home))
    os.umask(0o022)
    assert stat.S_IMODE(config.home().stat().st_mode) == 0o700
    os.umask(0o022)
    frame = pd.DataFrame({"traveller_id": ["T1"], "surname": ["TANAKA"]})
    atomic.write_parquet(config.warehouse_dir("2026-11-20") / "combined.parquet", frame)
    os.umask(0o022)
    open_engine().dispose()
    os.umask(0o022)
    out = tmp_path / "lib-world"
    generate_world(out, WorldConfig(seed=5, nights=1, arrivals=200, history_nights=0))
    assert _open_entries(home) == [] and _open_entries(out) == []
    assert (home / "apiflag.db").is_file() and (out / "world.json").is_file()


def test_an_open_home_gets_one_warning_line_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    home = tmp_path / "old-home"
    (home / "reports").mkdir(parents=True)
    (home / "reports" / "2026-11-19.html").write_text("<html>names</html>")
    home.chmod(0o755)  # as an earlier build left it under umask 022
    done = _shell(f"{APIFLAG} queue list --format json", home)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == (
        f"apiflag: warning: {home} holds personal data and 3 entries in it can be read or "
        f"listed by group or others (the folder itself is mode 755); fix with: chmod -R go= {home}"
    )
    # nothing is changed behind the administrator's back, and what apiflag adds is private
    assert stat.S_IMODE(home.stat().st_mode) == 0o755
    assert stat.S_IMODE((home / "apiflag.db").stat().st_mode) == 0o600
    # a private home: what lies inside is out of anyone else's reach, whatever its own mode
    home.chmod(0o700)
    again = _shell(f"{APIFLAG} queue list --format json", home)
    assert again.returncode == 0 and again.stderr == ""
    # opened for traversal only (711): the open folder and report inside can be reached again
    home.chmod(0o711)
    third = _shell(f"{APIFLAG} queue list --format json", home)
    assert third.stderr.strip() == (
        f"apiflag: warning: {home} holds personal data and 3 entries in it can be read or "
        f"listed by group or others (the folder itself is mode 711); fix with: chmod -R go= {home}"
    )
    # fixed as the warning says: silence
    subprocess.run(["chmod", "-R", "go=", str(home)], check=True)
    quiet = _shell(f"{APIFLAG} queue list --format json", home)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert _open_entries(home) == []


def test_exposure_walks_only_what_others_can_reach_and_skips_links(tmp_path: Path) -> None:
    root = tmp_path / "h"
    root.mkdir(mode=0o700)
    os.chmod(root, 0o700)
    (root / "sub").mkdir(mode=0o700)
    os.chmod(root / "sub", 0o700)
    (root / "sub" / "a").write_text("x")
    os.chmod(root / "sub" / "a", 0o644)
    (root / "link").symlink_to(root / "sub" / "a")  # a link's own mode is 777 and means nothing
    # a 0700 home: one stat, nothing reachable
    assert (filemodes.exposure(root).count, filemodes.exposure(root).checked) == (0, 1)
    # open the home and the folder to the group: the walk reaches the file
    os.chmod(root, 0o750)
    found = filemodes.exposure(root)
    assert (found.count, found.checked, found.first) == (1, 3, root)  # home, sub, link seen
    os.chmod(root / "sub", 0o750)
    found = filemodes.exposure(root)
    assert (found.count, found.checked) == (3, 4)  # home, sub and the file open; link skipped
    os.chmod(root, 0o700)
    os.chmod(root / "sub", 0o700)
    os.chmod(root / "sub" / "a", 0o600)
    os.chmod(root, 0o750)
    os.chmod(root / "sub", 0o750)
    found = filemodes.exposure(root)
    assert (found.count, found.first, found.first_mode) == (2, root, 0o750)
    # the CLI and the flow it starts both check: one line per process
    err = io.StringIO()
    filemodes.warn_if_exposed(root, err)
    filemodes.warn_if_exposed(root, err)
    assert err.getvalue().count("\n") == 1 and "2 entries in it" in err.getvalue()


@pytest.mark.slow
def test_demo_under_umask_022_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    """The whole demo: world, training (MLflow store and artifacts), promotion, night, report."""
    home = tmp_path / "demo-home"
    done = _shell(f"{APIFLAG} demo --orchestrator plain", home)
    assert done.returncode == 0, done.stderr
    assert (home / "mlflow.db").is_file()
    assert any(p.is_file() for p in (home / "mlartifacts").rglob("*"))
    assert _open_entries(home) == []
