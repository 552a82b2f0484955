"""Enqueue and poll + ack, measured in rounds that interleave the subjects.

On a shared machine the cost of an fsync drifts from second to second. Running each
subject's whole batch one after another would hand one subject a quiet minute and the
next a busy one; instead every subject does a slice of its work in each round, in an
order that rotates, and its rate is its total operations over its total time.
"""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from .results import Durability, Result

__all__ = ["QueueSubject", "measure_queues", "spread"]


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
    # Process CPU time (user + system, every thread): the subjects take turns, so what
    # the process spends during a subject's slice is that subject's.
    cpu: dict[tuple[int, str], float] = {}
    commits: dict[tuple[int, str], int] = {}
    try:
        for number, count in enumerate(_slices(size, rounds)):
            for phase in ("enqueue", "poll+ack"):
                for subject in _rotated(subjects, number):
                    if phase == "poll+ack" and not subject.drains:
                        continue
                    one = subject.put if phase == "enqueue" else subject.take
                    committed = subject.transactions()
                    start, start_cpu = time.perf_counter(), time.process_time()
                    spread(subject.clients, count, one)
                    key = (id(subject), phase)
                    spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
                    cpu[key] = cpu.get(key, 0.0) + time.process_time() - start_cpu
                    if committed is not None:
                        done = subject.transactions() or 0
                        commits[key] = commits.get(key, 0) + done - committed
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
