"""A database outage, answered fast: every wait on PostgreSQL has a bound (the constants
below; why these: docs/decisions.md, "Operations"), and an outage is logged once when it
starts (`store_unreachable`) and once when it ends (`store_recovered`), per process.
"""

import functools
import itertools
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from ..errors import OutcomeUnknown, StorageError
from ..logs import event

__all__ = [
    "OUTAGE",
    "ROUND_TRIP",
    "BoundedReads",
    "BoundedTracking",
    "Outage",
    "libpq_options",
    "reconnecting",
    "settled",
    "storage_error",
    "storage_errors",
    "unreachable",
]

_log = logging.getLogger("tidings.store")

CONNECT_TIMEOUT = 2  # seconds to connect; libpq's least (it reads 1 as 2)
POOL_WAIT = 2.0  # seconds a caller waits for a pooled connection
DOWN_WAIT = 0.25  # the same while an outage lasts
RECONNECT_FOR = 1.0  # seconds the pool keeps retrying a connection before it gives up
ROUND_TRIP = 3.0  # seconds a round trip on a pooled connection may take (a black hole)
LOCK_TIMEOUT = 2  # seconds; PostgreSQL's lock_timeout for the log's write lock
_KEEPALIVE_IDLE = 5  # seconds of silence before the kernel probes the peer
_TCP_USER_TIMEOUT = int(ROUND_TRIP * 1000)  # ms sent data may stay unacknowledged
_AGAIN = 20  # quick failures a call outlives: the pool's most connections, all dead
_ENDING_MS = int(ROUND_TRIP * 1000) - 1000  # how long to wait for a server process to end

_F = TypeVar("_F", bound=Callable[..., Any])
_L = TypeVar("_L")

# What a store that cannot answer raises: no connection, a connection that died or
# never answered, a lock not had in time, a SQLite file locked past its busy timeout or
# gone from its disk.
_UNREACHABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OperationalError,
    InterfaceError,
    sqlite3.OperationalError,
)


def unreachable(error: BaseException) -> bool:
    return isinstance(error, _UNREACHABLE)


def libpq_options() -> dict[str, Any]:
    return {
        "connect_timeout": CONNECT_TIMEOUT,
        "keepalives": 1,
        "keepalives_idle": _KEEPALIVE_IDLE,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": _TCP_USER_TIMEOUT,
    }


class BoundedConnection(psycopg.Connection[DictRow]):
    """A psycopg connection whose every round trip is given up after `ROUND_TRIP`
    seconds: the connection is then closed (its protocol state is unknown)."""

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = ROUND_TRIP if timeout is None else timeout
        started = time.monotonic()
        try:
            answer = super().wait(gen, interval, bound)
        except psycopg.OperationalError as error:
            self.close()
            if time.monotonic() - started < bound:
                raise
            raise psycopg.OperationalError(f"no answer from the database in {bound} s") from error
        OUTAGE.answered(started)  # the server answered: an outage, if any, may be over
        return answer


def reconnecting(method: _F) -> _F:
    """Run a recorder's `method` again when it failed at once on a pooled connection the
    server had ended (a restart); not after a pool wait or a round trip ran out."""

    @functools.wraps(method)
    def again(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        for attempt in itertools.count():
            try:
                return method(self, *args, **kwargs)
            except (InterfaceError, OperationalError) as error:
                if (
                    isinstance(error.__cause__, PoolTimeout)
                    or time.monotonic() - started >= ROUND_TRIP / 2
                    or attempt >= _AGAIN
                ):
                    raise
                if not attempt:
                    _check_idle(self.datastore.pool)
        raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)

    return again  # type: ignore[return-value]


def _bounded(method: Any) -> Any:  # eventsourcing's `method`, retried our way
    return reconnecting(getattr(method, "__wrapped__", method))


