"""`tidings serve` as a user runs it (the account commands: tests/cli)."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from tidings.adapters import Tidings

from tests.http.conftest import call_until, wapi_auth


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_logs_json_lines_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = str(tmp_path / "served.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
    port = _free_port()
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--port", str(port), "--ping-delay", "0.1", "--log-format", "json"]  # fmt: skip
    env = {**os.environ, "TIDINGS_DB": db, "TIDINGS_ADMIN_TOKEN": "cli-token"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, "tidings serve exited"
                return False

        call_until(lambda: healthy(), bool, timeout=20, what="tidings serve to answer")
        request = {"user": "tester", "auth": wapi_auth("tester", "123456"), "command": "ping"}
        answer = httpx.post(f"{base}/wapi/json", json=request).json()["response"]
        assert answer["code"] == 1000
        api = httpx.get(
            f"{base}/api/accounts/tester", headers={"authorization": "Bearer cli-token"}
        )
        assert api.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    # uvicorn re-raises the signal once shut down, so supervisors see how it ended.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(lines) == len(stderr.splitlines())  # every line is JSON
    access = [line for line in lines if line.get("path") == "/wapi/json"]
    assert access and access[0]["status"] == 200 and access[0]["wapi_code"] == 1000
    assert len(access[0]["request_id"]) == 16
    assert any("shutdown complete" in str(line.get("message", "")) for line in lines)
