"""Enqueue and poll + ack, measured in rounds that interleave the subjects.

On a shared machine the cost of an fsync drifts from second to second. Running each
subject's whole batch one after another would hand one subject a quiet minute and the
next a busy one; instead every subject does a slice of its work in each round, in an
order that rotates, and its rate is its total operations over its total time.
"""

import time
from collections.abc import Sequence
from typing import Protocol

from .bench_results import Durability, Result

__all__ = ["QueueSubject", "measure_queues"]


class QueueSubject(Protocol):
    """A queue on its own fresh SQLite file."""

    name: str
    durability: Durability
    drains: bool  # False for raw inserts: there is nothing to poll

    def enqueue(self, count: int) -> None:
        """Queue `count` more notifications, each committed on its own."""

    def drain(self, count: int) -> None:
        """Take and acknowledge the `count` oldest notifications, one at a time."""

    def durability_in_force(self) -> tuple[str, str]:
        """(journal mode, synchronous) read back from the subject's connection."""

    def close(self) -> None: ...


def _slices(size: int, rounds: int) -> list[int]:
    base, extra = divmod(size, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds) if base or r < extra]


def _rotated(subjects: Sequence[QueueSubject], by: int) -> list[QueueSubject]:
    by %= len(subjects)
    return [*subjects[by:], *subjects[:by]]


def measure_queues(subjects: Sequence[QueueSubject], size: int, rounds: int) -> list[Result]:
    """`size` enqueues then `size` poll + ack cycles per subject, in `rounds` rounds.

    Each round enqueues a slice on every subject, then drains that slice, so queues
    stay short and alike. Closes the subjects.
    """
    spent: dict[tuple[int, str], float] = {}
    try:
        for number, count in enumerate(_slices(size, rounds)):
            for phase in ("enqueue", "poll+ack"):
                for subject in _rotated(subjects, number):
                    if phase == "poll+ack" and not subject.drains:
                        continue
                    start = time.perf_counter()
                    if phase == "enqueue":
                        subject.enqueue(count)
                    else:
                        subject.drain(count)
                    key = (id(subject), phase)
                    spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
        results = []
        for subject in subjects:
            journal, synchronous = subject.durability_in_force()
            for phase in ("enqueue", "poll+ack"):
                seconds = spent.get((id(subject), phase))
                if seconds is None:
                    continue
                results.append(
                    Result(
                        scenario=phase,
                        subject=subject.name,
                        durability=subject.durability,
                        ops_per_s=size / seconds,
                        ops=size,
                        seconds=seconds,
                        journal_mode=journal,
                        synchronous=synchronous,
                    )
                )
        return results
    finally:
        for subject in subjects:
            subject.close()
