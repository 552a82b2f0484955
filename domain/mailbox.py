"""Mailbox: one per account, the ordered queue of its notifications.

Rules (WAPI poll, with RFC 5730's EPP poll as tie-breaker):
- enqueue gives the next id, strictly increasing per account; a notification pushed
  instead of polled (`NotificationIssued`, decided by the `ending` process) takes its
  id from the same counter without entering the queue, so ids stay unique per account
  whatever the channel was; one whose delivery gave up may enter the queue later under
  that id (the `fallback` process), ahead of the counter never;
- poll returns the oldest unacked notification with the queue count (1000), 1003 when
  the queue is empty, 2150 when the account does not poll; the first poll that returns
  a notification is recorded (time, svTRID of the poll);
- ack of the head's id answers 1002 and removes it; ack of any other id (another
  account's, an unknown one, a malformed one) answers 2151 and changes nothing, so the
  answer never tells whether an id exists; a re-ack of the id acked last answers 1002
  again and changes nothing, so a client that lost the answer can retry.

`evolve` applies any event and never raises: a retrieval or an ack that does not name
the head (which `decide` never produces, so only a forged or misplaced stored event can
be one) is ignored. `check` says whether an event may follow a state; replay uses it to
report such events. A `Replay` folds events one at a time checking each, on the
backlog's internals changed in place (`replayed`: a run of them): a replay's way through
a long mailbox.

The queue (`Queue`) holds each notification as its MessagePack bytes, decoded once, when
it becomes the head, which is held decoded (see `backlog`): a server caches every mailbox
it serves, and packed, a queued notification takes about half the memory of the decoded
structs and their strings (docs/decisions.md, the bench's `memory-queued` row). A
`Replay` pushes notifications as they are: a replay holds its states only until it
compares them, and packing would cost it an encode at its queueing and its retrieval and
a decode at each check of the head; the queue reads either form, and its equality
compares notifications, not their form.
"""

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from msgspec import Struct
from msgspec.structs import replace

from .backlog import Backlog, turned
from .codes import Code
from .rejection import Rejection, reject
from .values import Notification, Outcome

__all__ = [
    "AckNotification",
    "EnqueueNotification",
    "MailboxCommand",
    "MailboxEvent",
    "MailboxSnapshot",
    "MailboxSnapshotted",
    "MailboxState",
    "NotificationAcked",
    "NotificationIssued",
    "NotificationQueued",
    "NotificationRetrieved",
    "PollNotification",
    "Polled",
    "Queue",
    "Replay",
    "check",
    "decide",
    "evolve",
    "initial",
    "parse_id",
    "peek",
    "replayed",
    "snapshot",
]

# Ids are positive and fit a signed 64-bit integer; anything else cannot exist.
_ID = re.compile(r"[1-9][0-9]{0,17}")


# --- Commands -------------------------------------------------------------------------
class EnqueueNotification(Struct, frozen=True, gc=False, tag="EnqueueNotification"):
    outcome: Outcome


class PollNotification(Struct, frozen=True, gc=False, kw_only=True, tag="PollNotification"):
    """`polls` says whether the account's channel is the poll queue (from its state)."""

    svtrid: str
    polls: bool


class AckNotification(Struct, frozen=True, gc=False, kw_only=True, tag="AckNotification"):
    """`notification_id` is the id as the client sent it, so the core judges malformed ids."""

    notification_id: str
    polls: bool


MailboxCommand = EnqueueNotification | PollNotification | AckNotification


# --- State ----------------------------------------------------------------------------
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(Notification).decode


class Queue(Backlog[Notification], frozen=True, eq=False):
    """A mailbox's backlog of notifications, each held as its MessagePack bytes (see
    the module docstring); one held as it is (a `Replay`'s) is read as it is."""

    @staticmethod
    def hold(item: Notification) -> Any:
        try:
            # Copied into a bytes object of its size: the encoder's keeps the room it grew
            # into (a 199-byte notification took 262 bytes of memory; the copy, 232).
            return bytes(memoryview(_pack(item)))
        except (msgspec.EncodeError, OverflowError, TypeError):
            # Not storable either (an id past 64 bits): held as it is, so evolve stays total.
            return item

    @staticmethod
    def item(held: Any) -> Notification:
        notification: Notification = _unpack(held) if type(held) is bytes else held
        return notification


class MailboxState(Struct, frozen=True, gc=False, kw_only=True):
    """`queue`: the unacked notifications, oldest first (a `Backlog`, so each event costs
    the same however long the queue)."""

    next_id: int = 1
    queue: Backlog[Notification] = Queue()
    last_acked: int | None = None


initial = MailboxState()


# --- Events ---------------------------------------------------------------------------
class NotificationQueued(Struct, frozen=True, gc=False, kw_only=True, tag="NotificationQueued"):
    notification: Notification
    at: datetime


