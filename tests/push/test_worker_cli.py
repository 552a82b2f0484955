"""`tidings worker` refuses what it cannot use with one clear line."""

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
