"""The audit reads, beside the group commit (no unit of work): the log, trails, a
stream's state at a past time, the latest signed checkpoint, a check of the hash chain,
and this instance's counters."""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from tidings.domain import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, OPERATION, Decider
from tidings.domain import operation as op

from ..audit.integrity import Break, verify
from ..audit.trail import Audit, TrailEntry
from ..errors import InvalidArgument
from ..ledger.checkpoint import Checkpoint
from ..numbers import whole_number
from ..store.application import LogEntry
from ..views import Stats
from .operators import operator_actions
from .runtime import LAST_POSITION, Runtime, instance, integer, text

__all__ = ["AuditCalls"]

S = TypeVar("S")

_KINDS: tuple[Decider[Any, Any, Any], ...] = (ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT)


class AuditCalls:
    """The audit reads of `Tidings`."""

    _runtime: Runtime
    _audit: Audit

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]:
        """The log from position `start` on (up to `stop`, inclusive, when given), read
        `page_size` at a time; only the entries of `topics` (event type names) when
        given. Raises `InvalidArgument`; `StorageError` (while iterating)."""
        integer("start", start, least=1, most=LAST_POSITION)
        integer("page_size", page_size, least=1, most=LAST_POSITION)
        if stop is not None:
            integer("stop", stop, least=0, most=LAST_POSITION)
        if isinstance(topics, str) or not all(isinstance(t, str) for t in topics):
            raise InvalidArgument("topics must be a sequence of event type names")
        self._runtime.check_open()
        return self._entries(start, page_size, topics, stop)

    def _entries(
        self, start: int, page_size: int, topics: Sequence[str], stop: int | None
    ) -> Iterator[LogEntry]:
        with self._runtime.reading():
            yield from self._runtime.store.log(start, page_size, topics, stop)

    def last_position(self) -> int:
        """The log's last position (0 while it is empty). Raises `StorageError`."""
        with self._runtime.reading():
            return self._runtime.store.max_position()

    def trail(
        self,
        svtrid: str | None = None,
        *,
        cltrid: str | None = None,
        notification: tuple[str, int] | None = None,
        endpoint: tuple[str, str] | None = None,
    ) -> list[TrailEntry]:
        """Every event about one operation (by `svtrid`), the operations of a clTRID,
        one notification (`(login, id)`: its queueing or its delivery's attempts), or
        one push endpoint (`(login, url or address)`: failures, pauses, probes,
        resumes), in log order, each with its position and time. Empty when nothing
        matches.

        Raises `InvalidArgument` unless exactly one of the four is given; `StorageError`.
        """
        given = [key for key in (svtrid, cltrid, notification, endpoint) if key is not None]
        if len(given) != 1:
            raise InvalidArgument(
                "trail takes exactly one of svtrid, cltrid, notification, endpoint"
            )
        with self._runtime.reading():
            if endpoint is not None:
                login, target = _pair("endpoint", endpoint)
                return self._audit.by_endpoint(text("login", login), text("target", target))
            if notification is not None:
                login, ident = _pair("notification", notification)
                return self._audit.by_notification(text("login", login), integer("id", ident))
            if cltrid is not None:
                return self._audit.by_cltrid(text("cltrid", cltrid))
            return self._audit.by_svtrid(text("svtrid", svtrid))

    def state_at(self, kind: Decider[S, Any, Any], key: str, at: datetime) -> S:
        """The state of stream `(kind, key)` as it was at time `at`, rebuilt from the
        log; `kind` is one of `tidings.domain`'s ACCOUNT, OPERATION, MAILBOX, DELIVERY.
        Raises `InvalidArgument` for a naive `at` (no time zone); `StorageError`."""
        if not any(kind is known for known in _KINDS):
            raise InvalidArgument("kind is one of ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT")
        text("key", key)
        instance("at", at, datetime)
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidArgument("state_at needs an aware datetime (with a time zone)")
        with self._runtime.reading():
            return self._audit.state_at(kind, key, at)

    def trail_of(self, key: str) -> list[TrailEntry]:
        """The trail of `key`, in log order: a notification's when it is `LOGIN:ID`,
        else an operation's by svTRID, else the operations' of a clTRID; with the
        operator actions on the account since the trail began. Raises `StorageError`."""
        login, colon, ident = key.rpartition(":")
        number = whole_number(ident) if colon and login else None
        if number is not None:
            entries = self.trail(notification=(login, number))
        else:
            entries = self.trail(key) or self.trail(cltrid=key)
            logins = {e.event.login for e in entries if isinstance(e.event, op.OperationAccepted)}
            login = next(iter(logins)) if len(logins) == 1 else ""
        if not entries or not login:
            return entries
        first = min(e.position for e in entries)
        acted = [e for e in operator_actions(self._runtime, login) if e.position > first]
        return sorted(entries + acted, key=lambda e: e.position)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The latest signed checkpoint of the log (None: nothing signed yet). Raises
        `StorageError`."""
        tree, rows = self._runtime.store.recorder.tree, self._runtime.store.recorder.tree_rows
        with self._runtime.reading():
            return tree.latest(rows) if tree.present(rows) else None

    def verify_log(self) -> tuple[int, Break | None]:
        """Check the hash chain over the whole log: the entries checked, and where it
        breaks (None: intact). Reads every entry. Raises `StorageError`."""
        with self._runtime.reading():
            return verify(self._runtime.store)

    def stats(self) -> Stats:
        """Counters of this instance's work (see `Stats`). Raises nothing."""
        committer = self._runtime.committer
        return Stats(
            transactions=committer.transactions,
            commands=committer.commands,
            events_read=self._runtime.store.events_read,
        )


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise InvalidArgument(f"{name} is a pair (login, {name} key)")
    return value[0], value[1]
