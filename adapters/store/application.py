"""The event store: an eventsourcing application that saves what the deciders decide.

Streams are named `(category, key)` and stored under an id of that name. Loading a
stream folds its events over the newest snapshot (mailboxes only); states are cached
for the process and kept honest by following the log (`Store.refresh`). A batch is
saved in one transaction; a version conflict raises eventsourcing's `IntegrityError`,
retried by the caller (`commit`). The state cache and `load_cold` stay ours rather than
eventsourcing's repository (docs/decisions.md, "Storage and the log").
"""

import functools
import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Tracking
from msgspec import Struct
from tidings.domain import MAILBOX, Decider
from tidings.domain.mailbox import MailboxState

from ..ledger.entries import Envelope, LogRow, Row, TailRow, decode_event, stored_row
from ..ledger.signer import Signer
from ..redaction import redacted
from . import environment as schema
from .environment import LOG, LogApplication, NotTidings, created, environment
from .followers import Follower
from .open_operations import TOPICS, VIEW, OpenOperations, OpenOperationsView, open_now, view_for
from .port import CheckedAppends, Recorder
from .stream_ids import stream_digest

__all__ = [
    "SNAPSHOT_EVERY",
    "Change",
    "Loaded",
    "LogEntry",
    "NotTidings",
    "Store",
    "snapshot_due",
    "stream_id",
]

# Least mailbox snapshot spacing (docs/decisions.md).
SNAPSHOT_EVERY = 4

_log = logging.getLogger("tidings.store")


@functools.lru_cache(maxsize=65_536)
def stream_hex(category: str, key: str) -> str:
    """The stored id of a stream in hex, as SQLite stores it and the cache keys states (a
    string: the collector does not track it, as it would a `UUID`)."""
    return stream_digest(category, key).hex()


@functools.lru_cache(maxsize=1024)
def stream_id(category: str, key: str) -> UUID:
    """The stored id of a stream (see `stream_hex`)."""
    return UUID(hex=stream_hex(category, key))


# Log positions scanned at a time for the open operations the view has not seen.
_SCANNED = 10_000


class Loaded(Struct, frozen=True, gc=False):
    """A stream's state, the version it is at (0: nothing stored yet) and the version of
    its newest snapshot (0: none)."""

    state: Any
    version: int
    snapshot_version: int = 0


