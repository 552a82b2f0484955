"""A real tidings server for each test: uvicorn on 127.0.0.1, a free port, a background
thread, on the `db_url` database (SQLite file, and PostgreSQL when configured).

Waiting is always on a condition with a deadline (`wait_until`), never a bare sleep.
"""

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, settings
from starlette.applications import Starlette
from tidings.adapters.http.app import Settings, create_app
from tidings.adapters.http.context import Context, token_digest
from tidings.adapters.http.limits import Limits, server_config
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1

from tests.conftest import postgres_schema

__all__ = [
    "ADMIN_TOKEN",
    "Running",
    "call_until",
    "events",
    "fuzz",
    "log_length",
    "serve",
    "wait_until",
    "wapi_auth",
]

ADMIN_TOKEN = "admin-token-for-tests"
# Short, so a full cycle is quick; long enough that a poll right after 1001 is empty.
PING_DELAY = 0.15
# Tests share one server and address: guessing is throttled only where a test says so.
UNTHROTTLED = Limits(auth_failures_per_address=10**9, auth_failures_per_login=10**9, auth_floor=0.0)
T = TypeVar("T")


def fuzz(examples: int) -> settings:
    """Hypothesis settings for a fuzz against a running server: at most `examples`
    examples, no deadline (a shared machine's pauses are not the server's), the
    server fixture shared by every example."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def log_length(server: "Running") -> int:
    """How many entries the server's log holds."""
    return sum(1 for _ in server.tidings.log())


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The fields of each event `name` logged so far (`logs.event`), in order."""
    return [
        dict(r.msg)
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == name
    ]


def wait_until(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """The first truthy result of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def call_until(
    call: Callable[[], T], accept: Callable[[T], bool], timeout: float = 10.0, what: str = ""
) -> T:
    """The first result of `call` that `accept` likes, called until `timeout` seconds."""
    results: list[T] = []

    def probe() -> bool:
        results.append(call())
        return accept(results[-1])

    wait_until(probe, timeout, what or "an accepted result")
    return results[-1]


def wapi_auth(login: str, password: str, now: datetime | None = None) -> str:
    """The WAPI token of this Prague hour."""
    hour = (now or datetime.now(PRAGUE)).astimezone(PRAGUE).hour
    return auth_token(login, password_sha1(password), hour)


@dataclass
class Running:
    """A started server: its base URL, app and HTTP client, and the account a test uses
    (`login` / `password`, opened by the `server` fixture)."""

    url: str
    app: Starlette
    client: httpx.Client
    login: str = "tester"
    password: str = "123456"

    @property
    def context(self) -> Context:
        context: Context = self.app.state.context
        return context

    @property
    def tidings(self) -> Tidings:
        """The server's own library instance (one svTRID counter per process)."""
        return self.context.tidings

    def wapi(self, dialect: str, document: Any, **kwargs: Any) -> httpx.Response:
        """POST a request document (str: XML or JSON text) in the form field `request`."""
        return self.client.post(f"/wapi/{dialect}", data={"request": document}, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        return self.client.request(method, path, headers=headers, **kwargs)


@contextmanager
def serve(settings: Settings, trusted_proxies: tuple[str, ...] = ()) -> Iterator[Running]:
    """Run a server, configured as `tidings serve` configures it, until the block ends,
    then shut it down gracefully."""
    app = create_app(settings)
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every response waits 40 ms for a delayed ACK (uvicorn's own binding says so).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = server_config(
        app,
        settings.limits,
        host="127.0.0.1",
        port=port,
        trusted_proxies=trusted_proxies,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        if not server.started:
            raise RuntimeError("the server did not start (see the log above)")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            yield Running(url, app, client)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def settings_for(db: str, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "db": db,
        "admin_digest": token_digest(ADMIN_TOKEN),
        "ping_delay": PING_DELAY,
        "job_delay": PING_DELAY,
        "limits": UNTHROTTLED,
    }
    fields.update(overrides)
    return Settings(**fields)


def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp / "tidings.db")
    else:
        yield from postgres_schema()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """One server per test module and backend (starting one costs a few tenths of a
    second); tests keep apart by each using an account of their own."""
    for db in _database(request.param, tmp_path_factory.mktemp("server")):
        with serve(settings_for(db)) as running:
            yield running


_logins = itertools.count(1)


@pytest.fixture
def server(shared_server: Running) -> Running:
    """The module's server, with a fresh account (`server.login`, password `123456`)."""
    login = f"tester{next(_logins)}"
    shared_server.tidings.open_account(login, "123456")
    return replace(shared_server, login=login)
