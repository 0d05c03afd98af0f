"""A small desk world: the hand-made night of queue_helpers, with markup where people type.

``desk_world()`` saves the nine-traveller night (one surname and one rule description carry
``<script>``), writes the night's travellers and flights to the warehouse the way ingest does
(so the queue knows airports and arrival times), and creates one account per role.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from apiflag import config
from apiflag.privacy import accounts
from apiflag.queue import store
from queue_helpers import NIGHT, RULE_INFO, small_night

PASSWORD = "correct horse battery staple"
EVIL = "<script>alert('x')</script>"
ACCOUNTS: dict[str, tuple[str, ...]] = {
    "ana": ("analyst",),
    "ben": ("analyst",),
    "sue": ("supervisor", "analyst"),
    "aud": ("auditor",),
    "mo": ("model_owner",),
}
ROLE_ACCOUNT = {"analyst": "ana", "supervisor": "sue", "auditor": "aud", "model_owner": "mo"}
SECRET = "test-secret-" + "x" * 40
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)


def desk_world() -> Engine:
    """Save the night, its warehouse travellers and flights, and the accounts; return the engine."""
    night = small_night()
    travellers = night.travellers.copy()
    travellers.loc[travellers["traveller_id"] == "T1", "surname"] = f"TANAKA{EVIL}"
    info = dict(RULE_INFO)
    info["R-101"] = replace(info["R-101"], title=f"Same phone {EVIL} on bookings")
    night = replace(night, travellers=travellers, rule_info=info)
    engine = store.open_engine()
    store.save_night(engine, night.combine(capacity=5))
    folder = config.warehouse_dir(NIGHT.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    travellers.to_parquet(folder / "travellers.parquet")
    flights = night.flights.assign(
        arrival_airport=["NRT", "KIX"],
        departure_airport=["MNL", "SVO"],
        scheduled_arrival=[
            pd.Timestamp("2026-11-27 09:30", tz="UTC"),  # after NOW: not yet landed
            pd.Timestamp("2026-11-27 05:00", tz="UTC"),  # before NOW: landed
        ],
    )
    flights.to_parquet(folder / "flights.parquet")
    for name, roles in ACCOUNTS.items():
        accounts.add_account(engine, name, roles, password=PASSWORD, actor="tests")
    return engine


@contextmanager
def cheap_hashes() -> Iterator[None]:
    """Argon2id with small costs, so that tests do not wait on deliberate slowness."""
    saved = accounts._HASHER
    accounts._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        yield
    finally:
        accounts._HASHER = saved


def build_template(folder: Path) -> Path:
    """Build the desk world once in ``folder`` (an APIFLAG_HOME) and return it."""
    saved = os.environ.get("APIFLAG_HOME")
    os.environ["APIFLAG_HOME"] = str(folder)
    try:
        with cheap_hashes():
            desk_world().dispose()
    finally:
        if saved is not None:
            os.environ["APIFLAG_HOME"] = saved
    return folder


def copy_world(template: Path, home: Path) -> Engine:
    """Copy a built desk world into ``home`` (the test's APIFLAG_HOME) and open it."""
    shutil.copytree(template, home, dirs_exist_ok=True)
    return store.open_engine()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``name`` in and return the session's CSRF token (from the page it lands on)."""
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": csrf_of(form.text), "next": "/queue"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/reports")
    return csrf_of(page.text)


def flag_ids(engine: Engine) -> list[str]:
    return [i["flag_id"] for i in store.list_flags(engine, NIGHT)]
