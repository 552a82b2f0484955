"""Running a projection of the log in this process.

`Follower` feeds an `eventsourcing.projection` projection from eventsourcing's
`ApplicationSubscription` (the log after the view's tracking position, through the
recorder's `subscribe`: PostgreSQL's LISTEN/NOTIFY, our polling one on SQLite), in a
thread of its own, started when first needed. One that stopped on an error (the database
went away) is started again, from the view's tracking position, at the next need.

Why not eventsourcing's `ProjectionRunner`, which does the same loop: its two threads are
not daemons, so a library user who forgot to close the store would find the interpreter
waiting for them at exit, for ever. This thread is a daemon: cut off at exit, it leaves
at most a view transaction uncommitted, which the database rolls back and the next
runner processes again.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import TrackingRecorder
from eventsourcing.projection import ApplicationSubscription, Projection

__all__ = ["Follower"]

_log = logging.getLogger("tidings.store")


class Follower:
    """`projection` over `view`, following the log of `application_class(env)`."""

    def __init__(
        self,
        projection: Projection[Any],
        view: TrackingRecorder,
        application_class: Callable[[dict[str, str]], Application[Any]],
        env: dict[str, str],
    ) -> None:
        self._projection, self._view = projection, view
        self._application_class, self._env = application_class, env
        self._thread: threading.Thread | None = None
        self._subscription: ApplicationSubscription[Any] | None = None
        self._app: Application[Any] | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start following the log, unless this follower does."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop()
            self._app = app = self._application_class(self._env)
            self._subscription = subscription = ApplicationSubscription(
                app, gt=self._view.max_tracking_id(app.name), topics=self._projection.topics
            )
            self._thread = threading.Thread(
                target=self._follow,
                args=(subscription,),
                name=f"tidings {self._projection.name}",
                daemon=True,
            )
            self._thread.start()

    def _follow(self, subscription: ApplicationSubscription[Any]) -> None:
        try:
            for event, tracking in subscription:
                self._projection.process_event(event, tracking)
        except Exception:
            # Readers never depend on the view being current: logged, and started again
            # at the next need.
            _log.exception("the %s projection stopped on an error", self._projection.name)

    def wait(self, position: int, timeout: float) -> None:
        """Block until the view has processed the log up to `position` (eventsourcing's
        `TimeoutError` after `timeout` seconds)."""
        self.ensure_running()
        assert self._app is not None
        self._view.wait(self._app.name, position, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._subscription is not None:
            self._subscription.stop()
        if self._thread is not None:
            self._thread.join()
        if self._app is not None:
            self._app.close()
        self._subscription = self._thread = self._app = None
