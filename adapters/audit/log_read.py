"""A lean read of the whole notification log, for replay.

The recorders' `scan` reads through eventsourcing (a transaction per page, dict rows,
`bytes.fromhex`, copies): fine for `verify`'s pages, slow for a replay of millions of
events. Even a plain cursor is slow here: the driver builds a tuple and three objects per
row, which costs more than decoding the event. So the database packs each page of the log
itself (`read_pages`): one row per `PAGE` positions, holding, in log order, the page's
stream ids joined by commas, one character per row for its topic (a `KINDS` character,
fast to look up, where a topic string would be hashed and compared), and its states back
to back. A stream id is the stored one as text (SQLite: 32 hex digits; PostgreSQL: the
uuid's text), good as a dictionary key and as `UUID(stream)`.

A page whose packed form cannot be trusted (a NULL, a comma in an id, a topic not known,
a state that is not one whole event) is read again row by row (`read_rows`), with each
row's position, so that an error is found, and reported, where it lies.

A read can be limited to some topics (or to all but some), and to a range of positions,
so that processes folding different streams, or different stretches of the same streams,
each read only their share of the log. A process that folds a later stretch starts each
stream from its state before that stretch (`read_start`: the newest snapshot there, and
the events after it).
"""

import sqlite3
import string
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..store.application import is_postgres
from ..store.chain import StreamRow

__all__ = [
    "KINDS",
    "PAGE",
    "UNKNOWN",
    "LogRead",
    "Page",
    "Row",
    "Share",
    "Start",
    "bounds",
    "read_pages",
    "read_rows",
    "read_start",
    "sample_topics",
]

Row = tuple[int, str, str, bytes]  # position, stream id (text), topic, state
PAGE = 50_000  # log positions per page
# A page's kind of row: KINDS[i] for the i-th topic the read was given, else UNKNOWN.
# Python keeps one object per ASCII character, so iterating `Page.kinds` allocates nothing.
KINDS = string.ascii_letters + string.digits
UNKNOWN = "?"
# How much of the file a replay maps: all of it, up to the cap SQLite was built with
# (2 GiB by default); the rest is read as usual.
_MMAP_BYTES = 1 << 40


@dataclass(frozen=True, slots=True)
class Share:
    """Which rows a read returns: those at positions `first` to `last` (None: the end)
    whose topic is in `topics`, or (`exclude`) whose topic is not. The default, nothing
    excluded, is the whole log."""

    topics: tuple[str, ...] = ()
    exclude: bool = True
    first: int = 1
    last: int | None = None


@dataclass(frozen=True, slots=True)
class LogRead:
    """Where the log is: a SQLite file path or a PostgreSQL URL, the events table, and
    the snapshots table."""

    url: str
    table: str
    snapshots: str


@dataclass(frozen=True, slots=True)
class Page:
    """The `count` rows of a share at positions `first` to `last`, packed in log order:
    `streams` joined by commas, `kinds` one character a row, `states` back to back. The
    database skips NULLs when it joins, so a field is None when all of its values are."""

    first: int
    last: int
    count: int
    streams: str | None
    kinds: str | None
    states: bytes | None


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


def _postgres_query(log: LogRead, share: Share, select: str, tail: str) -> tuple[Any, list[Any]]:
    """`SELECT select FROM the table WHERE (the share) tail`, and the share's parameters."""
    from psycopg.sql import SQL, Identifier

    _, schema = _postgres(log.url)
    params: list[Any]
    if not share.topics:
        where, params = SQL("TRUE" if share.exclude else "FALSE"), []
    else:
        op = "<> ALL" if share.exclude else "= ANY"
        where, params = SQL(f"topic {op}(%s)"), [list(share.topics)]
    query = SQL("SELECT {} FROM {}.{} WHERE {} {}").format(
        SQL(select), Identifier(schema), Identifier(log.table), where, SQL(tail)
    )
    return query, params


def _kind_case(topics: Sequence[str], mark: str) -> str:
    """SQL for a row's kind character, with `topics` as parameters written `mark`."""
    if len(topics) > len(KINDS):
        raise ValueError(f"a read tells at most {len(KINDS)} topics apart")
    whens = " ".join(f"WHEN {mark} THEN '{KINDS[i]}'" for i in range(len(topics)))
    return f"CASE topic {whens} ELSE '{UNKNOWN}' END" if topics else f"'{UNKNOWN}'"


