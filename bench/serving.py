"""The bench's servers: a `Served` app in a process of its own, and the CPU it uses.

tidings is served as `tidings serve` serves it (`http.workers`: a supervisor and N
spawned worker processes on one socket, uvicorn with uvloop and httptools); beside it, on
the same server stack, a Starlette app answering "hello" to a GET: what the stack alone
can do on this machine.
"""

import hashlib
import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tidings.adapters.http.workers import Served, listening_socket, serve_workers

__all__ = [
    "START_TIMEOUT",
    "Running",
    "hello_app",
    "machine_busy",
    "quiet",
    "reference_work",
    "serving",
    "tree_cpu",
    "tree_times",
]

_spawn = multiprocessing.get_context("spawn")
START_TIMEOUT = 60.0


async def _hello(_: Request) -> Response:
    return PlainTextResponse("hello")


def hello_app(_: int) -> Starlette:
    """The ceiling: Starlette's smallest answer."""
    return Starlette(routes=[Route("/", _hello, methods=["GET"])])


def quiet() -> None:
    # Warnings only: the access log (one line per request) is a cost the hello app has not.
    logging.basicConfig(level=logging.WARNING)
    # The bench's servers sign no checkpoints, on purpose (the rows compare request
    # handling): each worker's start would warn of it, once per worker and per serve.
    logging.getLogger("tidings.ledger").setLevel(logging.ERROR)


def _supervise(served: Served, sock: socket.socket, workers: int) -> None:
    serve_workers(served, sock, workers)


def _process_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user, system) a process has used."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_busy() -> float:
    """CPU seconds every process of the machine has used so far (`/proc/stat`: all
    but idle and I/O wait), to tell the bench's own work from other work."""
    with open("/proc/stat", "rb") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = stat.readline().split()[1:9]
    busy = sum(int(field) for field in (user, nice, system, irq, softirq, steal))
    return busy / os.sysconf("SC_CLK_TCK")


# The reference work: a fixed mix of what a request's CPU goes to (the interpreter's
# calls and containers, msgspec's JSON, SHA-256), repeated this many times.
_REFERENCE_ROUNDS = 2_000
_REFERENCE_DOCUMENT = {
    "request": {"user": "reference", "auth": "0" * 40, "command": "poll-req", "data": None}
}


def reference_work() -> float:
    """Thread CPU seconds a fixed piece of work takes now: what a second of CPU buys on
    this machine at the moment, to tell a program growing slower from the machine (a
    shared host, its clock) doing so under it."""
    encode, decode = msgspec.json.encode, msgspec.json.decode
    start = time.thread_time()
    digest = b""
    for n in range(_REFERENCE_ROUNDS):
        document = decode(encode(_REFERENCE_DOCUMENT))
        fields = {key: str(value) for key, value in document["request"].items()}
        digest = hashlib.sha256(digest + encode(sorted(fields.items())) + n.to_bytes(4)).digest()
    return time.thread_time() - start


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and every live process under it."""
    return sum(tree_times(root))


def tree_times(root: int) -> tuple[float, float]:
    """CPU seconds (user, system) used so far by a process and every live process under it."""
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
    user = system = 0.0
    for pid in tree:
        try:
            more_user, more_system = _process_cpu(pid)
        except OSError:
            continue
        user, system = user + more_user, system + more_system
    return user, system


@dataclass(frozen=True)
class Running:
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
def serving(served: Served, workers: int, probe: bytes) -> Iterator[Running]:
    """The server in a process of its own, until the block ends; waits until every
    worker has started (each has its own connection to probe, so one probe per worker
    is not enough: it waits for the supervisor's workers to answer a burst)."""
    sock = listening_socket("127.0.0.1", 0, served.limits.backlog)
    process = _spawn.Process(target=_supervise, args=(served, sock, workers))
    process.start()
    port = sock.getsockname()[1]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port, probe):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the bench server did not start (exit {process.exitcode})")
            time.sleep(0.1)
        # The workers start one after another: give the last one time to be serving.
        _wait_for_workers(process.pid or 0, workers, deadline)
        yield Running(port, process.pid or 0)
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
        used = tree_cpu(supervisor)
        if used - last < 0.02 * workers:
            return
        last = used
        time.sleep(0.25)
