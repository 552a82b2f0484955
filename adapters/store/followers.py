"""Running the projections of the log, one way for all three (ARCHITECTURE.md,
"Projections"): a `Catchup` reads a projection's entries after its view's position, a
page at a time, apart from processing them, so reading may run in a worker thread. When
several processes follow into one view, its tracking record lets one of them process
each event; the others find it taken (`IntegrityError`) and go on from the view.
"""

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import Projection

from ..ledger.entries import Envelope
from .environment import LOG, LogApplication
from .open_operations import OpenOperationsView
from .outage import OUTAGE, unreachable

__all__ = ["PAGE", "Catchup", "Entry", "Follower", "Log", "LogEntry", "Page", "read_log"]

_log = logging.getLogger("tidings.store")

PAGE = 5_000  # log entries read and processed at a time
_MOST_PAUSE = 2.0  # seconds at most between a follower's tries while the store is down


class Entry(Protocol):
    """One entry of the log as a projection processes it."""

    @property
    def position(self) -> int: ...

    def as_processed(self) -> tuple[Any, Tracking]: ...


class Log(Protocol):
    """Where a catch-up reads the log."""

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterable[Entry]: ...

    def last_position(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the log."""

    position: int
    stream: UUID
    version: int
    topic: str
    event: Any

    def as_processed(self) -> tuple[Envelope, Tracking]:
        """The domain event (as eventsourcing's mapper gives it) and its tracking."""
        return Envelope(self.stream, self.version, self.event), Tracking(LOG, self.position)


def read_log(
    app: Application[Any], start: int, page_size: int, topics: Sequence[str], stop: int | None
) -> Iterator[LogEntry]:
    """`app`'s log from `start` (up to `stop` when given), `page_size` at a time, by
    eventsourcing's notification log read; only the entries of `topics` when given."""
    while True:
        page = app.recorder.select_notifications(start, page_size, stop=stop, topics=topics)
        for item in page:
            found = cast(Envelope, app.mapper.to_domain_event(item))
            yield LogEntry(
                item.id, found.originator_id, found.originator_version, item.topic, found.event
            )
        if len(page) < page_size:
            return
        start = page[-1].id + 1


@dataclass(frozen=True, slots=True)
class Page:
    """Entries of a projection's topics, in log order, and the position the read covers
    the log up to (entries of other topics before it were passed over)."""

    entries: list[Entry]
    upto: int
    full: bool  # the page is full: more may follow at once


class Catchup:
    """Drives `projection` along the log from the position its view's tracking record
    holds for `log_name`, a page of `page` entries at a time."""

    def __init__(self, projection: Projection[Any], log_name: str, page: int = PAGE) -> None:
        self._projection, self._page = projection, page
        self.position: int = projection.view.max_tracking_id(log_name) or 0

    def read(self, log: Log) -> Page:
        """The next page after `position` (blocking), up to the log's last position as
        read first (no entry can appear below it later)."""
        end = log.last_position()
        found = log.log(self.position + 1, self._page, topics=self._projection.topics, stop=end)
        entries = list(itertools.islice(found, self._page))
        full = len(entries) == self._page
        return Page(entries, entries[-1].position if full else end, full)

    def take(self, page: Page) -> None:
        """Process the page's entries in order; eventsourcing's `IntegrityError` at one
        the view has processed already (another process's runner got there first)."""
        for entry in page.entries:
            self._projection.process_event(*entry.as_processed())
        self.position = max(self.position, page.upto)

    def catch_up(self, log: Log, progress: Callable[[int], None] | None = None) -> int:
        """Read and process pages until the log's end as it stood; the entries processed.
        `progress(position)` after each page."""
        processed = 0
        while True:
            page = self.read(log)
            self.take(page)
            processed += len(page.entries)
            if progress is not None:
                progress(self.position)
            if not page.full:
                return processed


class _ApplicationLog:
    def __init__(self, app: Application[Any]) -> None:
        self._app = app

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]:
        return read_log(self._app, start, page_size, topics, stop)

    def last_position(self) -> int:
        return self._app.recorder.max_notification_id() or 0


class Follower:
    """`projection` over `view`, following the log of the database `env` names in a
    daemon thread started when first needed, every `interval` seconds once caught up;
    while the store cannot answer, less and less often."""

    def __init__(
        self,
        projection: Projection[Any],
        view: OpenOperationsView,
        env: dict[str, str],
        interval: float = 0.1,
    ) -> None:
        self._projection, self._view, self._env = projection, view, env
        self._interval = interval
        self._thread: threading.Thread | None = None
        self._app: Application[Any] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # Not running (never started, or stopped on an error): nothing to join.
            self._halt()
            self._release()
            self._stopping.clear()
            self._app = LogApplication(self._env)
            self._thread = threading.Thread(
                target=self._follow,
                args=(self._app,),
                name=f"tidings {self._projection.name}",
                daemon=True,
            )
            self._thread.start()

    def _follow(self, app: Application[Any]) -> None:
        log = _ApplicationLog(app)
        runner = Catchup(self._projection, app.name)
        pause = self._interval
        while not self._stopping.is_set():
            try:
                page = runner.read(log)
                with self._view.batch() if page.entries else nullcontext():
                    runner.take(page)
            except IntegrityError:
                # Another process's follower processed these first: go on from the view.
                runner = Catchup(self._projection, app.name)
                continue
            except Exception as error:
                if unreachable(error):  # logged once per outage; tried again, less often
                    OUTAGE.failed(error)
                    pause = min(pause * 2, _MOST_PAUSE)
                    self._stopping.wait(pause)
                    continue
                # Readers never depend on the view being current: logged, and started
                # again at the next need.
                _log.exception("the %s projection stopped on an error", self._projection.name)
                return
            pause = self._interval
            if not page.full:
                self._stopping.wait(self._interval)

    def close(self) -> None:
        with self._lock:
            thread = self._halt()
        if thread is not None:
            thread.join()
        self._release()

    def _halt(self) -> threading.Thread | None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        return thread

    def _release(self) -> None:
        if self._app is not None:
            self._app.close()
        self._app = None