class _Bounded:
    """Bounds the pool of the datastore a recorder is built with, before it connects
    (placed before eventsourcing's recorder class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        datastore: PostgresDatastore = kwargs["datastore"] if "datastore" in kwargs else args[0]
        pool = datastore.pool
        pool.connection_class = BoundedConnection
        assert isinstance(pool.kwargs, dict)
        pool.kwargs.update(libpq_options())
        pool.timeout = DOWN_WAIT if OUTAGE.down else POOL_WAIT
        pool.reconnect_timeout = RECONNECT_FOR
        datastore.lock_timeout = LOCK_TIMEOUT
        OUTAGE.watch(pool)
        super().__init__(*args, **kwargs)


class BoundedReads(_Bounded):
    select_events = _bounded(PostgresAggregateRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class BoundedTracking(_Bounded):
    insert_tracking = _bounded(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = _bounded(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = _bounded(PostgresTrackingRecorder.has_tracking_id)


def settled(datastore: PostgresDatastore, pid: int, look: Callable[[Any], _L]) -> _L:
    """What `look` finds, on a connection of its own, after an append's connection (to
    server process `pid`, ended first) died; `OutcomeUnknown` when none can be had."""
    try:
        with datastore.get_connection() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity WHERE pid = %s",
                (_ENDING_MS, pid),
            )
            return look(conn)
    except (InterfaceError, OperationalError) as error:
        OUTAGE.failed(error)
        raise OutcomeUnknown(
            "the database went away while a command was committing: it may have been saved"
        ) from error


_checking = threading.Lock()


def _check_idle(pool: Any) -> None:

    def check() -> None:
        try:
            pool.check()
        except Exception as error:  # a closed pool: nothing left to check
            _log.debug("checking idle connections failed: %s", error)
        finally:
            _checking.release()

    if _checking.acquire(blocking=False):
        threading.Thread(target=check, name="tidings pool check", daemon=True).start()


class Outage:
    """Whether the store was found unreachable, logged once per outage."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._ended = -ROUND_TRIP  # when the last outage ended (this outage's clock)
        self._sqlite = False  # the outage is a SQLite file's
        self._up = False  # the store answered once in this process
        # Answered, and no outage since: `passed` has nothing to do (one call fewer on
        # every command's path).
        self.steady = False
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()  # `watch`

    def watch(self, pool: Any) -> None:
        self._pools.add(pool)

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        """The store could not answer: `store_unreachable` if it answered until now (not
        within `ROUND_TRIP` after an outage ended: a wait begun during it)."""
        with self._lock:
            now = self._clock()
            if self._since is not None or not self._up or now - self._ended < ROUND_TRIP:
                return
            self._since = now
            self.steady = False
            self._sqlite = any(isinstance(e, sqlite3.Error) for e in (error, error.__cause__))
        event(_log, logging.ERROR, "store_unreachable", reason=_first_line(error))
        for pool in list(self._pools):
            pool.timeout = DOWN_WAIT
            pool.drain()

    def answered(self, asked: float) -> None:
        """The database answered a round trip begun at `asked` (this outage's clock):
        `store_recovered`, unless it began before the outage did."""
        since = self._since
        if since is None:  # the common case: no lock taken
            self._up = self.steady = True
        elif asked >= since:
            self._recovered()

    def passed(self) -> None:
        if self._since is None:
            self._up = self.steady = True
        elif self._sqlite:
            self._recovered()

    def _recovered(self) -> None:
        with self._lock:
            since, self._since = self._since, None
            self.steady = self._up
            if since is not None:
                self._ended = self._clock()
        if since is not None:
            for pool in list(self._pools):
                pool.timeout = POOL_WAIT
            down = round(self._clock() - since, 1)
            event(_log, logging.WARNING, "store_recovered", down_seconds=down)


def _first_line(error: BaseException) -> str:
    cause = error.__cause__ if error.__cause__ is not None else error
    text = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {text}"


OUTAGE = Outage()

_DRIVER_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)


class _StorageErrors:
    # A class, not a generator (whose end raises StopIteration): it wraps every command.
    __slots__ = ("_opening",)

    def __init__(self, opening: bool) -> None:
        self._opening = opening  # the store is being opened: its opener tells of a failure

    def __enter__(self) -> None:
        pass

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> None:
        if error is None:
            if not OUTAGE.steady:
                OUTAGE.passed()
        elif isinstance(error, _DRIVER_ERRORS):
            raise storage_error(error, opening=self._opening) from error


def storage_error(error: BaseException, *, opening: bool = False) -> BaseException:
    """A driver's `error` as a `StorageError` (caused by it), any other error itself;
    one saying the store cannot answer starts an outage, unless `opening` the store."""
    if not isinstance(error, _DRIVER_ERRORS):
        return error
    if unreachable(error) and not opening:  # an outage starts: logged once
        OUTAGE.failed(error)
    failed = StorageError(f"the database failed: {type(error).__name__}: {error}")
    failed.__cause__ = error
    return failed


_STORAGE_ERRORS, _OPENING_ERRORS = _StorageErrors(opening=False), _StorageErrors(opening=True)


def storage_errors(*, opening: bool = False) -> AbstractContextManager[None]:
    """A driver's error raised inside as a `StorageError`; one saying the store cannot
    answer starts an outage, unless `opening` the store (its opener tells of it)."""
    return _OPENING_ERRORS if opening else _STORAGE_ERRORS
