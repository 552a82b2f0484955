"""A `Tidings` with the store and the group commit it runs on at hand: for the tests of
those, which look at them beside the library (`Tidings` keeps its own private)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NamedTuple

from tidings.adapters.library import Tidings
from tidings.adapters.store.application import SNAPSHOT_EVERY, Store
from tidings.adapters.store.commit import GroupCommit

__all__ = ["Opened", "opened", "utcnow"]


class Opened(NamedTuple):
    tidings: Tidings
    store: Store
    committer: GroupCommit


def utcnow() -> datetime:
    """The clock `Tidings` runs on by default, for bodies run on a committer directly."""
    return datetime.now(UTC)


@contextmanager
def opened(db: str, *, snapshot_every: int = SNAPSHOT_EVERY) -> Iterator[Opened]:
    """`Tidings` on `db`, with its store and committer; closed at the end."""
    store = Store(db, snapshot_every=snapshot_every)
    committer = GroupCommit(store)
    with Tidings.over(store, committer=committer) as tidings:
        yield Opened(tidings, store, committer)