class NotificationIssued(Struct, frozen=True, gc=False, kw_only=True, tag="NotificationIssued"):
    """A notification that is pushed, not polled, took the next id: folded into the
    counter only, it is never in the queue."""

    notification: Notification
    at: datetime


class NotificationRetrieved(
    Struct, frozen=True, gc=False, kw_only=True, tag="NotificationRetrieved"
):
    id: int
    svtrid: str
    at: datetime


class NotificationAcked(Struct, frozen=True, gc=False, kw_only=True, tag="NotificationAcked"):
    id: int
    at: datetime


class MailboxSnapshot(Struct, frozen=True, gc=False, kw_only=True):
    """A `MailboxState` in a form MessagePack holds as it is: the queue a plain array,
    oldest first. What a snapshot stores."""

    next_id: int = 1
    queue: tuple[Notification, ...] = ()
    last_acked: int | None = None

    @classmethod
    def of(cls, state: MailboxState) -> "MailboxSnapshot":
        return cls(next_id=state.next_id, queue=tuple(state.queue), last_acked=state.last_acked)

    def restored(self) -> MailboxState:
        """The state this was taken of."""
        queue = Queue.of(self.queue)
        return MailboxState(next_id=self.next_id, queue=queue, last_acked=self.last_acked)


class MailboxSnapshotted(Struct, frozen=True, gc=False, kw_only=True, tag="MailboxSnapshotted"):
    """The whole state at a version, so loading costs the backlog, not the history.
    Built by `snapshot`."""

    state: MailboxSnapshot
    at: datetime


MailboxEvent = (
    NotificationQueued
    | NotificationIssued
    | NotificationRetrieved
    | NotificationAcked
    | MailboxSnapshotted
)


class Polled(Struct, frozen=True, gc=False):
    """The answer to a successful poll: the head and how many are queued (head included)."""

    notification: Notification
    count: int


def parse_id(raw: str) -> int | None:
    """The id a client sent, or None when it cannot name any notification."""
    raw = raw.strip()
    return int(raw) if _ID.fullmatch(raw) else None


def snapshot(state: MailboxState, at: datetime) -> MailboxSnapshotted:
    """The snapshot event of `state`, taken at `at`."""
    return MailboxSnapshotted(state=MailboxSnapshot.of(state), at=at)


def peek(state: MailboxState) -> Polled | None:
    """The head of the queue with the queue count, or None when empty."""
    queue = state.queue
    return Polled(queue.head, queue.size) if queue.size else None


# --- Decisions ------------------------------------------------------------------------
def decide(
    state: MailboxState, command: MailboxCommand, now: datetime
) -> list[MailboxEvent] | Rejection:
    """Decide what a command does to a mailbox (rules in the module docstring).

    A poll that succeeds yields its answer through `peek` on the evolved state; its events
    are `[NotificationRetrieved]` the first time the head is returned, else `[]`.
    Rejections: 1003 empty queue; 2150 poll or ack when the account does not poll;
    2151 ack of anything but the head or the id acked last.
    """
    # The commands every poll and ack run come first: an `isinstance` against a struct
    # type that fails costs a call of its metaclass's `__instancecheck__`.
    if isinstance(command, PollNotification):
        if not command.polls:
            return reject(Code.POLL_NOT_ALLOWED)
        if not state.queue.size:
            return reject(Code.QUEUE_EMPTY)
        head = state.queue.head
        if head.retrieved_at is not None:
            return []
        return [NotificationRetrieved(id=head.id, svtrid=command.svtrid, at=now)]
    if isinstance(command, AckNotification):
        if not command.polls:
            return reject(Code.POLL_NOT_ALLOWED)
        wanted = parse_id(command.notification_id)
        if wanted is not None and state.queue.size and state.queue.head.id == wanted:
            return [NotificationAcked(id=wanted, at=now)]
        if wanted is not None and wanted == state.last_acked:
            return []
        return reject(Code.NOTIFICATION_NOT_FOUND)
    if isinstance(command, EnqueueNotification):
        notification = Notification(id=state.next_id, outcome=command.outcome)
        return [NotificationQueued(notification=notification, at=now)]


