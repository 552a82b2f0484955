"""Replay and verify: is the live state what the log says (`replay`: the log folded here,
then compared with what the store loads), and is the hash chain unbroken (`verify`)?"""

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from tidings.domain import MAILBOX, OPERATION, Decider
from tidings.domain import mailbox as mbx

from ..ledger.entries import GENESIS, LogRow, decoder_of, event_types, link
from ..store.application import Store, stream_id
from .trail import DECIDERS

__all__ = [
    "PAGE",
    "Break",
    "CorruptEvent",
    "Folded",
    "Mismatch",
    "ReplayReport",
    "compare_live",
    "compare_open",
    "fold_log",
    "replay",
    "verify",
]

Progress = Callable[[int], None]

# Log positions read at a time: a page's rows in memory, and a progress step.
PAGE = 1_000


class CorruptEvent(Exception):
    """A stored event that cannot be decoded as its topic says, or that its stream's
    `check` refuses where it stands (an ack of a notification that is not the head)."""

    def __init__(
        self, position: int, topic: str, error: Exception, what: str = "cannot be decoded"
    ):
        super().__init__(f"log entry at position {position} ({topic}) {what}: {error}")
        self.position = position
        self.topic = topic
        self.error = error


_OUT_OF_ORDER = "cannot follow the events before it in its stream"


@dataclass(frozen=True, slots=True)
class Mismatch:
    stream: UUID
    category: str
    rebuilt: Any
    live: Any


@dataclass(slots=True)
class ReplayReport:
    events: int = 0
    streams: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


class _Kind:
    """The folded states of one stream kind, by stream id in hex, and how the fold
    starts, applies and holds them."""

    __slots__ = ("apply", "decoded", "initial", "pack", "states", "unpack", "waiting")

    def __init__(self, decider: Decider[Any, Any, Any]):
        self.initial = decider.initial
        self.states: dict[str, Any] = {}
        self.apply = _applier(decider)
        # A mailbox folds in place (`mbx.Replay`), never packed.
        self.pack = None if decider.category == MAILBOX.category else _packer()
        self.unpack = msgspec.msgpack.Decoder(type(decider.initial)).decode
        # The streams whose states were decoded (started or unpacked) during this page,
        # and those decoded during the page before: packed at this page's end.
        self.decoded: list[str] = []
        self.waiting: list[str] = []

    def start(self, stream: str, held: Any) -> Any:
        """The state to fold `stream`'s next event into, from `held`: None or packed."""
        if self.pack is None:
            return mbx.Replay()
        self.decoded.append(stream)
        return self.initial if held is None else self.unpack(held)

    def pack_idle(self) -> None:
        """Pack the states decoded during the page before this one, left alone since."""
        states, pack = self.states, self.pack
        if pack is not None:
            for stream in self.waiting:
                held = states[stream]
                if type(held) is not bytes:
                    states[stream] = pack(held)
        self.waiting, self.decoded = self.decoded, []

    def state(self, held: Any) -> Any:
        if type(held) is mbx.Replay:
            return held.state
        return self.unpack(held) if type(held) is bytes else held


def _packer() -> Callable[[Any], bytes]:
    """MessagePack bytes of a state, copied out of the encoder's grown buffer."""
    encode_into, buffer = msgspec.msgpack.Encoder().encode_into, bytearray()

    def pack(state: Any) -> bytes:
        encode_into(state, buffer)
        return bytes(buffer)

    return pack


class Folded:
    """Every stream's folded state, by kind (category) and stream id in hex."""

    def __init__(self) -> None:
        self.kinds = {category: _Kind(decider) for category, decider in DECIDERS.items()}

    def pack_idle(self) -> None:
        for kind in self.kinds.values():
            kind.pack_idle()

    def streams(self) -> int:
        return sum(len(kind.states) for kind in self.kinds.values())

    def states(self, category: str) -> Iterator[tuple[str, Any]]:
        """(stream id in hex, state) of a kind's streams, in the order the log named them."""
        kind = self.kinds[category]
        for stream, held in kind.states.items():
            yield stream, kind.state(held)

    def state(self, category: str, stream: str) -> Any:
        """One stream's state; KeyError when the log has none of its events."""
        kind = self.kinds[category]
        return kind.state(kind.states[stream])


def _applier(decider: Decider[Any, Any, Any]) -> Callable[[Any, Any], Any]:
    """`evolve` after `check` (ValueError saying why); a mailbox's `Replay.add`, which
    refuses exactly what `check` refuses (tests/domain/test_evolve_is_total.py)."""
    if decider.category == MAILBOX.category:
        return mbx.Replay.add
    check, evolve = decider.check, decider.evolve

    def apply(state: Any, event: Any) -> Any:
        problem = check(state, event)
        if problem is not None:
            raise ValueError(problem)
        return evolve(state, event)

    return apply


