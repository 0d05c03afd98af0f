"""The review desk in a real browser: headless Chromium from Debian, driven by Selenium.

One synthetic world and one server for the module. An analyst signs in, opens the highest flag,
reads its case file and decides it; an auditor finds that decision in the audit log and verifies
the chain. Every page is saved at 1280 and 768 pixels wide to ``.screenshots/web/`` (or
``$APIFLAG_SCREENSHOTS``). Chromium comes from ``scripts/install-chromium.sh``; without it the
tests skip and say so.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apiflag import pipeline
from apiflag.audit import read_events
from apiflag.privacy import accounts
from apiflag.queue import store
from apiflag.settings import Settings
from apiflag.synth.world import WorldConfig, generate_world
from apiflag.web import views
from web_helpers import cheap_hashes

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("APIFLAG_SCREENSHOTS") or REPO / ".screenshots" / "web")
NIGHT = dt.date(2026, 11, 20)
PASSWORD = "browser tests password"
WIDTHS = (1280, 768)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "Chromium or chromedriver not installed (scripts/install-chromium.sh installs them)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 300-arrival synthetic night run through the pipeline, with two accounts."""
    _chromium()
    root = tmp_path_factory.mktemp("browser")
    home = root / "home"
    with pytest.MonkeyPatch.context() as env:  # this world's home only, whatever ran before
        env.setenv("APIFLAG_HOME", str(home))
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.delenv("APIFLAG_DB_URL", raising=False)
        generate_world(
            root / "world", WorldConfig(seed=11, nights=1, arrivals=300, history_nights=0)
        )
        pipeline.run_night(
            NIGHT,
            root / "world",
            f"sqlite:///{root / 'world' / 'casedb.sqlite'}",
            settings=Settings(capacity=10),
        )
        engine = store.open_engine()
        with cheap_hashes():
            accounts.add_account(engine, "aiko", ("analyst",), password=PASSWORD, actor="tests")
            accounts.add_account(engine, "oda", ("auditor",), password=PASSWORD, actor="tests")
        engine.dispose()
    yield home


@pytest.fixture(scope="module")
def server(world: Path) -> Iterator[str]:
    """The desk on a free loopback port, in a thread of this process."""
    import uvicorn

    from apiflag.web.app import create_app

    with pytest.MonkeyPatch.context() as env:
        env.setenv("APIFLAG_HOME", str(world))
        env.delenv("APIFLAG_DB_URL", raising=False)
        app = create_app(secret="browser-" + "z" * 40)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the desk did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture()
def home(world: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APIFLAG_HOME", str(world))
    return world


def _shoot(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save the whole page at each width: ``NAME-1280.png`` and ``NAME-768.png``."""
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 20, 4000))
        assert driver.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} is wider than {width} px by {overflow} px"
    driver.set_window_size(1280, 900)


def _traveller(engine, flag_id: str) -> str:  # type: ignore[no-untyped-def]
    return str(store.get_flag(engine, flag_id, actor="tests")["flag"]["traveller_id"])


def _sign_in(driver, server: str, name: str, target: str) -> None:  # type: ignore[no-untyped-def]
    driver.delete_all_cookies()
    driver.get(server + target)
    assert "/login" in driver.current_url
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 10).until(ec.text_to_be_present_in_element((By.ID, "signed-in"), name))


def test_analyst_opens_the_highest_flag_reads_it_and_decides(
    browser,
    server: str,
    home: Path,  # type: ignore[no-untyped-def]
) -> None:
    driver = browser
    _sign_in(driver, server, "aiko", "/queue")
    assert driver.current_url.endswith("/queue")
    _shoot(driver, "queue")
    engine = store.open_engine()
    best = store.list_flags(engine, NIGHT)[0]
    first = driver.find_elements(By.CSS_SELECTOR, "#queue a.flag-link")[0]
    assert best["traveller"]["surname"] in first.text
    first.click()
    WebDriverWait(driver, 10).until(ec.url_contains("/flags/"))
    assert driver.find_element(By.ID, "flag-id").text == best["flag_id"]
    bars = driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    assert bars, "the contribution chart has no bars"
    assert best["traveller"]["surname"] in driver.find_element(By.ID, "traveller").text
    _shoot(driver, "case-file")
    choice = Select(driver.find_element(By.ID, "decision"))
    outcome = "victim_support" if best["track"] == "protection" else "hearing"
    value = next(
        o.get_attribute("value")
        for o in choice.options
        if str(o.get_attribute("value")).startswith(outcome + "/")
    )
    choice.select_by_value(value)
    driver.find_element(By.ID, "note").send_keys("interpreter booked <b>tomorrow</b>")
    driver.find_element(By.ID, "decide").click()
    WebDriverWait(driver, 10).until(ec.url_contains("done=decide"))
    assert "Recorded: decide" in driver.find_element(By.ID, "done").text
    assert driver.find_element(By.ID, "status").text == outcome.replace("_", " ")
    history = driver.find_element(By.ID, "history").text
    assert "aiko" in history and "interpreter booked <b>tomorrow</b>" in history
    _shoot(driver, "decided")
    after = store.get_flag(engine, best["flag_id"], actor="tests")
    assert after["flag"]["status"] == outcome
    assert [h["analyst"] for h in after["history"]] == ["aiko"]
    driver.find_element(By.ID, "sign-out").click()
    WebDriverWait(driver, 10).until(ec.url_contains("/login"))


def test_auditor_finds_the_decision_and_verifies_the_chain(
    browser,
    server: str,
    home: Path,  # type: ignore[no-untyped-def]
) -> None:
    driver = browser
    engine = store.open_engine()
    decided = read_events(engine, action="queue.decide")
    assert decided, "the analyst's decision is missing (run the module, not this test alone)"
    flag_id = decided[-1].object
    _sign_in(driver, server, "oda", "/audit")
    driver.find_element(By.ID, "audit-object").send_keys(flag_id)
    driver.find_element(By.ID, "audit-action").send_keys("queue.decide")
    driver.find_element(By.ID, "audit-filter").click()
    WebDriverWait(driver, 10).until(ec.url_contains("action=queue.decide"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    assert len(rows) == 1 and "aiko" in rows[0].text and "queue.decide" in rows[0].text
    driver.find_element(By.ID, "verify").click()
    WebDriverWait(driver, 10).until(ec.url_contains("/audit/verify"))
    assert "Chain intact" in driver.find_element(By.ID, "chain").text
    _shoot(driver, "audit")
    driver.get(server + f"/flags/{flag_id}")
    page = driver.find_element(By.TAG_NAME, "main").text
    best = store.get_flag(engine, flag_id, actor="tests")
    assert best["traveller"]["surname"] not in page and "PSN:name:" in page
    _shoot(driver, "case-file-auditor")
    linked = next(
        (
            f
            for f in store.list_flags(engine, NIGHT)
            if views.linked_travellers(f["night"], _traveller(engine, f["flag_id"]))
        ),
        None,
    )
    assert linked is not None, "no flag of the world has linked travellers"
    driver.get(server + f"/flags/{linked['flag_id']}")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.graph circle.node")
    _shoot(driver, "case-file-linked")
    for path, name in (("/reports", "reports"), ("/fairness", "fairness"), ("/stats", "stats")):
        driver.get(server + path)
        assert driver.find_element(By.TAG_NAME, "h1").text
        _shoot(driver, name)
