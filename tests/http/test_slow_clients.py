"""Slow clients: half-sent heads, trickled bodies, idle and surplus connections, and a
client that hangs up mid-body. Every server here is configured as `tidings serve`
configures it (`server_config`), on loopback, with short deadlines."""

import logging
import resource
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tidings.adapters.http.limits import FILES_RESERVE, Limits, connections_that_fit

from tests.http.conftest import (
    ADMIN_TOKEN,
    UNTHROTTLED,
    Running,
    serve,
    settings_for,
    wait_until,
    wapi_auth,
)

HALF_OPEN = 1200
HALF_HEAD = b"POST /wapi/json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic"


def _limits(**overrides: float) -> Limits:
    fields = {
        "auth_failures_per_address": UNTHROTTLED.auth_failures_per_address,
        "auth_failures_per_login": UNTHROTTLED.auth_failures_per_login,
        "auth_floor": 0.0,
    }
    return Limits(**{**fields, **overrides})  # type: ignore[arg-type]


@contextmanager
def _server(tmp_path: Path, **limits: float) -> Iterator[Running]:
    with serve(settings_for(str(tmp_path / "t.db"), limits=_limits(**limits))) as running:
        running.tidings.open_account("tester", "123456")
        yield running


def _connect(running: Running) -> socket.socket:
    host, port = running.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _ping(running: Running) -> dict[str, object]:
    request = {"user": "tester", "auth": wapi_auth("tester", "123456"), "command": "ping"}
    with httpx.Client(base_url=running.url, timeout=5) as fresh:  # a connection of its own
        answer: dict[str, object] = fresh.post("/wapi/json", json=request).json()["response"]
    return answer


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (EOF, after whatever it wrote first)."""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for both ends of the half-open connections in this one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * HALF_OPEN + 512
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the open-files hard limit ({hard}) is below {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("many_files")
def test_a_ping_is_answered_while_1200_half_open_connections_wait(tmp_path: Path) -> None:
    head_timeout = 3.0
    with _server(tmp_path, head_timeout=head_timeout) as running:
        held: list[socket.socket] = []
        try:
            opened = time.monotonic()
            for _ in range(HALF_OPEN):
                sock = _connect(running)
                sock.sendall(HALF_HEAD)
                held.append(sock)
            started = time.monotonic()
            answer = _ping(running)
            took = time.monotonic() - started
            assert answer["code"] == 1000
            assert took < 1.0, f"the ping took {took:.2f} s"
            assert not any(_closed_now(sock) for sock in held[-10:]), "closed before the deadline"
            for sock in held:
                sock.setblocking(False)
            wait_until(
                lambda: all(_closed(sock) for sock in held),
                timeout=head_timeout + 5,
                what="the server to close every half-open connection",
            )
            lasted = time.monotonic() - opened
            # Each was closed at its own deadline; opening them all took a part of `lasted`.
            assert lasted < head_timeout + 5
            assert _ping(running)["code"] == 1000
        finally:
            for sock in held:
                sock.close()


def _closed_now(sock: socket.socket) -> bool:
    """Whether the server has written to or closed `sock` yet (select() stops at 1024)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def test_a_half_sent_head_gets_408_at_the_head_deadline(tmp_path: Path) -> None:
    with _server(tmp_path, head_timeout=0.5) as running, _connect(running) as sock:
        started = time.monotonic()
        sock.sendall(HALF_HEAD)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert sock.recv(4096) == b""  # and closed
        assert 0.4 < time.monotonic() - started < 3


def test_a_trickled_body_gets_408_at_the_body_deadline(tmp_path: Path) -> None:
    with _server(tmp_path, body_timeout=0.5) as running, _connect(running) as sock:
        sock.sendall(
            b"POST /wapi/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 0.4 < time.monotonic() - started < 3


def test_an_idle_kept_alive_connection_is_closed(tmp_path: Path) -> None:
    with _server(tmp_path, keep_alive=1) as running, _connect(running) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert sock.recv(4096) == b""
        assert 0.8 < time.monotonic() - started < 4


def test_past_the_connection_cap_requests_get_503(tmp_path: Path) -> None:
    with _server(tmp_path, max_connections=3) as running:
        idle = [_connect(running) for _ in range(3)]
        try:
            wait_until(
                lambda: httpx.get(f"{running.url}/healthz").status_code == 503,
                what="a request past the cap to get 503",
            )
        finally:
            for sock in idle:
                sock.close()
        wait_until(lambda: httpx.get(f"{running.url}/healthz").status_code == 200)


@pytest.mark.parametrize("path", ["/wapi/xml", "/api/accounts", "/merchants/products"])
def test_a_client_that_hangs_up_mid_body_is_one_info_line(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with _server(tmp_path) as running:
        with _connect(running) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
                "x-ApplicationId: tester\r\nx-Token: 123456\r\n"
                "\r\nrequest=<req".encode()
            )  # head and a part of the body in one segment: the app is called, then EOF
        wait_until(
            lambda: [r for r in caplog.records if r.name == "tidings.access"],
            what="the access log line",
        )
    # The store's own start-up lines (a new database, no signing key) are not the request's.
    mine = [
        r
        for r in caplog.records
        if r.name.startswith(("tidings", "uvicorn"))
        and r.name not in ("tidings.ledger", "tidings.store")
    ]
    assert not [r for r in mine if r.exc_info], "a traceback was logged"
    assert not [r for r in mine if r.levelno >= logging.WARNING], [r.getMessage() for r in mine]
    hung_up = [r for r in mine if "hung up" in r.getMessage()]
    assert len(hung_up) == 1 and hung_up[0].levelno == logging.INFO
    access = [r.msg for r in mine if r.name == "tidings.access"]
    assert access == [access[0]] and isinstance(access[0], dict)
    assert access[0]["status"] == 499 and "wapi_code" not in access[0]


def test_serve_makes_room_for_its_connection_cap() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(4096, hard - FILES_RESERVE) if hard != resource.RLIM_INFINITY else 4096
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        assert connections_that_fit(wanted) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted + FILES_RESERVE
        if hard != resource.RLIM_INFINITY:  # past the hard limit, the cap shrinks to fit
            assert connections_that_fit(hard) == hard - FILES_RESERVE
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_head_past_its_size_cap_gets_431(tmp_path: Path) -> None:
    with _server(tmp_path, max_head=4096) as running:
        with _connect(running) as sock:
            # All of it at once: the server reads it whole, so its close is clean.
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: " + b"y" * 5000)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        assert httpx.get(f"{running.url}/healthz").status_code == 200  # the server is fine
