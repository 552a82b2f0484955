"""The event store: an eventsourcing application that saves what the deciders decide.

Streams are named `(category, key)`; a stream loads from its newest snapshot (mailboxes
only) plus newer events. States are cached for the process and kept honest by following
the log (`Store.refresh`), ours rather than eventsourcing's repository
(docs/decisions.md, "Storage and the log").
"""

import functools
import hashlib
import logging
import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from msgspec import Struct
from tidings.domain import MAILBOX, OPERATION, Decider
from tidings.domain.mailbox import MailboxState

from ..ledger.entries import Envelope, LogRow, Row, TailRow, decode_event
from ..ledger.signer import Signer
from ..redaction import redacted
from . import environment as schema
from .environment import LOG, LogApplication, NotTidings, created, environment
from .followers import Follower, LogEntry, read_log
from .open_operations import TOPICS, VIEW, OpenOperations, OpenOperationsView, open_now, view_for
from .port import CheckedAppends, Recorder

__all__ = [
    "SNAPSHOT_EVERY",
    "Loaded",
    "LogEntry",
    "NotTidings",
    "Store",
    "snapshot_due",
    "stream_id",
]

SNAPSHOT_EVERY = 4  # least mailbox snapshot spacing (docs/decisions.md)
_SCANNED = 10_000  # log positions scanned at a time for the open operations

_log = logging.getLogger("tidings.store")


# A stream's stored id is a pure function of its name, so every process and reader finds
# the same stream: the `uuid5` of `category/key`; an operation named by a server-minted
# svTRID, a version 8 id led by its second and counter, so new operations share the
# index's last page (docs/decisions.md, "Storage and the log").
_NAMESPACE_BYTES = UUID("6b1d9c8e-2f1a-5c3e-9f47-0d1e2a3b4c5d").bytes
# The categories whose keys are svTRIDs, minted in time order.
_MINTED = frozenset({OPERATION.category})
_COUNTER_BITS = 28
# The id as a 128-bit number: `_KEPT` clears the version's nibble (byte 6) and the
# variant's two bits (byte 8); `_UUID5` sets version 5 and the variant, `_VARIANT` the
# variant alone.
_KEPT = ~(0xF0 << 72 | 0xC0 << 56) & (1 << 128) - 1
_UUID5 = 0x50 << 72 | 0x80 << 56
# A version 8 id's low half: the digest's, its variant's two bits set to 10.
_LOW_KEPT, _VARIANT_LOW = (1 << 62) - 1, 1 << 63
_COUNTER = (1 << _COUNTER_BITS) - 1
_LEAD_AND_LOW = struct.Struct(">IHHQ").pack


def _minted(key: str) -> tuple[int, int] | None:
    """The second and the counter of an svTRID (digits of 1-10, 1-10 and 1-20, joined by
    dots, a second below 2**32); None for any other key (no regular expression: dearer)."""
    second, _, rest = key.partition(".")
    process, dot, counter = rest.partition(".")
    # A third dot stays in `counter`, which then is not decimal.
    if not (
        dot
        and 0 < len(second) <= 10
        and 0 < len(process) <= 10
        and 0 < len(counter) <= 20
        and (second + process + counter).isdecimal()
    ):
        return None
    minted = int(second)
    return (minted, int(counter) & _COUNTER) if minted < 1 << 32 else None