def fold_log(
    store: Store, progress: Progress | None = None, page: int = PAGE
) -> tuple[int, Folded]:
    """Fold every stream from the log in log order, `page` positions at a time, each row
    decoded as its topic says and applied after its stream's `check`; (events folded,
    states). `progress(n)`: n more folded. `CorruptEvent` at the first bad row. A state
    left alone for a page is held packed (MessagePack) until read again, for the peak
    memory; a mailbox folds in place (`mbx.Replay`)."""
    folded = Folded()
    # Per topic, bound once: a row costs a lookup, a decode and an application.
    steps = {
        topic: (decoder_of(topic), kind.apply, kind.states, kind)
        for category, kind in folded.kinds.items()
        for topic in event_types(category)
    }
    recorder = store.recorder
    top, events = store.max_position(), 0
    # The cycle collector paused: a fold's states are millions of objects that live on,
    # which it would walk again and again, finding no garbage.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for start in range(1, top + 1, page):
            rows = recorder.scan(start, start + page - 1)
            for position, stream, _, topic, state in rows:
                step = steps.get(topic)
                if step is None:
                    raise CorruptEvent(position, topic, KeyError("no such topic"))
                decode, apply, states, kind = step
                try:
                    event = decode(state)
                except (msgspec.DecodeError, TypeError) as error:  # TypeError: not bytes
                    raise CorruptEvent(position, topic, error) from error
                current = states.get(stream)
                if current is None or type(current) is bytes:
                    current = kind.start(stream, current)
                try:
                    states[stream] = apply(current, event)
                except ValueError as error:
                    raise CorruptEvent(position, topic, error, _OUT_OF_ORDER) from error
            folded.pack_idle()
            events += len(rows)
            if progress is not None:
                progress(len(rows))
    finally:
        if collecting:
            gc.enable()
    return events, folded


def compare_live(store: Store, folded: Folded) -> list[Mismatch]:
    """The streams whose live state (as a fresh process loads it) differs from the
    folded one, or cannot be loaded."""
    mismatches = []
    for category, decider in DECIDERS.items():
        for sid, rebuilt in folded.states(category):
            try:
                stream = UUID(hex=sid)
            except (TypeError, ValueError) as error:  # an edited id (SQLite keeps text)
                # Its first row, read again (only to name it).
                position, _, _, topic, _ = next(
                    row
                    for start in range(1, store.max_position() + 1, PAGE)
                    for row in store.recorder.scan(start, start + PAGE - 1)
                    if row[1] == sid
                )
                raise CorruptEvent(position, topic, error, "names no stream") from error
            live: Any
            try:
                live = store.load_cold(decider, stream, checked=True).state
            except ValueError as error:  # a snapshot its later events cannot follow
                live = f"cannot be loaded: {error}"
            if live != rebuilt:
                mismatches.append(Mismatch(stream, category, rebuilt, live))
    return mismatches


def compare_open(store: Store, folded: Folded) -> list[Mismatch]:
    """The operations open (accepted, not ended) by the log or the store's open
    operations, not both."""
    rebuilt = {
        state.accepted.svtrid
        for _, state in folded.states(OPERATION.category)
        if state.accepted is not None and state.ended is None
    }
    live = set(store.open_operations())
    return [
        Mismatch(
            stream_id(OPERATION.category, svtrid),
            f"open operation {svtrid}",
            "open" if svtrid in rebuilt else "not open",
            "open" if svtrid in live else "not open",
        )
        for svtrid in sorted(rebuilt ^ live)
    ]


def replay(store: Store, progress: Progress | None = None) -> ReplayReport:
    """`fold_log`, then `compare_live` and `compare_open`."""
    events, folded = fold_log(store, progress)
    return ReplayReport(
        events, folded.streams(), compare_live(store, folded) + compare_open(store, folded)
    )


@dataclass(frozen=True, slots=True)
class Break:
    """The first log position where the hash chain does not hold, and why."""

    position: int
    reason: str


def _link(previous: bytes, row: LogRow) -> bytes | None:
    """The chain link `row` should have; None when its stream id is not one (edited)."""
    position, stream, version, topic, state = row
    try:
        raw = bytes.fromhex(stream)
    except (TypeError, ValueError):
        return None
    return link(previous, position, raw, version, topic, state)


def verify(store: Store, progress: Progress | None = None) -> tuple[int, Break | None]:
    """Walk the log and its hash chain; returns (entries checked, first break or None)."""
    recorder = store.recorder
    top = max(recorder.max_notification_id() or 0, recorder.max_chained())
    previous, checked, page = GENESIS, 0, 10_000
    for start in range(1, top + 1, page):
        stop = start + page - 1
        rows = {row[0]: row for row in recorder.scan(start, stop)}
        links = dict(recorder.chain(start, stop))
        for position in sorted(rows.keys() | links.keys()):
            row, digest = rows.get(position), links.get(position)
            if row is None:
                return checked, Break(position, "log entry deleted (its chain link remains)")
            if digest is None:
                return checked, Break(position, "log entry has no chain link")
            if _link(previous, row) != digest:
                return checked, Break(position, "log entry or its chain link was altered")
            previous = digest
            checked += 1
        if progress is not None:
            progress(len(rows))
    return checked, None
