"""Every stream's `evolve` is total: any events, in any order, even another stream's,
fold without raising; `check` says which of them could not follow, and the mailbox's
replay fold refuses exactly those."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.domain import ACCOUNT, MAILBOX, OPERATION, Decider, Notification, Outcome
from tidings.domain import account as acc
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op

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
ANY_EVENT = st.one_of(st.from_type(acc.AccountEvent), OPERATION_EVENTS, MAILBOX_EVENTS)
EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "account": st.from_type(acc.AccountEvent),
    "operation": OPERATION_EVENTS,
    "mailbox": MAILBOX_EVENTS,
}


@pytest.mark.parametrize("decider", [ACCOUNT, OPERATION, MAILBOX], ids=lambda d: d.category)
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
