"""Enqueue and poll + ack, measured in rounds that interleave the subjects.

On a shared machine the cost of an fsync drifts from second to second. Running each
subject's whole batch one after another would hand one subject a quiet minute and the
next a busy one; instead every subject does a slice of its work in each round, in an
order that rotates, and its rate is its total operations over its total time.

Variants of one queue at one client and one durability (tidings with and without its
Merkle tree and checkpoints) share their slot in the round and take turns op by op (the
order reversed at every turn), each operation timed on its own: their ratio then
compares them at the same moments, to the millisecond. Slices alone were not enough
for that ratio, whose target is 10 %: one slow slice could decide the row, where taking
turns kept two identical subjects within a few per cent (docs/decisions.md, "The
bench"). Every other subject keeps its slices, so the peers' rows are measured as
before. Threads cannot take turns that finely: several-client variants run their slices
one after the other in their slot (smaller slices, taken in turn, would cost each slice
the start of 16 threads).

The variant that leads a slot follows another queue's work and pays for it, so the lead
changes hands from round to round (the full bench runs an even number of rounds).
"""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from .results import Durability, Result

__all__ = ["QueueSubject", "measure_queues", "spread"]

_T = TypeVar("_T")


class QueueSubject(Protocol):
    """A queue on its own fresh SQLite file, used by `clients` threads at once."""

    name: str
    durability: Durability
    clients: int
    drains: bool  # False for raw inserts: there is nothing to poll

    def put(self, client: int) -> None:
        """Queue one more notification, committed before it returns."""

    def take(self, client: int) -> None:
        """Take and acknowledge the oldest notification (of this client's queue)."""

    def durability_in_force(self) -> tuple[str, str]:
        """(journal mode, synchronous) read back from the subject's connection."""

    def transactions(self) -> int | None:
        """Transactions committed so far, where the subject counts them (tidings); None
        for the peers, which commit each call on its own."""

    def close(self) -> None: ...


def spread(clients: int, count: int, one: Callable[[int], None]) -> None:
    """`one(client)` `count` times in all, shared evenly by `clients` threads started
    together; with one client, in this thread. An error in any thread is raised here."""
    if clients == 1:
        for _ in range(count):
            one(0)
        return
    share, extra = divmod(count, clients)
    start = threading.Barrier(clients)
    failures: list[BaseException] = []

    def client(number: int) -> None:
        start.wait()
        try:
            for _ in range(share + (1 if number < extra else 0)):
                one(number)
        except BaseException as error:  # reported by the caller, not lost in a thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


# Seconds of wall time and of process CPU time, per (subject, phase).
_Clocks = tuple[dict[tuple[int, str], float], dict[tuple[int, str], float]]


def _slices(size: int, rounds: int) -> list[int]:
    base, extra = divmod(size, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds) if base or r < extra]


def _rotated(subjects: Sequence[_T], by: int) -> list[_T]:
    by %= len(subjects) or 1
    return [*subjects[by:], *subjects[:by]]


def _groups(subjects: Sequence[QueueSubject]) -> list[list[QueueSubject]]:
    """The subjects as the rounds run them: the one-client variants of one kind of queue
    at one durability (tidings with and without its tree) together, to take turns op by
    op; every other subject alone, for slices as before."""
    groups: dict[object, list[QueueSubject]] = {}
    for subject in subjects:
        key = (type(subject), subject.durability, subject.clients)
        groups.setdefault(key, []).append(subject)
    return list(groups.values())


def _take_turns(subjects: Sequence[QueueSubject], count: int, phase: str, clocks: _Clocks) -> None:
    """`count` operations of each one-client subject, one at a time in turn (the order
    reversed at every turn, so none always follows the same one), each timed alone."""
    spent, cpu = clocks
    for turn in range(count):
        for subject in subjects if turn % 2 == 0 else subjects[::-1]:
            one = subject.put if phase == "enqueue" else subject.take
            start, start_cpu = time.perf_counter(), time.process_time()
            one(0)
            key = (id(subject), phase)
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
            cpu[key] = cpu.get(key, 0.0) + time.process_time() - start_cpu


def _slice(subject: QueueSubject, count: int, phase: str, clocks: _Clocks) -> None:
    """`count` operations of one subject, from all its clients at once, timed together."""
    spent, cpu = clocks
    one = subject.put if phase == "enqueue" else subject.take
    start, start_cpu = time.perf_counter(), time.process_time()
    spread(subject.clients, count, one)
    key = (id(subject), phase)
    spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
    cpu[key] = cpu.get(key, 0.0) + time.process_time() - start_cpu


def measure_queues(subjects: Sequence[QueueSubject], size: int, rounds: int) -> list[Result]:
    """`size` enqueues then `size` poll + ack cycles per subject, in `rounds` rounds.

    Each round enqueues a slice on every subject, then drains that slice, so queues
    stay short and alike; one-client variants of one queue take turns op by op within
    their slot (see the module's docstring). Closes the subjects.
    """
    # Seconds and process CPU time (user + system, every thread) per (subject, phase):
    # the subjects take turns, so what the process spends during a subject's slice (or
    # operation) is that subject's.
    clocks: _Clocks = ({}, {})
    spent, cpu = clocks
    commits: dict[tuple[int, str], int] = {}
    try:
        for number, count in enumerate(_slices(size, rounds)):
            for phase in ("enqueue", "poll+ack"):
                for group in _rotated(_groups(subjects), number):
                    # Variants take the lead by turns from round to round: the one that
                    # leads a slot follows another queue's work, which costs it more.
                    members = _rotated([s for s in group if phase == "enqueue" or s.drains], number)
                    committed = [s.transactions() for s in members]
                    if len(members) > 1 and members[0].clients == 1:
                        _take_turns(members, count, phase, clocks)
                    else:
                        for member in members:
                            _slice(member, count, phase, clocks)
                    for subject, before in zip(members, committed, strict=True):
                        if before is not None:
                            key = (id(subject), phase)
                            done = (subject.transactions() or 0) - before
                            commits[key] = commits.get(key, 0) + done
        results = []
        for subject in subjects:
            journal, synchronous = subject.durability_in_force()
            for phase in ("enqueue", "poll+ack"):
                key = (id(subject), phase)
                seconds = spent.get(key)
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
                        clients=subject.clients,
                        cpu_us=cpu[key] / size * 1e6,
                        commits_per_op=commits[key] / size if key in commits else None,
                    )
                )
        return results
    finally:
        for subject in subjects:
            subject.close()
