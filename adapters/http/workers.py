"""Several server processes on one listening socket: `tidings serve --workers N`.

The parent binds the socket, then starts N workers, each a process of its own (spawned,
so none inherits another's threads, event loop or database connections), each serving
its own copy of the app on that socket under uvicorn; the kernel hands every new
connection to one of them. The workers share nothing but the database: each keeps its
own state cache, which follows the log (`store.application`), so a ping-async accepted
by one worker is polled through any other.

What a worker serves is a `Served`: a factory of the app, called in the worker with its
index, and uvicorn's configuration. It travels to the worker pickled over the pipe
multiprocessing opens to it, never in argv, the environment or a log, so secrets (the
admin token's digest) stay out of `ps` and the logs; a signing key's path comes to each
worker in the environment it inherits (`TIDINGS_SIGNING_KEY`).

The parent only supervises. On SIGINT or SIGTERM it sends every worker SIGTERM
(uvicorn's graceful shutdown: requests in flight are finished, then the store is
closed), waits for them, and re-raises the signal, as uvicorn does with one worker, so
a service manager sees how it ended. A worker that exits on its own (it failed to start,
or crashed) stops the others and the parent exits with `FAILED`: a worker that failed at
start would fail again, and restarting is the service manager's job.

A worker never outlives its parent: on Linux the kernel sends it SIGTERM when the parent
dies (`prctl(PR_SET_PDEATHSIG)`), and everywhere a thread in the worker watches its
parent's pid and sends itself SIGTERM when it changes (the parent was killed, by
`kill -9` or the OOM killer, and the worker was handed to another). SIGTERM is uvicorn's
graceful shutdown, which closes the listening socket first, so a restarted server can
bind the port at once.

The workers' shared files (the throttle's, the metrics' values) live in a directory the
parent makes (`shared_directory`), named for it: `tidings-serve-<pid>.<start>-...`, the
parent's pid and when it started. A parent killed by `kill -9` cannot remove it; the
next server started on the machine removes every such directory whose parent is gone
(or whose pid now names another process), never one of a live server.
"""

import ctypes
import logging
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .limits import Limits
from .server import server_config

__all__ = ["FAILED", "Served", "listening_socket", "serve_workers", "shared_directory"]

_log = logging.getLogger("tidings.server")

# The parent's exit status when a worker failed (uvicorn's for a server that did not start).
FAILED = 3
# How often a worker looks whether its parent is still there.
_PARENT_WATCH = 0.2
_PR_SET_PDEATHSIG = 1
# Beyond uvicorn's graceful shutdown (30 s), the time a worker gets to exit before it is killed.
_EXIT_GRACE = 5.0
_spawn = multiprocessing.get_context("spawn")
_SHARED = "tidings-serve-"
_OWNED = re.compile(re.escape(_SHARED) + r"(?P<pid>\d+)\.(?P<start>\d+)-")


@dataclass(frozen=True, kw_only=True)
class Served:
    """What each worker serves. `app(index)` builds the app in worker `index` (0 to N-1);
    `setup()` runs first in each worker (logging). Every field must pickle: module-level
    functions, `functools.partial`s of them, plain data."""

    app: Callable[[int], ASGIApp]
    limits: Limits
    setup: Callable[[], None]
    trusted_proxies: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()  # more of uvicorn's settings (log_level...)


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to `host:port` and listening; OSError when it cannot be
    (the port is taken, the address is not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it a
    # small response may wait 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _started(pid: int) -> int:
    """When process `pid` started (clock ticks since boot, from Linux's /proc); 0 when
    that cannot be told. Raises `ProcessLookupError` when there is no such process."""
    os.kill(pid, 0)  # PermissionError: another user's process, alive
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _alive(pid: int, start: int) -> bool:
    """Whether the process `pid` that started at `start` still runs (a pid reused by
    another process is not it)."""
    try:
        now = _started(pid)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return 0 in (now, start) or now == start


def shared_directory() -> str:
    """A new directory for the workers' shared files, named for this process; the ones
    left by servers whose parent is gone are removed first (module docstring)."""
    place = tempfile.gettempdir()
    for name in os.listdir(place):
        owned = _OWNED.match(name)
        path = os.path.join(place, name)
        if owned is None or _alive(int(owned["pid"]), int(owned["start"])):
            continue
        try:
            if not os.path.isdir(path) or os.stat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        _log.info("removed %s, left by a server that is gone", path)
    pid = os.getpid()
    return tempfile.mkdtemp(prefix=f"{_SHARED}{pid}.{_started(pid)}-", dir=place)


def _die_with_parent(parent: int) -> None:
    """SIGTERM to this process when `parent` is gone: asked of the kernel where it can
    (Linux), and watched for by a thread everywhere."""
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watch below still works

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_WATCH)
        _log.warning("the server's parent process is gone: this worker stops")
        os.kill(os.getpid(), signal.SIGTERM)

    # Started after prctl: a parent that died before it is seen by the watch.
    threading.Thread(target=watch, name="tidings-parent-watch", daemon=True).start()


def _work(served: Served, index: int, sock: socket.socket, parent: int) -> None:
    """A worker's life: serve until SIGTERM or SIGINT (uvicorn's graceful shutdown), or
    until the parent `parent` (a pid) is gone."""
    _die_with_parent(parent)
    served.setup()
    config = server_config(
        served.app(index),
        served.limits,
        host=sock.getsockname()[0],
        port=sock.getsockname()[1],
        trusted_proxies=served.trusted_proxies,
        **dict(served.options),
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises a SIGINT it shut down on: already done
        return
    if not server.started:
        raise SystemExit(FAILED)


def serve_workers(
    served: Served,
    sock: socket.socket,
    workers: int,
    cleanup: Callable[[], None] | None = None,
) -> int:
    """Serve on `sock` with `workers` processes until SIGINT or SIGTERM, or until a
    worker exits on its own; call it from the main thread. Stopped by a signal, it
    raises that signal again once every worker is gone (with the handlers it found) and
    then returns 0; returns `FAILED` when a worker exited on its own. `cleanup` runs
    once every worker is gone, before the signal is raised again."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(number: int, _: object) -> None:
        received.append(number)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[BaseProcess] = []
    failed = False
    try:
        for index in range(workers):
            process = _spawn.Process(
                target=_work,
                args=(served, index, sock, os.getpid()),
                name=f"tidings-worker-{index}",
            )
            process.start()
            processes.append(process)
        _log.info("serving with %d worker processes", workers)
        while not stop.is_set():
            # A worker's sentinel becomes ready when it exits.
            ready = wait([p.sentinel for p in processes], timeout=0.2)
            # A signal sent to the whole group (Ctrl-C) runs our handler inside `wait`,
            # which then goes on waiting: a worker that exits because of the same signal
            # is then seen here, and is no failure.
            if ready and not stop.is_set():
                # The sentinel, not `is_alive()`: a process whose sentinel is ready may
                # not have been reaped yet, and would still say it is alive.
                gone = next(p for p in processes if p.sentinel in ready)
                gone.join()
                _log.error(
                    "worker %s exited (status %s): stopping the others", gone.name, gone.exitcode
                )
                failed = True
                break
    finally:
        _stop(processes)
        if cleanup is not None:
            cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        return FAILED
    if received:
        signal.raise_signal(received[0])
    return 0


def _stop(processes: list[BaseProcess]) -> None:
    """SIGTERM to every worker still running, then wait for each; kill what outlives
    the graceful shutdown."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=30 + _EXIT_GRACE)
        if process.is_alive():
            _log.error("worker %s did not stop in time: killed", process.name)
            process.kill()
            process.join()
