"""Backlog, the mailbox's immutable queue, against a plain list: random pushes, pops and
head changes always agree on order, length and head; every older version stays as it
was; and backlogs with the same items are equal however their items are split."""

import pickle
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tidings.domain import Backlog


class BacklogAgainstAList(RuleBasedStateMachine):
    """`backlog` is under test, `model` the list it must equal; `versions` keeps every
    backlog made so far with the items it had then."""

    def __init__(self) -> None:
        super().__init__()
        self.backlog: Backlog[int] = Backlog()
        self.model: list[int] = []
        self.versions: list[tuple[Backlog[int], list[int]]] = []
        self.next = 0

    def _became(self, backlog: Backlog[int], model: list[int]) -> None:
        self.versions.append((self.backlog, self.model))
        self.backlog, self.model = backlog, model

    @rule(count=st.integers(min_value=1, max_value=5))
    def push(self, count: int) -> None:
        for _ in range(count):
            self.next += 1
            self._became(self.backlog.pushed(self.next), [*self.model, self.next])

    @precondition(lambda self: bool(self.model))
    @rule()
    def pop(self) -> None:
        self._became(self.backlog.popped(), self.model[1:])

    @precondition(lambda self: bool(self.model))
    @rule()
    def replace_head(self) -> None:
        head = -self.model[0]
        self._became(self.backlog.with_head(head), [head, *self.model[1:]])

    @precondition(lambda self: bool(self.versions))
    @rule(data=st.data())
    def go_back(self, data: st.DataObject) -> None:
        """Carry on from an older version, as a batch that ran again would."""
        self._became(*data.draw(st.sampled_from(self.versions)))

    @invariant()
    def agrees_with_the_list(self) -> None:
        assert list(self.backlog) == self.model
        assert len(self.backlog) == len(self.model)
        assert bool(self.backlog) == bool(self.model)
        if self.model:
            assert self.backlog.head == self.backlog[0] == self.model[0]
            assert self.backlog[-1] == self.model[-1]

    @invariant()
    def equals_the_same_items_however_split(self) -> None:
        flat = Backlog.of(self.model)
        assert self.backlog == flat
        assert not self.backlog != flat  # noqa: SIM202 - `!=` has its own method
        assert hash(self.backlog) == hash(flat)
        assert pickle.loads(pickle.dumps(self.backlog)) == flat

    @invariant()
    def older_versions_are_unchanged(self) -> None:
        for old, items in self.versions[-3:]:
            assert list(old) == items


TestBacklogAgainstAList = BacklogAgainstAList.TestCase
TestBacklogAgainstAList.settings = settings(max_examples=150, stateful_step_count=40)


def test_an_empty_backlog_has_no_head_and_cannot_be_popped_or_changed() -> None:
    empty: Backlog[int] = Backlog()
    assert len(empty) == 0 and not empty and list(empty) == []
    for attempt in (lambda: empty.head, empty.popped, lambda: empty.with_head(1)):
        with pytest.raises(IndexError, match="empty"):
            attempt()


def test_backlogs_with_other_items_differ() -> None:
    assert Backlog.of([1, 2]) != Backlog.of([2, 1])
    assert Backlog.of([1, 2]) != Backlog.of([1, 2, 3])
    assert Backlog.of([1]) != (1,)  # a backlog is not a tuple


def test_slices_and_repr_show_the_items_oldest_first() -> None:
    backlog = Backlog.of([1, 2]).pushed(3).popped().pushed(4)
    assert backlog[1:] == (3, 4)
    assert repr(backlog) == "Backlog.of([2, 3, 4])"


def test_a_long_backlog_pickles_flat() -> None:
    """Nested pairs would recurse once per item when pickled."""
    backlog: Backlog[int] = Backlog()
    for n in range(50_000):
        backlog = backlog.pushed(n)
    assert pickle.loads(pickle.dumps(backlog)) == Backlog.of(range(50_000))


class _Held(Backlog[int], frozen=True, eq=False):
    """Holds its items as strings, as the mailbox's queue holds them as bytes."""

    @staticmethod
    def hold(item: int) -> Any:
        return str(item)

    @staticmethod
    def item(held: Any) -> int:
        return int(held) if isinstance(held, str) else held


def test_the_head_alone_is_kept_as_read_so_reading_it_costs_nothing() -> None:
    backlog = _Held.of([1, 2]).pushed(3)
    assert (backlog.front[0], backlog.front[1][0], backlog.back[0]) == (1, "2", "3")
    assert backlog.with_head(7).front[0] == 7
    assert backlog.popped().front[0] == 2  # read once, when it became the head
    assert backlog.popped().popped().front[0] == 3  # the newest, turned around
    assert _Held().pushed(4).front[0] == 4
    assert list(backlog.popped()) == [2, 3] and backlog.popped() == Backlog.of([2, 3])
