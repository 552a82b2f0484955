"""Replay and verify: is the live state what the log says, and is the log untouched?"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from tidings.domain import Decider

from .audit import DECIDERS
from .chain import GENESIS, link, scan_all
from .codec import decode_event, event_types
from .store import Store

__all__ = ["Break", "CorruptEvent", "Mismatch", "ReplayReport", "replay", "verify"]

Progress = Callable[[int], None]

# Which decider folds each stored topic: every event type belongs to exactly one.
_DECIDER_OF_TOPIC: dict[str, Decider[Any, Any, Any]] = {
    topic: decider for decider in DECIDERS.values() for topic in event_types(decider.category)
}


class CorruptEvent(Exception):
    """A stored event that cannot be decoded as its topic says."""

    def __init__(self, position: int, topic: str, error: Exception):
        super().__init__(f"log entry at position {position} ({topic}) cannot be decoded: {error}")
        self.position = position


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


def replay(store: Store, progress: Progress | None = None) -> ReplayReport:
    """Fold every stream from the notification log, then compare each with the state
    the store loads (snapshot plus newer events). `progress(n)` is told of n more
    events folded."""
    report = ReplayReport()
    folded: dict[bytes, tuple[Decider[Any, Any, Any], Any]] = {}
    pending = 0
    for position, sid, _, topic, state in scan_all(store.recorder):
        try:
            decider = _DECIDER_OF_TOPIC[topic]
            event = decode_event(topic, state)
        except (KeyError, msgspec.DecodeError) as error:
            raise CorruptEvent(position, topic, error) from error
        entry = folded.get(sid)
        current = decider.initial if entry is None else entry[1]
        folded[sid] = (decider, decider.evolve(current, event))
        report.events += 1
        pending += 1
        if progress is not None and pending == 10_000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    report.streams = len(folded)
    for sid, (decider, rebuilt) in folded.items():
        stream = UUID(bytes=sid)
        live = store.load_cold(decider, stream).state
        if live != rebuilt:
            report.mismatches.append(Mismatch(stream, decider.category, rebuilt, live))
    return report


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
