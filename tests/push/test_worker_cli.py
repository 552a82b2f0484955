"""`tidings worker` (and `serve`) refuse what they cannot use with one clear line."""

import subprocess
import sys
from pathlib import Path

import pytest
from tidings.cli.app import app
from typer.testing import CliRunner


def test_a_bad_smtp_url_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_SMTP_URL", "http://user:hunter2@mail.example")
    run = CliRunner().invoke(app, ["worker", "--db", str(tmp_path / "t.db")])
    assert run.exit_code == 2
    assert "TIDINGS_SMTP_URL must be smtp://host:port" in run.output
    assert "hunter2" not in run.output


def test_serve_can_leave_the_due_work_to_workers() -> None:
    run = CliRunner().invoke(app, ["serve", "--help"])
    assert "--no-worker" in run.output


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("worker",)], ids=" ".join)
@pytest.mark.parametrize("sender", ["tidings@exämple.com", "tidings..bot@x.example"])
def test_a_sender_address_not_ascii_or_malformed_stops_serve_or_worker_before_it_starts(
    command: tuple[str, ...], sender: str, tmp_path: Path
) -> None:
    # In a process of its own, as a user runs it: one that started anyway is killed
    env = {"TIDINGS_SMTP_URL": "smtp://127.0.0.1:2525", "TIDINGS_SMTP_FROM": sender}
    db = tmp_path / "t.db"
    run = subprocess.run(
        [sys.executable, "-c", "from tidings.cli.app import main; main()", *command, "--db", db],
        capture_output=True, text=True, timeout=60, check=False, start_new_session=True,
        env={"PATH": "/usr/bin:/bin"} | env,
    )  # fmt: skip
    assert run.returncode == 2 and run.stdout == "", run.stderr
    said = "error: TIDINGS_SMTP_FROM must be one ASCII e-mail address, such as"
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(said), run.stderr
    assert repr(sender) in run.stderr and not db.exists()
