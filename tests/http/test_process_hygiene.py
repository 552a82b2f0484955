"""Process hygiene of `tidings serve`, with real processes on a real port: workers die
with their parent, a restart after `kill -9` binds the port again at once, SIGTERM
finishes what is in flight, and every layout logs where it listens."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from tidings.adapters import Tidings

from tests.http.conftest import wait_until, wapi_auth
from tests.http.processes import free_port, gone, serve_process, workers_of

# A restart after `kill -9` of the parent binds the port within this.
RESTART_WITHIN = 5.0


def _account(db: str) -> None:
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")


def test_workers_die_with_a_killed_parent_and_a_restart_serves_within_5_s(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "t.db")
    _account(db)
    port = free_port()
    with serve_process(db, "--port", str(port), "--workers", "2") as first:
        workers = wait_until(lambda: (w := workers_of(first.process.pid)) and len(w) == 2 and w)
        started = "Application startup complete."
        wait_until(lambda: len(first.logged(message=started)) == 2, what="both workers to start")
        os.kill(first.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: all(gone(pid) for pid in workers), timeout=RESTART_WITHIN,
                   what="the orphaned workers to exit")  # fmt: skip
        with serve_process(db, "--port", str(port), "--workers", "2") as second:
            served = time.monotonic() - killed
            bound = second.bound_at - killed
            assert httpx.get(f"{second.base}/healthz").status_code == 200
            assert bound < RESTART_WITHIN, f"the restart bound the port {bound:.2f} s after kill -9"
            print(
                f"after kill -9: restart bound the port in {bound:.2f} s, served in {served:.2f} s"
            )
        # Each stopped by its graceful shutdown, not killed.
        done = first.logged(message="Application shutdown complete.")
        assert len(done) == 2, "".join(first.text)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_layout_logs_the_real_port_of_port_0(tmp_path: Path, workers: str) -> None:
    db = str(tmp_path / "t.db")
    _account(db)
    with serve_process(db, "--port", "0", "--workers", workers) as served:
        [line] = served.logged(event="listening")
        assert line["port"] > 0 and line["host"] == "127.0.0.1"
        assert line["message"] == f"listening on http://127.0.0.1:{line['port']}"
        assert int(line["workers"]) == int(workers)


def test_sigterm_finishes_a_request_in_flight_and_commits_it(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    _account(db)
    request = {"user": "tester", "auth": wapi_auth("tester", "123456"),
               "command": "ping-async", "clTRID": "in-flight"}  # fmt: skip
    body = json.dumps({"request": request}).encode()
    with serve_process(db, "--port", "0", "--workers", "1", "--ping-delay", "60") as served:
        port = int(served.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            head = (
                "POST /wapi/json HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode()
            conn.sendall(head + body[:10])
            # Answered on another connection: the server has read what came before it.
            assert httpx.get(f"{served.base}/healthz").status_code == 200
            served.process.send_signal(signal.SIGTERM)
            wait_until(lambda: served.logged(message="Shutting down"), what="shutdown to begin")
            conn.sendall(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b'"code":1001' in answer.replace(b" ", b""), answer
        served.process.wait(timeout=60)
    with Tidings(db) as tidings:
        pending = tidings.pending_operations()
        assert [p.accepted.cltrid for p in pending if p.accepted] == ["in-flight"]


@pytest.mark.parametrize("round_", range(3))
def test_a_killed_worker_stops_the_server_with_exit_3(tmp_path: Path, round_: int) -> None:
    db = str(tmp_path / "t.db")
    _account(db)
    with serve_process(db, "--port", "0", "--workers", "2") as served:
        workers = wait_until(lambda: (w := workers_of(served.process.pid)) and len(w) == 2 and w)
        os.kill(workers[round_ % 2], signal.SIGKILL)
        assert served.process.wait(timeout=60) == 3
        wait_until(lambda: all(gone(pid) for pid in workers), what="the other worker to exit")
    assert "Traceback" not in "".join(served.text)
