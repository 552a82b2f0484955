"""The bench's load generator: keep-alive HTTP/1.1 clients running WAPI poll cycles (or
GETs of the hello app) against a running server, in measured windows.

The load generator is our own: no fast HTTP load tool (wrk, oha, hey, ab) ships with
the project or this machine, and httpx costs more CPU per request than the hello server
does. It is a bare asyncio protocol on uvloop writing whole HTTP/1.1 requests and
reading `content-length` bodies, in one process (two from 64 clients), and reports the
CPU it used itself.
"""

import asyncio
import itertools
import multiprocessing
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import cast

import msgspec
import uvloop

from .serving import START_TIMEOUT, Running, machine_busy, reference_work, tree_times

__all__ = ["CYCLE_CODES", "GET_HELLO", "HELLO", "WAPI", "Measured", "drive", "wapi_document"]

WAPI, HELLO = "tidings WAPI", "hello"
_spawn = multiprocessing.get_context("spawn")
# Every answer a poll cycle may get; anything else is a failure the bench reports.
CYCLE_CODES = frozenset({1000, 1001, 1002, 1003})
# Room for the server to warm up (the first connections, the first commits).
_WARMUP = 0.5
# How often the parent runs the reference work while the clients load the server.
_REFERENCE_EVERY = 1.0


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


def wapi_document(login: str, token: str, command: str, data: dict[str, str] | None) -> bytes:
    """The JSON document of a WAPI request, as the bench's clients send it."""
    request: dict[str, object] = {"user": login, "auth": token, "command": command}
    if data is not None:
        request["data"] = data
    return msgspec.json.encode({"request": request})


def _wapi_request(login: str, token: str, command: str, data: dict[str, str] | None) -> bytes:
    return _post(wapi_document(login, token, command, data))


GET_HELLO = b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


class _Answer(msgspec.Struct):
    code: int
    data: dict[str, dict[str, object]] | None = None


class _Document(msgspec.Struct):
    response: _Answer


@dataclass
class _Tally:
    """Requests answered in each of `windows` consecutive windows of `window` seconds
    from `start`."""

    start: float
    window: float
    windows: int

    def __post_init__(self) -> None:
        self.requests = [0] * self.windows

    @property
    def end(self) -> float:
        return self.start + self.window * self.windows

    def count(self) -> None:
        at = int((time.time() - self.start) // self.window)
        if 0 <= at < self.windows:
            self.requests[at] += 1


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
        status, _ = await connection.send(GET_HELLO)
        codes[200 if status.endswith(b" 200") else 0] += 1
        tally.count()


async def _load(
    port: int, kind: str, accounts: list[tuple[str, str]], parent: Connection
) -> tuple[list[int], list[float], dict[int, int]]:
    """Connect every client, say so, and run them in the windows the parent answers:
    the requests and this process's CPU seconds in each."""
    loop = asyncio.get_running_loop()
    connections = [(await loop.create_connection(_Http, "127.0.0.1", port))[1] for _ in accounts]
    parent.send("connected")
    start, window, windows = parent.recv()  # nothing runs on this loop yet: blocking is harmless
    tally = _Tally(start, window, windows)
    codes: Counter[int] = Counter()
    if kind == HELLO:
        clients = [_hello_client(c, tally, codes) for c in connections]
    else:
        clients = [
            _wapi_client(c, login, token, tally, codes)
            for c, (login, token) in zip(connections, accounts, strict=True)
        ]
    tasks = [asyncio.ensure_future(client) for client in clients]
    cpu = []
    for boundary in range(windows + 1):
        await asyncio.sleep(max(0.0, start + boundary * window - time.time()))
        cpu.append(time.process_time())
    await asyncio.gather(*tasks)
    return tally.requests, [b - a for a, b in itertools.pairwise(cpu)], dict(codes)


def _load_process(
    port: int, kind: str, accounts: list[tuple[str, str]], parent: Connection
) -> None:
    try:
        parent.send(uvloop.run(_load(port, kind, accounts, parent)))
    except Exception as error:  # the parent says what failed, not a hang
        parent.send(error)


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    server_cpu: float
    client_cpu: float
    server_system: float = 0.0  # of `server_cpu`, the kernel's (system time)
    machine_cpu: float = 0.0  # every process of the machine's, server and clients included
    reference: float = 0.0  # the median CPU seconds `reference_work` took in the window


def drive(
    running: Running,
    kind: str,
    accounts: list[tuple[str, str]],
    seconds: float,
    windows: int = 1,
) -> list[Measured]:
    """Run the clients (one process, two from 64 clients) for `windows` consecutive
    windows of `seconds` after a warm-up: what each window measured."""
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
        if not pipe.poll(START_TIMEOUT):
            raise RuntimeError("a bench client did not connect")
        connected = pipe.recv()
        if isinstance(connected, Exception):
            raise RuntimeError(f"a bench client failed: {connected!r}")
    start = time.time() + _WARMUP
    for pipe in pipes:
        pipe.send((start, seconds, windows))
    server, machine, references = [], [], []
    for boundary in range(windows + 1):
        time.sleep(max(0.0, start + boundary * seconds - time.time()))
        server.append(tree_times(running.pid))
        machine.append(machine_busy())
        if boundary < windows:
            references.append(_references(start + (boundary + 1) * seconds))
    requests, client_cpu, codes = [0] * windows, [0.0] * windows, Counter[int]()
    for pipe, process in zip(pipes, started, strict=True):
        if not pipe.poll(60):
            raise RuntimeError("a bench client did not finish")
        got = pipe.recv()
        if isinstance(got, Exception):
            raise RuntimeError(f"a bench client failed: {got!r}")
        done, cpu, seen = got
        requests = [a + b for a, b in zip(requests, done, strict=True)]
        client_cpu = [a + b for a, b in zip(client_cpu, cpu, strict=True)]
        codes.update(seen)
        process.join(timeout=10)
    wanted = frozenset({200}) if kind == HELLO else CYCLE_CODES
    unexpected = {code: n for code, n in codes.items() if code not in wanted}
    if unexpected:
        raise RuntimeError(f"{kind}: unexpected answers {unexpected}")
    return [
        Measured(
            requests[w],
            seconds,
            sum(server[w + 1]) - sum(server[w]),
            client_cpu[w],
            server[w + 1][1] - server[w][1],
            machine[w + 1] - machine[w],
            statistics.median(references[w]),
        )
        for w in range(windows)
    ]


def _references(until: float) -> list[float]:
    """The reference work's CPU seconds, once every `_REFERENCE_EVERY` seconds until
    `until` (at least once): the same machine the server ran on meanwhile."""
    taken = [reference_work()]
    while time.time() + _REFERENCE_EVERY < until:
        time.sleep(_REFERENCE_EVERY)
        taken.append(reference_work())
    return taken
