"""Review desk under load: 20 signed-in analysts over loopback on a 200,000-arrival night.

Builds the night with the queue tests' crowd (``random_night``: 200,000 arrivals, combined with
capacity 200 and saved), its warehouse travellers, flights, booking contacts and payments, and
20 analyst accounts (real Argon2 costs). Then ``apiflag web`` runs in its own process (one
uvicorn worker, SQLite queue database) and 20 client threads each sign in and, for a bounded
number of rounds, list a page of the queue, open a random case file and decide a flag of their
own; at the end all 20 decide one shared flag at the same moment. Bounded in requests (rounds)
and in time (``--seconds``).

Measured: p50/p95/max page time per kind, errors (any status other than the expected), the
decisions stored against the decisions answered (lost or duplicated), the winners of the shared
flag (exactly one), the server's CPU seconds, and the load average before and after.

    python -m benchmarks.bench_web [--arrivals N] [--analysts N] [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO = HERE.parent
RESULTS = HERE / "results" / "web.json"
PASSWORD = "load test password"


def build(home: Path, arrivals: int, analysts: int) -> dict[str, Any]:
    """Create the night, its warehouse tables and the accounts under ``home``."""
    os.environ["APIFLAG_HOME"] = str(home)
    sys.path.insert(0, str(REPO / "tests"))
    import pandas as pd

    from apiflag import config
    from apiflag.privacy import accounts
    from apiflag.queue import store
    from queue_helpers import random_night

    night = random_night(arrivals, seed=11)
    t = time.perf_counter()
    result = night.combine(capacity=200)
    engine = store.open_engine()
    store.save_night(engine, result)
    folder = config.warehouse_dir(night.night.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    travellers = night.travellers.assign(
        document_number=[f"D{i}" for i in range(len(night.travellers))]
    )
    travellers.to_parquet(folder / "travellers.parquet")
    n = len(night.flights)
    night.flights.assign(
        arrival_airport=["NRT", "HND", "KIX"] * (n // 3) + ["NRT"] * (n % 3),
        departure_airport="MNL",
        scheduled_arrival=pd.Timestamp("2026-11-27 09:00", tz="UTC"),
    ).to_parquet(folder / "flights.parquet")
    rng = random.Random(5)
    phones = [f"+8190{rng.randrange(10**7):07d}" for _ in range(len(travellers))]
    pd.DataFrame(
        {
            "booking_id": travellers["booking_id"],
            "pnr_traveller_id": None,
            "kind": "phone",
            "value": phones,
            "normalized": phones,
            "source": "CTCM",
        }
    ).to_parquet(folder / "booking_contacts.parquet")
    pd.DataFrame(
        {"booking_id": travellers["booking_id"], "form": "CC", "payer_name": None}
    ).to_parquet(folder / "payments.parquet")
    for i in range(analysts):
        accounts.add_account(
            engine, f"analyst{i:02d}", ("analyst",), password=PASSWORD, actor="bench"
        )
    flags = [i["flag_id"] for i in store.list_flags(engine, night.night)]
    engine.dispose()
    return {
        "night": night.night.isoformat(),
        "flags": flags,
        "build_s": round(time.perf_counter() - t, 1),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


class Analyst(threading.Thread):
    """One signed-in analyst working the queue."""

    def __init__(self, base: str, name: str, job: dict[str, Any], shared: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.base, self.name, self.job, self.shared = base, name, job, shared
        self.times: dict[str, list[float]] = {"queue": [], "case": [], "decide": [], "signin": []}
        self.errors: list[str] = []
        self.decided: list[str] = []
        self.won_shared = False

    def _timed(
        self, kind: str, call: Any, path: str, expected: tuple[int, ...], **kwargs: Any
    ) -> Any:
        t = time.perf_counter()
        response = call(path, **kwargs)
        self.times[kind].append(time.perf_counter() - t)
        if response.status_code not in expected:
            self.errors.append(f"{kind} {response.status_code}")
        return response

    def run(self) -> None:
        import httpx

        rng = random.Random(self.name)
        deadline = self.shared["deadline"]
        with httpx.Client(base_url=self.base, timeout=60) as c:
            form = c.get("/login")
            self._timed(
                "signin",
                c.post,
                "/login",
                (303,),
                data={"name": self.name, "password": PASSWORD, "csrf": _csrf(form.text)},
            )
            csrf = _csrf(c.get("/reports").text)
            flags = self.shared["flags"]
            pages = max(1, -(-len(flags) // 25))
            # warm-up, not timed: the night's indexes are built once per server process
            c.get(f"/queue?night={self.shared['night']}")
            c.get(f"/flags/{flags[-1]}")
            self.shared["start"].wait(timeout=600)
            for own in self.job["own"]:
                if time.monotonic() > deadline:
                    break
                night = self.shared["night"]
                page = rng.randrange(1, pages + 1)
                self._timed("queue", c.get, f"/queue?night={night}&page={page}", (200,))
                self._timed("case", c.get, f"/flags/{rng.choice(flags)}", (200,))
                self._timed("case", c.get, f"/flags/{own}", (200,))
                response = self._timed(
                    "decide",
                    c.post,
                    f"/flags/{own}/decide",
                    (303,),
                    data={"csrf": csrf, "decision": "cleared/data_error", "seen": "0"},
                )
                if response.status_code == 303:
                    self.decided.append(own)
            self.shared["barrier"].wait(timeout=max(1.0, deadline - time.monotonic() + 30))
            contested = self.shared["contested"]
            response = self._timed(
                "decide",
                c.post,
                f"/flags/{contested}/decide",
                (303, 409),
                data={"csrf": csrf, "decision": "hearing/document_doubt", "seen": "0"},
            )
            self.won_shared = response.status_code == 303


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "APIFLAG_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "apiflag.cli", "web", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the desk did not start")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(arrivals: int, analysts: int, rounds: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="apiflag-bench-web-") as tmp:
        home = Path(tmp) / "home"
        built = build(home, arrivals, analysts)
        flags = built["flags"]
        contested, pool = flags[0], flags[1:]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = _serve(home, port)
        shared = {
            "flags": flags,
            "night": built["night"],
            "contested": contested,
            "deadline": time.monotonic() + seconds,
            "barrier": threading.Barrier(analysts),
        }
        marks: dict[str, float] = {}

        def started() -> None:
            marks["cpu"] = _cpu_seconds(server.pid)
            marks["t"] = time.perf_counter()
            marks["load"] = os.getloadavg()[0]

        shared["start"] = threading.Barrier(analysts, action=started)
        workers = [
            Analyst(
                f"http://127.0.0.1:{port}",
                f"analyst{i:02d}",
                {"own": pool[i * rounds : (i + 1) * rounds]},
                shared,
            )
            for i in range(analysts)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(seconds + 700)
        wall = time.perf_counter() - marks["t"]
        cpu = _cpu_seconds(server.pid) - marks["cpu"]
        load_before = marks["load"]
        load_after = os.getloadavg()[0]
        server.terminate()
        server.wait(30)

        os.environ["APIFLAG_HOME"] = str(home)
        from sqlalchemy import func, select

        from apiflag.audit import check_chain
        from apiflag.queue import store

        engine = store.open_engine()
        with engine.connect() as conn:
            per_flag = dict(
                conn.execute(
                    select(store.dispositions.c.flag_id, func.count())
                    .where(store.dispositions.c.to_status.in_(["cleared", "hearing"]))
                    .group_by(store.dispositions.c.flag_id)
                ).all()
            )
        answered = [f for w in workers for f in w.decided]
        winners = sum(w.won_shared for w in workers)
        chain = check_chain(engine)
    times: dict[str, list[float]] = {}
    for w in workers:
        for kind, values in w.times.items():
            times.setdefault(kind, []).extend(values)
    return {
        "arrivals": arrivals,
        "queued_flags": len(flags),
        "analysts": analysts,
        "rounds": rounds,
        "build_s": built["build_s"],
        "wall_s": round(wall, 1),
        "requests": sum(len(v) for v in times.values()),
        "pages": {
            kind: {
                "n": len(v),
                "p50_ms": round(statistics.median(v) * 1000, 1) if v else None,
                "p95_ms": round(_pct(v, 0.95) * 1000, 1) if v else None,
                "max_ms": round(max(v) * 1000, 1) if v else None,
            }
            for kind, v in times.items()
        },
        "errors": sum(len(w.errors) for w in workers),
        "error_kinds": sorted({e for w in workers for e in w.errors}),
        "decisions_answered": len(answered) + winners,
        "decisions_stored": sum(per_flag.values()),
        "flags_decided_twice": sum(1 for n in per_flag.values() if n > 1),
        "shared_flag_winners": winners,
        "audit_chain_intact": chain.broken_seq is None,
        "audit_events": chain.checked,
        "server_cpu_s": round(cpu, 1),
        "server_cpu_ms_per_request": round(
            1000 * cpu / max(1, sum(len(v) for k, v in times.items() if k != "signin")), 1
        ),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(load_after, 2),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrivals", type=int, default=200_000)
    parser.add_argument("--analysts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=240.0)
    args = parser.parse_args(argv if argv is not None else [])
    report = run(args.arrivals, args.analysts, args.rounds, args.seconds)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
