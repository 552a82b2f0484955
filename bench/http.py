"""The `http` rows of `python -m bench`: WAPI requests per second over HTTP, and the ceiling.

tidings is served as `tidings serve` serves it (`http.workers`: a supervisor and N
spawned worker processes on one socket, uvicorn with uvloop and httptools, the app of
`http.app`) on a fresh SQLite file, with one worker and with N (the CPU count, at least
two). Beside it, on the same server stack, a Starlette app answering "hello" to a GET:
what the stack alone can do on this machine, the ceiling the WAPI rows are divided by.

Load: keep-alive clients (1, 16, 64), each on its own connection and, for WAPI, its own
account, running poll cycles as a WAPI client does: ping-async (1001), poll-req (1000
with a notification, or 1003 while nothing has ended yet), and poll-ack (1002) of what
the poll returned. Every request counts; an answer outside those codes stops the bench.
The operations end through the due-work runner of worker 0 (`--ping-delay 0`), the
server's own work between a ping-async and the poll that returns it.

The load generator is our own: no fast HTTP load tool (wrk, oha, hey, ab) ships with
the project or this machine, and httpx costs more CPU per request than the hello server
does. It is a bare asyncio protocol on uvloop writing whole HTTP/1.1 requests and
reading `content-length` bodies, in one process (two from 64 clients), and reports the
CPU it used itself: on a machine of two CPUs it shares them with the server, and the
`busy` figures in the notes say how much of them each side took.
"""

import asyncio
import functools
import logging
import multiprocessing
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

import msgspec
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tidings.adapters.http.app import Settings, worker_app
from tidings.adapters.http.limits import Limits
from tidings.adapters.http.workers import Served, listening_socket, serve_workers
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1

from .results import Result

__all__ = ["HELLO", "HTTP_CLIENTS", "WAPI", "hello_app", "measure_http", "more_workers"]

HTTP_CLIENTS = (1, 16, 64)
WAPI, HELLO = "tidings WAPI", "hello"
_PASSWORD = "bench-password"
_spawn = multiprocessing.get_context("spawn")
# Every answer a poll cycle may get; anything else is a failure the bench reports.
_CYCLE_CODES = frozenset({1000, 1001, 1002, 1003})
# Room for the server to warm up (the first connections, the first commits).
_WARMUP = 0.5
_START_TIMEOUT = 60.0


def more_workers() -> int:
    """The number of workers of the multi-process rows: the CPU count, at least two."""
    return max(2, len(os.sched_getaffinity(0)))


# --- the servers -----------------------------------------------------------------------


async def _hello(_: Request) -> Response:
    return PlainTextResponse("hello")


def hello_app(_: int) -> Starlette:
    """The ceiling: Starlette's smallest answer."""
    return Starlette(routes=[Route("/", _hello, methods=["GET"])])


def _quiet() -> None:
    # Warnings only: the access log (one line per request) is a cost the hello app has not.
    logging.basicConfig(level=logging.WARNING)


def _supervise(served: Served, sock: socket.socket, workers: int) -> None:
    serve_workers(served, sock, workers)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and every live process under it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    total = 0.0
    for pid in tree:
        try:
            total += _process_cpu(pid)
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class _Running:
    port: int
    pid: int


