"""A forger with write access to the database, on SQLite or PostgreSQL alike: SQL run
straight on the tables, past every check of ours."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tidings.adapters.store.application import is_postgres

__all__ = ["Forger", "forger"]


class Forger:
    """Runs SQL written with `?` placeholders and names the tables as this database
    calls them: {events}, {snapshots}, {pos} (the events' position column)."""

    def __init__(self, connection: Any, postgres: bool):
        self._connection = connection
        self._postgres = postgres
        self.names = (
            {"events": "tidings_events", "snapshots": "tidings_snapshots", "pos": "notification_id"}
            if postgres
            else {"events": "stored_events", "snapshots": "stored_snapshots", "pos": "rowid"}
        )

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        query = sql.format(**self.names)
        if self._postgres:
            query = query.replace("?", "%s")
        cursor = self._connection.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


@contextmanager
def forger(db_url: str) -> Iterator[Forger]:
    """A connection to `db_url` that commits what the forger did on leaving."""
    if not is_postgres(db_url):
        connection = sqlite3.connect(db_url)
        try:
            yield Forger(connection, postgres=False)
            connection.commit()
        finally:
            connection.close()
        return
    import psycopg

    parts = urlsplit(db_url)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(db_url.split("?", 1)[0]) as connection:
        connection.execute(f'SET search_path TO "{schema}"')
        yield Forger(connection, postgres=True)
