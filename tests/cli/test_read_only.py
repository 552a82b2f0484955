"""The commands that only read refuse a database that is not tidings' and leave it as
they found it: another program's SQLite file, an empty one, an empty PostgreSQL schema."""

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from tests.cli.shell import one_line_error, shell
from tests.conftest import POSTGRES

READERS = [
    ("account", "list"),
    ("account", "show", "tester"),
    ("queue", "tester"),
    ("trail", "1.2.3"),
    ("state", "mailbox", "tester"),
    ("log",),
    ("stats",),
    ("deliveries",),
    ("endpoint", "list", "tester"),
]


@pytest.mark.parametrize("args", READERS, ids=" ".join)
@pytest.mark.parametrize("kind", ["empty-file", "foreign-sqlite"])
def test_a_sqlite_file_that_is_not_tidings(
    args: tuple[str, ...], kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "other.db"
    if kind == "empty-file":
        path.touch()
    else:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE TABLE notes (body TEXT)")
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    one_line_error(shell(*args, "--db", str(path)), 2, "not a tidings database")
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_an_empty_postgres_schema(args: tuple[str, ...], postgres_url: str) -> None:
    one_line_error(shell(*args, "--db", postgres_url), 2, "not a tidings database")
    schema = postgres_url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES) as db:
        tables = db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables == (0,)
