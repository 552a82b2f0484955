"""The committer thread that leads for submitted commands is never lost for good.

A submitted command has no thread of its own: a committer thread leads for it. Should
that thread die (a `settle` that raises what is no `Exception`), its batch's other
callers are answered first, the lead it held is passed on and the next `submit` starts
another one: later commands are still saved and
settled, and `close` still ends the one running. A `settle` that raises an `Exception`
(an event loop closed under it) is logged, and the batch's other callers are answered.
"""

import logging
import threading
from collections.abc import Iterator

import pytest

from tests.store.opened import Opened, opened, utcnow
from tests.store.test_group_commit import DEADLINE, committers, wait_until


class Dies(BaseException):
    """What no `except Exception` catches: it ends the thread it is raised in."""


@pytest.fixture
def uncaught(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException | None]]:
    """What threads raised and did not catch, kept here instead of printed."""
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    yield raised


def leading_until_let_go(o: Opened) -> tuple[threading.Event, threading.Thread]:
    """A caller in a thread of its own, leading a batch of its own until the event is
    set: what is submitted meanwhile queues behind it, as one batch."""
    let_go = threading.Event()
    leader = threading.Thread(
        target=o.committer.execute, args=(utcnow, lambda work: let_go.wait(DEADLINE))
    )
    leader.start()
    wait_until(lambda: o.committer.leading, "the caller leads")
    return let_go, leader


def test_a_committer_thread_that_died_is_replaced(
    db_url: str, uncaught: list[BaseException | None]
) -> None:
    before = len(committers())
    with opened(db_url) as o:
        # given: a submitted command whose settle raises what kills the committer thread
        def raising(result: object, error: BaseException | None) -> None:
            raise Dies("a settle that ends its thread")

        o.committer.submit(utcnow, lambda work: None, raising)
        wait_until(lambda: len(committers()) == before, "the committer thread dies")
        assert [type(error) for error in uncaught] == [Dies]

        # when: more commands are submitted
        settled = threading.Semaphore(0)
        for _ in range(3):
            o.committer.submit(utcnow, lambda work: None, lambda result, error: settled.release())

        # then: a new committer thread saves and settles them
        assert all(settled.acquire(timeout=DEADLINE) for _ in range(3))
        assert len(committers()) == before + 1
        wait_until(lambda: not o.committer.leading, "the lead is laid down")
    # and: closing ends it
    assert len(committers()) == before


def test_a_settle_that_raises_is_logged_and_its_batch_is_answered(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with opened(db_url) as o:
        # given: a caller leading a batch of its own, until let go
        let_go, leader = leading_until_let_go(o)

        # and: queued behind it, one batch: a command whose settle raises, then three more
        def raising(result: object, error: BaseException | None) -> None:
            raise RuntimeError("the event loop is closed")

        settled = threading.Semaphore(0)
        o.committer.submit(utcnow, lambda work: None, raising)
        for _ in range(3):
            o.committer.submit(utcnow, lambda work: None, lambda result, error: settled.release())
        assert o.committer.waiting == 4

        # when: the leader is let go, and the committer runs the queued batch
        with caplog.at_level(logging.ERROR, logger="tidings.store"):
            let_go.set()
            leader.join(DEADLINE)
            # then: the three after the raising one are settled all the same
            assert all(settled.acquire(timeout=DEADLINE) for _ in range(3))
        # and: the failure is logged, with what was raised
        (record,) = [r for r in caplog.records if "could not be settled" in r.getMessage()]
        assert record.exc_info is not None and "event loop is closed" in str(record.exc_info[1])
        wait_until(lambda: not o.committer.leading, "the lead is laid down")


def test_a_settle_that_ends_its_thread_still_lets_its_batch_be_answered(
    db_url: str, uncaught: list[BaseException | None]
) -> None:
    before = len(committers())
    with opened(db_url) as o:
        # given: a caller leading a batch of its own, until let go
        let_go, leader = leading_until_let_go(o)

        # and: queued behind it, one batch: a command whose settle raises what ends the
        # committer thread, three submitted commands and a caller waiting in its thread
        def dying(result: object, error: BaseException | None) -> None:
            raise Dies("a settle that ends its thread")

        settled = threading.Semaphore(0)
        o.committer.submit(utcnow, lambda work: None, dying)
        for _ in range(3):
            o.committer.submit(utcnow, lambda work: None, lambda result, error: settled.release())
        answered: list[str] = []
        waiter = threading.Thread(
            target=lambda: answered.append(o.committer.execute(utcnow, lambda work: "saved"))
        )
        waiter.start()
        wait_until(lambda: o.committer.waiting == 5, "the batch is queued")

        # when: the leader is let go, and the committer runs the queued batch
        let_go.set()
        leader.join(DEADLINE)

        # then: every other command of the batch is answered
        assert all(settled.acquire(timeout=DEADLINE) for _ in range(3))
        waiter.join(DEADLINE)
        assert answered == ["saved"]
        # and: what the settle raised still ends the committer thread, as it would alone
        wait_until(lambda: len(committers()) == before, "the committer thread dies")
        assert [type(error) for error in uncaught] == [Dies]
        wait_until(lambda: not o.committer.leading, "the lead is laid down")
