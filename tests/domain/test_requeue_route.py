"""A requeue goes by the account's channel as it is when it is decided: a customer who
fixed their URL or address, or moved to another medium, is sent to the new one; an
account that now polls is pushed nothing, and its mailbox is left as it is."""

from datetime import UTC, datetime

from tidings.domain import (
    DELIVERY,
    Code,
    EmailChannel,
    Notification,
    Outcome,
    PollChannel,
    Rejection,
    UrlChannel,
)
from tidings.domain import delivery as dlv
from tidings.domain.account import AccountState
from tidings.domain.dispatch import requeue
from tidings.domain.retry import RetryPolicy

from tests.gwt import T0, spec

NOW = datetime(2026, 1, 2, tzinfo=UTC)
OLD = "https://client.example/old"
NEW = "https://client.example/new"
PUSHED = Notification(
    id=3,
    outcome=Outcome(
        code=1000, result="OK", timestamp=T0, cltrid="c", svtrid="s", command="ping-async"
    ),
)
SCHEDULED = dlv.DeliveryScheduled(
    login="tester",
    notification_id=3,
    medium="url",
    target=OLD,
    expected_status=frozenset({200}),
    retry_policy=RetryPolicy(),
    at=T0,
    notification=PUSHED,
)
GAVE_UP = (
    spec(DELIVERY)
    .given(SCHEDULED, dlv.DeliveryGaveUp(reason="the receiver answered 410 Gone", at=T0))
    .state
)
DELIVERED = (
    spec(DELIVERY)
    .given(
        SCHEDULED,
        dlv.AttemptStarted(number=1, at=T0),
        dlv.AttemptSucceeded(number=1, status=200, duration_ms=1.0, at=T0),
    )
    .state
)


def account(channel: object, policy: RetryPolicy | None = None) -> AccountState:
    return AccountState(
        opened=True,
        login="tester",
        channel=channel,  # type: ignore[arg-type]
        retry_policy=policy or RetryPolicy(),
    )


def requeued(channel: object, state: dlv.DeliveryState = GAVE_UP) -> list[dlv.DeliveryEvent]:
    decided = requeue(state, account(channel), dlv.RequeueDelivery(), NOW)
    assert isinstance(decided, list)
    return decided


def after(state: dlv.DeliveryState, decided: list[dlv.DeliveryEvent]) -> dlv.DeliveryState:
    for event in decided:
        assert DELIVERY.check(state, event) is None
        state = DELIVERY.evolve(state, event)
    return state


def test_the_same_channel_requeues_it_where_it_went() -> None:
    # given: a delivery that gave up; when: requeued, the channel unchanged
    decided = requeued(UrlChannel(success_url=OLD))
    # then: the requeue names no new route, and it goes to the same target
    assert decided == [dlv.DeliveryRequeued(at=NOW)]
    assert after(GAVE_UP, decided).scheduled == SCHEDULED


def test_a_fixed_url_requeues_it_to_the_new_url() -> None:
    # given: the customer fixed the URL, and expects 204 now, with another policy
    policy = RetryPolicy(schedule=(1.0, 2.0))
    channel = UrlChannel(success_url=NEW, expected_status=frozenset({204}))
    # when: requeued
    decided = requeue(GAVE_UP, account(channel, policy), dlv.RequeueDelivery(), NOW)
    # then: it goes to the new URL, by the new statuses and policy, from now on
    route = dlv.Route(
        medium="url", target=NEW, expected_status=frozenset({204}), retry_policy=policy
    )
    assert decided == [dlv.DeliveryRequeued(at=NOW, route=route)]
    state = after(GAVE_UP, decided)
    assert state.status == "scheduled"
    assert state.scheduled is not None
    assert (state.scheduled.target, state.scheduled.expected_status) == (NEW, {204})
    assert state.scheduled.retry_policy == policy
    assert state.scheduled.notification == PUSHED  # what is sent stays the same


def test_an_account_moved_to_email_is_mailed() -> None:
    decided = requeued(EmailChannel("ops@client.example"))
    state = after(GAVE_UP, decided)
    assert state.scheduled is not None
    assert (state.scheduled.medium, state.scheduled.target) == ("email", "ops@client.example")
    assert state.scheduled.expected_status == {250}


def test_a_resent_delivery_goes_to_the_new_url_and_names_it() -> None:
    # given: a delivered one; when: resent after the URL changed
    command = dlv.RequeueDelivery(delivered=True)
    decided = requeue(DELIVERED, account(UrlChannel(success_url=NEW)), command, NOW)
    assert isinstance(decided, list)
    # then: the event names the new target (the due index takes it up from it alone)
    (resent,) = decided
    assert isinstance(resent, dlv.DeliveryResent)
    assert resent.scheduled.target == NEW
    assert dlv.resumed(resent).scheduled == resent.scheduled
    state = after(DELIVERED, decided)
    assert state.scheduled is not None and state.scheduled.target == NEW
    assert state.scheduled.notification == PUSHED


def test_an_account_that_polls_now_is_refused() -> None:
    # given: the account moved to polling; when: the delivery is requeued
    decided = requeue(GAVE_UP, account(PollChannel()), dlv.RequeueDelivery(), NOW)
    # then: refused: nothing is pushed, and nothing is queued again at each redelivery
    assert isinstance(decided, Rejection) and decided.code == Code.STATUS_PROHIBITS
    assert "polls" in decided.text


def test_polling_now_does_not_requeue_one_that_may_not_be_sent_again() -> None:
    decided = requeue(DELIVERED, account(PollChannel()), dlv.RequeueDelivery(), NOW)
    assert isinstance(decided, Rejection) and decided.code == Code.STATUS_PROHIBITS


def test_a_channel_with_no_url_for_the_outcome_is_refused() -> None:
    channel = UrlChannel(error_url=NEW)  # errors only; this outcome is a success
    decided = requeue(GAVE_UP, account(channel), dlv.RequeueDelivery(), NOW)
    assert isinstance(decided, Rejection) and decided.code == Code.STATUS_PROHIBITS


def test_a_route_without_target_is_refused() -> None:
    route = dlv.Route(
        medium="url", target="", expected_status=frozenset({200}), retry_policy=RetryPolicy()
    )
    spec(DELIVERY).given_state(GAVE_UP).when(
        dlv.RequeueDelivery(route=route), now=NOW
    ).then_rejected(Code.INVALID_PARAMETER)