def stream_digest(category: str, key: str) -> bytes:
    """The 16 bytes of a stream's id: `uuid5(namespace, "category/key")`, or for an
    operation named by an svTRID a version 8 id led by the svTRID's second and counter."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{category}/{key}".encode()).digest()
    minted = _minted(key) if category in _MINTED else None
    if minted is None:
        return ((int.from_bytes(digest[:16]) & _KEPT) | _UUID5).to_bytes(16)
    second, counter = minted
    # 32 bits of the second, then the counter's 28 bits around the version's nibble, then
    # the digest's second half with the variant's two bits.
    low = int.from_bytes(digest[8:16]) & _LOW_KEPT | _VARIANT_LOW
    return _LEAD_AND_LOW(second, counter >> 12, 0x8000 | counter & 0xFFF, low)


@functools.lru_cache(maxsize=65_536)
def stream_hex(category: str, key: str) -> str:
    """The stored id of a stream in hex, as SQLite stores it and the cache keys states (a
    string: the collector does not track it, as it would a `UUID`)."""
    return stream_digest(category, key).hex()


@functools.lru_cache(maxsize=1024)
def stream_id(category: str, key: str) -> UUID:
    return UUID(hex=stream_hex(category, key))


class Loaded(Struct, frozen=True, gc=False):
    """A stream's state, its version (0: nothing stored yet) and its newest snapshot's
    (0: none)."""

    state: Any
    version: int
    snapshot_version: int = 0


def snapshot_due(loaded: Loaded, version: int, every: int) -> bool:
    """Whether a mailbox now at `version` gets a snapshot: once `every` events and as
    many as it queues have passed since the last (a snapshot costs its backlog)."""
    state: MailboxState = loaded.state
    return version - loaded.snapshot_version >= max(every, state.queue.size)


def _follow(
    cache: MutableMapping[str, Any], seen: int, rows: Sequence[TailRow], limit: int
) -> int | None:
    """Drop from `cache` the states log entries `rows` moved on; the position seen after
    them. None, the cache emptied, for more than `limit` rows (cheaper than reading on)."""
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
    thread-safe by itself (`commit.GroupCommit` serialises every use). `read_only`: open
    an existing tidings database only (`NotTidings` for any other). `signer`: signs
    checkpoints of the log's Merkle tree."""

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
        recorder = self.recorder
        self.snapshot_every = snapshot_every
        # The cached states by stored id, least recently used first. A batch's unit of
        # work (`work.Work`) changes them in place; more than `cache_size` are kept
        # until the next `refresh`, so none a batch holds is dropped under it.
        self.states: OrderedDict[str, Loaded] = OrderedDict()
        self._cache_size = cache_size
        self._checked = recorder if isinstance(recorder, CheckedAppends) else None
        # While the look for other writers' commits waits for the save (PostgreSQL
        # outside the write lock, see `refresh`): the version of each state read since,
        # which the save checks. None once the look is made.
        self.reads: dict[str, int] | None = None
        # `tree=False` only for the bench's row without the tree.
        recorder.tree.signer, recorder.tree.enabled = signer, tree and not read_only
        self._open_view: OpenOperationsView | None = None
        self._follower: Follower | None = None
        if not read_only:
            self._open_view = view = created(env, lambda: view_for(env))
            runner_env = env | {"CREATE_TABLE": "n"}
            self._follower = Follower(OpenOperations(view), view, runner_env)
            recorder.ensure_tree()
        elif schema.present(env, (VIEW,)):
            self._open_view = view_for(env)
        self._seen = recorder.max_notification_id() or 0  # the cache saw every change to here
        recorder.changed()  # from here on, a change by another writer shows
        self.events_read = 0  # stored events read to load streams (for tests)

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

    def cached(self, key: str) -> Loaded | None:
        """A stream's cached state (None: not cached), `used`."""
        loaded = self.states.get(key)
        if loaded is not None:
            self.used(key, loaded)
        return loaded

    def used(self, key: str, loaded: Loaded) -> None:
        """The cached state `loaded` of stream `key` was read: it is the most recent, and
        while the look waits for the save (`refresh`), its version is noted as read."""
        self.states.move_to_end(key)
        if self.reads is not None:
            self.reads.setdefault(key, loaded.version)

    def load(self, decider: Decider[Any, Any, Any], key: str) -> Loaded:
        """A stream's state from the database (snapshot plus newer events), cached and
        `used`."""
        loaded = self.load_cold(decider, stream_id(decider.category, key))
        name = stream_hex(decider.category, key)
        self.states[name] = loaded
        self.used(name, loaded)
        return loaded

    def load_cold(
        self, decider: Decider[Any, Any, Any], sid: UUID, *, checked: bool = False
    ) -> Loaded:
        """A stream's state as a fresh process would load it, bypassing the cache.
        `checked`: raise ValueError, saying why, at an event the stream's `check`
        refuses (replay's comparison)."""
        start = Loaded(decider.initial, 0)
        mailbox = decider.category == MAILBOX.category
        newest = self.recorder.select_snapshot(sid) if mailbox else None
        if newest is not None:
            # A snapshot event folds to the state it holds, whatever came before it.
            version, topic, snapshot = newest
            event = decode_event(topic, snapshot)
            start = Loaded(decider.evolve(decider.initial, event), version, version)
        state, version, read = start.state, start.version, 0
        for envelope in self._events(sid, gt=version):
            if checked and (problem := decider.check(state, envelope.event)):
                raise ValueError(problem)
            state = decider.evolve(state, envelope.event)
            version = envelope.originator_version
            read += 1
        self.events_read += read
        return Loaded(state, version, start.snapshot_version)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.states.pop(key, None)

    def refresh(self) -> None:
        """Before a batch: drop the cached states that other writers have moved on since
        the last look, and the least recently used beyond the cache's size. On
        PostgreSQL outside the write lock the look is left to `save` (or `moved`)."""
        states = self.states
        while len(states) > self._cache_size:
            states.popitem(last=False)
        if self._checked is not None and not self._checked.holding():
            self.reads = {}
        else:
            self.reads = None
            if self.recorder.changed():
                self._look()

    def moved(self) -> bool:
        """The deferred look, for a batch that saves nothing: whether a state it read moved on."""
        reads = self.reads
        if reads is None:
            return False
        self._look()
        return any(key not in self.states for key in reads)

    def _look(self) -> None:
        self.reads, rows = None, self.recorder.tail(self._seen, self._cache_size + 1)
        seen = _follow(self.states, self._seen, rows, self._cache_size)
        self._seen = seen if seen is not None else self.recorder.max_notification_id() or 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the log's write lock for a block; a `save` inside commits at its end.
        When the block fails, nothing it saved is kept, and the store follows the log
        again from where it stood before the block: positions the block's save took may
        be taken by another writer's rows next."""
        seen = self._seen
        try:
            with self.recorder.locked():
                yield
        except BaseException:
            self._seen, self.reads = seen, None
            raise

    def snapshot_due(self, loaded: Loaded, version: int) -> bool:
        return snapshot_due(loaded, version, self.snapshot_every)

    def save(self, rows: Sequence[Row], snapshots: Sequence[Row]) -> list[int]:
        """Append the stored rows (`ledger.entries.stored_row`: each stream's next
        versions) and their snapshots in one transaction; the log positions.
        eventsourcing's `IntegrityError`, nothing written, when a stream moved on."""
        if not rows:
            return []
        reads = self.reads
        if reads is not None and self._checked is not None:  # fails if a state read moved on
            self.reads, limit = None, self._cache_size
            positions, news = self._checked.append_checked(
                rows, snapshots, reads.items(), self._seen, limit + 1
            )
            if news is not None:  # the cache has now seen all that precedes this save
                _follow(self.states, self._seen, news, limit)
                self._seen = positions[0] - 1
        else:
            positions = self.recorder.append(rows, snapshots)
        if positions[0] == self._seen + 1:
            # Nobody else wrote in between: the cache has seen everything up to here.
            self._seen = positions[-1]
        return positions

    def stream(self, decider: Decider[Any, Any, Any], key: str) -> list[Envelope]:
        """Every event of one stream, oldest first (snapshots ignored)."""
        return list(self._events(stream_id(decider.category, key)))

    def _events(self, sid: UUID, gt: int | None = None) -> Iterator[Envelope]:
        for version, topic, state in self.recorder.select_after(sid, gt or 0):
            yield Envelope(sid, version, decode_event(topic, state))

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]:
        """The log from position `start` (up to `stop`, inclusive, when given), fetched
        `page_size` at a time; only the entries of `topics` when given."""
        return read_log(self._app, start, page_size, topics, stop)

    def open_operations(self) -> list[str]:
        """svTRIDs of the operations accepted and not yet ended, oldest first."""
        if self._follower is not None:
            self._follower.ensure_running()

        def logged_after(position: int) -> Iterator[LogRow]:
            end = self.max_position()
            for start in range(position + 1, end + 1, _SCANNED):
                yield from self.recorder.scan(start, min(start + _SCANNED - 1, end), TOPICS)

        return open_now(self._open_view, LOG, logged_after)

    def max_position(self) -> int:
        return self._app.recorder.max_notification_id() or 0
