"""The committer thread that leads for submitted commands is never lost for good.

A submitted command has no thread of its own: a committer thread leads for it. Should
that thread die (a `settle` that raises, against its contract), the lead it held is
passed on and the next `submit` starts another one: later commands are still saved and
settled, and `close` still ends the one running.
"""

import threading
from collections.abc import Iterator

import pytest

from tests.store.opened import opened, utcnow
from tests.store.test_group_commit import DEADLINE, committers, wait_until


@pytest.fixture
def uncaught(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException | None]]:
    """What threads raised and did not catch, kept here instead of printed."""
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    yield raised


def test_a_committer_thread_that_died_is_replaced(
    db_url: str, uncaught: list[BaseException | None]
) -> None:
    before = len(committers())
    with opened(db_url) as o:
        # given: a submitted command whose settle raises: it kills the committer thread
        def raising(result: object, error: BaseException | None) -> None:
            raise RuntimeError("a settle that raises")

        o.committer.submit(utcnow, lambda work: None, raising)
        wait_until(lambda: len(committers()) == before, "the committer thread dies")
        assert [type(error) for error in uncaught] == [RuntimeError]

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
