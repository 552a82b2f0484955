"""`tidings serve --workers N`: N processes on one port and one database.

Which worker answered shows in every WAPI answer: a svTRID is `<unix>.<process>.<n>`,
`process` drawn at random in each process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tidings.adapters import Tidings

from tests.http.conftest import call_until, wait_until, wapi_auth

_PROBES = 400  # fresh connections tried until each worker has answered one


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Served:
    process: "subprocess.Popen[str]"
    base: str

    def wapi(self, command: str, data: dict[str, str] | None = None) -> dict[str, object]:
        """One request on a connection of its own (any worker may take it)."""
        request: dict[str, object] = {
            "user": "tester",
            "auth": wapi_auth("tester", "123456"),
            "command": command,
            "clTRID": command,
        }
        if data is not None:
            request["data"] = data
        answer: dict[str, object] = httpx.post(
            f"{self.base}/wapi/json", json={"request": request}
        ).json()["response"]
        return answer

    def workers(self) -> list[int]:
        """The pids of the worker processes under the server."""
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid and (
                b"spawn_main" in cmdline
            ):
                found.append(int(entry))
        return found


def _two_workers(served: _Served) -> list[int]:
    found: list[int] = wait_until(lambda: served.workers() if len(served.workers()) == 2 else [])
    return found


def _worker_of(answer: dict[str, object]) -> str:
    return str(answer["svTRID"]).split(".")[1]


@contextmanager
def _serve(db: str, *options: str) -> Iterator[_Served]:
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
    port = _free_port()
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--port", str(port), "--ping-delay", "0.1", "--log-format", "json",
               *options]  # fmt: skip
    env = {**os.environ, "TIDINGS_DB": db, "TIDINGS_ADMIN_TOKEN": "workers-token"}
    # A session of its own: a Ctrl-C reaches the whole group, as in a terminal.
    process = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    served = _Served(process, f"http://127.0.0.1:{port}")
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{served.base}/healthz").status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, "tidings serve exited"
                return False

        call_until(healthy, bool, timeout=30, what="tidings serve to answer")
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)


def _both_answering(served: _Served) -> dict[str, str]:
    """Fresh connections until two workers have answered: worker -> an svTRID of it."""
    seen: dict[str, str] = {}
    for _ in range(_PROBES):
        answer = served.wapi("ping")
        assert answer["code"] == 1000
        seen.setdefault(_worker_of(answer), str(answer["svTRID"]))
        if len(seen) == 2:
            return seen
    raise AssertionError(f"{_PROBES} connections all went to {list(seen)}")


def test_two_workers_answer_on_one_port_and_share_the_database(db_url: str) -> None:
    with _serve(db_url, "--workers", "2") as served:
        _two_workers(served)
        _both_answering(served)
        pending = served.wapi("ping-async")
        assert pending["code"] == 1001
        accepted_by = _worker_of(pending)
        # Polled through the worker that did not accept it (its cache follows the log).
        polled = call_until(
            lambda: served.wapi("poll-req"),
            lambda a: a["code"] == 1000 and _worker_of(a) != accepted_by,
            timeout=30,
            what="the other worker to return the notification",
        )
        notify = polled["data"]
        assert isinstance(notify, dict)
        assert notify["notify"]["svTRID"] == pending["svTRID"]
        acked = served.wapi("poll-ack", {"id": str(notify["notify"]["id"])})
        assert acked["code"] == 1002
        assert served.wapi("poll-req")["code"] == 1003  # whichever worker answers
        served.process.send_signal(signal.SIGTERM)
        served.process.communicate(timeout=60)


@pytest.mark.parametrize("stop", ["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_every_worker_cleanly(tmp_path: Path, stop: str) -> None:
    with _serve(str(tmp_path / "t.db"), "--workers", "2") as served:
        workers = _two_workers(served)
        # Both serving, not only started: a worker still opening its store when the
        # signal comes dies of it before uvicorn handles signals.
        _both_answering(served)
        if stop == "SIGTERM":
            served.process.send_signal(signal.SIGTERM)
        else:
            os.killpg(served.process.pid, signal.SIGINT)
        _, stderr = served.process.communicate(timeout=60)
    # Ended by the signal it was sent, re-raised once every worker is gone.
    number = signal.SIGTERM if stop == "SIGTERM" else signal.SIGINT
    assert served.process.returncode in (0, -number, 128 + number), stderr
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "Traceback" not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("message") == "Application shutdown complete."]
    assert len(done) == 2, stderr


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--workers", "0"], "--workers must be 1-64, not 0"),
        (["--workers", "-3"], "--workers must be 1-64, not -3"),
        (["--workers", "65"], "--workers must be 1-64, not 65"),
        (["--workers", "two"], "Invalid value for '--workers'"),
    ],
)
def test_a_bad_number_of_workers_is_one_clear_line(options: list[str], said: str) -> None:
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--port", "0", *options]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
