"""Given / when / then for deciders, so each domain test reads as a sentence of the rules.

    spec(MAILBOX).given(queued(1)).when(ack("1"), now=T1).then(acked(1, at=T1))
    spec(MAILBOX).given().when(poll()).then_rejected(Code.QUEUE_EMPTY)
    spec(ACCOUNT).given(opened(), suspended()).when(SuspendAccount("again")).then_nothing()

`given` takes the events already in the stream (Chassaing, Emmett); `given_state` starts
from a state instead, for rules that are easier to say that way. `when` runs `decide`
once, at `now` (a fixed time, never the clock). Every `then_*` returns the `When`, so a
test can go on to look at `.state`, the state after the decided events.

A rule over several streams (a process such as `ending.end`, or the `access` rule) reads
the same way, given the states it decides on:

    process(end, timed=True).given(operation, account, mailbox).when(EndOperation(...)).then(x)
    process(refusal).given(suspended_account).when(Trusted()).then_rejected(Code.X)
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from tidings.domain import Code, Decider, Rejection, fold

__all__ = [
    "T0",
    "Given",
    "Process",
    "ProcessGiven",
    "ProcessWhen",
    "Spec",
    "When",
    "process",
    "spec",
]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")

T0 = datetime(2026, 1, 1, tzinfo=UTC)
"""The default `now` of a `when`."""


class When(Generic[S, C, E]):
    """One decision: the state it was taken on, the command, and what `decide` answered."""

    def __init__(self, decider: Decider[S, C, E], before: S, command: C, now: datetime) -> None:
        self.decider = decider
        self.before = before
        self.command = command
        self.now = now
        self.result: list[E] | Rejection = decider.decide(before, command, now)

    @property
    def events(self) -> list[E]:
        """The decided events; fails the test when the command was rejected."""
        if isinstance(self.result, Rejection):
            raise AssertionError(f"{self.command!r} was rejected: {self.result!r}")
        return self.result

    @property
    def rejection(self) -> Rejection:
        """The rejection; fails the test when the command was accepted."""
        if not isinstance(self.result, Rejection):
            raise AssertionError(f"{self.command!r} was not rejected; it gave {self.result!r}")
        return self.result

    @property
    def state(self) -> S:
        """The state after the decided events (the given state when there were none)."""
        return fold(self.decider, self.events, self.before)

    def then(self, *expected: E) -> "When[S, C, E]":
        """The command gives exactly these events, in this order."""
        assert self.events == list(expected), (
            f"when {self.command!r}\n  expected {list(expected)!r}\n  got      {self.events!r}"
        )
        return self

    def then_nothing(self) -> "When[S, C, E]":
        """The command is accepted and changes nothing: no events."""
        return self.then()

    def then_rejected(self, code: Code, text: str | None = None) -> "When[S, C, E]":
        """The command is refused with `code` (and exactly `text`, when given)."""
        _assert_rejected(self.command, self.rejection, code, text)
        return self


def _assert_rejected(command: object, rejection: Rejection, code: Code, text: str | None) -> None:
    assert rejection.code == code, (
        f"when {command!r}: expected {code!r}, got {rejection.code!r} ({rejection.text})"
    )
    assert isinstance(rejection.code, Code), f"{rejection.code!r} is not a Code"
    assert rejection.text, "a rejection always says why"
    if text is not None:
        assert rejection.text == text, f"expected text {text!r}, got {rejection.text!r}"


class Given(Generic[S, C, E]):
    """A stream's state, reached by folding the given events."""

    def __init__(self, decider: Decider[S, C, E], state: S) -> None:
        self.decider = decider
        self.state = state

    def when(self, command: C, now: datetime = T0) -> When[S, C, E]:
        """Decide `command` at `now` on the given state."""
        return When(self.decider, self.state, command, now)


class Spec(Generic[S, C, E]):
    """The rules of one decider, ready to be given a history."""

    def __init__(self, decider: Decider[S, C, E]) -> None:
        self.decider = decider

    def given(self, *events: E) -> Given[S, C, E]:
        """A stream holding `events` (none: a stream never written to)."""
        return Given(self.decider, fold(self.decider, list(events)))

    def given_state(self, state: S) -> Given[S, C, E]:
        """A stream whose state is `state` (e.g. one loaded from a snapshot)."""
        return Given(self.decider, state)


def spec(decider: Decider[S, C, E]) -> Spec[S, C, E]:
    """Start a sentence about `decider`'s rules."""
    return Spec(decider)


R = TypeVar("R")


class ProcessWhen(Generic[R]):
    """One decision of a process: what it answered for the given states and command."""

    def __init__(self, command: object, result: R | Rejection) -> None:
        self.command = command
        self.result = result

    @property
    def decided(self) -> R:
        """What was decided; fails the test when the command was refused."""
        if isinstance(self.result, Rejection):
            raise AssertionError(f"{self.command!r} was rejected: {self.result!r}")
        return self.result

    def then(self, expected: R) -> "ProcessWhen[R]":
        """The process decides exactly `expected`."""
        assert self.decided == expected, (
            f"when {self.command!r}\n  expected {expected!r}\n  got      {self.decided!r}"
        )
        return self

    def then_rejected(self, code: Code, text: str | None = None) -> "ProcessWhen[R]":
        """The command is refused with `code` (and exactly `text`, when given)."""
        if not isinstance(self.result, Rejection):
            raise AssertionError(f"{self.command!r} was not rejected; it gave {self.result!r}")
        _assert_rejected(self.command, self.result, code, text)
        return self


class ProcessGiven(Generic[R]):
    def __init__(
        self, rule: Callable[..., R | Rejection], timed: bool, states: tuple[Any, ...]
    ) -> None:
        self.rule = rule
        self.timed = timed
        self.states = states

    def when(self, command: object, now: datetime = T0) -> ProcessWhen[R]:
        """Decide `command` on the given states (at `now`, for a timed rule)."""
        at = (now,) if self.timed else ()
        return ProcessWhen(command, self.rule(*self.states, command, *at))


class Process(Generic[R]):
    """A rule over several streams' states, ready to be given them. `timed`: the rule
    takes the time of the decision after the command, as `decide` does."""

    def __init__(self, rule: Callable[..., R | Rejection], timed: bool) -> None:
        self.rule = rule
        self.timed = timed

    def given(self, *states: Any) -> ProcessGiven[R]:
        """The states the rule decides on, in the order it takes them."""
        return ProcessGiven(self.rule, self.timed, states)


def process(rule: Callable[..., R | Rejection], *, timed: bool = False) -> Process[R]:
    """Start a sentence about a process or a rule over several streams."""
    return Process(rule, timed)
