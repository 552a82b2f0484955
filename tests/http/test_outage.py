"""A PostgreSQL outage is answered fast: a real `tidings serve` talks to a real
PostgreSQL through a TCP proxy the test cuts. While the proxy refuses connections, or
swallows everything sent either way (a black hole), WAPI answers 2400, the JSON API
503, `/healthz` and the log's tiles 503, each within `BOUND` seconds, and the server
logs one `store_unreachable` line; once the proxy forwards again, a request succeeds within
`RECOVERY` seconds, one `store_recovered` line is logged, and every operation accepted
before the cut is still there. A SQLite file whose write lock another program holds past
the busy timeout is answered alike: 503, one line, and the next write succeeds."""

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tidings.adapters import Tidings
from tidings.adapters.store.environment import SQLITE_BUSY

from tests.conftest import postgres_schema
from tests.http.conftest import wait_until, wapi_auth
from tests.http.processes import ADMIN, Served, serve_process
from tests.http.tcp_proxy import TcpProxy

BOUND = 3.5  # seconds a request may take while the database is away
RECOVERY = 2.5  # seconds from the database's return to a request that succeeds


@pytest.fixture
def proxied() -> Iterator[tuple[str, TcpProxy]]:
    """A fresh schema with an account `tester`, and its URL through a proxy."""
    for url in postgres_schema():
        with Tidings(url) as tidings:
            tidings.open_account("tester", "123456")
        parts = urlsplit(url)
        proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        try:
            yield url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}", 1), proxy
        finally:
            proxy.close()


def _ping(base: str, n: int) -> tuple[int | None, float]:
    """A WAPI ping's result code (None: no WAPI answer) and how long it took."""
    request = {"user": "tester", "auth": wapi_auth("tester", "123456"), "command": "ping",
               "clTRID": f"p{n}"}  # fmt: skip
    started = time.monotonic()
    answer = httpx.post(f"{base}/wapi/json", json={"request": request}, timeout=30)
    took = time.monotonic() - started
    try:
        return int(answer.json()["response"]["code"]), took
    except (ValueError, KeyError):
        return None, took


def _timed(**request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = httpx.request(timeout=30, **request)
    return answer, time.monotonic() - started


def _accept(base: str, n: int) -> str:
    body = {"login": "tester", "command": "domain-create", "cltrid": f"op{n}"}
    answer = httpx.post(f"{base}/api/operations", json=body, headers=ADMIN, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["svtrid"])


def _outage_answers(served: Served) -> list[float]:
    """Requests while the database is away: each answered as failed, within BOUND."""
    took = []
    for n in range(3):
        code, seconds = _ping(served.base, n)
        assert code == 2400, code
        took.append(seconds)
    api, seconds = _timed(method="GET", url=f"{served.base}/api/accounts/tester", headers=ADMIN)
    assert api.status_code == 503, api.text
    assert api.json()["code"] == 2400
    took.append(seconds)
    health, seconds = _timed(method="GET", url=f"{served.base}/healthz")
    assert health.status_code == 503
    took.append(seconds)
    metrics, seconds = _timed(method="GET", url=f"{served.base}/metrics", headers=ADMIN)
    assert metrics.status_code in (200, 503), metrics.text
    took.append(seconds)
    for path in ("/log/checkpoint", "/log/tile/0/000", "/log/tile/entries/000"):
        tile, seconds = _timed(method="GET", url=f"{served.base}{path}", headers=ADMIN)
        assert tile.status_code == 503, (path, tile.text)
        took.append(seconds)
    assert max(took) < BOUND, took
    return took


def _recovery(served: Served) -> float:
    """Seconds from now until a WAPI ping succeeds."""
    started = time.monotonic()
    wait_until(lambda: _ping(served.base, 99)[0] == 1000, timeout=10, what="a ping to succeed")
    return time.monotonic() - started


@pytest.mark.parametrize("cut", ["refuse", "blackhole"])
def test_a_database_outage_is_answered_fast_and_recovered(
    proxied: tuple[str, TcpProxy], cut: str
) -> None:
    url, proxy = proxied
    with serve_process(url, "--port", "0", "--workers", "1", "--auth-floor", "0") as served:
        accepted = [_accept(served.base, n) for n in range(5)]
        assert _ping(served.base, 0)[0] == 1000

        getattr(proxy, cut)()
        took = _outage_answers(served)
        wait_until(lambda: served.logged(event="store_unreachable"), timeout=5, what="the log")

        proxy.restore()
        recovered = _recovery(served)
        print(f"{cut}: answers during the outage {[round(t, 2) for t in took]} s, "
              f"recovered {recovered:.2f} s after the database returned")  # fmt: skip
        assert recovered < RECOVERY
        wait_until(lambda: served.logged(event="store_recovered"), timeout=5, what="the log")
        for svtrid in accepted:
            answer = httpx.get(f"{served.base}/api/operations/{svtrid}", headers=ADMIN)
            assert answer.status_code == 200, answer.text
    assert len(served.logged(event="store_unreachable")) == 1
    assert len(served.logged(event="store_recovered")) == 1
    assert "Traceback" not in "".join(served.text)


def test_a_sqlite_file_locked_past_the_busy_timeout_is_answered_fast(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
    with serve_process(db, "--port", "0", "--workers", "1", "--auth-floor", "0") as served:
        _accept(served.base, 0)
        # given: another program holds the file's write lock for longer than we wait
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            # when: a command writes; then: it fails, once the busy timeout has passed
            body = {"login": "tester", "command": "domain-create", "cltrid": "locked"}
            api, seconds = _timed(method="POST", url=f"{served.base}/api/operations",
                                  json=body, headers=ADMIN)  # fmt: skip
            assert api.status_code == 503, api.text
            assert seconds < SQLITE_BUSY + BOUND - 2, seconds
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # and once the lock is let go, the next command succeeds
        _accept(served.base, 1)
        wait_until(lambda: served.logged(event="store_recovered"), timeout=5, what="the log")
        print(f"sqlite: a write answered 503 after {seconds:.2f} s behind a held lock")
    assert len(served.logged(event="store_unreachable")) == 1
    assert "Traceback" not in "".join(served.text)
