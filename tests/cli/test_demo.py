"""`tidings demo` as a newcomer runs it: every channel's notification arrives."""

import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tidings.adapters.wapi.auth import PRAGUE, auth_token, password_sha1
from tidings.cli.demo.command import PASSWORD

from tests.cli.shell import one_line_error, shell
from tests.http.conftest import call_until
from tests.web.client import WebClient


@pytest.mark.slow
def test_the_demo_shows_each_channel_arriving_and_exits_0() -> None:
    script = Path(sys.executable).with_name("tidings")
    run = subprocess.run([str(script), "demo"], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()

    def arrived(login: str, channel: str) -> str:
        found = [line for line in lines if line.startswith(f"arrived  {login} ")]
        assert found and f"by {channel}" in found[0], run.stdout
        return found[0]

    assert "signature verified" in arrived("demo-url", "url")
    assert "signature verified" in arrived("demo-shop", "url")
    assert "<JobResult>" in arrived("demo-shop", "url")
    assert "<notify>" in arrived("demo-mail", "email")
    arrived("demo-poll", "poll")
    assert any(line.startswith("acked    demo-poll") and "1002" in line for line in lines)
    assert "AttemptSucceeded" in run.stdout or "delivered: status 200" in run.stdout
    assert "every notification arrived" in run.stdout


@pytest.mark.slow
def test_keep_leaves_it_running_for_a_ping_of_ones_own_and_its_trail() -> None:
    script = Path(sys.executable).with_name("tidings")
    process = subprocess.Popen([str(script), "demo", "--keep"], stdout=subprocess.PIPE,
                               text=True, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()],
                     daemon=True).start()  # fmt: skip
    seen: list[str] = []
    try:
        while not any("API reference" in line for line in seen):
            seen.append(lines.get(timeout=60))
        text = "".join(seen)
        assert "Every account's password" in text
        db = re.search(r"export TIDINGS_DB=(\S+)", text)
        server = re.search(r"^server +(\S+)", text, re.M)
        assert db and server, text
        hour = datetime.now(PRAGUE).hour
        request = {"user": "demo-url", "command": "ping-async", "clTRID": "mine-1",
                   "auth": auth_token("demo-url", password_sha1(PASSWORD), hour)}  # fmt: skip
        answer = httpx.post(f"{server[1]}/wapi/json", json={"request": request}).json()
        assert answer["response"]["code"] == 1001
        token = re.search(r"operator token (\S+)", text)
        assert token and f"{server[1]}/console/" in text and f"{server[1]}/center/" in text
        with httpx.Client(base_url=server[1]) as client:
            assert WebClient(client).sign_in_console(token[1]).status_code == 303
            assert WebClient(client).sign_in_center("demo-url", PASSWORD).status_code == 303
        call_until(
            lambda: shell("trail", "--cltrid", "mine-1", "--db", db[1]).stdout,
            lambda trail: "delivered: status 200" in trail,
            timeout=30,
            what="the ping's push in its trail",
        )
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


@pytest.mark.slow
@pytest.mark.parametrize("end", [signal.SIGTERM, signal.SIGHUP], ids=lambda end: end.name)
def test_keep_ended_by_a_signal_cleans_up_and_names_the_program_as_started(
    end: signal.Signals,
) -> None:
    # Started as a fresh clone starts it: by its path, `tidings` not on the PATH
    script = Path(sys.executable).with_name("tidings")
    process = subprocess.Popen([str(script), "demo", "--keep"], stdout=subprocess.PIPE,
                               text=True, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert process.stdout is not None
    watchdog = threading.Timer(60, process.kill)  # a demo that never prints is ended
    watchdog.start()
    seen: list[str] = []
    try:
        while not any("API reference" in line for line in seen):
            line = process.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)
    finally:
        process.send_signal(end)  # a `kill`, or the terminal closed
        assert process.wait(timeout=30) == 0
        watchdog.cancel()
    text = "".join(seen)
    db = re.search(r"export TIDINGS_DB=(\S+)", text)
    assert db and not Path(db[1]).parent.exists(), text
    assert f"{script} trail --cltrid mine-1" in text and "\n  tidings " not in text


@pytest.mark.parametrize("variable", ["TIDINGS_SIGNING_KEY", "TIDINGS_SECRETS_KEY"])
def test_a_key_file_the_demo_cannot_read_is_one_line_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "missing.key"))
    one_line_error(shell("demo"), 2, "missing.key")
