"""A block under the log's write lock (`Store.locked`) commits what it saved only at its
end: when it fails after a save, nothing of it is kept, and the store follows the log
from where it stood before the block, so it sees whatever other writers put there."""

from uuid import uuid4

import pytest
from tidings.adapters.errors import Rejected
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.domain import Code

__all__: list[str] = []


def test_a_locked_block_that_fails_after_its_save_misses_nothing_written_after(
    db_url: str,
) -> None:
    store = Store(db_url, tree=False)
    with Tidings.over(store) as a, Tidings(db_url) as b:
        a.open_account("tester", "pw")
        # given: A has the active account cached (its accept read it)
        assert a.accept("tester", "first", "op").code == Code.PENDING
        end = store.max_position()
        # when: a block under the write lock saves a row, then fails before its commit
        with pytest.raises(RuntimeError), store.locked():
            store.refresh()
            store.save([(uuid4().hex, 1, "Probe", b"\x80")], [])
            raise RuntimeError("the block failed before its commit")
        assert store.max_position() == end
        # and: B suspends the account, where that row would have been
        b.suspend("tester", "unpaid")
        # then: A decides on the suspended account
        with pytest.raises(Rejected) as refused:
            a.accept("tester", "second", "op")
        assert refused.value.code == Code.ACCOUNT_SUSPENDED
