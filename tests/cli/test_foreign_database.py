"""Another program's database is refused on every path, and left byte for byte as it was;
a new database is made only where there is nothing, and that is said out loud."""

import logging
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from tidings.adapters import StorageError, Tidings
from tidings.adapters.store.environment import NotTidings

from tests.cli.shell import one_line_error, shell
from tests.conftest import POSTGRES

# Every command that opens the database, the ones that write first.
COMMANDS = [
    ("account", "add", "tester", "--password-stdin"),
    ("account", "set", "tester", "--channel", "poll"),
    ("account", "rotate-secret", "tester"),
    ("account", "suspend", "tester"),
    ("account", "resume", "tester"),
    ("poll", "tester"),
    ("ack", "tester", "1"),
    ("redeliver", "tester"),
    ("endpoint", "resume", "tester"),
    ("account", "list"),
    ("account", "show", "tester"),
    ("queue", "tester"),
    ("trail", "1.2.3"),
    ("state", "mailbox", "tester"),
    ("log",),
    ("stats",),
    ("deliveries",),
    ("endpoint", "list", "tester"),
    ("verify",),
    ("replay",),
]


def _foreign(path: Path) -> Path:
    """Another program's SQLite file, with a row in a table of its own."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    return path


def _files(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", ["foreign-sqlite", "not-sqlite"])
def test_every_command_refuses_another_programs_file(
    args: tuple[str, ...], kind: str, tmp_path: Path
) -> None:
    # Given another program's SQLite file, or a file that is no SQLite at all
    path = tmp_path / "app.db"
    if kind == "foreign-sqlite":
        _foreign(path)
    else:
        path.write_text("name,email\nada,ada@example.com\n")
    before = _files(tmp_path)
    # When any command is run on it
    result = shell(*args, "--db", str(path), input="s3cret\n")
    # Then it is refused in one line, exit 2, and every file is as it was
    one_line_error(result, 2, "not a tidings database")
    assert _files(tmp_path) == before


def test_serve_refuses_another_programs_file(tmp_path: Path) -> None:
    # Given another program's SQLite file
    path = _foreign(tmp_path / "app.db")
    before = _files(tmp_path)
    # When the server is started on it (as a user starts it)
    run = "from tidings.cli.app import main; main()"
    args = ["serve", "--db", str(path), "--port", "0", "--workers", "1"]
    done = subprocess.run(
        [sys.executable, "-c", run, *args], capture_output=True, text=True, timeout=60
    )
    # Then it does not start: exit 2, one line naming the file, nothing changed
    assert done.returncode == 2, done.stderr
    assert f"error: cannot open {path}: not a tidings database" in done.stderr
    assert "users" in done.stderr and "Traceback" not in done.stderr
    assert _files(tmp_path) == before


def test_the_library_refuses_another_programs_file(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "app.db")
    before = _files(tmp_path)
    with pytest.raises(NotTidings, match="another program's tables") as raised:
        Tidings(str(path))
    assert isinstance(raised.value, StorageError)  # one of tidings' errors
    assert _files(tmp_path) == before


def _schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def _postgres_tables(schema: str) -> list[tuple[str, int]]:
    with psycopg.connect(POSTGRES) as db:
        names = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
        return [
            (name, db.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0])  # type: ignore[index]
            for (name,) in names
        ]


@pytest.mark.parametrize(
    "args", [COMMANDS[0], COMMANDS[1], ("poll", "tester"), ("log",)], ids=" ".join
)
def test_a_postgres_schema_of_another_program_is_refused(
    args: tuple[str, ...], postgres_url: str
) -> None:
    # Given a schema holding another program's table
    schema = _schema_of(postgres_url)
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f'CREATE TABLE "{schema}".users (name TEXT)')
        db.execute(f"INSERT INTO \"{schema}\".users VALUES ('ada')")
    # When a command or the library opens it
    one_line_error(shell(*args, "--db", postgres_url, input="s3cret\n"), 2, "not a tidings")
    with pytest.raises(NotTidings):
        Tidings(postgres_url)
    # Then it holds what it held, and nothing more
    assert _postgres_tables(schema) == [("users", 1)]


def test_a_new_database_is_said_out_loud(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = shell("account", "add", "tester", "--password-stdin", "--db", str(path),
                   input="s3cret\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == f"created a new tidings database at {path}\n"
    # and opened again, it is tidings' own: nothing more is said
    again = shell("account", "add", "other", "--password-stdin", "--db", str(path),
                  input="s3cret\n")  # fmt: skip
    assert again.exit_code == 0 and again.stderr == ""


def test_the_library_logs_a_new_database(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "tidings.store"), Tidings(db_url):
        pass
    created = [r for r in caplog.records if "created a new tidings database" in r.message]
    assert len(created) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, "tidings.store"), Tidings(db_url):
        pass
    assert not [r for r in caplog.records if "created" in r.message]


def test_an_empty_file_becomes_a_tidings_database(tmp_path: Path) -> None:
    path = tmp_path / "made-by-touch.db"
    path.touch()
    with Tidings(str(path)) as tidings:
        tidings.open_account("tester", "s3cret")
    assert shell("account", "show", "tester", "--db", str(path)).exit_code == 0


READERS = [
    ("verify",),
    ("replay",),
    ("log",),
    ("stats",),
    ("account", "list"),
    ("queue", "tester"),
    ("state", "mailbox", "tester"),
    ("deliveries",),
]


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_the_read_only_commands_read_a_file_on_read_only_storage(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    # Given a tidings database on storage mounted read-only (a backup, a forensic copy)
    folder = tmp_path / "backup"
    folder.mkdir()
    path = folder / "tidings.db"
    with Tidings(str(path)) as tidings:
        tidings.open_account("tester", "s3cret")
        pending = tidings.accept("tester", "AvrX87Kqk6h3", "ping-async")
        tidings.end(pending.svtrid, 1000, "OK")
    before = _files(folder)
    tidings_cli = Path(sys.executable).parent / "tidings"
    mount = f"mount --bind -o ro {folder} {folder}"
    unshare = shutil.which("unshare")
    probe = subprocess.run(
        [unshare or "unshare", "-m", "sh", "-c", f"{mount} && ! touch {folder}/x"],
        capture_output=True,
    )
    if unshare is None or probe.returncode != 0:
        pytest.skip("needs `unshare -m` and mount (root in a mount namespace)")
    # When a command that only reads is run on it
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", f'{mount} && exec "$0" "$@"', str(tidings_cli), *args,
         "--db", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Then it answers, and the files are as they were
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert _files(folder) == before


# The commands that change an existing database only (a missing SQLite file is refused).
CHANGES = [
    ("account", "add", "tester", "--password-stdin", "--operator", "alice"),
    ("account", "set", "tester", "--channel", "poll"),
    ("account", "suspend", "tester"),
    ("poll", "tester"),
    ("ack", "tester", "1", "--up-to", "--operator", "alice"),
    ("redeliver", "tester"),
    ("operator", "revoke", "alice"),
]


@pytest.mark.parametrize("args", CHANGES, ids=" ".join)
def test_a_change_refused_on_an_empty_postgres_schema_creates_nothing(
    args: tuple[str, ...], postgres_url: str
) -> None:
    # Given an empty schema, and the name of one that does not exist
    missing = f"{postgres_url}_missing"
    try:
        # When a command that changes an existing database is run on them
        ran = shell(*args, "--db", postgres_url, input="s3cret\n")
        one_line_error(ran, 2, "not a tidings database")
        one_line_error(shell(*args, "--db", missing, input="s3cret\n"), 2, _schema_of(missing))
        # Then the one holds no table, and the other was not made
        assert _postgres_tables(_schema_of(postgres_url)) == []
        with psycopg.connect(POSTGRES) as db:
            made = db.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                (_schema_of(missing),),
            ).fetchone()
        assert made is None
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{_schema_of(missing)}" CASCADE')
