"""Optimistic concurrency: a lost race is decided again under the write lock, and
cannot be lost twice; many processes, one mailbox."""

import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.domain import MAILBOX, Code
from tidings.domain.mailbox import NotificationAcked

from tests.store.opened import opened


class RacedStore(Store):
    """A real store where a second writer, also real, tries to get in before each of
    our saves: it does before an unlocked save; before a save under the write lock it
    must wait until ours is committed."""

    def __init__(self, url: str, rival: Tidings, races: int):
        super().__init__(url)
        self.rival, self.races = rival, races
        self.holding = False
        self.waiting: list[threading.Thread] = []

    @contextmanager
    def locked(self) -> Iterator[None]:
        with super().locked():
            self.holding = True
            try:
                yield
            finally:
                self.holding = False

    def save(self, changes: Any, snapshots: Any) -> list[int]:
        if self.races > 0:
            self.races -= 1
            rival = threading.Thread(target=self._rival_moves)
            rival.start()
            if self.holding:
                self.waiting.append(rival)
            else:
                rival.join()
        return super().save(changes, snapshots)

    def _rival_moves(self) -> None:
        rival = self.rival.accept("tester", "rival", "op")
        self.rival.end(rival.svtrid, 1000, "OK")  # moves the mailbox on


def _raced(db_url: str, races: int) -> tuple[Tidings, RacedStore, Tidings]:
    """Ours, on a store a rival races `races` times, and the rival."""
    rival = Tidings(db_url)
    rival.open_account("tester", "pw")
    raced = RacedStore(db_url, rival, races)
    return Tidings.over(raced), raced, rival


@pytest.mark.parametrize("races", [2, 1000])
def test_a_lost_race_is_decided_again_under_the_lock_and_wins(db_url: str, races: int) -> None:
    ours, raced, rival = _raced(db_url, races=0)
    svtrid = ours.accept("tester", "mine", "op").svtrid
    raced.races = races
    notification = ours.end(svtrid, 1000, "OK")
    # The rival got in before our first save; our retry held the lock, so the rival's
    # second move waited for it: ours was decided again on fresh state, and won.
    assert notification.id == 2
    assert raced.races == races - 2
    for waiting in raced.waiting:
        waiting.join(timeout=30)
    queue = [n.outcome.cltrid for n in rival.mailbox("tester").notifications]
    assert queue == ["rival", "mine", "rival"]
    ours.close()
    rival.close()


def _worker(db_url: str, worker: int, operations: int, enqueued: Any) -> None:
    """Enqueue one notification, then poll and ack the head once, `operations` times;
    then, once every worker has enqueued all of its own, drain the queue together."""
    with Tidings(db_url) as t:
        for i in range(operations):
            t.end(t.accept("tester", f"w{worker}-{i}", "op").svtrid, 1000, "OK")
            _poll_and_ack(t)
        enqueued.wait(timeout=180)
        while _poll_and_ack(t):
            pass


def _poll_and_ack(t: Tidings) -> bool:
    """One poll, and an ack of what it returned; False when the queue was empty."""
    answer = t.poll("tester", svtrid=t.new_svtrid())
    if answer.code == Code.QUEUE_EMPTY:
        return False
    assert answer.code == Code.OK and answer.notification is not None
    # Another process may have acked this head first: then it is no longer the head.
    assert t.ack("tester", str(answer.notification.id)).code in (
        Code.ACKED,
        Code.NOTIFICATION_NOT_FOUND,
    )
    return True


@pytest.mark.slow
def test_processes_enqueue_poll_and_ack_one_account(db_url: str) -> None:
    workers, operations = 4, 25
    with Tidings(db_url) as t:
        t.open_account("tester", "pw")
    context = multiprocessing.get_context("spawn")
    enqueued = context.Barrier(workers)
    processes = [
        context.Process(target=_worker, args=(db_url, w, operations, enqueued))
        for w in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=240)
    for p in processes:
        if p.exitcode is None:
            p.kill()
    assert [p.exitcode for p in processes] == [0] * workers
    with opened(db_url) as (t, store, _):
        events = [e.event for e in store.stream(MAILBOX, "tester")]
        acked = [e.id for e in events if isinstance(e, NotificationAcked)]
        total = workers * operations
        assert acked == list(range(1, total + 1))  # each exactly once, in order
        queued = {n.outcome.cltrid for n in t.mailbox("tester").notifications}
        assert queued == set()
        cltrids = [e.notification.outcome.cltrid for e in events if hasattr(e, "notification")]
        assert len(set(cltrids)) == total  # no event lost
        assert store.max_position() >= 1 + total * 5