def _answers(port: int, request: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextmanager
def _serving(served: Served, workers: int, probe: bytes) -> Iterator[_Running]:
    """The server in a process of its own, until the block ends; waits until every
    worker has started (each has its own connection to probe, so one probe per worker
    is not enough: it waits for the supervisor's workers to answer a burst)."""
    sock = listening_socket("127.0.0.1", 0, served.limits.backlog)
    process = _spawn.Process(target=_supervise, args=(served, sock, workers))
    process.start()
    port = sock.getsockname()[1]
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _answers(port, probe):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the bench server did not start (exit {process.exitcode})")
            time.sleep(0.1)
        # The workers start one after another: give the last one time to be serving.
        _wait_for_workers(process.pid or 0, workers, deadline)
        yield _Running(port, process.pid or 0)
    finally:
        process.terminate()
        process.join(timeout=45)
        if process.is_alive():
            process.kill()
            process.join()
        sock.close()


def _wait_for_workers(supervisor: int, workers: int, deadline: float) -> None:
    """Until the supervisor's workers are idle after starting (their CPU stops rising):
    a worker still importing would take CPU from the first scenario."""
    last = -1.0
    while time.monotonic() < deadline:
        used = _tree_cpu(supervisor)
        if used - last < 0.02 * workers:
            return
        last = used
        time.sleep(0.25)


# --- the load --------------------------------------------------------------------------


class _Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, `content-length`
    bodies (what uvicorn sends for these answers)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiting: asyncio.Future[tuple[bytes, bytes]] | None = None
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports write as asyncio's do, without subclassing them.
        self._transport = cast(asyncio.WriteTransport, transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(error or ConnectionError("the server closed"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
        if len(buffer) < end + 4 + length:
            return
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        if self._waiting is not None:
            self._waiting.set_result((head[:12], body))

    async def send(self, request: bytes) -> tuple[bytes, bytes]:
        """The status line's start and the body of the answer to `request`."""
        assert self._transport is not None
        self._waiting = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiting


def _post(body: bytes) -> bytes:
    return (
        b"POST /wapi/json HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


def _wapi_request(login: str, token: str, command: str, data: dict[str, str] | None) -> bytes:
    request: dict[str, object] = {"user": login, "auth": token, "command": command}
    if data is not None:
        request["data"] = data
    return _post(msgspec.json.encode({"request": request}))


_GET_HELLO = b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


class _Answer(msgspec.Struct):
    code: int
    data: dict[str, dict[str, object]] | None = None


class _Document(msgspec.Struct):
    response: _Answer


@dataclass
class _Tally:
    start: float
    end: float
    requests: int = 0

    def count(self) -> None:
        if self.start <= time.time() <= self.end:
            self.requests += 1


_decode = msgspec.json.Decoder(_Document).decode


async def _ask(connection: _Http, request: bytes, codes: Counter[int], tally: _Tally) -> _Answer:
    """One WAPI request; its code is tallied (0: not an HTTP 200)."""
    status, body = await connection.send(request)
    answer = _decode(body).response if status.endswith(b" 200") else _Answer(code=0)
    codes[answer.code] += 1
    tally.count()
    return answer


async def _wapi_client(
    connection: _Http, login: str, token: str, tally: _Tally, codes: Counter[int]
) -> None:
    ping = _wapi_request(login, token, "ping-async", None)
    poll = _wapi_request(login, token, "poll-req", None)
    while time.time() < tally.end:
        await _ask(connection, ping, codes, tally)
        polled = await _ask(connection, poll, codes, tally)
        if polled.code == 1000 and polled.data is not None:
            wanted = {"id": str(polled.data["notify"]["id"])}
            await _ask(connection, _wapi_request(login, token, "poll-ack", wanted), codes, tally)


async def _hello_client(connection: _Http, tally: _Tally, codes: Counter[int]) -> None:
    while time.time() < tally.end:
        status, _ = await connection.send(_GET_HELLO)
        codes[200 if status.endswith(b" 200") else 0] += 1
        tally.count()


async def _load(
    port: int, kind: str, accounts: list[tuple[str, str]], parent: Connection
) -> tuple[int, float, dict[int, int]]:
    """Connect every client, say so, and run them in the window the parent answers."""
    loop = asyncio.get_running_loop()
    connections = [(await loop.create_connection(_Http, "127.0.0.1", port))[1] for _ in accounts]
    parent.send("connected")
    start, end = parent.recv()  # nothing runs on this loop yet: blocking is harmless
    tally = _Tally(start, end)
    codes: Counter[int] = Counter()
    if kind == HELLO:
        clients = [_hello_client(c, tally, codes) for c in connections]
    else:
        clients = [
            _wapi_client(c, login, token, tally, codes)
            for c, (login, token) in zip(connections, accounts, strict=True)
        ]
    tasks = [asyncio.ensure_future(client) for client in clients]
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu_start = time.process_time()
    await asyncio.sleep(max(0.0, end - time.time()))
    cpu = time.process_time() - cpu_start
    await asyncio.gather(*tasks)
    return tally.requests, cpu, dict(codes)


def _load_process(
    port: int, kind: str, accounts: list[tuple[str, str]], parent: Connection
) -> None:
    try:
        parent.send(uvloop.run(_load(port, kind, accounts, parent)))
    except Exception as error:  # the parent says what failed, not a hang
        parent.send(error)


@dataclass(frozen=True)
class _Measured:
    requests: int
    seconds: float
    server_cpu: float
    client_cpu: float


def _drive(
    running: _Running, kind: str, accounts: list[tuple[str, str]], seconds: float
) -> _Measured:
    """Run the clients (one process, two from 64 clients) for `seconds` after a warm-up."""
    processes = 1 if len(accounts) < 64 else 2
    parts = [accounts[i::processes] for i in range(processes)]
    pipes, started = [], []
    for part in parts:
        mine, theirs = _spawn.Pipe()
        process = _spawn.Process(target=_load_process, args=(running.port, kind, part, theirs))
        process.start()
        pipes.append(mine)
        started.append(process)
    for pipe in pipes:  # a client process may take seconds to start on a busy machine
        if not pipe.poll(_START_TIMEOUT):
            raise RuntimeError("a bench client did not connect")
        connected = pipe.recv()
        if isinstance(connected, Exception):
            raise RuntimeError(f"a bench client failed: {connected!r}")
    start = time.time() + _WARMUP
    end = start + seconds
    for pipe in pipes:
        pipe.send((start, end))
    time.sleep(max(0.0, start - time.time()))
    server_before = _tree_cpu(running.pid)
    time.sleep(max(0.0, end - time.time()))
    server_cpu = _tree_cpu(running.pid) - server_before
    requests, client_cpu, codes = 0, 0.0, Counter[int]()
    for pipe, process in zip(pipes, started, strict=True):
        if not pipe.poll(60):
            raise RuntimeError("a bench client did not finish")
        got = pipe.recv()
        if isinstance(got, Exception):
            raise RuntimeError(f"a bench client failed: {got!r}")
        done, cpu, seen = got
        requests, client_cpu = requests + done, client_cpu + cpu
        codes.update(seen)
        process.join(timeout=10)
    wanted = frozenset({200}) if kind == HELLO else _CYCLE_CODES
    unexpected = {code: n for code, n in codes.items() if code not in wanted}
    if unexpected:
        raise RuntimeError(f"{kind}: unexpected answers {unexpected}")
    return _Measured(requests, seconds, server_cpu, client_cpu)


def _open_accounts(db: Path, count: int) -> list[tuple[str, str]]:
    """`count` poll accounts and each one's WAPI token of this hour (valid past its
    turn for the auth grace, longer than a bench takes)."""
    logins = [f"bench-http-{n}" for n in range(count)]
    with Tidings(str(db)) as tidings:
        for login in logins:
            tidings.open_account(login, _PASSWORD)
    hour = datetime.now(PRAGUE).hour
    return [(login, auth_token(login, password_sha1(_PASSWORD), hour)) for login in logins]


def _result(subject: str, workers: int, clients: int, measured: _Measured) -> Result:
    rate = measured.requests / measured.seconds
    per = 1e6 / measured.requests if measured.requests else 0.0
    return Result(
        scenario="http",
        subject=subject,
        durability="equal",
        ops_per_s=rate,
        ops=measured.requests,
        seconds=measured.seconds,
        clients=clients,
        workers=workers,
        cpu_us=measured.server_cpu * per,
        client_cpu_us=measured.client_cpu * per,
    )


def measure_http(directory: Path, seconds: float) -> list[Result]:
    """Every http row: WAPI and hello, with one worker and with `more_workers()`, at
    each number of clients, `seconds` each after a warm-up."""
    results = []
    limits = Limits(auth_failures_per_address=10**9, auth_failures_per_login=10**9)
    hello = Served(app=hello_app, limits=limits, setup=_quiet, options=(("log_config", None),))
    for workers in (1, more_workers()):
        db = directory / f"http-{workers}.db"
        accounts = _open_accounts(db, max(HTTP_CLIENTS))
        settings = Settings(db=str(db), ping_delay=0.0, limits=limits)
        served = Served(
            app=functools.partial(worker_app, settings),
            limits=limits,
            setup=_quiet,
            options=(("log_config", None), ("access_log", False)),
        )
        with _serving(served, workers, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n") as running:
            for clients in HTTP_CLIENTS:
                measured = _drive(running, WAPI, accounts[:clients], seconds)
                results.append(_result(WAPI, workers, clients, measured))
        with _serving(hello, workers, _GET_HELLO) as running:
            for clients in HTTP_CLIENTS:
                measured = _drive(running, HELLO, [("", "")] * clients, seconds)
                results.append(_result(HELLO, workers, clients, measured))
    return results
