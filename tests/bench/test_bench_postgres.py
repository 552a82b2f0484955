"""`python -m bench --postgres URL`: the `postgres` rows, measured in schemas of their own
that are gone afterwards; a URL the bench cannot use is one line, exit 2.

Nothing here asserts a speed: only that each measurement happened."""

import threading
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from typer.testing import CliRunner

from bench.__main__ import app
from bench.postgres import PsycopgInserts, measure_postgres
from bench.results import postgres_targets
from tests.conftest import POSTGRES

__all__: list[str] = []


def _bench_schemas(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tidings_bench_%'"
        ).fetchall()
    return [row[0] for row in rows]


def test_the_postgres_rows_are_measured_in_schemas_dropped_after(
    postgres_url: str, tmp_path: Path
) -> None:
    server = postgres_url.split("?", 1)[0]
    before = _bench_schemas(server)

    results = measure_postgres(postgres_url, tmp_path, 20, 1, status=lambda _: None)

    rows = {(r.scenario, r.subject, r.clients) for r in results}
    assert rows == {
        *(("postgres enqueue", s, n) for s in ("tidings", "psycopg") for n in (1, 16)),
        *(("postgres poll+ack", "tidings", n) for n in (1, 16)),
        ("postgres enqueue", "tidings, 2 processes", 16),
        ("postgres poll+ack", "tidings, 2 processes", 16),
        ("postgres enqueue", "psycopg, 2 processes", 16),
    }
    assert all(r.ops_per_s > 0 and r.cpu_us for r in results)
    # The two processes each did the operations one process did.
    assert {r.ops for r in results if r.subject.endswith("2 processes")} == {40}
    # The server's durability, read back, is on every row.
    assert all(r.journal_mode and r.journal_mode.startswith("fsync=") for r in results)
    assert all(r.synchronous and r.synchronous.startswith("commit=") for r in results)
    found = postgres_targets(results, measured=True)
    assert len(found) == 3 and all(t.measured > 0 and t.note is None for t in found)
    # The two processes' enqueue row says what two processes buy psycopg.
    assert [t.aside is not None and t.aside.startswith("psycopg's own: ") for t in found] == [
        False,
        True,
        False,
    ]
    assert _bench_schemas(server) == before


def test_processes_sharing_a_schema_make_its_table_once(postgres_url: str) -> None:
    # Without a lock, most rounds of four at once failed with DuplicateTable.
    server = postgres_url.split("?", 1)[0]
    errors: list[Exception] = []
    for _ in range(10):
        schema = f"tidings_bench_race_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        barrier = threading.Barrier(4)

        def make(schema: str = schema, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=30)
            try:
                PsycopgInserts(server, schema, 1).close()
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    assert errors == []


def test_a_url_the_bench_cannot_use_is_one_line() -> None:
    runner = CliRunner()
    wrong = runner.invoke(app, ["--postgres", "sqlite.db"])
    assert wrong.exit_code == 2
    assert "--postgres wants a postgresql:// URL" in wrong.output
    if POSTGRES:
        gone = POSTGRES.split("?", 1)[0].rsplit("/", 1)[0] + "/no_such_database_here"
        unreachable = runner.invoke(app, ["--postgres", gone])
        assert unreachable.exit_code == 2
        assert "cannot reach PostgreSQL" in unreachable.output
        assert "Traceback" not in unreachable.output
