"""Fixtures shared by every test package: a fresh database on each real backend.

`db_url` runs a test on a SQLite file and, when TIDINGS_TEST_POSTGRES names a server
(`postgresql://postgres@127.0.0.1:5432/postgres`), on PostgreSQL in a fresh schema.
Without a server the PostgreSQL case is skipped, unless TIDINGS_REQUIRE_POSTGRES=1
(CI), where it fails.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES = os.environ.get("TIDINGS_TEST_POSTGRES", "")
REQUIRE_POSTGRES = os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1"


def postgres_schema() -> Iterator[str]:
    """A URL of a fresh schema on the test server, dropped afterwards (or skip/fail)."""
    if not POSTGRES:
        if REQUIRE_POSTGRES:
            pytest.fail("TIDINGS_REQUIRE_POSTGRES=1 but TIDINGS_TEST_POSTGRES is not set")
        pytest.skip("no PostgreSQL: set TIDINGS_TEST_POSTGRES to run these")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    sep = "&" if "?" in POSTGRES else "?"
    yield f"{POSTGRES}{sep}schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "tidings.db")
    else:
        yield from postgres_schema()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema's URL, for what concerns PostgreSQL alone."""
    yield from postgres_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "tidings.db")
