"""Every stream's `evolve` is total: any events, in any order, even another stream's,
fold without raising; `check` says which of them could not follow, and the mailbox's
replay fold refuses exactly those. For a delivery and an endpoint, `check` accepts
exactly what `decide` could have produced in a state it reached, and `evolve` leaves
the state as it was on an event `check` refuses."""

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
    MAILBOX,
    OPERATION,
    Decider,
    Notification,
    Outcome,
    Rejection,
    RetryPolicy,
)
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op

from tests.gwt import T0

OPERATION_EVENTS = st.one_of(
    st.from_type(op.OperationAccepted),
    st.from_type(op.StepRecorded),
    st.builds(op.OperationEnded, data=st.none() | st.dictionaries(st.text(), st.integers())),
)
# Small ids, so that retrievals and acks sometimes name the head and sometimes not.
MAILBOX_EVENTS = st.one_of(
    st.builds(mbx.NotificationQueued, notification=st.builds(
        Notification, id=st.integers(1, 4), outcome=st.builds(Outcome, data=st.none())
    )),
    st.builds(mbx.NotificationRetrieved, id=st.integers(1, 4)),
    st.builds(mbx.NotificationAcked, id=st.integers(1, 4)),
)  # fmt: skip
Times = st.SearchStrategy[datetime]
Numbers = st.SearchStrategy[int]
# Times a few minutes apart and small numbers, so that events sometimes fit and sometimes
# do not: a number one off, a claim before its lease ran out, a probe not yet due.
TIMES = st.integers(0, 600).map(lambda seconds: T0 + timedelta(seconds=seconds))
NUMBERS = st.integers(0, 4)
# Two tries, then it gives up: a few commands reach every status.
POLICY = RetryPolicy(schedule=(30.0, 60.0), jitter=0.0)


def delivery_events(numbers: Numbers, times: Times) -> st.SearchStrategy[dlv.DeliveryEvent]:
    # Hypothesis draws the first branches most: the scheduling, which fits once, is last.
    return st.one_of(
        st.builds(dlv.AttemptStarted, number=numbers, at=times, lease_until=st.none() | times),
        st.builds(dlv.AttemptExpired, number=numbers, at=times),
        st.builds(dlv.AttemptSucceeded, number=numbers, status=st.just(200), at=times),
        st.builds(
            dlv.AttemptFailed,
            number=numbers,
            status=st.just(500),
            next_attempt_at=st.none() | times,
            at=times,
        ),
        st.builds(dlv.DeliveryGaveUp, at=times),
        st.builds(dlv.DeliveryRequeued, at=times),
        st.builds(
            dlv.DeliveryScheduled,
            login=st.just("tester"),
            notification_id=st.integers(1, 3),
            medium=st.sampled_from(["url", "email"]),
            target=st.just("https://client.example/notify"),
            expected_status=st.just(frozenset({200})),
            retry_policy=st.just(POLICY),
            at=times,
            notification=st.none(),
        ),
    )


def endpoint_events(numbers: Numbers, times: Times) -> st.SearchStrategy[ept.EndpointEvent]:
    return st.one_of(
        st.builds(ept.EndpointFailed, consecutive=numbers, at=times),
        st.builds(ept.EndpointRecovered, at=times),
        st.builds(ept.EndpointPaused, probe_every=st.just(60.0), next_probe_at=times, at=times),
        st.builds(ept.ProbeClaimed, next_probe_at=times, at=times),
        st.builds(ept.EndpointResumed, at=times),
    )


DELIVERY_EVENTS = delivery_events(NUMBERS, TIMES)
ENDPOINT_EVENTS = endpoint_events(NUMBERS, TIMES)
ANY_EVENT = st.one_of(
    st.from_type(acc.AccountEvent),
    OPERATION_EVENTS,
    MAILBOX_EVENTS,
    DELIVERY_EVENTS,
    ENDPOINT_EVENTS,
)
EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "account": st.from_type(acc.AccountEvent),
    "operation": OPERATION_EVENTS,
    "mailbox": MAILBOX_EVENTS,
    "delivery": DELIVERY_EVENTS,
    "endpoint": ENDPOINT_EVENTS,
}
ALL = [ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT]


@pytest.mark.parametrize("decider", ALL, ids=lambda d: d.category)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_events_fold_without_raising(decider: Decider[Any, Any, Any], data: Any) -> None:
    # Given any events of the stream, with now and then one of another stream
    own = EVENTS[decider.category]
    events = data.draw(st.lists(st.one_of(own, own, own, ANY_EVENT), max_size=12))
    # When they are folded one by one, Then nothing raises, and check answers each
    state = decider.initial
    for event in events:
        problem = decider.check(state, event)
        assert problem is None or isinstance(problem, str)
        state = decider.evolve(state, event)


@settings(max_examples=200, deadline=None)
@given(st.lists(MAILBOX_EVENTS, max_size=12))
def test_the_replay_fold_refuses_exactly_what_check_refuses(events: list[Any]) -> None:
    state, refused = mbx.initial, None
    for event in events:
        if refused is None:
            refused = mbx.check(state, event)
        state = mbx.evolve(state, event)
    if refused is None:
        assert mbx.replayed(mbx.initial, events) == state
    else:
        with pytest.raises(ValueError, match=refused):
            mbx.replayed(mbx.initial, events)


