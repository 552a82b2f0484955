"""A caller interrupted while it waits never takes the lead with it.

A caller of `execute` waiting behind a leader is handed the lead when the leader is done
and the caller's command is still queued. An exception raised in its thread from outside
(`PyThreadState_SetAsyncExc`, as a KeyboardInterrupt would be) lands while it waits or
just after it was woken, before it leads: the lead is then passed on or laid down, so
the callers after it are served.
"""

import ctypes
import threading
from functools import partial

from tidings.adapters.store.work import Work

from tests.store.opened import opened, utcnow
from tests.store.test_group_commit import (
    Caller,
    HeldLeader,
    finish,
    queue_up,
)


class Interrupt(BaseException):
    """Raised in a waiting caller's thread from outside, like KeyboardInterrupt."""


def interrupt(thread: threading.Thread) -> None:
    """Raise `Interrupt` in `thread` the next time it runs Python code: a thread blocked
    on a lock raises it once the lock is acquired."""
    assert thread.ident is not None
    raised = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(Interrupt)
    )
    assert raised == 1


def test_a_caller_interrupted_when_handed_the_lead_passes_it_on(sqlite_url: str) -> None:
    with opened(sqlite_url) as (t, _, committer):
        t.open_account("tester", "pw")
        ran: list[str] = []

        def body(name: str, work: Work) -> str:
            ran.append(name)
            return name

        # given: a caller queued behind a busy leader, its batch done after the leader's,
        # so the leader hands it the lead; an interrupt pending in its thread
        held = HeldLeader(committer)
        (waiting,) = queue_up(committer, [partial(committer.execute, utcnow, partial(body, "w"))])
        interrupt(waiting)

        # when: the leader is done and hands the lead on
        held.release()
        finish(waiting)

        # then: the interrupted caller hears of its interrupt
        assert isinstance(waiting.error, Interrupt)
        # and: the lead was not lost: the next caller is served, and so is the command of
        # the interrupted one, still queued (run, but nobody is woken for it)
        later = Caller(partial(committer.execute, utcnow, partial(body, "later")))
        later.start()
        finish(later)
        assert later.value() == "later"
        assert ran == ["w", "later"]
        assert not committer.leading
        assert committer.waiting == 0


def test_a_caller_interrupted_behind_another_waiting_caller_hands_it_the_lead(
    sqlite_url: str,
) -> None:
    with opened(sqlite_url) as (t, _, committer):
        t.open_account("tester", "pw")

        # given: two callers queued behind a busy leader; the first one interrupted
        held = HeldLeader(committer)
        first, second = queue_up(
            committer,
            [
                partial(committer.execute, utcnow, lambda work: "first"),
                partial(committer.execute, utcnow, lambda work: "second"),
            ],
        )
        interrupt(first)

        # when: the leader is done and hands the lead on
        held.release()

        # then: the second caller leads in its stead, and runs both commands
        finish(first, second)
        assert isinstance(first.error, Interrupt)
        assert second.value() == "second"
        assert not committer.leading
        assert committer.waiting == 0
