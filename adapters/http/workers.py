"""Several server processes on one listening socket (`tidings serve --workers N`); a
worker never outlives its parent (`PR_SET_PDEATHSIG` on Linux, a thread watching its pid)."""

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

from .limits import Limits, server_config

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
    """What each worker serves: `app(index)` builds worker `index`'s app (0 to N-1) after
    `setup()` (logging). Every field must pickle: it reaches the worker over
    multiprocessing's pipe, never in argv, the environment or a log."""

    app: Callable[[int], ASGIApp]
    limits: Limits
    setup: Callable[[], None]
    trusted_proxies: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()  # more of uvicorn's settings (log_level...)


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to `host:port` and listening; OSError when it cannot be."""
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
    """When process `pid` started (ticks since boot; 0: unknown), or `ProcessLookupError`."""
    os.kill(pid, 0)  # PermissionError: another user's process, alive
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _alive(pid: int, start: int) -> bool:
    try:
        now = _started(pid)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return 0 in (now, start) or now == start


def shared_directory() -> str:
    """A new directory for the workers' shared files, named for this process's pid and
    start time; those left by servers whose parent is gone are removed first."""
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
    """Serve on `sock` with `workers` processes (from the main thread) until SIGINT or
    SIGTERM, which go to every worker as SIGTERM and are raised again (with the handlers
    found) once all are gone and `cleanup` ran: then 0; or until a worker exits on its
    own, which stops the others: then `FAILED`."""
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
            # A signal to the whole group (Ctrl-C) runs our handler inside `wait`: a worker
            # that exits because of it is seen here, and is no failure.
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
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=30 + _EXIT_GRACE)
        if process.is_alive():
            _log.error("worker %s did not stop in time: killed", process.name)
            process.kill()
            process.join()