class Change(Struct, frozen=True, gc=False):
    """Events to append to one stream, expected to be at `version` before them."""

    decider: Decider[Any, Any, Any]
    key: str
    version: int
    events: Sequence[Any]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the global notification log."""

    position: int
    stream: UUID
    version: int
    topic: str
    event: Any

    def as_processed(self) -> tuple[Envelope, Tracking]:
        """The entry as an `eventsourcing.projection` projection processes it: the
        domain event (as eventsourcing's mapper gives it) and its tracking object."""
        return Envelope(self.stream, self.version, self.event), Tracking(LOG, self.position)


def snapshot_due(loaded: Loaded, version: int, every: int) -> bool:
    """Whether a mailbox now at `version` (state in `loaded`) gets a snapshot: once
    `every` events and as many as it queues have passed since the last one (a snapshot
    holds the backlog, so it costs one notification per event)."""
    state: MailboxState = loaded.state
    return version - loaded.snapshot_version >= max(every, state.queue.size)


def _follow(
    cache: MutableMapping[str, Any], seen: int, rows: Sequence[TailRow], limit: int
) -> int | None:
    """Drop from `cache` (stream -> a state with its `version`) the states log entries
    `rows` moved on; the position seen after them (`seen` at least). None, the cache
    emptied, for more than `limit` rows: forgetting it all is cheaper than reading on."""
    if len(rows) > limit:
        cache.clear()
        return None
    for key, version, position in rows:
        cached = cache.get(key)
        if cached is not None and cached.version < version:
            del cache[key]
        seen = max(seen, position)
    return seen


class Store:
    """Load and save decider streams in SQLite or PostgreSQL, for one process; not
    thread-safe by itself (`commit.GroupCommit` serialises every use). A cached state
    that went stale is caught by the save (`IntegrityError`, nothing written).

    `read_only`: open an existing tidings database only, creating nothing (`NotTidings`
    for any other database). `signer`: signs checkpoints of the log's Merkle tree.
    """

    def __init__(
        self,
        url: str,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        cache_size: int = 20_000,
        read_only: bool = False,
        signer: Signer | None = None,
        tree: bool = True,
    ):
        if url == ":memory:" or "mode=memory" in url:
            raise ValueError(f"{url!r}: an event log must outlive the process; give a file")
        env = environment(url, create=not read_only)
        # Another program's database is refused untouched; a new one is said out loud.
        # Under the lock tables are created in: never a look at another process's half.
        self.created = created(env, lambda: schema.claim(env, read_only=read_only))
        env = schema.read_only(env) if read_only else env
        self.url = url
        self._app = created(env, lambda: LogApplication(env=env))
        if self.created:
            _log.info("created a new tidings database at %s", redacted(url))
        self._mapper = self._app.mapper
        assert self._app.snapshots is not None  # IS_SNAPSHOTTING_ENABLED is always set
        snapshots_recorder: Any = self._app.snapshots.recorder
        self.recorder.snapshots_table = snapshots_recorder.events_table_name
        self.snapshot_every = snapshot_every
        self._cache: OrderedDict[str, Loaded] = OrderedDict()
        self._cache_size = cache_size
        self._checked = self.recorder if isinstance(self.recorder, CheckedAppends) else None
        self._deferred, self._reads = False, dict[str, int]()  # see `refresh`
        # `tree=False` only for the bench's row without the tree.
        self.recorder.tree.signer, self.recorder.tree.enabled = signer, tree and not read_only
        self._open_view: OpenOperationsView | None = None
        self._follower: Follower | None = None
        if not read_only:
            self._open_view = view = created(env, lambda: view_for(env))
            runner_env = env | {"CREATE_TABLE": "n"}
            self._follower = Follower(OpenOperations(view), view, LogApplication, runner_env)
            self.recorder.ensure_tree()
        elif schema.present(env, (VIEW,)):
            self._open_view = view_for(env)
        # The log position up to which the cache has seen every change.
        self._seen = self.recorder.max_notification_id() or 0
        self.recorder.changed()  # from here on, a change by another writer shows
        # Stored events read to load streams (what a load costs, for tests).
        self.events_read = 0

    @property
    def recorder(self) -> Recorder:
        return cast(Recorder, self._app.recorder)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
        if self._open_view is not None:
            self._open_view.close()
        self.recorder.close_connections()
        self._app.close()

    # --- states ---------------------------------------------------------------------
    def cached(self, key: str) -> Loaded | None:
        loaded = self._cache.get(key)
        if loaded is not None:
            self._cache.move_to_end(key)
            if self._deferred:
                self._reads.setdefault(key, loaded.version)
        return loaded

    def load(self, decider: Decider[Any, Any, Any], key: str) -> Loaded:
        """A stream's state from the database (snapshot plus newer events), cached."""
        loaded = self.load_cold(decider, stream_id(decider.category, key))
        self.remember(name := stream_hex(decider.category, key), loaded)
        if self._deferred:
            self._reads.setdefault(name, loaded.version)
        return loaded

    def load_cold(
        self, decider: Decider[Any, Any, Any], sid: UUID, *, checked: bool = False
    ) -> Loaded:
        """A stream's state as a fresh process would load it: snapshot plus newer events,
        bypassing (and not filling) the cache. `checked`: raise ValueError, saying why,
        at an event the stream's `check` refuses (replay's comparison)."""
        start = self._snapshot(decider, sid)
        state, version, read = start.state, start.version, 0
        for envelope in self._events(sid, gt=version):
            if checked and (problem := decider.check(state, envelope.event)):
                raise ValueError(problem)
            state = decider.evolve(state, envelope.event)
            version = envelope.originator_version
            read += 1
        self.events_read += read
        return Loaded(state, version, start.snapshot_version)

    def _snapshot(self, decider: Decider[Any, Any, Any], sid: UUID) -> Loaded:
        if decider.category != MAILBOX.category:
            return Loaded(decider.initial, 0)
        newest = self.recorder.select_snapshot(sid)
        if newest is None:
            return Loaded(decider.initial, 0)
        version, topic, state = newest
        # A snapshot event folds to the state it holds, whatever came before it.
        return Loaded(decider.evolve(decider.initial, decode_event(topic, state)), version, version)

    def remember(self, key: str, loaded: Loaded) -> None:
        self._cache[key] = loaded
        self._cache.move_to_end(key)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._cache.pop(key, None)

    def refresh(self) -> None:
        """Drop the cached states that other writers have moved on since the last look.
        On PostgreSQL outside the write lock the look is left to `save` (or `moved`)."""
        self._deferred = self._checked is not None and not self._checked.holding()
        if self._deferred:
            self._reads.clear()
        elif self.recorder.changed():
            self._look()

    def moved(self) -> bool:
        """The deferred look, for a batch that saves nothing: whether a state it read moved on."""
        if not self._deferred:
            return False
        self._look()
        return any(key not in self._cache for key in self._reads)

    def _look(self) -> None:
        self._deferred, rows = False, self.recorder.tail(self._seen, self._cache_size + 1)
        seen = _follow(self._cache, self._seen, rows, self._cache_size)
        self._seen = seen if seen is not None else self.recorder.max_notification_id() or 0

    # --- saving ---------------------------------------------------------------------
    def locked(self) -> AbstractContextManager[None]:
        """Hold the log's write lock for a block (`Recorder.locked`)."""
        return self.recorder.locked()

    def snapshot_due(self, loaded: Loaded, version: int) -> bool:
        return snapshot_due(loaded, version, self.snapshot_every)

    def save(self, changes: Sequence[Change], snapshots: Sequence[Row]) -> list[int]:
        """Append every change and the snapshots taken with them in one transaction; the
        log positions. Raises eventsourcing's `IntegrityError` when a stream is no longer
        at the expected version: nothing is then written."""
        rows: list[Row] = []
        for c in changes:
            sid, version = stream_hex(c.decider.category, c.key), c.version
            for event in c.events:
                version += 1
                rows.append(stored_row(sid, version, event))
        if not rows:
            return []
        if self._deferred and self._checked is not None:  # fails if a state read moved on
            self._deferred, limit = False, self._cache_size
            positions, news = self._checked.append_checked(
                rows, snapshots, self._reads.items(), self._seen, limit + 1
            )
            if news is not None:  # the cache has now seen all that precedes this save
                _follow(self._cache, self._seen, news, limit)
                self._seen = positions[0] - 1
        else:
            positions = self.recorder.append(rows, snapshots)
        if positions[0] == self._seen + 1:
            # Nobody else wrote in between: the cache has seen everything up to here.
            self._seen = positions[-1]
        return positions

    # --- reading the log ------------------------------------------------------------
    def stream(self, decider: Decider[Any, Any, Any], key: str) -> list[Envelope]:
        """Every event of one stream, oldest first (snapshots ignored)."""
        return list(self._events(stream_id(decider.category, key)))

    def _events(self, sid: UUID, gt: int | None = None) -> Iterator[Envelope]:
        for version, topic, state in self.recorder.select_after(sid, gt or 0):
            yield Envelope(sid, version, decode_event(topic, state))

    def decode(self, item: Any) -> Envelope:
        return cast(Envelope, self._app.mapper.to_domain_event(item))

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]:
        """The notification log from position `start` (up to `stop`, inclusive, when
        given), fetched `page_size` at a time; only the entries of `topics` when given."""
        position = start
        while True:
            page = self._app.recorder.select_notifications(
                position, page_size, stop=stop, topics=topics
            )
            for item in page:
                envelope = self.decode(item)
                yield LogEntry(
                    item.id,
                    envelope.originator_id,
                    item.originator_version,
                    item.topic,
                    envelope.event,
                )
            if len(page) < page_size:
                return
            position = page[-1].id + 1

    def open_operations(self) -> list[str]:
        """svTRIDs of the operations accepted and not yet ended, oldest first."""
        if self._follower is not None:
            self._follower.ensure_running()

        def logged_after(position: int) -> Iterator[LogRow]:
            end = self.max_position()
            for start in range(position + 1, end + 1, _SCANNED):
                yield from self.recorder.scan(start, min(start + _SCANNED - 1, end), TOPICS)

        return open_now(self._open_view, LOG, logged_after)

    def open_operations_followed(self, timeout: float = 10.0) -> None:
        """Wait until the open operations' view has processed every acceptance and
        ending logged so far (for tests; readers never need it); eventsourcing's
        `TimeoutError` after `timeout` seconds."""
        if self._follower is None or self._open_view is None:
            return
        _, upto = self._open_view.listed(LOG)
        last = max((entry.position for entry in self.log(upto + 1, topics=TOPICS)), default=0)
        self._follower.wait(last, timeout)

    def max_position(self) -> int:
        return self._app.recorder.max_notification_id() or 0
