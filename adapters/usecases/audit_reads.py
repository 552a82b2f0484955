"""The audit reads: an operation's, a notification's or an endpoint's trail, a stream's
state at a past time, and this instance's counters (the log itself is read through
`runtime.LogCalls`). They read the log beside the group commit (no unit of work)."""

from datetime import datetime
from typing import Any, TypeVar

from tidings.domain import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, OPERATION, Decider

from ..audit.trail import Audit, TrailEntry
from ..errors import InvalidArgument
from ..views import Stats
from .runtime import Runtime, instance, integer, text

__all__ = ["AuditCalls", "AuditReads"]

_blocking = Runtime.blocking

S = TypeVar("S")

_KINDS: tuple[Decider[Any, Any, Any], ...] = (ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT)


class AuditReads:
    """The audit reads of one `Tidings` (see its methods of the same names)."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._audit = Audit(runtime.store)

    def trail(
        self,
        svtrid: str | None,
        cltrid: str | None,
        notification: tuple[str, int] | None,
        endpoint: tuple[str, str] | None,
    ) -> list[TrailEntry]:
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
        if not any(kind is known for known in _KINDS):
            raise InvalidArgument("kind is one of ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT")
        text("key", key)
        instance("at", at, datetime)
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidArgument("state_at needs an aware datetime (with a time zone)")
        with self._runtime.reading():
            return self._audit.state_at(kind, key, at)

    def stats(self) -> Stats:
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


class AuditCalls:
    """The audit reads of `Tidings`."""

    _reads: AuditReads

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
        return self._reads.trail(svtrid, cltrid, notification, endpoint)

    def state_at(self, kind: Decider[S, Any, Any], key: str, at: datetime) -> S:
        """The state of stream `(kind, key)` as it was at time `at`, rebuilt from the
        log; `kind` is one of `tidings.domain`'s ACCOUNT, OPERATION, MAILBOX, DELIVERY.
        Raises `InvalidArgument` for a naive `at` (no time zone); `StorageError`."""
        return self._reads.state_at(kind, key, at)
