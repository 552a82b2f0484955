"""Real receivers on 127.0.0.1 and a due-work runner in a background thread.

The receiver answers by path: `/ok` 200; `/flaky/N` 500 to the first N requests of a
notification, then 200; `/hang` never answers (until the test ends); `/gone` 410;
`/busy` 429 with `Retry-After: 1`; `/redirect` 302 to `/ok`; `/slow` 200 after 50 ms;
`/down/N` 503 to the first N requests, whichever notification, then 200.
It records every request (path, headers, body, when it started and ended).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.push.due import DueWork

__all__ = ["Received", "Receiver", "receiver", "running"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float


@dataclass
class Receiver:
    base: str
    requests: list[Received] = field(default_factory=list)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            started = time.monotonic()
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            path = self.path
            key = (path, self.headers.get("webhook-id", ""))
            with state.lock:
                count = state.seen[key] = state.seen.get(key, 0) + 1
            status, headers = 200, {}
            with state.lock:
                total = state.seen[(path, "")] = state.seen.get((path, ""), 0) + 1
            if path.startswith("/down/"):
                status = 503 if total <= int(path.rsplit("/", 1)[1]) else 200
            elif path.startswith("/flaky/"):
                status = 500 if count <= int(path.rsplit("/", 1)[1]) else 200
            elif path == "/hang":
                state.release.wait(20)
            elif path == "/gone":
                status = 410
            elif path == "/busy":
                status, headers = (429, {"Retry-After": "1"}) if count == 1 else (200, {})
            elif path == "/slow":
                state.release.wait(0.05)
            elif path == "/redirect":
                status, headers = 302, {"Location": "/ok"}
            reply = b"thanks" if status == 200 else b"no"
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the client gave up (a timeout test)
            with state.lock:
                state.requests.append(
                    Received(
                        path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        started,
                        time.monotonic(),
                    )
                )

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that was killed or timed out resets its connection: expected


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1, and TIDINGS_PUSH_ALLOW set to let pushes reach it."""
    monkeypatch.setenv("TIDINGS_PUSH_ALLOW", "127.0.0.1/32")
    state = Receiver(base="")
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def running(tidings: Tidings, **options: Any) -> Iterator[DueWork]:
    """A due-work runner on `tidings`, in a thread of its own, until the block ends."""
    runner = DueWork(tidings, **options)
    started, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await group.start(runner.run)
            started.set()
            await anyio.to_thread.run_sync(stop.wait)
            group.cancel_scope.cancel()

    def thread_main() -> None:
        try:
            anyio.run(main)
        except BaseException as error:  # reported to the test below
            failure.append(error)
            started.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield runner
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the runner did not stop"
        if failure:
            raise failure[0]
