"""Backlog: the immutable first-in first-out queue a mailbox holds.

A mailbox grows at the back and shrinks at the front, one notification per event. A
tuple rebuilt at every event makes each event cost the whole backlog, and a replay of a
mailbox whose client never polls quadratic in it. A backlog instead shares its structure
with the backlog it came from: pushing, popping and replacing the head cost O(1)
(popping amortized: the newest items are turned around once, when the oldest run out),
and every version stays valid, so a state once built never changes.

It is two singly linked lists of pairs `(item, rest)`: `front` holds the oldest items,
oldest first; `back` the newest, newest first. `front` is empty only when the whole
backlog is, so the head is always at hand. Equality, hashing, `repr` and pickling look
at the items in order, never at how they are split between the lists; storage keeps
them as a plain array (`adapters.codec`).

A subclass may hold its items in another form than they are read in (`hold`, `item`):
the mailbox's queue holds each notification as its MessagePack bytes (`mailbox.Queue`).
The head alone is kept as it is read (a backlog built by pairs given to it may hold it
otherwise; `item` reads either), so a command reading it several times pays nothing:
the head is read once, when it becomes the head.
"""

from collections.abc import Iterable, Iterator
from typing import Any, Generic, Self, TypeVar, overload

from msgspec import Struct

__all__ = ["Backlog", "turned"]

T = TypeVar("T")

# `(item, rest)` with rest another pair or None. Typed `Any` for msgspec, which would
# otherwise have to resolve a recursive type it never encodes (storage goes through
# `Backlog.of` and iteration).
_Pairs = Any


class Backlog(Struct, Generic[T], frozen=True, gc=False, eq=False):
    """An immutable queue: `pushed`, `popped` and `with_head` return new backlogs of
    the same class."""

    front: _Pairs = None
    back: _Pairs = None
    size: int = 0

    @staticmethod
    def hold(item: T) -> Any:
        """The form the pairs hold an item in: here, the item itself."""
        return item

    @staticmethod
    def item(held: Any) -> T:
        """The item a pair holds (in the form `hold` gave it)."""
        item: T = held
        return item

    @classmethod
    def of(cls, items: Iterable[T]) -> "Self":
        """The backlog holding `items`, the first of them at the head."""
        listed = list(items)
        if not listed:
            return cls()
        front: _Pairs = None
        hold = cls.hold
        for item in reversed(listed[1:]):
            front = (hold(item), front)
        return cls((listed[0], front), None, len(listed))

    @classmethod
    def read_head(cls, front: _Pairs) -> _Pairs:
        """`front` with its first item as it is read (`item`), not as held."""
        if front is None:
            return None
        item = cls.item(front[0])
        return front if item is front[0] else (item, front[1])

    @property
    def head(self) -> T:
        """The oldest item; IndexError when empty."""
        if self.front is None:
            raise IndexError("the backlog is empty")
        return self.item(self.front[0])

    def pushed(self, item: T) -> "Self":
        """This backlog with `item` behind the newest."""
        if self.front is None:
            return type(self)((item, None), None, 1)
        return type(self)(self.front, (self.hold(item), self.back), self.size + 1)

    def popped(self) -> "Self":
        """This backlog without its head; IndexError when empty."""
        if self.front is None:
            raise IndexError("the backlog is empty")
        rest = self.front[1]
        if rest is not None:
            return type(self)(self.read_head(rest), self.back, self.size - 1)
        # The oldest ran out: the newest, turned around, are the oldest now.
        return type(self)(self.read_head(turned(self.back)), None, self.size - 1)

    def with_head(self, item: T) -> "Self":
        """This backlog with its head replaced by `item`; IndexError when empty."""
        if self.front is None:
            raise IndexError("the backlog is empty")
        return type(self)((item, self.front[1]), self.back, self.size)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[T]:
        """Oldest first."""
        return map(self.item, self.held())

    def held(self) -> Iterator[Any]:
        """The items oldest first, each in the form its pair holds it (`hold`'s; the
        head as it is read): what a writer may copy as it is, without reading it."""
        pairs = self.front
        while pairs is not None:
            yield pairs[0]
            pairs = pairs[1]
        newest: list[Any] = []
        pairs = self.back
        while pairs is not None:
            newest.append(pairs[0])
            pairs = pairs[1]
        yield from reversed(newest)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        """By position, oldest first: the head at once, any other by walking."""
        if index == 0:
            return self.head
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Backlog):
            return NotImplemented
        return self.size == other.size and all(a == b for a, b in zip(self, other, strict=True))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}.of({list(self)!r})"

    def __reduce__(self) -> tuple[Any, tuple[tuple[T, ...]]]:
        # Flat: pickling the nested pairs would recurse once per item.
        return type(self).of, (tuple(self),)


def turned(pairs: _Pairs) -> _Pairs:
    """The same items in the opposite order: `back` (newest first) made a `front`
    (oldest first), when the front runs out."""
    front: _Pairs = None
    while pairs is not None:
        front = (pairs[0], front)
        pairs = pairs[1]
    return front
