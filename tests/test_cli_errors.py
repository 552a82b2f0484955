"""The shell's answer to a database it cannot use: one clear line, exit 2, nothing made."""

import logging
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from tidings.cli.app import app
from typer.testing import CliRunner

from tests.conftest import POSTGRES

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
    handlers = logging.getLogger().handlers[:]
    for args in (["account", "add", "bob", "--password-stdin"], ["serve", "--port", "1"]):
        result = runner.invoke(app, [*args, "--db", db], input="pw\n")
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: cannot open {db}")
        assert "Traceback" not in result.output
    # and the process's logging is left as it was (no handler on the closed output)
    assert logging.getLogger().handlers == handlers


def _foreign(path: Path) -> Path:
    """Another program's SQLite file: a table of its own, in its own journal mode."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('hello')")
    return path


@pytest.mark.parametrize("command", ["verify", "replay"])
@pytest.mark.parametrize("kind", ["empty-file", "foreign-sqlite"])
def test_checks_refuse_a_sqlite_file_that_is_not_tidings_and_change_nothing(
    command: str, kind: str, tmp_path: Path
) -> None:
    # Given an empty file, or another program's SQLite database
    path = tmp_path / "other.db"
    if kind == "empty-file":
        path.touch()
    else:
        _foreign(path)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    # When a check is run on it
    result = runner.invoke(app, [command, "--db", str(path)])
    # Then it says so in one line, exits 2, and leaves every file as it was
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot open {path}: not a tidings database")
    assert "Traceback" not in result.output
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", ["verify", "replay"])
def test_checks_refuse_an_empty_postgres_database_and_create_nothing(
    command: str, postgres_url: str
) -> None:
    # Given an empty PostgreSQL schema
    # When a check is run on it
    result = runner.invoke(app, [command, "--db", postgres_url])
    # Then it says so in one line, exits 2, and no table was created
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot open {postgres_url}: not a tidings database")
    schema = postgres_url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES) as db:
        tables = db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables == (0,)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--port", "abc"], "Invalid value for '--port'"),
        (["serve", "--bogus"], "No such option: --bogus"),
        (["no-such-command"], "No such command"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    # Through the installed entry point's `main`, as a user runs it, not Typer's runner.
    run = "from tidings.cli.app import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", run, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]
    assert list(tmp_path.iterdir()) == []
