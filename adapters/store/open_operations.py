"""Open operations (accepted, not yet ended): a projection kept in a view beside the log,
`tidings_open (stream, svtrid, position)`, with its tracking record; a process follows
from its first read only (a follower costs CPU on every command). Reading never waits
for it: `open_now` folds what the log holds past the view's position. On SQLite the
view commits without fsync (a power loss replays its newest events).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import msgspec
from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Composed
from tidings.domain.operation import OperationAccepted

from ..ledger.entries import Envelope, LogRow
from .environment import quoted
from .outage import BoundedTracking
from .sqlite_recorder import WriterTurns

__all__ = ["TOPICS", "VIEW", "OpenOperations", "OpenOperationsView", "open_now", "view_for"]

TOPICS = ("OperationAccepted", "OperationEnded")
VIEW = "tidings_open"
# (stream id in hex, svTRID, log position of the acceptance)
Row = tuple[str, str, int]


class _Svtrid(msgspec.Struct, tag="OperationAccepted"):
    svtrid: str  # an acceptance's alone: msgspec skips the other fields unbuilt


_ACCEPTANCE = msgspec.msgpack.Decoder(_Svtrid)


class OpenOperationsView(TrackingRecorder, ABC):
    """Where `OpenOperations` keeps what is open. Each change commits with its tracking
    record; inside `batch`, the block's changes commit together when it ends."""

    _cursor: Any = None  # inside `batch`: the transaction's cursor
    datastore: Any
    # The view's and the tracking records' tables as a statement names them; a placeholder.
    _view, _tracking, _mark = VIEW, "tracking", "?"

    @contextmanager
    def batch(self) -> Iterator[None]:
        if self._cursor is not None:
            yield
            return
        with self._transaction() as cursor:
            self._cursor = cursor
            try:
                yield
            finally:
                self._cursor = None

    def _change(self, statement: Any, params: tuple[Any, ...], tracking: Tracking) -> None:
        with self.batch():
            self._cursor.execute(statement, params)
            self._insert_tracking(self._cursor, tracking)

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None: ...

    def opened(self, stream: str, svtrid: str, tracking: Tracking) -> None:
        values = (stream, svtrid, tracking.notification_id)
        m = self._mark
        insert = f"INSERT INTO {self._view} VALUES ({m}, {m}, {m}) ON CONFLICT DO NOTHING"
        self._change(insert, values, tracking)

    def closed(self, stream: str, tracking: Tracking) -> None:
        self._change(f"DELETE FROM {self._view} WHERE stream = {self._mark}", (stream,), tracking)

    def listed(self, application_name: str) -> tuple[list[Row], int]:
        """Every open row and the position the view has processed up to (0: none), from
        one snapshot."""
        query = (
            "SELECT NULL AS stream, NULL AS svtrid, notification_id AS position "
            f"FROM {self._tracking} WHERE application_name = {self._mark} "
            f"UNION ALL SELECT stream, svtrid, position FROM {self._view}"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(query, (application_name,))
            rows = cursor.fetchall()
        upto = next((row["position"] for row in rows if row["stream"] is None), 0)
        return [(r["stream"], r["svtrid"], r["position"]) for r in rows if r["stream"]], upto

    @abstractmethod
    def close(self) -> None: ...


class OpenOperations(Projection[OpenOperationsView]):
    """Acceptances open a row, endings close it."""

    name = "tidings_open_operations"
    topics = TOPICS

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        envelope: Envelope = domain_event
        stream = envelope.originator_id.hex
        if isinstance(envelope.event, OperationAccepted):
            self.view.opened(stream, envelope.event.svtrid, tracking)
        else:
            self.view.closed(stream, tracking)


def open_now(
    view: OpenOperationsView | None,
    application_name: str,
    logged_after: Callable[[int], Iterable[LogRow]],
) -> list[str]:
    """svTRIDs of the operations open now, oldest first: the view's rows, then the rows
    of `TOPICS` that `logged_after(position)` gives, as stored."""
    rows, upto = view.listed(application_name) if view is not None else ([], 0)
    open_ = {stream: (position, svtrid) for stream, svtrid, position in rows}
    for position, stream, _, topic, state in logged_after(upto):
        if topic == "OperationAccepted":
            open_[stream] = (position, _ACCEPTANCE.decode(state).svtrid)
        else:
            open_.pop(stream, None)
    return [svtrid for _, svtrid in sorted(open_.values())]


class SQLiteOpenOperationsView(SQLiteTrackingRecorder, OpenOperationsView):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = WriterTurns(self.datastore.pool.db_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            # WITHOUT ROWID: one b-tree keyed by stream, so a change writes one page.
            f"CREATE TABLE IF NOT EXISTS {VIEW} (stream TEXT PRIMARY KEY, "
            "svtrid TEXT NOT NULL, position INTEGER NOT NULL) WITHOUT ROWID",
        ]

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.datastore.get_connection(commit=True) as connection:
            # Not inside a transaction: SQLite refuses to change it there.
            connection.cursor().execute("PRAGMA synchronous=NORMAL")
            # In turn with the store's writer (`WriterTurns`), then SQLite's lock.
            with self._turns.turn(), connection.transaction(commit=True) as cursor:
                yield cursor

    def close(self) -> None:
        self._turns.close()
        self.datastore.close()


class PostgresOpenOperationsView(BoundedTracking, PostgresTrackingRecorder, OpenOperationsView):
    _mark = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._view = quoted(self.datastore.schema, VIEW)
        self._tracking = quoted(self.datastore.schema, self.tracking_table_name)
        create = (
            f"CREATE TABLE IF NOT EXISTS {self._view} "
            "(stream text PRIMARY KEY, svtrid text NOT NULL, position bigint NOT NULL)"
        )
        self.sql_create_statements.append(Composed([SQL(create)]))

    def _transaction(self) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=True)

    def close(self) -> None:
        self.datastore.close()


def view_for(env: dict[str, str]) -> OpenOperationsView:
    """The view of the database `env` names; its tables made when `env` says CREATE_TABLE."""
    factory = InfrastructureFactory[Any].construct(env=Environment(OpenOperations.name, dict(env)))
    postgres = "POSTGRES_DBNAME" in env
    kind = PostgresOpenOperationsView if postgres else SQLiteOpenOperationsView
    view: OpenOperationsView = factory.tracking_recorder(kind)
    return view
