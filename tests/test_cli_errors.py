"""The shell's answer to a database it cannot use: one clear line, exit 2, nothing made."""

from pathlib import Path

import pytest
from tidings.cli.app import app
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    return path


@pytest.mark.parametrize("command", ["verify", "replay"])
def test_checks_refuse_a_missing_file_and_create_nothing(command: str, tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    result = runner.invoke(app, [command, "--db", str(typo)])
    assert result.exit_code == 2
    assert "cannot open" in result.output and "no such database file" in result.output
    assert not typo.exists()


@pytest.mark.parametrize("command", ["verify", "replay"])
def test_checks_refuse_a_file_that_is_not_a_database(command: str, not_a_database: Path) -> None:
    result = runner.invoke(app, [command, "--db", str(not_a_database)])
    assert result.exit_code == 2
    assert "file is not a database" in result.output


@pytest.mark.parametrize(
    "db",
    [
        "{tmp}/no/such/dir/x.db",
        "{notes}",
        "postgresql://postgres@127.0.0.1:1/postgres",
        ":memory:",  # an event log that would vanish with the process
    ],
)
def test_account_add_and_serve_refuse_a_database_they_cannot_open(
    db: str, tmp_path: Path, not_a_database: Path
) -> None:
    db = db.format(tmp=tmp_path, notes=not_a_database)
    for args in (["account", "add", "bob", "--password-stdin"], ["serve", "--port", "1"]):
        result = runner.invoke(app, [*args, "--db", db], input="pw\n")
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: cannot open {db}")
        assert "Traceback" not in result.output
