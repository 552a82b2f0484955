"""What is due when: the due-work runner's index, an `eventsourcing` projection
(`DueProjection`) whose view, `DueIndex`, is an in-memory tracking recorder rebuilt from
the log at start. When work is due is the domain's rule (`delivery.due_at`,
`serverrun.due_at`); a delivery is kept folded without its notification or older
attempts, and forgotten once it succeeded."""

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.projection import Projection
from msgspec import Struct
from msgspec.structs import replace
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import operation as op
from tidings.domain import serverrun
from tidings.domain.dispatch import Held

from ..ledger.entries import decoder_of
from ..store.application import Store, stream_hex
from ..store.environment import LOG
from ..store.outage import storage_errors

__all__ = ["DueIndex", "DueProjection", "Kind", "Name", "Scanned", "ScannedLog"]

Kind = Literal["delivery", "ending"]
Name = tuple[Kind, str]  # (kind, key): "<login>/<notification id>" or a svTRID


# The events that move a known delivery on.
_ATTEMPTED = (
    dlv.AttemptStarted,
    dlv.AttemptExpired,
    dlv.AttemptSucceeded,
    dlv.AttemptFailed,
    dlv.DeliveryGaveUp,
    dlv.DeliveryRequeued,
)


def _compact(state: dlv.DeliveryState) -> dlv.DeliveryState:
    """A delivery without its notification or history: enough to fold on and find when
    it is due."""
    scheduled = state.scheduled
    if scheduled is not None and scheduled.notification is not None:
        scheduled = replace(scheduled, notification=None, context=None)
    return replace(
        state, scheduled=scheduled, attempts=state.attempts[-1:], gave_up_reason="", gave_up_at=None
    )


