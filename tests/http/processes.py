"""`tidings serve` as a real process group for tests: started in a session of its own,
its log read as JSON lines, and the whole group killed when the test is done."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.http.conftest import wait_until

__all__ = ["Served", "free_port", "gone", "serve_process", "workers_of"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def workers_of(parent: int) -> list[int]:
    """The live worker processes (multiprocessing's spawned ones) whose parent is `parent`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] not in ("Z", "X") and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


@dataclass
class Served:
    """A running `tidings serve`: its process, its log so far (JSON objects), its URL."""

    process: "subprocess.Popen[str]"
    lines: list[dict[str, Any]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    base: str = ""
    bound_at: float = 0.0  # time.monotonic() when its listening line was read

    def logged(self, **wanted: object) -> list[dict[str, Any]]:
        """The log lines so far holding every `key=value` of `wanted`."""
        return [
            line
            for line in list(self.lines)
            if all(line.get(key) == value for key, value in wanted.items())
        ]


def _read(served: Served) -> None:
    assert served.process.stderr is not None
    for raw in served.process.stderr:
        served.text.append(raw)
        if raw.startswith("{"):
            with suppress(ValueError):
                served.lines.append(json.loads(raw))


_ADMIN_TOKEN = "processes-token"
# The headers of a request as the operator `admin` of a `serve_process` server.
ADMIN = {"authorization": f"Bearer {_ADMIN_TOKEN}"}


@contextmanager
def serve_process(db: str, *options: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`tidings serve --log-format json ...` on `db` until the block ends; the URL is read
    from its `listening` line. The whole process group is killed at the end."""
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--db", db, "--log-format", "json", *options]  # fmt: skip
    full = {**os.environ, "TIDINGS_ADMIN_TOKEN": _ADMIN_TOKEN, **(env or {})}
    process = subprocess.Popen(
        command, env=full, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    served = Served(process)
    reader = threading.Thread(target=_read, args=(served,), daemon=True)
    reader.start()
    try:

        def listening() -> list[dict[str, Any]]:
            assert process.poll() is None or served.logged(event="listening"), "".join(served.text)
            return served.logged(event="listening")

        port = wait_until(listening, timeout=30, what="the listening line")[0]["port"]
        served.bound_at = time.monotonic()
        served.base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{served.base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=30, what="tidings serve to answer")
        yield served
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        reader.join(timeout=10)
