"""All or nothing: a process killed inside the save of a multi-stream command leaves
neither half visible (operation ended, notification queued)."""

import subprocess
import sys
import textwrap

from tidings.adapters.audit.integrity import verify
from tidings.domain import Code

from tests.store.opened import opened

# Runs `end` in a child that SIGKILLs itself once the events are inserted in the open
# transaction, after the chain links are written and the operation is taken off the open
# ones, before the commit: through the recorder's public `before_commit`.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from tidings.adapters.store.application import Store
    from tidings.adapters.library import Tidings

    url, svtrid = sys.argv[1], sys.argv[2]

    def die_before_commit(ids):
        if len(ids) >= 2:  # the multi-stream save: operation ended + notification queued
            os.kill(os.getpid(), signal.SIGKILL)

    store = Store(url)
    store.recorder.before_commit = die_before_commit
    Tidings.over(store).end(svtrid, 1000, "OK")
    """
)


def test_killed_between_decide_and_commit_leaves_nothing(db_url: str) -> None:
    with opened(db_url) as (t, store, _):
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "c", "op").svtrid
        before = store.max_position()

    child = subprocess.run(
        [sys.executable, "-c", _CHILD, db_url, svtrid], capture_output=True, timeout=120
    )
    assert child.returncode == -9, child.stderr.decode()

    with opened(db_url) as (t, store, _):
        operation = t.operation(svtrid)
        assert operation is not None and operation.ended is None
        assert not t.mailbox("tester").notifications
        assert t.poll("tester", svtrid="p").code == Code.QUEUE_EMPTY
        assert store.max_position() == before
        assert store.open_operations() == [svtrid]
        assert verify(store)[1] is None
        # And the operation can still end, exactly once.
        assert t.end(svtrid, 1000, "OK").id == 1