# --- check accepts exactly what decide could have produced (delivery, endpoint) ---------
SCHEDULE = dlv.ScheduleDelivery(
    login="tester",
    notification_id=1,
    medium="url",
    target="https://client.example/notify",
    expected_status=frozenset({200}),
    retry_policy=POLICY,
)
START = dlv.StartAttempt(lease=30.0)
FAIL = dlv.RecordAttempt(status=500, duration_ms=1.0)
DELIVERY_COMMANDS: list[dlv.DeliveryCommand] = [
    SCHEDULE,
    START,
    dlv.RecordAttempt(status=200, duration_ms=1.0),
    FAIL,
    dlv.RecordAttempt(status=410, duration_ms=1.0),  # gives up at once
    dlv.GiveUp("operator"),
    dlv.RequeueDelivery(),
]
FAILURE = ept.RecordOutcome(ok=False, pause_after=3, probe_every=60.0)
PAUSING_FAILURE = ept.RecordOutcome(ok=False, pause_after=1, probe_every=60.0)
ENDPOINT_COMMANDS: list[ept.EndpointCommand] = [
    ept.RecordOutcome(ok=True),
    FAILURE,
    PAUSING_FAILURE,  # any failure may pause: pause_after is the account's setting
    ept.ClaimProbe(),
    ept.ResumeEndpoint(),
]


def _delivery_shape(event: object) -> Hashable:
    return type(event), getattr(event, "number", None)


def _endpoint_shape(event: object) -> Hashable:
    return type(event), getattr(event, "consecutive", None)


def _delivery_near(state: dlv.DeliveryState, now: datetime) -> st.SearchStrategy[Any]:
    last = state.attempts[-1].number if state.attempts else 0
    # The one in flight, or the next: one of them is always wrong.
    return delivery_events(st.sampled_from([last, last + 1]), _around(now, dlv.due_at(state)))


def _endpoint_near(state: ept.EndpointState, now: datetime) -> st.SearchStrategy[Any]:
    count = state.consecutive_failures
    return endpoint_events(st.sampled_from([count, count + 1]), _around(now, state.next_probe_at))


def _around(now: datetime, due: datetime | None) -> Times:
    """Times near now, or just before or after when something falls due."""
    near = [now] if due is None else [now, due]
    return st.builds(
        lambda at, seconds: at + timedelta(seconds=seconds),
        st.sampled_from(near),
        st.integers(-60, 90) | st.integers(-1, 1),
    )


def _no_predecessor(_state: object) -> list[object]:
    return []


def _one_failure_fewer(state: ept.EndpointState) -> list[object]:
    """A pause is decided together with the failure before it, in the state before that."""
    if state.paused or not state.consecutive_failures:
        return []
    return [replace(state, consecutive_failures=state.consecutive_failures - 1)]


@dataclass(frozen=True)
class Stream:
    """A decider and what the property needs of it: `commands` that reach its states;
    an event's `shape` (what `decide` fixes in it: its kind and its number); the states
    a decision reaching a state may start from (`predecessors`, besides the state
    itself); a command that `first` opens most examples and `endings` that close them;
    events `near` a state (numbers and times where its rules draw a line)."""

    decider: Decider[Any, Any, Any]
    commands: list[Any]
    shape: Callable[[object], Hashable]
    predecessors: Callable[[Any], list[object]]
    first: Any
    endings: list[list[Any]]
    near: Callable[[Any, datetime], st.SearchStrategy[Any]]

    def producible(self, state: object, now: datetime) -> set[Hashable]:
        """The shapes of the events `decide` produces, at `now`, right after `state`:
        decided on it, or later in a decision that reaches it."""
        shapes: set[Hashable] = set()
        for before in [state, *self.predecessors(state)]:
            for command in self.commands:
                decided = self.decider.decide(before, command, now)
                if isinstance(decided, Rejection):
                    continue
                reached = before
                for event in decided:
                    if reached == state:
                        shapes.add(self.shape(event))
                    reached = self.decider.evolve(reached, event)
        return shapes


STREAMS = [
    Stream(
        DELIVERY,
        DELIVERY_COMMANDS,
        _delivery_shape,
        _no_predecessor,
        SCHEDULE,
        [[], [START], [START, FAIL]],
        _delivery_near,
    ),
    Stream(
        ENDPOINT,
        ENDPOINT_COMMANDS,
        _endpoint_shape,
        _one_failure_fewer,
        FAILURE,
        [[], [PAUSING_FAILURE]],
        _endpoint_near,
    ),
]


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.decider.category)
@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_check_accepts_exactly_what_decide_could_have_produced(stream: Stream, data: Any) -> None:
    decider = stream.decider
    # Given a state reached by deciding commands, minutes apart
    # (Mostly opened by `first` and closed by one of the `endings`, so that most examples
    # get past the initial state and many end where a rule has a time or a number)
    first = [stream.first] if data.draw(st.integers(0, 3), label="first?") else []
    commands = data.draw(st.lists(st.sampled_from(stream.commands), max_size=10), label="then")
    last = data.draw(st.sampled_from(stream.endings), label="last")
    state, now = decider.initial, T0
    for command in first + commands + last:
        now += timedelta(seconds=data.draw(st.integers(0, 90), label="after"))
        decided = decider.decide(state, command, now)
        if isinstance(decided, Rejection):
            continue
        # (Then check accepts every decided event where it stands)
        for event in decided:
            assert decider.check(state, event) is None, event
            state = decider.evolve(state, event)
    # When any event of the stream, its number and time near the state's, is checked there
    event = data.draw(stream.near(state, now), label="event")
    problem = decider.check(state, event)
    # Then it is accepted exactly when decide, at its time, could have produced it there
    assert (problem is None) == (stream.shape(event) in stream.producible(state, event.at))
    # And an event check refuses changes nothing
    if problem is not None:
        assert decider.evolve(state, event) == state