class DueIndex(POPOTrackingRecorder):
    """What is due when, and the position it holds the log up to. `delays`: command ->
    seconds after acceptance at which the operations this runner ends are due, plus
    `later(svtrid)`; `deliveries`: whether deliveries are this runner's work at all."""

    def __init__(
        self,
        delays: Mapping[str, float],
        clock: Callable[[], datetime],
        *,
        later: Callable[[str], float] = lambda _: 0.0,
        deliveries: bool = True,
    ) -> None:
        super().__init__()
        self._delays = dict(delays)
        self._clock = clock
        self._later = later
        self._deliveries: dict[str, tuple[str, dlv.DeliveryState]] = {}
        self._operations: dict[str, str] = {}
        self._commands: dict[str, str] = {}  # svTRID -> command, of those in `_operations`
        self._due: dict[Name, datetime] = {}
        self._heap: list[tuple[datetime, int, Kind, str]] = []
        self._seq = 0
        self._held: dict[str, set[str]] = {}  # endpoint or delivery stream -> keys held
        # The events `_apply` folds: the endings' and (when the runner's work) the
        # deliveries'; the log is read for these topics only.
        self._folds: dict[type[Struct], Callable[[str, Any], None]] = {
            op.OperationAccepted: self._accepted,
            op.OperationEnded: self._ended,
        }
        if deliveries:
            self._folds[dlv.DeliveryScheduled] = self._scheduled
            self._folds.update(dict.fromkeys(_ATTEMPTED, self._attempted))
            self._folds[dlv.DeliveryResent] = self._resent
            self._folds[ept.EndpointResumed] = self._resumed
        self.topics = tuple(str(t.__struct_config__.tag) for t in self._folds)

    def schedule(self, kind: Kind, key: str, when: datetime | None) -> None:
        """Make `(kind, key)` due at `when` (None: not due at all)."""
        name = (kind, key)
        if when is None:
            self._due.pop(name, None)
            return
        if self._due.get(name) == when:
            return
        self._due[name] = when
        self._push(when, name)

    def _push(self, when: datetime, name: Name) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, *name))

    def again(self, name: Name) -> None:
        """Look at `name` again at its due time (it may have come due while worked on)."""
        when = self._due.get(name)
        if when is not None:
            self._push(when, name)

    def command(self, svtrid: str) -> str | None:
        """The command of an operation this runner ends, until the log says it ended."""
        return self._commands.get(svtrid)

    def next_at(self) -> datetime | None:
        """The earliest time in the heap (it may be superseded)."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime, busy: set[Name]) -> Name | None:
        """The next piece of work due by `now` and not in `busy`, taken off the heap."""
        while self._heap and self._heap[0][0] <= now:
            when, _, kind, key = heapq.heappop(self._heap)
            name: Name = (kind, key)
            if self._due.get(name) == when and name not in busy:
                return name
            # superseded, or being worked on (`again` puts it back when that is done)
        return None

    def hold(self, key: str, held: Held) -> None:
        """A delivery may not start before `held.until`, or before the stream it waits
        on moves on, whichever comes first."""
        if held.waits_on is not None:
            self._held.setdefault(stream_hex(*held.waits_on), set()).add(key)
        self.schedule("delivery", key, held.until)

    def _release(self, stream: str) -> None:
        """Deliveries held by this endpoint or earlier delivery are due now."""
        now = self._clock()
        for key in self._held.pop(stream, ()):
            if ("delivery", key) in self._due:
                self.schedule("delivery", key, now)

    def applied(self, stream: str, event: Any, tracking: Tracking) -> None:
        """Fold the log's next event into the index; eventsourcing's `IntegrityError`,
        and nothing folded, at a position folded already."""
        self.insert_tracking(tracking)
        # By the event's exact type: a `match` on class patterns costs more.
        fold = self._folds.get(type(event))
        if fold is not None:
            fold(stream, event)

    def _track(self, stream: str, key: str, state: dlv.DeliveryState) -> dlv.DeliveryState:
        state = _compact(state)
        self._deliveries[stream] = (key, state)
        self.schedule("delivery", key, dlv.due_at(state))
        return state

    def _scheduled(self, stream: str, event: dlv.DeliveryScheduled) -> None:
        key = dlv.key(event.login, event.notification_id)
        self._track(stream, key, dlv.evolve(dlv.initial, event))

    def _resent(self, stream: str, event: dlv.DeliveryResent) -> None:
        # forgotten when it succeeded: taken up from the event
        key = dlv.key(event.scheduled.login, event.scheduled.notification_id)
        self._track(stream, key, dlv.resumed(event))

    def _attempted(self, stream: str, event: Any) -> None:
        known = self._deliveries.get(stream)
        if known is None:
            return
        key, state = known
        state = self._track(stream, key, dlv.evolve(state, event))
        if dlv.is_terminal(state):  # for good: forgotten, memory stays bounded
            del self._deliveries[stream]
        if not dlv.holds_back(state):  # done: the deliveries it held may go
            self._release(stream)

    def _accepted(self, stream: str, event: op.OperationAccepted) -> None:
        delay = self._delays.get(event.command)
        if delay is not None:
            svtrid = event.svtrid
            self._operations[stream] = svtrid
            self._commands[svtrid] = event.command
            delay += self._later(svtrid)
            self.schedule("ending", svtrid, serverrun.due_at(event, delay))

    def _ended(self, stream: str, _: op.OperationEnded) -> None:
        if stream in self._operations:
            svtrid = self._operations.pop(stream)
            del self._commands[svtrid]
            self.schedule("ending", svtrid, None)

    def _resumed(self, stream: str, _: ept.EndpointResumed) -> None:
        self._release(stream)


class DueProjection(Projection[DueIndex]):
    """The due-work index, folded from the log's events of its topics only (a server's
    log is mostly polls, acks and queueings). Driven by a `store.followers.Catchup`."""

    name = "tidings_due_work"

    def __init__(self, view: DueIndex) -> None:
        super().__init__(view)
        self.topics = view.topics  # the runner's work: deliveries, or only endings

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        entry: Scanned = domain_event
        self.view.applied(entry.stream, entry.event, tracking)


class Scanned(Struct, frozen=True, gc=False):
    """An entry of `ScannedLog`: its position, its stream's id in hex (as stored), and
    its event, decoded."""

    position: int
    stream: str
    event: Any

    def as_processed(self) -> tuple["Scanned", Tracking]:
        return self, Tracking(LOG, self.position)


class ScannedLog:
    """The log as the runner follows it (a `store.followers.Log`): the store's rows as
    stored (`recorder.scan`), each decoded by its topic, cheaper than the library's `log`
    (docs/decisions.md). Raises `StorageError`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[Scanned]:
        """The entries from position `start` up to `stop` (the log's end when None), of
        `topics` when given, in order; read `page_size` positions at a time."""
        end = self.last_position() if stop is None else stop
        scan = self._store.recorder.scan
        for low in range(start, end + 1, page_size):
            # Around each query only: the outage watch must see only what the database answers.
            with storage_errors():
                rows = scan(low, min(low + page_size - 1, end), topics)
            for position, stream, _, topic, state in rows:
                yield Scanned(position, stream, decoder_of(topic)(state))

    def last_position(self) -> int:
        with storage_errors():
            return self._store.max_position()