def read_pages(log: LogRead, share: Share, topics: Sequence[str]) -> Iterator[Page]:
    """The share's rows in log order, a packed page at a time (empty pages skipped); a
    row's kind tells which of `topics` it has."""
    if is_postgres(log.url):
        yield from _pages_postgres(log, share, topics)
    else:
        yield from _pages_sqlite(log, share, topics)


def read_rows(log: LogRead, share: Share, first: int, last: int, skip: int) -> list[Row]:
    """The share's rows at positions `first` to `last` in log order, but the first `skip`."""
    if is_postgres(log.url):
        return _rows_postgres(log, share, first, last, skip)
    return _rows_sqlite(log, share, first, last, skip)


# SQLite has no ordered aggregate before 3.44, but an aggregate takes the rows in the
# order the scan gives them, and a rowid range is scanned in rowid order. group_concat
# copies a BLOB's bytes as they are, so the CAST gives the states back unchanged.
_SQLITE_PAGE = (
    "SELECT count(*), group_concat(originator_id, ','), group_concat({kind}, ''), "
    "CAST(group_concat(state, '') AS BLOB) FROM {table} WHERE rowid BETWEEN ? AND ? AND {where}"
)


def _pages_sqlite(log: LogRead, share: Share, topics: Sequence[str]) -> Iterator[Page]:
    where, params = _sqlite_where(share)
    query = _SQLITE_PAGE.format(kind=_kind_case(topics, "?"), table=log.table, where=where)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:
        # Mapped, the scan reads the file's pages in place instead of copying each one
        # into SQLite's cache: a whole-log read spends a tenth less.
        conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        for first, last in _spans(_bounds_sqlite(conn, log), share):
            row = conn.execute(query, (*topics, first, last, *params)).fetchone()
            if row[0]:
                yield Page(first, last, *row)


def _bounds_sqlite(conn: sqlite3.Connection, log: LogRead) -> tuple[int, int] | None:
    # Each in its own SELECT: SQLite answers a lone min() or max() from the b-tree's
    # ends, but scans the whole table for the two together.
    bottom, top = conn.execute(
        f"SELECT (SELECT min(rowid) FROM {log.table}), (SELECT max(rowid) FROM {log.table})"
    ).fetchone()
    return None if bottom is None else (bottom, top)


def _spans(ends: tuple[int, int] | None, share: Share) -> Iterator[tuple[int, int]]:
    """The first and last position of each page the share covers within the log's ends."""
    if ends is None:
        return
    start = max(ends[0], share.first)
    stop = ends[1] if share.last is None else min(ends[1], share.last)
    for first in range(start, stop + 1, PAGE):
        yield first, min(first + PAGE - 1, stop)


def _rows_sqlite(log: LogRead, share: Share, first: int, last: int, skip: int) -> list[Row]:
    where, params = _sqlite_where(share)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:
        rows: list[Row] = conn.execute(
            f"SELECT rowid, originator_id, topic, state FROM {log.table} "
            f"WHERE rowid BETWEEN ? AND ? AND {where} ORDER BY rowid LIMIT -1 OFFSET ?",
            (first, last, *params, skip),
        ).fetchall()
    return rows


def _pages_postgres(log: LogRead, share: Share, topics: Sequence[str]) -> Iterator[Page]:
    import psycopg

    plain, _ = _postgres(log.url)
    query, params = _postgres_query(
        log,
        share,
        "count(*), string_agg(originator_id::text, ',' ORDER BY notification_id), "
        f"string_agg({_kind_case(topics, '%s')}, '' ORDER BY notification_id), "
        "string_agg(state, ''::bytea ORDER BY notification_id)",
        "AND notification_id BETWEEN %s AND %s",
    )
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:
        for first, last in _spans(_bounds_postgres(cursor, log), share):
            row = cursor.execute(query, (*topics, *params, first, last)).fetchone()
            if row is not None and row[0]:
                yield Page(first, last, *row)


def _bounds_postgres(cursor: Any, log: LogRead) -> tuple[int, int] | None:
    query, _ = _postgres_query(log, Share(), "min(notification_id), max(notification_id)", "")
    row = cursor.execute(query).fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def _rows_postgres(log: LogRead, share: Share, first: int, last: int, skip: int) -> list[Row]:
    import psycopg

    plain, _ = _postgres(log.url)
    query, params = _postgres_query(
        log,
        share,
        "notification_id, originator_id::text, topic, state",
        "AND notification_id BETWEEN %s AND %s ORDER BY notification_id OFFSET %s",
    )
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:
        return cursor.execute(query, (*params, first, last, skip)).fetchall()


