"""A store opens the database its URL names, whatever the process's variables say:
eventsourcing reads its settings from the environment, ours come from the URL alone."""

import uuid
from pathlib import Path

import psycopg
import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.adapters.store.environment import is_postgres, quoted
from tidings.domain import Code

__all__: list[str] = []


def _decoys(db_url: str, elsewhere: Path, schema: str) -> dict[str, str]:
    """eventsourcing settings, plain and prefixed with the application's name, and
    libpq's, naming another database: the other backend (its PostgreSQL on loopback
    port 1, where nothing listens), another schema, another file."""
    settings = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite"
        if is_postgres(db_url)
        else "eventsourcing.postgres",
        "SQLITE_DBNAME": str(elsewhere),
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "1",
        "POSTGRES_DBNAME": "elsewhere",
        "POSTGRES_USER": "elsewhere",
        "POSTGRES_PASSWORD": "not-the-url's",
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "n",
        "IS_SNAPSHOTTING_ENABLED": "n",
        "APPLICATION_RECORDER_TOPIC": "eventsourcing.popo:POPOApplicationRecorder",
    }
    # libpq's own defaults, which fill in what a connection string leaves out.
    libpq = {"PGHOST": "127.0.0.1", "PGPORT": "1", "PGDATABASE": "elsewhere", "PGUSER": "elsewhere"}
    return settings | {f"TIDINGS_{name}": value for name, value in settings.items()} | libpq


def test_exported_settings_do_not_change_which_database_opens(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere, schema = tmp_path / "elsewhere.db", f"elsewhere_{uuid.uuid4().hex[:12]}"
    # given: the process exports settings for another database
    for name, value in _decoys(db_url, elsewhere, schema).items():
        monkeypatch.setenv(name, value)

    # when: a store opens the URL's database and writes to it
    with Tidings.over(Store(db_url)) as t:
        t.open_account("tester", "pw")
        t.end(t.accept("tester", "c1", "op").svtrid, 1000, "OK")

    # then: what it wrote is in the URL's database, as a process without them reads it
    monkeypatch.undo()
    with Tidings(db_url) as cold:
        answer = cold.poll("tester", svtrid="cold")
        assert answer.code == Code.OK and answer.notification is not None
        assert answer.notification.outcome.cltrid == "c1"
    # and: nothing went elsewhere
    assert not elsewhere.exists()
    if is_postgres(db_url):
        with psycopg.connect(db_url.split("?", 1)[0], autocommit=True) as conn:
            found = conn.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone()
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # if it leaked
        assert found == (None,)


def test_a_name_in_the_store_s_sql_is_quoted_whatever_it_holds() -> None:
    # One quoting for every schema and table the store names (a quote in it doubled).
    assert quoted('we"ird', "tidings_secrets") == '"we""ird"."tidings_secrets"'
    assert quoted("public") == '"public"'
