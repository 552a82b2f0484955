"""Given / when / then for deciders, so each domain test reads as a sentence of the rules.

    spec(MAILBOX).given(queued(1)).when(ack("1"), now=T1).then(acked(1, at=T1))
    spec(MAILBOX).given().when(poll()).then_rejected(Code.QUEUE_EMPTY)
    spec(ACCOUNT).given(opened(), suspended()).when(SuspendAccount("again")).then_nothing()

`given` takes the events already in the stream (Chassaing, Emmett); `given_state` starts
from a state instead, for rules that are easier to say that way. `when` runs `decide`
once, at `now` (a fixed time, never the clock). Every `then_*` returns the `When`, so a
test can go on to look at `.state`, the state after the decided events.
"""

from datetime import UTC, datetime
from typing import Generic, TypeVar

from tidings.domain import Code, Decider, Rejection, fold

__all__ = ["T0", "Given", "Spec", "When", "spec"]

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
        rejection = self.rejection
        assert rejection.code == code, (
            f"when {self.command!r}: expected {code!r}, got {rejection.code!r} ({rejection.text})"
        )
        assert isinstance(rejection.code, Code), f"{rejection.code!r} is not a Code"
        assert rejection.text, "a rejection always says why"
        if text is not None:
            assert rejection.text == text, f"expected text {text!r}, got {rejection.text!r}"
        return self


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