def bounds(log: LogRead) -> tuple[int, int] | None:
    """The first and last position in the log, or None when it is empty."""
    if is_postgres(log.url):
        import psycopg

        with psycopg.connect(_postgres(log.url)[0]) as pg, pg.cursor() as cursor:
            return _bounds_postgres(cursor, log)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:
        return _bounds_sqlite(conn, log)


# A stream's start before a position: its newest snapshot of a version it reached before
# there, then its events after that snapshot and before there. A stream's versions grow
# with its positions, so "before there" is a version bound, found in the primary key.
_SQLITE_START_SNAPSHOT = (
    "SELECT originator_version, topic, state FROM {snapshots} WHERE originator_id = ? "
    "AND originator_version <= (SELECT coalesce(max(originator_version), 0) FROM {table} "
    "WHERE originator_id = ? AND rowid < ?) ORDER BY originator_version DESC LIMIT 1"
)
_SQLITE_START_EVENTS = (
    "SELECT originator_version, topic, state FROM {table} WHERE originator_id = ? "
    "AND originator_version > ? AND rowid < ? ORDER BY originator_version"
)
_POSTGRES_START_SNAPSHOT = (
    "SELECT originator_version, topic, state FROM {schema}.{snapshots} "
    "WHERE originator_id = %s::uuid AND originator_version <= (SELECT "
    "coalesce(max(originator_version), 0) FROM {schema}.{table} WHERE originator_id = %s::uuid "
    "AND notification_id < %s) ORDER BY originator_version DESC LIMIT 1"
)
_POSTGRES_START_EVENTS = (
    "SELECT originator_version, topic, state FROM {schema}.{table} WHERE originator_id = "
    "%s::uuid AND originator_version > %s AND notification_id < %s ORDER BY originator_version"
)

Start = tuple[StreamRow | None, list[StreamRow]]  # newest snapshot, events after it


@contextmanager
def read_start(log: LogRead) -> Iterator[Callable[[str, int], Start]]:
    """A reader of streams' starts: `start(stream, before)` is the stream's newest
    snapshot among the versions it reached at positions before `before` (None: none),
    and its events after that snapshot and before `before`, oldest first."""
    if is_postgres(log.url):
        with _starts_postgres(log) as start:
            yield start
    else:
        with _starts_sqlite(log) as start:
            yield start


@contextmanager
def _starts_sqlite(log: LogRead) -> Iterator[Callable[[str, int], Start]]:
    snapshot_sql = _SQLITE_START_SNAPSHOT.format(table=log.table, snapshots=log.snapshots)
    events_sql = _SQLITE_START_EVENTS.format(table=log.table)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:

        def start(stream: str, before: int) -> Start:
            snapshot = conn.execute(snapshot_sql, (stream, stream, before)).fetchone()
            after = snapshot[0] if snapshot else 0
            return snapshot, conn.execute(events_sql, (stream, after, before)).fetchall()

        yield start


@contextmanager
def _starts_postgres(log: LogRead) -> Iterator[Callable[[str, int], Start]]:
    import psycopg
    from psycopg.sql import SQL, Identifier

    plain, schema = _postgres(log.url)
    schema_id, table_id = Identifier(schema), Identifier(log.table)
    snapshot_query = SQL(_POSTGRES_START_SNAPSHOT).format(
        schema=schema_id, table=table_id, snapshots=Identifier(log.snapshots)
    )
    events_query = SQL(_POSTGRES_START_EVENTS).format(schema=schema_id, table=table_id)
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:

        def start(stream: str, before: int) -> Start:
            snapshot = cursor.execute(snapshot_query, (stream, stream, before)).fetchone()
            after = snapshot[0] if snapshot else 0
            return snapshot, cursor.execute(events_query, (stream, after, before)).fetchall()

        yield start


def sample_topics(log: LogRead, positions: Sequence[int]) -> list[str]:
    """The topics of the entries at `positions` (those that exist), by point lookups."""
    if is_postgres(log.url):
        import psycopg

        query, _ = _postgres_query(log, Share(), "topic", "AND notification_id = ANY(%s)")
        with psycopg.connect(_postgres(log.url)[0]) as pg, pg.cursor() as cursor:
            return [row[0] for row in cursor.execute(query, (list(positions),)).fetchall()]
    marks = ", ".join("?" for _ in positions)
    with closing(sqlite3.connect(_sqlite_uri(log.url), uri=True)) as conn:
        rows = conn.execute(f"SELECT topic FROM {log.table} WHERE rowid IN ({marks})", positions)
        return [row[0] for row in rows]
