"""Replay and verify: is the live state what the log says, and is the log untouched?

Replay folds every stream from the log (`fold_log`), reading it through `log_read`'s
lean path in one process, then compares each with the state the store loads
(`compare_live`). Two processes each folding a share of the streams were tried and were
slower here: one mailbox is most of a long log and cannot be split, and the other
share's folded states cost more to send back than its fold saves.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args
from uuid import UUID

import msgspec

from .audit import DECIDERS
from .chain import GENESIS, link
from .codec import DomainEvent, event_types
from .log_read import LogRead, Share, position_at, read_log
from .store import Store

__all__ = [
    "Break",
    "CorruptEvent",
    "Folded",
    "Mismatch",
    "ReplayReport",
    "compare_live",
    "fold_log",
    "replay",
    "verify",
]

Progress = Callable[[int], None]
# category -> stream id (as `log_read` gives it) -> the state its events fold to
Folded = dict[str, dict[str, Any]]

_DECODERS = {
    cls.__struct_config__.tag: msgspec.msgpack.Decoder(cls) for cls in get_args(DomainEvent)
}
_CATEGORY_OF_TOPIC = {topic: category for category in DECIDERS for topic in event_types(category)}


class CorruptEvent(Exception):
    """A stored event that cannot be decoded as its topic says."""

    def __init__(self, position: int, topic: str, error: Exception):
        super().__init__(f"log entry at position {position} ({topic}) cannot be decoded: {error}")
        self.position = position
        self.topic = topic
        self.error = error


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


def _fold_share(log: LogRead, share: Share, progress: Progress | None) -> tuple[int, Folded]:
    """Fold the streams of one share of the log, in this process."""
    folded: Folded = {category: {} for category in DECIDERS}
    # Per topic, everything one row needs, bound once: the loop below makes no call
    # but the decode, the evolve and the dictionary's own.
    steps = {
        topic: (
            _DECODERS[topic].decode,
            DECIDERS[category].evolve,
            DECIDERS[category].initial,
            folded[category].get,
            folded[category],
        )
        for topic, category in _CATEGORY_OF_TOPIC.items()
    }
    events = 0
    rows: Any = ()
    topic, state = "", b""
    try:
        for rows in read_log(log, share):
            for sid, topic, state in rows:
                decode, evolve, initial, get, states = steps[topic]
                states[sid] = evolve(get(sid, initial), decode(state))
            events += len(rows)
            if progress is not None:
                progress(len(rows))
    except (KeyError, msgspec.DecodeError) as error:
        if isinstance(error, KeyError) and topic in steps:
            raise  # not the topic lookup: the domain's own error
        index = events + next(i for i, row in enumerate(rows) if row[2] is state)
        raise CorruptEvent(position_at(log, share, index), topic, error) from error
    return events, folded


def fold_log(store: Store, progress: Progress | None = None) -> tuple[int, Folded]:
    """Fold every stream from the notification log; returns (events folded, states).
    `progress(n)` is told of n more events folded."""
    return _fold_share(LogRead(store.url, store.recorder.events_table_name), Share(), progress)


def compare_live(store: Store, folded: Folded) -> list[Mismatch]:
    """The streams whose live state (snapshot plus newer events, as a fresh process
    loads it) differs from the folded one."""
    mismatches = []
    for category, states in folded.items():
        decider = DECIDERS[category]
        for sid, rebuilt in states.items():
            stream = UUID(sid)
            live = store.load_cold(decider, stream).state
            if live != rebuilt:
                mismatches.append(Mismatch(stream, category, rebuilt, live))
    return mismatches


def replay(store: Store, progress: Progress | None = None) -> ReplayReport:
    """Fold every stream from the notification log, then compare each with the state
    the store loads (snapshot plus newer events). `progress(n)` is told of n more
    events folded."""
    events, folded = fold_log(store, progress)
    return ReplayReport(
        events=events,
        streams=sum(len(states) for states in folded.values()),
        mismatches=compare_live(store, folded),
    )


@dataclass(frozen=True, slots=True)
class Break:
    """The first log position where the hash chain does not hold, and why."""

    position: int
    reason: str


def verify(store: Store, progress: Progress | None = None) -> tuple[int, Break | None]:
    """Walk the log and its hash chain; returns (entries checked, first break or None)."""
    recorder = store.recorder
    top = max(recorder.max_notification_id() or 0, recorder.max_chained())
    previous, checked, start, page = GENESIS, 0, 1, 10_000
    while start <= top:
        stop = start + page - 1
        rows = {row[0]: row for row in recorder.scan(start, stop)}
        links = dict(recorder.chain(start, stop))
        for position in sorted(rows.keys() | links.keys()):
            row, digest = rows.get(position), links.get(position)
            if row is None:
                return checked, Break(position, "log entry deleted (its chain link remains)")
            if digest is None:
                return checked, Break(position, "log entry has no chain link")
            if link(previous, *row) != digest:
                return checked, Break(position, "log entry or its chain link was altered")
            previous = digest
            checked += 1
        if progress is not None:
            progress(len(rows))
        start = stop + 1
    return checked, None
