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

The load generator (`load`) reports the CPU it used itself: on a machine of two CPUs it
shares them with the server, and the `busy` figures in the notes say how much of them
each side took. The uptime rows (`measure_uptime`) serve one worker for several
consecutive windows and give the server's CPU per request in each.
"""

import contextlib
import functools
import os
import statistics
from datetime import datetime
from pathlib import Path

from tidings.adapters.http.app import Settings, worker_app
from tidings.adapters.http.limits import Limits
from tidings.adapters.http.workers import Served
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1

from .load import GET_HELLO, HELLO, WAPI, Measured, drive
from .results import Result
from .serving import Running, hello_app, quiet, serving

__all__ = [
    "HELLO",
    "HTTP_CLIENTS",
    "UPTIME",
    "UPTIME_WINDOWS",
    "WAPI",
    "measure_http",
    "measure_uptime",
    "more_workers",
    "uptime_window",
]

HTTP_CLIENTS = (1, 16, 64)
_HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
_PASSWORD = "bench-password"


def more_workers() -> int:
    """The number of workers of the multi-process rows: the CPU count, at least two."""
    return max(2, len(os.sched_getaffinity(0)))


def _open_accounts(db: Path, count: int) -> list[tuple[str, str]]:
    """`count` poll accounts and each one's WAPI token of this hour (valid past its
    turn for the auth grace, longer than a bench takes)."""
    logins = [f"bench-http-{n}" for n in range(count)]
    with Tidings(str(db)) as tidings:
        for login in logins:
            tidings.open_account(login, _PASSWORD)
    hour = datetime.now(PRAGUE).hour
    return [(login, auth_token(login, password_sha1(_PASSWORD), hour)) for login in logins]


def _result(subject: str, workers: int, clients: int, measured: Measured) -> Result:
    rate = measured.requests / measured.seconds
    per = 1e6 / measured.requests if measured.requests else 0.0
    others = measured.machine_cpu - measured.server_cpu - measured.client_cpu
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
        system_cpu_us=measured.server_system * per,
        other_busy=max(0.0, others) / measured.seconds,
        reference_us=measured.reference * 1e6,
    )


def _tidings_served(db: Path, limits: Limits) -> Served:
    """tidings' server on `db`, as `tidings serve --ping-delay 0` serves it, without the
    access log (a cost the hello app has not)."""
    settings = Settings(db=str(db), ping_delay=0.0, limits=limits)
    return Served(
        app=functools.partial(worker_app, settings),
        limits=limits,
        setup=quiet,
        options=(("log_config", None), ("access_log", False)),
    )


def measure_http(directory: Path, seconds: float, rounds: int) -> list[Result]:
    """Every http row: WAPI and hello, with one worker and with `more_workers()`, at
    each number of clients, over `rounds` rounds of `seconds` each (after a warm-up).

    The four servers run side by side and take turns, each round in another order: the
    machine's speed drifts over minutes (a shared host), and rows measured one after
    the other would compare its moments as much as the servers."""
    limits = Limits(auth_failures_per_address=10**9, auth_failures_per_login=10**9)
    hello = Served(app=hello_app, limits=limits, setup=quiet, options=(("log_config", None),))
    subjects: list[tuple[str, int]] = []
    running: dict[tuple[str, int], Running] = {}
    accounts: dict[tuple[str, int], list[tuple[str, str]]] = {}
    with contextlib.ExitStack() as servers:
        for workers in (1, more_workers()):
            db = directory / f"http-{workers}.db"
            accounts[WAPI, workers] = _open_accounts(db, max(HTTP_CLIENTS))
            served = _tidings_served(db, limits)
            running[WAPI, workers] = servers.enter_context(serving(served, workers, _HEALTHZ))
            running[HELLO, workers] = servers.enter_context(serving(hello, workers, GET_HELLO))
            accounts[HELLO, workers] = [("", "")] * max(HTTP_CLIENTS)
            subjects += [(WAPI, workers), (HELLO, workers)]
        results = []
        for clients in HTTP_CLIENTS:
            taken: dict[tuple[str, int], list[Measured]] = {subject: [] for subject in subjects}
            for turn in range(rounds):
                for kind, workers in subjects[turn:] + subjects[:turn]:
                    part = accounts[kind, workers][:clients]
                    taken[kind, workers] += drive(running[kind, workers], kind, part, seconds)
            results += [
                _result(kind, workers, clients, _together(taken[kind, workers]))
                for kind, workers in subjects
            ]
    return results


def _together(parts: list[Measured]) -> Measured:
    """Several windows of one subject as one: their sums, and the median reference."""
    return Measured(
        requests=sum(part.requests for part in parts),
        seconds=sum(part.seconds for part in parts),
        server_cpu=sum(part.server_cpu for part in parts),
        client_cpu=sum(part.client_cpu for part in parts),
        server_system=sum(part.server_system for part in parts),
        machine_cpu=sum(part.machine_cpu for part in parts),
        reference=statistics.median(part.reference for part in parts),
    )


# The uptime rows: a serve of `UPTIME_WINDOWS` windows, each of `UPTIME_SLICES` slices.
UPTIME, UPTIME_WINDOWS, UPTIME_SLICES, UPTIME_CLIENTS = "http uptime", 5, 6, 64


def measure_uptime(directory: Path, window: float) -> list[Result]:
    """Server CPU per WAPI request in each of `UPTIME_WINDOWS` consecutive windows of
    `window` seconds of one serve (one worker, `UPTIME_CLIENTS` clients): whether a
    request costs more the longer the server runs (its heap grows with the states it
    caches, and the garbage collector's passes with it).

    A window's CPU figures are the median of its `UPTIME_SLICES` slices: other work on
    the machine (which each row's `other_busy` shows) comes in bursts that inflate the
    slices it falls in, where growth with uptime moves every slice of a window."""
    limits = Limits(auth_failures_per_address=10**9, auth_failures_per_login=10**9)
    db = directory / "http-uptime.db"
    accounts = _open_accounts(db, UPTIME_CLIENTS)
    with serving(_tidings_served(db, limits), 1, _HEALTHZ) as running:
        slices = drive(
            running, WAPI, accounts, window / UPTIME_SLICES, UPTIME_WINDOWS * UPTIME_SLICES
        )
    return [
        uptime_window(slices[n * UPTIME_SLICES : (n + 1) * UPTIME_SLICES], n + 1)
        for n in range(UPTIME_WINDOWS)
    ]


def uptime_window(slices: list[Measured], number: int) -> Result:
    """One uptime window's row: its requests and seconds, and per request the median of
    its slices' CPU figures (each slice's own requests weigh them)."""
    rows = [_result(WAPI, 1, UPTIME_CLIENTS, measured) for measured in slices]
    requests = sum(measured.requests for measured in slices)
    seconds = sum(measured.seconds for measured in slices)

    def median(values: list[float | None]) -> float:
        return statistics.median(value or 0.0 for value in values)

    return Result(
        scenario=UPTIME,
        subject=WAPI,
        durability="equal",
        ops_per_s=requests / seconds,
        ops=requests,
        seconds=seconds,
        clients=UPTIME_CLIENTS,
        workers=1,
        cpu_us=median([row.cpu_us for row in rows]),
        client_cpu_us=median([row.client_cpu_us for row in rows]),
        system_cpu_us=median([row.system_cpu_us for row in rows]),
        window=number,
        other_busy=statistics.fmean(row.other_busy or 0.0 for row in rows),
        reference_us=median([row.reference_us for row in rows]),
    )
