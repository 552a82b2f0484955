"""Following the log: the recorders' `subscribe()`, what projections read it through.

eventsourcing's projections follow an application's log through its recorder's
`subscribe(gt, topics)`. Its SQLite recorder has none (`NotImplementedError` in 9.5.6):
SQLite cannot tell another process that a transaction committed. `PollingSubscription`
reads the log with the recorder's own `select_notifications` and, once it has caught up,
asks again every `interval` seconds. Both our recorders answer `subscribe` with it:
eventsourcing's PostgreSQL subscription (LISTEN/NOTIFY) pulls in threads that are not
daemons, which would keep a process that forgot to close its store from exiting (see
`followers`); a query every 0.1 s costs the database nothing worth naming. A follower is
at most `interval` behind; nothing that reads a projection's view waits for it (see
`open_operations.open_now`).
"""

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, Subscription

__all__ = ["PollingSubscription"]

# Notifications read per query: eventsourcing's LISTEN/NOTIFY subscription reads 500.
_PAGE = 500


class PollingSubscription(Subscription[Any]):
    """The log's notifications after `gt` (of `topics`, when given), in order; blocks
    while there are none, until more are committed or `stop` is called."""

    def __init__(
        self,
        recorder: Any,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval: float = 0.1,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        # Our own copies: the base class's attributes are its business.
        self._log, self._after, self._only = recorder, gt or 0, tuple(topics)
        self._interval = interval
        self._ready: deque[Notification] = deque()
        self._stopping = threading.Event()

    def ready(self) -> bool:
        """Whether a notification is read and waiting: `next` returns it at once."""
        return bool(self._ready)

    def stop(self) -> None:
        super().stop()
        self._stopping.set()

    def __next__(self) -> Notification:
        while not self._ready:
            if self._stopping.is_set():
                raise StopIteration
            page = self._log.select_notifications(self._after + 1, _PAGE, topics=self._only)
            if page:
                self._ready.extend(page)
            else:
                self._stopping.wait(self._interval)
        if self._stopping.is_set():
            raise StopIteration
        notification = self._ready.popleft()
        self._after = notification.id
        return notification
