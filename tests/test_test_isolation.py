"""The suite's own isolation: a test module cannot leave its environment to the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")


def test_a_module_fixture_that_leaks_an_environment_variable_does_not_reach_the_next_module(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        test_a_leaks="""
import os, pytest

@pytest.fixture(scope="module")
def world():
    os.environ["APIFLAG_DB_URL"] = "sqlite:////elsewhere/queue.sqlite"  # never restored
    os.environ["MLFLOW_TRACKING_URI"] = "file:///elsewhere/mlruns"
    return os.environ["APIFLAG_DB_URL"]

def test_uses_world(world):
    assert world.endswith("elsewhere/queue.sqlite")
""",
        test_b_reads="""
import os, pytest

@pytest.fixture(scope="module")
def seen():
    return os.environ.get("APIFLAG_DB_URL"), os.environ.get("MLFLOW_TRACKING_URI")

def test_next_module_sees_its_own_environment(seen):
    assert seen == (None, None)
""",
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