def check(state: MailboxState, event: MailboxEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: a retrieval or an ack
    names the head. Any other event may follow any state."""
    if type(event) is NotificationRetrieved:
        return _not_head("retrieval", event.id, state.queue)
    if type(event) is NotificationAcked:
        return _not_head("ack", event.id, state.queue)
    return None


def evolve(state: MailboxState, event: MailboxEvent) -> MailboxState:
    """Apply one mailbox event. Never raises: a retrieval or an ack that does not name
    the head changes nothing (`check` says why it cannot follow); anything that is not a
    mailbox event is ignored."""
    # Every command evolves its states (a replay every event of the log): comparing the
    # exact type (no event struct is subclassed) costs less than `isinstance`, and much
    # less than `match`.
    if type(event) is NotificationQueued:
        # A pushed notification that fell back to the queue keeps the id it was
        # issued: the counter never goes back.
        notification = event.notification
        next_id = max(state.next_id, notification.id + 1)
        return replace(state, next_id=next_id, queue=state.queue.pushed(notification))
    if type(event) is NotificationIssued:
        return replace(state, next_id=event.notification.id + 1)
    # A retrieval or an ack applies to the head it names, as `check` says, tested here
    # without the call and the head read twice: every poll and ack runs it.
    if type(event) is NotificationRetrieved:
        queue = state.queue
        if not queue.size or (head := queue.head).id != event.id:
            return state
        head = replace(head, retrieved_at=event.at, retrieved_by=event.svtrid)
        return replace(state, queue=queue.with_head(head))
    if type(event) is NotificationAcked:
        queue = state.queue
        if not queue.size or queue.head.id != event.id:
            return state
        return replace(state, queue=queue.popped(), last_acked=event.id)
    if type(event) is MailboxSnapshotted:
        return event.state.restored()
    return state


def replayed(state: MailboxState, events: Iterable[MailboxEvent]) -> MailboxState:
    """The state `evolve` reaches over `events`, one event at a time. Raises ValueError,
    saying why, at the first event `check` refuses: a retrieval or an ack of anything but
    the head."""
    replay = Replay(state)
    for event in events:
        replay.add(event)
    return replay.state


class Replay:
    """A mailbox's state as a replay builds it, event by event (`add`, which checks each
    as `check` would): the backlog's pairs and the counters, changed in place, and one
    `MailboxState` built when it is read (`state`). `add` changes the replay, never the
    state it started from.

    A replay runs every event of the log through here, most of them a mailbox's:
    changing the backlog in place costs an event about a third of building a
    `MailboxState` and a `Queue` for it (docs/decisions.md). It compares exact types
    (no event struct is subclassed), which costs less than `isinstance` and much less
    than `match`.
    """

    __slots__ = ("back", "front", "last_acked", "next_id", "size")

    def __init__(self, state: MailboxState = initial) -> None:
        self._start(state)

    def _start(self, state: MailboxState) -> None:
        queue = state.queue
        self.next_id, self.last_acked = state.next_id, state.last_acked
        self.front, self.back, self.size = queue.front, queue.back, queue.size

    @property
    def state(self) -> MailboxState:
        """The state the events added so far reached."""
        queue = Queue(Queue.read_head(self.front), self.back, self.size)
        return MailboxState(next_id=self.next_id, queue=queue, last_acked=self.last_acked)

    def add(self, event: MailboxEvent) -> "Replay":
        """Apply `event` here; returns this replay. ValueError, saying why, for a
        retrieval or an ack of anything but the head (and nothing changes)."""
        if type(event) is NotificationQueued:
            notification = event.notification
            if self.front is None:
                self.front = (notification, None)
            else:
                self.back = (notification, self.back)
            self.size += 1
            if notification.id >= self.next_id:  # not so for a fallen-back pushed one
                self.next_id = notification.id + 1
        elif type(event) is NotificationAcked:
            front = self._head_pair("ack", event.id)
            self.size -= 1
            self.last_acked = event.id
            if front[1] is None:
                # The oldest ran out: the newest, turned around, are the oldest now.
                self.front, self.back = turned(self.back), None
            else:
                self.front = front[1]
        elif type(event) is NotificationRetrieved:
            front = self._head_pair("retrieval", event.id)
            head = replace(Queue.item(front[0]), retrieved_at=event.at, retrieved_by=event.svtrid)
            self.front = (head, front[1])
        elif type(event) is NotificationIssued:
            self.next_id = event.notification.id + 1
        elif type(event) is MailboxSnapshotted:
            self._start(event.state.restored())
        # Anything else is no mailbox event: ignored, as `evolve` ignores it.
        return self

    def _head_pair(self, what: str, wanted: int) -> Any:
        """The front pair, whose item is the head; ValueError unless it is `wanted`."""
        front = self.front
        if front is None or Queue.item(front[0]).id != wanted:
            raise ValueError(_not_head(what, wanted, Queue(front, self.back, self.size)))
        return front


def _not_head(what: str, wanted: int, queue: Backlog[Notification]) -> str | None:
    """Why an event about `wanted` cannot be applied to `queue`, or None when `wanted`
    is its head."""
    if not queue.size:
        return f"{what} of {wanted} but the queue is empty"
    if queue.head.id != wanted:
        return f"{what} of {wanted} but the head is {queue.head.id}"
    return None
