"""Running a projection of the log in this process.

`Follower` feeds an `eventsourcing.projection` projection from eventsourcing's
`ApplicationSubscription` (the log after the view's tracking position, through the
recorder's `subscribe`: PostgreSQL's LISTEN/NOTIFY, our polling one on SQLite), in a
thread of its own, started when first needed. One that stopped on an error (the database
went away) is started again, from the view's tracking position, at the next need.
The events read together (a page of the subscription) are processed in one transaction
of the view (`batch`), so a busy log costs the view one commit per look, not two per
operation.
Several processes may follow into one view (every `serve` worker): the view's tracking
record lets one of them process each event; the others find it taken (eventsourcing's
`IntegrityError`) and go on from where the view then stands.

Why not eventsourcing's `ProjectionRunner`, which does the same loop: its two threads are
not daemons, so a library user who forgot to close the store would find the interpreter
waiting for them at exit, for ever. This thread is a daemon: cut off at exit, it leaves
at most a view transaction uncommitted, which the database rolls back and the next
runner processes again.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.projection import ApplicationSubscription, Projection

from .subscription import PollingSubscription

__all__ = ["Follower"]

_log = logging.getLogger("tidings.store")


class FollowedView(Protocol):
    """What a follower needs of a view: eventsourcing's tracking reads, and `batch()`,
    inside which the changes made commit together when it ends."""

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def wait(self, application_name: str, notification_id: int | None, timeout: float) -> None: ...

    def batch(self) -> AbstractContextManager[None]: ...


class Follower:
    """`projection` over `view`, following the log of `application_class(env)`."""

    def __init__(
        self,
        projection: Projection[Any],
        view: FollowedView,
        application_class: Callable[[dict[str, str]], Application[Any]],
        env: dict[str, str],
    ) -> None:
        self._projection, self._view = projection, view
        self._application_class, self._env = application_class, env
        self._thread: threading.Thread | None = None
        self._subscription: ApplicationSubscription[Any] | None = None
        self._app: Application[Any] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start following the log, unless this follower does."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # Not running (never started, or stopped on an error): nothing to join.
            self._halt()
            self._release()
            self._stopping.clear()
            self._app = self._application_class(self._env)
            self._subscribe()
            self._thread = threading.Thread(
                target=self._follow, name=f"tidings {self._projection.name}", daemon=True
            )
            self._thread.start()

    def _subscribe(self) -> ApplicationSubscription[Any]:
        """A subscription to the log after the view's position (under `_lock`)."""
        assert self._app is not None
        after = self._view.max_tracking_id(self._app.name)
        self._subscription = ApplicationSubscription(
            self._app, gt=after, topics=self._projection.topics
        )
        return self._subscription

    def _follow(self) -> None:
        assert self._subscription is not None
        subscription = self._subscription
        while True:
            try:
                for event, tracking in subscription:
                    with self._view.batch():
                        self._projection.process_event(event, tracking)
                        while _more(subscription):
                            self._projection.process_event(*next(subscription))
                return  # stopped
            except IntegrityError:
                # Another process's follower processed this event first.
                with self._lock:
                    subscription.stop()
                    if self._stopping.is_set():
                        return
                    subscription = self._subscribe()
            except Exception:
                # Readers never depend on the view being current: logged, and started
                # again at the next need.
                _log.exception("the %s projection stopped on an error", self._projection.name)
                return

    def wait(self, position: int, timeout: float) -> None:
        """Block until the view has processed the log up to `position` (eventsourcing's
        `TimeoutError` after `timeout` seconds)."""
        self.ensure_running()
        assert self._app is not None
        self._view.wait(self._app.name, position, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            thread = self._halt()
        if thread is not None:
            thread.join()
        self._release()

    def _halt(self) -> threading.Thread | None:
        """Stop the subscription (under `_lock`: a follower that lost a race subscribes
        again under it, and so sees `_stopping`); returns the thread to join."""
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.stop()
        thread, self._thread = self._thread, None
        return thread

    def _release(self) -> None:
        if self._app is not None:
            self._app.close()
        self._subscription = self._app = None


def _more(subscription: ApplicationSubscription[Any]) -> bool:
    """Whether the subscription has read more than it has handed out."""
    inner = subscription.subscription
    return isinstance(inner, PollingSubscription) and inner.ready()
