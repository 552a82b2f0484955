"""A lean read of the whole notification log, for replay.

The recorders' `scan` reads through eventsourcing (a transaction per page, dict rows,
`bytes.fromhex`, copies): fine for `verify`'s pages, slow for a replay of millions of
events. Here one read-only connection runs one ordered SELECT and hands out plain tuples
`(stream, topic, state)`, 50,000 at a time, with no conversion: `stream` is the stored
stream id as text (SQLite: 32 hex digits; PostgreSQL: the uuid's text), good as a
dictionary key and as `UUID(stream)`.

A read can be limited to some topics (or to all but some), so that processes folding
different streams each read only their share of the log.
"""

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .store import is_postgres

__all__ = ["LogRead", "Row", "Share", "position_at", "read_log"]

Row = tuple[str, str, bytes]  # stream id (text), topic, state
PAGE = 50_000


@dataclass(frozen=True, slots=True)
class Share:
    """Which rows a read returns: those whose topic is in `topics`, or (`exclude`) those
    whose topic is not. The default, nothing excluded, is the whole log."""

    topics: tuple[str, ...] = ()
    exclude: bool = True


@dataclass(frozen=True, slots=True)
class LogRead:
    """Where the log is: a SQLite file path or a PostgreSQL URL, and the events table."""

    url: str
    table: str


def _sqlite_uri(path: str) -> str:
    return f"{Path(path).absolute().as_uri()}?mode=ro"


def _sqlite_where(share: Share) -> tuple[str, tuple[str, ...]]:
    if not share.topics:
        return ("1" if share.exclude else "0"), ()
    marks = ", ".join("?" for _ in share.topics)
    return f"topic {'NOT IN' if share.exclude else 'IN'} ({marks})", share.topics


def _postgres(url: str) -> tuple[str, str]:
    """The URL psycopg takes and the schema named in its query string."""
    schema = parse_qs(urlsplit(url).query).get("schema", ["public"])[0]
    return url.split("?", 1)[0], schema


def _postgres_query(log: LogRead, share: Share, select: str) -> tuple[Any, tuple[Any, ...]]:
    from psycopg.sql import SQL, Identifier

    _, schema = _postgres(log.url)
    params: tuple[Any, ...]
    if not share.topics:
        where, params = SQL("TRUE" if share.exclude else "FALSE"), ()
    else:
        op = "<> ALL" if share.exclude else "= ANY"
        where, params = SQL(f"topic {op}(%s)"), (list(share.topics),)
    query = SQL("SELECT {} FROM {}.{} WHERE {} ORDER BY notification_id").format(
        SQL(select), Identifier(schema), Identifier(log.table), where
    )
    return query, params


def read_log(log: LogRead, share: Share = Share()) -> Iterator[Sequence[Row]]:
    """The log's rows in log order, a page at a time."""
    if is_postgres(log.url):
        yield from _read_postgres(log, share)
    else:
        yield from _read_sqlite(log, share)


def _read_sqlite(log: LogRead, share: Share) -> Iterator[Sequence[Row]]:
    where, params = _sqlite_where(share)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:
        cursor = conn.execute(
            f"SELECT originator_id, topic, state FROM {log.table} WHERE {where} ORDER BY rowid",
            params,
        )
        fetch = cursor.fetchmany
        while rows := fetch(PAGE):
            yield rows


def _read_postgres(log: LogRead, share: Share) -> Iterator[Sequence[Row]]:
    import psycopg

    plain, _ = _postgres(log.url)
    query, params = _postgres_query(log, share, "originator_id::text, topic, state")
    with psycopg.connect(plain) as conn, conn.cursor(name="tidings_log_read") as cursor:
        cursor.itersize = PAGE
        cursor.execute(query, params)
        while rows := cursor.fetchmany(PAGE):
            yield rows


def position_at(log: LogRead, share: Share, index: int) -> int:
    """The log position of the `index`-th row (from 0) that `read_log(log, share)` gives:
    where an error found while folding that read lies."""
    if is_postgres(log.url):
        import psycopg

        plain, _ = _postgres(log.url)
        query, params = _postgres_query(log, share, "notification_id")
        with psycopg.connect(plain) as conn, conn.cursor() as cursor:
            cursor.execute(query + psycopg.sql.SQL(" OFFSET %s LIMIT 1"), (*params, index))
            row = cursor.fetchone()
    else:
        where, sparams = _sqlite_where(share)
        with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as lite:
            row = lite.execute(
                f"SELECT rowid FROM {log.table} WHERE {where} ORDER BY rowid LIMIT 1 OFFSET ?",
                (*sparams, index),
            ).fetchone()
    if row is None:
        raise LookupError(f"the log has no row {index} in that read")
    return int(row[0])
