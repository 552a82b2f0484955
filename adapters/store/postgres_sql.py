"""How the PostgreSQL recorder talks to the server: its statements, built once
(`Statements`), prepared on each connection (`Prepared`), and the `Batch` that sends them
bound on the client as one query string, one round trip (why: docs/decisions.md).
"""

import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from psycopg import ClientCursor
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import Literal

from ..ledger.entries import Row
from .environment import quoted
from .merkle_tables import Db, Tables

__all__ = [
    "Batch",
    "Prepared",
    "Statements",
    "byteas",
    "columns",
    "frontier_columns",
    "ints",
    "postgres_db",
    "texts",
    "transaction",
    "uuids",
]


def postgres_db(curs: Any) -> Db:
    def rows(query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        curs.execute(query, params)
        return [tuple(row.values()) for row in curs.fetchall()]

    return Db(rows, lambda query, rows: curs.executemany(query, rows))


_names = itertools.count()
_PLACEHOLDER = re.compile(r"%(%|s)")


class Prepared:
    """Statements to prepare on every connection that runs them, by their text (with
    `%s` placeholders), sent by a `Batch` as `EXECUTE`; `learn` adds one."""

    def __init__(self, reads: Sequence[str], writes: Sequence[str]):
        self._mutex = threading.Lock()
        self._prefix = f"tidings_{next(_names)}_"
        # text -> (its bit, its EXECUTE with `%s` placeholders)
        self._executes: dict[str, tuple[int, str]] = {}
        self._prepares: list[str] = []  # each statement's PREPARE, by number
        self._reads = 0  # the bits of the reads
        self._ready: WeakKeyDictionary[Any, int] = WeakKeyDictionary()  # conn -> its bits
        for text in reads:
            self.learn(text, writes=False)
        for text in writes:
            self.learn(text)

    def learn(self, query: str, *, writes: bool = True) -> None:
        with self._mutex:
            if query in self._executes:
                return
            number = len(self._prepares)
            name = f"{self._prefix}{number}"
            numbers = itertools.count(1)

            def placeholder(match: re.Match[str]) -> str:
                return "%" if match.group(1) == "%" else f"${next(numbers)}"

            self._prepares.append(f"PREPARE {name} AS " + _PLACEHOLDER.sub(placeholder, query))
            count = next(numbers) - 1
            marks = f"({', '.join(['%s'] * count)})" if count else ""
            self._executes[query] = 1 << number, f"EXECUTE {name}{marks}"
            if not writes:
                self._reads |= 1 << number

    def ready(self, conn: Any, *, writes: bool = True) -> int:
        """Prepare on `conn`, in one round trip, what it lacks (only the reads unless
        `writes`: preparing an INSERT takes its table's lock, which this process may hold
        on another connection); the bits `execute_of` takes. Call it outside a
        transaction: a rollback keeps a PREPARE."""
        done = self._ready.get(conn)
        if done is None:
            # psycopg deallocates every statement of a connection at its next rollback
            # once it has prepared one of its own: on these it forgets what it had
            # (it sees this DEALLOCATE go by) and prepares none from now on.
            conn.execute("DEALLOCATE ALL")
            conn.prepare_threshold = None
            self._ready[conn] = done = 0
        wanted = (1 << len(self._prepares)) - 1
        if not writes:
            wanted &= self._reads
        missing = wanted & ~done
        if missing:
            prepares = [p for i, p in enumerate(self._prepares) if missing >> i & 1]
            conn.execute(";".join(prepares))
            self._ready[conn] = done = done | missing
        return done

    def execute_of(self, query: str, ready: int) -> str | None:
        """The `EXECUTE` that runs `query` on a connection `ready` says prepared it."""
        found = self._executes.get(query)
        return found[1] if found is not None and found[0] & ready else None


class Batch:
    """Statements gathered and sent together as one query string (those `prepared` as
    their `EXECUTE`); `rows` sends them with a read and answers its rows."""

    def __init__(self, conn: Any, prepared: Prepared | None = None, *, writes: bool = True):
        self._cursor = ClientCursor(conn, row_factory=tuple_row)
        self._gathered: list[str] = []
        self._last: list[list[tuple[Any, ...]]] = []
        # The rows of every statement sent that returns rows, in order.
        self.answered: list[list[tuple[Any, ...]]] = []
        self._prepared = prepared
        self._ready = 0 if prepared is None else prepared.ready(conn, writes=writes)

    def execute(self, query: str, params: Sequence[Any] | None = None) -> None:
        if params is None:  # nothing to bind: no need to parse it for placeholders
            self._gathered.append(query)
            return
        if self._prepared is not None:
            query = self._prepared.execute_of(query, self._ready) or query
        self._gathered.append(self._cursor.mogrify(query, params))

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        into, marker, values = query.rpartition("VALUES")
        assert marker, query
        many = into + "VALUES " + ", ".join([values] * len(rows))
        self.execute(many, [value for row in rows for value in row])

    def rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.execute(query, params)
        return self.sets()[-1]

    def sets(self) -> list[list[tuple[Any, ...]]]:
        """Send what is gathered; the rows of each of its statements that returns rows."""
        self.send()
        return self._last

    def send(self) -> None:
        if not self._gathered:
            return
        gathered, self._gathered = self._gathered, []
        self._cursor.execute(";".join(gathered))
        found = []
        while True:
            # The result's status, not `description`, which builds a column each time.
            result = self._cursor.pgresult
            if result is not None and result.status == ExecStatus.TUPLES_OK:
                found.append(list(self._cursor.fetchall()))
            if not self._cursor.nextset():
                break
        self._last = found
        self.answered += found

    def db(self) -> Db:
        return Db(self.rows, self.executemany)


@contextmanager
def transaction(conn: Any, prepared: Prepared | None = None) -> Iterator[Batch]:
    """A batch run in one transaction, its BEGIN and COMMIT sent with it."""
    batch = Batch(conn, prepared)
    batch.execute("BEGIN")
    try:
        yield batch
        batch.execute("COMMIT")
        batch.send()
    finally:
        # After an error the server skipped the rest, COMMIT included.
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.rollback()


# Array literals for `%s::type[]` parameters, each bound as one string: psycopg would dump
# a list element by element, ten times dearer (docs/decisions.md, "The command path").


def ints(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def byteas(values: Sequence[bytes]) -> str:
    if not values:
        return "{}"
    return '{"\\\\x' + '","\\\\x'.join([v.hex() for v in values]) + '"}'


def texts(values: Sequence[str]) -> str:
    if not values:
        return "{}"
    escaped = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(escaped) + '"}'


def uuids(values: Sequence[UUID | str]) -> str:
    return "{" + ",".join([v.hex if isinstance(v, UUID) else v for v in values]) + "}"


def columns(rows: Sequence[Row]) -> list[str]:
    return [
        uuids([r[0] for r in rows]),
        ints([r[1] for r in rows]),
        texts([r[2] for r in rows]),
        byteas([r[3] for r in rows]),
    ]


def frontier_columns(tree: Tables) -> str:
    """A FROM item of one row: the tree's size, its last leaf's log position and its
    frontier's hashes (largest first); all NULL unless the tree is larger than
    `Tables.kept_size` (the statement's one parameter), for `Tables.keep`."""
    # The tree of n leaves ends in chain row n. Its frontier has one node per bit k set
    # in n, that node's leaves starting where n's bits above k end (`merkle.frontier`):
    # node (k, i) is in the row of leaf (i + 1) * 2**k - 1, at position (i + 1) * 2**k.
    # A row without nodes leaves its hash out.
    return (
        "(SELECT t.last AS size, t.last AS at, "
        "ARRAY(SELECT substring(f.nodes FROM 32 * k + 1 FOR 32) "
        "FROM generate_series(62, 0, -1) AS k "
        f"JOIN {tree.tree} f ON f.position = "
        "((t.last >> (k + 1)) << (k + 1)) + (1::bigint << k) AND f.nodes IS NOT NULL "
        "WHERE ((t.last >> k) & 1) = 1 ORDER BY k DESC) AS hashes "
        "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT CASE WHEN c.nodes IS NOT NULL "
        f"THEN c.position END AS last FROM {tree.tree} c WHERE c.position > %s "
        "ORDER BY c.position DESC LIMIT 1) AS t ON true) AS frontier"
    )


class Statements:
    """The SQL of one recorder's appends and reads, built once.
    `guard` fails its transaction (a division by zero, the divisor from the table, so
    never folded while planning) unless the log still ends at the position given;
    `news` is `tail` failing an append when a stream the batch read moved on."""

    def __init__(self, schema: str, events_table: str, tree: Tables):
        self.schema, self.events_table = schema, events_table
        self.events = events = quoted(schema, events_table)
        self.chain = chain = quoted(schema, "tidings_chain")
        self.guard = f"SELECT 1 / (coalesce(max(notification_id), 0) = %s)::int FROM {events}"
        self.read_end = (
            f"SELECT (SELECT coalesce(max(notification_id), 0) FROM {events}) AS last, "
            f"(SELECT digest FROM {chain} ORDER BY position DESC LIMIT 1) AS digest, "
            f"frontier.* FROM {frontier_columns(tree)}"
        )
        self.tail = (
            f"SELECT originator_id, originator_version, notification_id FROM {events} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        # Fails (`ln(0)`: SQLSTATE 2201E) when a stream of (ids, versions) has an event
        # past that version: an uncorrelated condition, so checked once, before the scan,
        # whether or not the log has news; an index probe a stream (LATERAL ... LIMIT 1:
        # joined, the planner scanned the whole log).
        self.news = (
            f"SELECT originator_id, originator_version, notification_id FROM {events} "
            "WHERE notification_id > %s AND ln((NOT EXISTS (SELECT FROM "
            "unnest(%s::uuid[], %s::bigint[]) AS r(id, v), LATERAL (SELECT FROM "
            f"{events} e WHERE e.originator_id = r.id AND e.originator_version > r.v "
            "LIMIT 1) AS e))::int) = 0 ORDER BY notification_id LIMIT %s"
        )
        self.create_chain = (
            f"CREATE TABLE IF NOT EXISTS {chain} "
            "(position bigint PRIMARY KEY, digest bytea NOT NULL, nodes bytea)"
        )
        self._placing: tuple[str, str] | None = None

    def prepared(self, snapshots_table: str) -> Prepared:
        """What every append and tail sends, to prepare on each connection."""
        reads = [self.guard, self.read_end, self.tail, self.news]
        return Prepared(reads, [self.place(snapshots_table)])

    def place(self, snapshots_table: str) -> str:
        """The one statement that writes an append's rows: the events with their
        positions given, the chain links with the tree's nodes (NULL while the tree is
        off), the snapshots; and it keeps eventsourcing's sequence past the positions."""
        if self._placing is not None and self._placing[0] == snapshots_table:
            return self._placing[1]
        sequence = Literal(quoted(self.schema, self.events_table)).as_string(None)
        statement = (
            f"WITH events AS (INSERT INTO {self.events} "
            "(notification_id, originator_id, originator_version, topic, state) "
            "SELECT %s::bigint + n, originator_id, originator_version, topic, state "
            "FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "WITH ORDINALITY AS e(originator_id, originator_version, topic, state, n)), "
            f"links AS (INSERT INTO {self.chain} (position, digest, nodes) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[])), "
            f"snapshots AS (INSERT INTO {quoted(self.schema, snapshots_table)} "
            "(originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "ON CONFLICT DO NOTHING) "
            f"SELECT setval(pg_get_serial_sequence({sequence}, 'notification_id'), %s)"
        )
        self._placing = snapshots_table, statement
        return statement
