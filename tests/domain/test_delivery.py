"""Delivery: scheduled -> attempt started -> succeeded, or failed and due again later,
until the schedule is used up and the delivery gives up; a given-up delivery can be
requeued, which starts a fresh schedule."""

from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from tidings.domain import DEFAULT_SCHEDULE, DELIVERY, Code, RetryPolicy, decide_each, reject
from tidings.domain.delivery import (
    Attempt,
    AttemptExpired,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryGaveUp,
    DeliveryRequeued,
    DeliveryResent,
    DeliveryScheduled,
    DeliveryState,
    GiveUp,
    RecordAttempt,
    RequeueDelivery,
    ScheduleDelivery,
    StartAttempt,
    check,
    due_at,
    holds_back,
    is_terminal,
)

from tests.gwt import T0, spec

TARGET = "https://client.example/notify"
OK = frozenset({200})
DEFAULT_POLICY = RetryPolicy()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


delivery = spec(DELIVERY)


def schedule(
    *,
    notification_id: int = 2691,
    target: str = TARGET,
    expected_status: frozenset[int] = OK,
    retry_policy: RetryPolicy = DEFAULT_POLICY,
) -> ScheduleDelivery:
    return ScheduleDelivery(
        login="tester",
        notification_id=notification_id,
        medium="url",
        target=target,
        expected_status=expected_status,
        retry_policy=retry_policy,
    )


def scheduled(
    retry_policy: RetryPolicy = DEFAULT_POLICY, expected_status: frozenset[int] = OK
) -> DeliveryScheduled:
    return DeliveryScheduled(
        login="tester",
        notification_id=2691,
        medium="url",
        target=TARGET,
        expected_status=expected_status,
        retry_policy=retry_policy,
        at=T0,
    )


LEASE = 60.0


def started(number: int, seconds: float = 0, *, claimant: str = "") -> AttemptStarted:
    """Attempt `number` claimed at `seconds` for the default lease of `StartAttempt`."""
    return AttemptStarted(
        number=number, at=at(seconds), claimant=claimant, lease_until=at(seconds + LEASE)
    )


def failed(number: int, seconds: float, next_in: float | None) -> AttemptFailed:
    return AttemptFailed(
        number=number,
        status=500,
        error="unexpected status 500",
        duration_ms=12.0,
        next_attempt_at=None if next_in is None else at(seconds + next_in),
        at=at(seconds),
    )


def answered(
    status: int | None,
    *,
    error: str | None = None,
    jitter: float = 0.0,
    retry_after: float | None = None,
) -> RecordAttempt:
    return RecordAttempt(
        status=status, error=error, duration_ms=12.0, jitter=jitter, retry_after=retry_after
    )


IN_FLIGHT: tuple[DeliveryEvent, ...] = (scheduled(), started(1))
SUCCEEDED: tuple[DeliveryEvent, ...] = (
    *IN_FLIGHT,
    AttemptSucceeded(number=1, status=200, duration_ms=12.0, at=T0),
)
GAVE_UP: tuple[DeliveryEvent, ...] = (scheduled(), DeliveryGaveUp(reason="operator", at=T0))


# --- Scheduling -------------------------------------------------------------------------
def test_scheduling_records_where_and_how_to_push_at_now() -> None:
    delivery.given().when(schedule(), now=T0).then(scheduled())


def test_a_scheduled_delivery_is_due_at_once_with_no_failures() -> None:
    state = delivery.given(scheduled()).state
    assert (state.status, state.next_attempt_at, state.failures, state.attempts) == (
        "scheduled",
        T0,
        0,
        (),
    )


def test_scheduling_twice_is_2302() -> None:
    delivery.given(scheduled()).when(schedule()).then_rejected(Code.OBJECT_EXISTS)


@pytest.mark.parametrize(
    "command",
    [schedule(notification_id=0), schedule(notification_id=-5), schedule(target="")],
    ids=["id 0", "id -5", "no target"],
)
def test_scheduling_without_a_notification_id_or_target_is_2101(command: ScheduleDelivery) -> None:
    delivery.given().when(command).then_rejected(Code.INVALID_PARAMETER)


@pytest.mark.parametrize(
    "command",
    [StartAttempt(), answered(200), GiveUp("operator"), RequeueDelivery()],
    ids=lambda c: type(c).__name__,
)
def test_anything_on_a_delivery_never_scheduled_is_2303(command: DeliveryCommand) -> None:
    delivery.given().when(command).then_rejected(Code.OBJECT_NOT_FOUND)


# --- Starting an attempt ----------------------------------------------------------------
def test_starting_a_due_attempt_puts_it_in_flight() -> None:
    when = delivery.given(scheduled()).when(StartAttempt(), now=at(1)).then(started(1, 1))
    assert when.state.status == "in_flight"
    assert when.state.attempts == (Attempt(number=1, started_at=at(1)),)


def test_starting_while_an_attempt_is_in_flight_is_2304() -> None:
    delivery.given(*IN_FLIGHT).when(StartAttempt()).then_rejected(Code.STATUS_PROHIBITS)


def test_starting_before_the_next_attempt_is_due_is_2304() -> None:
    given = delivery.given(*IN_FLIGHT, failed(1, 0, next_in=5))
    given.when(StartAttempt(), now=at(4.999)).then_rejected(
        Code.STATUS_PROHIBITS, "next attempt is not due yet"
    )


@pytest.mark.parametrize("seconds", [5, 6, 3600])
def test_starting_once_the_next_attempt_is_due_is_accepted(seconds: float) -> None:
    given = delivery.given(*IN_FLIGHT, failed(1, 0, next_in=5))
    given.when(StartAttempt(), now=at(seconds)).then(started(2, seconds))


def test_starting_after_success_is_2304() -> None:
    delivery.given(*SUCCEEDED).when(StartAttempt()).then_rejected(Code.STATUS_PROHIBITS)


def test_starting_after_giving_up_is_2304() -> None:
    delivery.given(*GAVE_UP).when(StartAttempt(), now=at(10**6)).then_rejected(
        Code.STATUS_PROHIBITS
    )


# --- Recording what an attempt returned -------------------------------------------------
def test_an_expected_status_is_a_success() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(200), now=at(1))
    when.then(AttemptSucceeded(number=1, status=200, duration_ms=12.0, at=at(1)))
    assert when.state.status == "succeeded"
    assert when.state.next_attempt_at is None
    assert when.state.attempts == (
        Attempt(number=1, started_at=T0, status=200, duration_ms=12.0, succeeded=True),
    )
    assert is_terminal(when.state)


def test_any_status_the_account_expects_is_a_success() -> None:
    given = delivery.given(scheduled(expected_status=frozenset({200, 204})), started(1))
    assert given.when(answered(204)).state.status == "succeeded"


@pytest.mark.parametrize("status", [201, 204, 301, 404, 500, 503])
def test_any_status_the_account_does_not_expect_is_a_failure(status: int) -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(status), now=at(1))
    (event,) = when.events
    assert isinstance(event, AttemptFailed)
    assert (event.status, event.error) == (status, f"unexpected status {status}")
    assert when.state.status == "scheduled"
    assert not is_terminal(when.state)


def test_a_transport_error_is_a_failure_even_with_an_expected_status() -> None:
    (event,) = delivery.given(*IN_FLIGHT).when(answered(200, error="TLS: bad certificate")).events
    assert isinstance(event, AttemptFailed)
    assert event.error == "TLS: bad certificate"


def test_no_answer_at_all_is_a_failure_with_the_transport_error() -> None:
    (event,) = delivery.given(*IN_FLIGHT).when(answered(None, error="connect timeout")).events
    assert isinstance(event, AttemptFailed)
    assert (event.status, event.error) == (None, "connect timeout")


def test_no_status_and_no_error_is_still_a_failure() -> None:
    (event,) = delivery.given(*IN_FLIGHT).when(answered(None)).events
    assert isinstance(event, AttemptFailed)
    assert event.error == "unexpected status None"


@pytest.mark.parametrize(("jitter", "delay"), [(-1.0, 4.0), (0.0, 5.0), (1.0, 6.0)])
def test_the_first_failure_schedules_the_next_attempt_at_now_plus_the_first_delay(
    jitter: float, delay: float
) -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(500, jitter=jitter), now=at(2))
    when.then(failed(1, 2, next_in=delay))
    state = when.state
    assert (state.status, state.failures, state.next_attempt_at) == ("scheduled", 1, at(2 + delay))
    assert state.attempts == (
        Attempt(
            number=1,
            started_at=T0,
            status=500,
            error="unexpected status 500",
            duration_ms=12.0,
            succeeded=False,
        ),
    )


def test_the_nth_failure_waits_the_nth_delay_of_the_accounts_schedule() -> None:
    policy = RetryPolicy(schedule=(10.0, 20.0, 30.0), jitter=0.0)
    events: list[DeliveryEvent] = [scheduled(policy)]
    now = 0.0
    for number, delay in enumerate(policy.schedule, start=1):
        events.append(started(number, now))
        when = delivery.given(*events).when(answered(500), now=at(now))
        (event,) = when.events
        assert isinstance(event, AttemptFailed)
        assert event.next_attempt_at == at(now + delay)
        events.append(event)
        now += delay


def test_a_receivers_retry_after_replaces_the_scheduled_delay() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(503, retry_after=120.0, jitter=1.0), now=T0)
    assert when.state.next_attempt_at == at(120)


def test_a_receivers_retry_after_is_clamped_to_the_policys_bounds() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(503, retry_after=10.0**9))
    assert when.state.next_attempt_at == at(86400)
    when = delivery.given(*IN_FLIGHT).when(answered(503, retry_after=0.0))
    assert when.state.next_attempt_at == at(1)


def test_a_retry_after_that_is_not_a_number_falls_back_to_the_schedule() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(503, retry_after=float("nan")))
    assert when.state.next_attempt_at == at(5)


@pytest.mark.parametrize("jitter", [-1.5, 1.01, float("nan"), float("inf")])
def test_jitter_outside_minus_one_to_one_is_2101_and_the_attempt_stays_in_flight(
    jitter: float,
) -> None:
    delivery.given(*IN_FLIGHT).when(answered(500, jitter=jitter)).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_recording_when_no_attempt_is_in_flight_is_2304() -> None:
    delivery.given(scheduled()).when(answered(200)).then_rejected(
        Code.STATUS_PROHIBITS, "no attempt in flight"
    )


@pytest.mark.parametrize("history", [SUCCEEDED, GAVE_UP], ids=["succeeded", "gave up"])
def test_recording_on_a_finished_delivery_is_2304(history: tuple[DeliveryEvent, ...]) -> None:
    delivery.given(*history).when(answered(200)).then_rejected(Code.STATUS_PROHIBITS)


# --- Giving up --------------------------------------------------------------------------
def test_the_failure_that_uses_up_the_schedule_gives_up() -> None:
    policy = RetryPolicy(schedule=(5.0,), jitter=0.0)
    given = delivery.given(scheduled(policy), started(1), failed(1, 0, 5), started(2, 5))
    when = given.when(answered(500), now=at(5)).then(
        failed(2, 5, next_in=None),
        DeliveryGaveUp(reason="retry schedule used up; last: unexpected status 500", at=at(5)),
    )
    assert (when.state.status, when.state.next_attempt_at) == ("gave_up", None)
    assert not is_terminal(when.state)


def test_with_an_empty_schedule_the_first_failure_gives_up() -> None:
    given = delivery.given(scheduled(RetryPolicy(schedule=())), started(1))
    assert given.when(answered(500)).state.status == "gave_up"


def test_the_default_schedule_makes_eight_attempts_then_gives_up() -> None:
    state = delivery.given(scheduled()).state
    now = T0
    while state.status == "scheduled":
        assert state.next_attempt_at is not None
        now = state.next_attempt_at
        state = delivery.given_state(state).when(StartAttempt(), now=now).state
        state = delivery.given_state(state).when(answered(500), now=now).state
    assert state.status == "gave_up"
    assert len(state.attempts) == len(DEFAULT_SCHEDULE) + 1 == 8
    assert now - T0 == timedelta(seconds=sum(DEFAULT_SCHEDULE))


def test_a_retry_after_never_extends_the_schedule() -> None:
    policy = RetryPolicy(schedule=(5.0,))
    given = delivery.given(scheduled(policy), started(1), failed(1, 0, 5), started(2, 5))
    assert given.when(answered(503, retry_after=60.0), now=at(5)).state.status == "gave_up"


@pytest.mark.parametrize(
    "history",
    [(scheduled(),), IN_FLIGHT, (*IN_FLIGHT, failed(1, 0, 5))],
    ids=["scheduled", "in flight", "waiting"],
)
def test_an_operator_can_give_up_an_unfinished_delivery(
    history: tuple[DeliveryEvent, ...],
) -> None:
    when = delivery.given(*history).when(GiveUp("client gone"), now=at(1))
    when.then(DeliveryGaveUp(reason="client gone", at=at(1)))
    assert (when.state.status, when.state.next_attempt_at) == ("gave_up", None)


@pytest.mark.parametrize("history", [SUCCEEDED, GAVE_UP], ids=["succeeded", "gave up"])
def test_giving_up_a_finished_delivery_is_2304(history: tuple[DeliveryEvent, ...]) -> None:
    delivery.given(*history).when(GiveUp("again")).then_rejected(Code.STATUS_PROHIBITS)


# --- Requeue: redelivery with a fresh schedule ------------------------------------------
def test_requeueing_a_delivery_that_gave_up_makes_it_due_at_once_with_no_failures() -> None:
    when = (
        delivery.given(*GAVE_UP)
        .when(RequeueDelivery(), now=at(99))
        .then(DeliveryRequeued(at=at(99)))
    )
    assert (when.state.status, when.state.failures, when.state.next_attempt_at) == (
        "scheduled",
        0,
        at(99),
    )


def test_after_giving_up_and_requeueing_the_schedule_starts_afresh() -> None:
    policy = RetryPolicy(schedule=(5.0, 60.0), jitter=0.0)
    history: list[DeliveryEvent] = [
        scheduled(policy),
        started(1),
        failed(1, 0, 5),
        started(2, 5),
        failed(2, 5, 60),
        started(3, 65),
        failed(3, 65, None),
        DeliveryGaveUp(reason="retry schedule used up", at=at(65)),
        DeliveryRequeued(at=at(1000)),
    ]
    given = delivery.given(*history)
    assert given.state.failures == 0
    when = given.when(StartAttempt(), now=at(1000)).then(started(4, 1000))
    # the attempt numbers go on, the delay starts again from the schedule's first step
    failure = delivery.given_state(when.state).when(answered(500), now=at(1001))
    failure.then(failed(4, 1001, next_in=5))


@pytest.mark.parametrize(
    "history",
    [(scheduled(),), IN_FLIGHT, (*IN_FLIGHT, failed(1, 0, 5)), SUCCEEDED],
    ids=["scheduled", "in flight", "waiting", "succeeded"],
)
def test_requeueing_a_delivery_that_has_not_given_up_is_2304(
    history: tuple[DeliveryEvent, ...],
) -> None:
    delivery.given(*history).when(RequeueDelivery()).then_rejected(Code.STATUS_PROHIBITS)


# --- Resend: a delivered notification pushed again, recorded as such -------------------
def test_resending_a_delivered_notification_schedules_it_at_once_recorded_as_resent() -> None:
    # Given a delivery that succeeded, when an operator resends it (delivered=True)
    when = (
        delivery.given(*SUCCEEDED)
        .when(RequeueDelivery(delivered=True), now=at(99))
        # Then it is recorded as resent (its scheduling without the notification, its
        # last attempt's number), not as a requeue of a give-up
        .then(DeliveryResent(scheduled=scheduled(), attempts=1, at=at(99)))
    )
    assert (when.state.status, when.state.next_attempt_at) == ("scheduled", at(99))
    # And its next attempt is numbered on from the last one
    delivery.given_state(when.state).when(StartAttempt(), now=at(99)).then(started(2, 99))


def test_resending_also_requeues_a_delivery_that_gave_up() -> None:
    delivery.given(*GAVE_UP).when(RequeueDelivery(delivered=True), now=at(5)).then(
        DeliveryRequeued(at=at(5))
    )


@pytest.mark.parametrize(
    "history",
    [(scheduled(),), IN_FLIGHT, (*IN_FLIGHT, failed(1, 0, 5))],
    ids=["scheduled", "in flight", "waiting"],
)
def test_resending_a_delivery_still_under_way_is_2304(history: tuple[DeliveryEvent, ...]) -> None:
    delivery.given(*history).when(RequeueDelivery(delivered=True)).then_rejected(
        Code.STATUS_PROHIBITS
    )


# --- Since: the operator's choice of several, decided on the delivery as it stands ----
def test_with_since_only_a_delivery_that_gave_up_at_or_after_it_is_requeued() -> None:
    # Given a delivery that gave up at T0, when requeued since T0 it is, since later not
    given = delivery.given(*GAVE_UP)
    given.when(RequeueDelivery(since=T0), now=at(9)).then(DeliveryRequeued(at=at(9)))
    given.when(RequeueDelivery(since=at(1))).then_rejected(Code.STATUS_PROHIBITS)


def test_with_since_a_delivered_one_is_resent_only_when_scheduled_at_or_after_it() -> None:
    # Given a delivery scheduled at T0 that succeeded (another operator's requeue, say),
    # when resent since a moment after its scheduling, then it is not resent
    given = delivery.given(*SUCCEEDED)
    given.when(RequeueDelivery(delivered=True, since=at(1))).then_rejected(Code.STATUS_PROHIBITS)
    resent = given.when(RequeueDelivery(delivered=True, since=T0), now=at(9)).events
    assert [type(e) for e in resent] == [DeliveryResent]


def test_a_since_without_a_time_zone_is_2101() -> None:
    naive = RequeueDelivery(since=T0.replace(tzinfo=None))
    delivery.given(*GAVE_UP).when(naive).then_rejected(Code.INVALID_PARAMETER)


def test_only_success_is_terminal() -> None:
    assert not is_terminal(DeliveryState())
    assert not is_terminal(delivery.given(*IN_FLIGHT).state)
    assert not is_terminal(delivery.given(*GAVE_UP).state)
    assert is_terminal(delivery.given(*SUCCEEDED).state)


def test_a_stored_delay_beyond_30_days_is_capped_so_decide_never_raises() -> None:
    policy = RetryPolicy(schedule=(1e12,))  # refused by policy_problem, but say it got in
    failed = delivery.given(scheduled(policy), started(1)).when(answered(500)).events[0]
    assert isinstance(failed, AttemptFailed) and failed.next_attempt_at is not None
    assert failed.next_attempt_at - failed.at == timedelta(days=30)


# --- Claims and their leases -------------------------------------------------------------
def test_an_attempt_is_a_claim_that_names_its_claimant_and_lease() -> None:
    command = StartAttempt(claimant="worker-a", lease=30.0)
    delivery.given(scheduled()).when(command, now=at(1)).then(
        AttemptStarted(number=1, at=at(1), claimant="worker-a", lease_until=at(31))
    )


def test_while_a_lease_holds_no_other_process_can_start_the_attempt() -> None:
    given = delivery.given(scheduled(), started(1, claimant="a"))
    given.when(StartAttempt(claimant="b"), now=at(LEASE - 0.001)).then_rejected(
        Code.STATUS_PROHIBITS
    )


def test_once_the_lease_ran_out_another_process_takes_the_attempt_over_at_no_cost() -> None:
    given = delivery.given(scheduled(), started(1, claimant="a"))
    when = given.when(StartAttempt(claimant="b"), now=at(LEASE))
    when.then(AttemptExpired(number=1, at=at(LEASE)), started(2, LEASE, claimant="b"))
    assert when.state.failures == 0  # the receiver did nothing wrong
    assert when.state.attempts[0].error == "abandoned: its lease ran out"


def test_the_late_answer_of_a_taken_over_attempt_is_refused() -> None:
    given = delivery.given(
        scheduled(), started(1, claimant="a"), AttemptExpired(number=1, at=at(LEASE))
    )
    taken = given.when(StartAttempt(claimant="b"), now=at(LEASE)).state
    late = RecordAttempt(status=200, duration_ms=1.0, number=1)
    delivery.given_state(taken).when(late, now=at(LEASE + 1)).then_rejected(
        Code.STATUS_PROHIBITS, "attempt 1 was taken over"
    )


@pytest.mark.parametrize("lease", [0.0, -1.0, 31 * 86400.0, float("nan")])
def test_a_lease_outside_0_to_30_days_is_2101(lease: float) -> None:
    delivery.given(scheduled()).when(StartAttempt(lease=lease)).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_due_at_is_the_next_attempt_or_the_end_of_the_lease_in_flight() -> None:
    assert due_at(delivery.given(scheduled()).state) == T0
    assert due_at(delivery.given(*IN_FLIGHT).state) == at(LEASE)
    assert due_at(delivery.given(*SUCCEEDED).state) is None
    assert due_at(delivery.given(*GAVE_UP).state) is None


# --- Answers that stop or slow a delivery ------------------------------------------------
def test_410_gone_gives_up_at_once_whatever_is_left_of_the_schedule() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(410), now=at(1))
    gave_up = when.events[-1]
    assert isinstance(gave_up, DeliveryGaveUp)
    assert gave_up.reason == "the receiver answered 410 Gone"
    assert when.state.status == "gave_up"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_counts_on_429_and_503(status: int) -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(status, retry_after=42.0), now=at(1))
    assert when.state.next_attempt_at == at(43)


def test_retry_after_on_another_status_is_ignored() -> None:
    when = delivery.given(*IN_FLIGHT).when(answered(500, retry_after=42.0), now=at(1))
    assert when.state.next_attempt_at == at(1 + DEFAULT_SCHEDULE[0])


def email_scheduled() -> DeliveryScheduled:
    return msgspec.structs.replace(
        scheduled(expected_status=frozenset({250})), medium="email", target="ops@client.example"
    )


def test_a_permanent_smtp_reply_gives_up_an_email_delivery() -> None:
    when = delivery.given(email_scheduled(), started(1)).when(answered(550), now=at(1))
    assert when.state.status == "gave_up"
    assert when.state.gave_up_reason == "the mail server refused it for good (550)"


@pytest.mark.parametrize("status", [550, 553, 554])
def test_a_permanent_refusal_of_the_recipient_or_the_message_gives_up_at_once(status: int) -> None:
    when = delivery.given(email_scheduled(), started(1)).when(answered(status), now=at(1))
    assert [type(e) for e in when.events] == [AttemptFailed, DeliveryGaveUp]
    assert when.state.gave_up_reason == f"the mail server refused it for good ({status})"


def lacking_smtputf8() -> RecordAttempt:
    return RecordAttempt(
        status=None, error="SMTPNotSupported: ...", duration_ms=3.0, lacks="SMTPUTF8"
    )


def test_a_non_ascii_address_to_a_server_without_smtputf8_gives_up_at_once() -> None:
    to_unicode = msgspec.structs.replace(email_scheduled(), target="öps@client.example")
    when = delivery.given(to_unicode, started(1)).when(lacking_smtputf8(), now=at(1))
    assert [type(e) for e in when.events] == [AttemptFailed, DeliveryGaveUp]
    reason = "the mail server takes no non-ASCII address (it offers no SMTPUTF8)"
    assert when.state.gave_up_reason == reason


def test_an_ascii_address_is_tried_again_when_smtputf8_was_lacking_for_the_sender() -> None:
    # The address is fine: it is the operator's sender address that needs SMTPUTF8.
    when = delivery.given(email_scheduled(), started(1)).when(lacking_smtputf8(), now=at(1))
    assert when.state.status == "scheduled"
    assert when.state.next_attempt_at == at(1 + DEFAULT_SCHEDULE[0])


def test_sending_several_again_requeues_those_that_gave_up_only() -> None:
    gave_up, done = delivery.given(*GAVE_UP).state, delivery.given(*SUCCEEDED).state
    decided = decide_each(DELIVERY, [done, gave_up], RequeueDelivery(), at(9), "none")
    assert decided == [[], [DeliveryRequeued(at=at(9))]]


def test_sending_several_again_when_none_may_be_is_refused_it_has_nothing_to_do() -> None:
    done = delivery.given(*SUCCEEDED).state
    for states in ([], [done], [done, DeliveryState()]):
        decided = decide_each(DELIVERY, states, RequeueDelivery(), at(9), "none to send")
        assert decided == reject(Code.STATUS_PROHIBITS, "none to send")


def test_a_transient_smtp_reply_is_tried_again() -> None:
    when = delivery.given(email_scheduled(), started(1)).when(answered(451), now=at(1))
    assert when.state.status == "scheduled"
    assert when.state.next_attempt_at == at(1 + DEFAULT_SCHEDULE[0])


def test_an_email_delivery_succeeds_on_250() -> None:
    when = delivery.given(email_scheduled(), started(1)).when(answered(250), now=at(1))
    assert when.state.status == "succeeded"


def refused(status: int, step: str) -> RecordAttempt:
    """A mail server's refusal, as the mail adapter reports it: with the step it answered."""
    error = f"{status} refused (at {step})"
    return RecordAttempt(status=status, error=error, duration_ms=3.0, refused_at=step)


@pytest.mark.parametrize(
    ("status", "step"),
    [(554, "greeting"), (550, "EHLO"), (554, "STARTTLS"), (535, "AUTH"), (553, "MAIL FROM"),
     (550, "MAIL FROM"), (530, "MAIL FROM"), (530, "RCPT TO"), (530, "DATA")],
)  # fmt: skip
def test_a_refusal_before_the_recipient_is_the_setup_and_is_tried_again(
    status: int, step: str
) -> None:
    # given an e-mail in flight, when the server refuses it before the recipient (a
    # wrong password: 535 at AUTH; tidings' own sender refused: 553 at MAIL FROM) or
    # asks for authentication the operator did not set up (530, RFC 4954), then the
    # attempt failed and the next one is scheduled
    when = delivery.given(email_scheduled(), started(1)).when(refused(status, step), now=at(1))
    assert [type(e) for e in when.events] == [AttemptFailed]
    assert when.state.status == "scheduled"
    assert when.state.next_attempt_at == at(1 + DEFAULT_SCHEDULE[0])


def test_a_refusal_at_auth_gives_up_only_when_the_schedule_is_used_up() -> None:
    policy = RetryPolicy(schedule=(5.0,), jitter=0.0)
    email = msgspec.structs.replace(email_scheduled(), retry_policy=policy)
    given = delivery.given(email, started(1), failed(1, 0, 5), started(2, 5))
    when = given.when(refused(535, "AUTH"), now=at(5))
    assert when.state.status == "gave_up"
    assert when.state.gave_up_reason == "retry schedule used up; last: 535 refused (at AUTH)"


@pytest.mark.parametrize("step", ["RCPT TO", "DATA"])
@pytest.mark.parametrize("status", [550, 553, 554])
def test_a_permanent_refusal_of_the_recipient_or_message_gives_up_at_once(
    status: int, step: str
) -> None:
    when = delivery.given(email_scheduled(), started(1)).when(refused(status, step), now=at(1))
    assert [type(e) for e in when.events] == [AttemptFailed, DeliveryGaveUp]
    assert when.state.gave_up_reason == f"the mail server refused it for good ({status})"


def test_on_an_ordered_account_only_a_delivery_not_done_holds_the_next_back() -> None:
    assert holds_back(delivery.given(scheduled()).state)
    assert holds_back(delivery.given(*IN_FLIGHT).state)
    assert holds_back(delivery.given(*IN_FLIGHT, failed(1, 0, 5)).state)
    assert not holds_back(delivery.given(*SUCCEEDED).state)
    assert not holds_back(delivery.given(*GAVE_UP).state)
    assert not holds_back(DeliveryState())  # never scheduled (not pushed): holds nothing


# --- evolve is total; check says what may follow -----------------------------------------
def succeeded(number: int, seconds: float = 1) -> AttemptSucceeded:
    return AttemptSucceeded(number=number, status=200, duration_ms=12.0, at=at(seconds))


@pytest.mark.parametrize(
    ("given", "event", "problem"),
    [
        ((), succeeded(1), "a delivery's first event is its scheduling"),
        ((scheduled(),), scheduled(), "scheduled twice"),
        ((scheduled(),), succeeded(1), "success of attempt 1 with no attempt in flight"),
        (IN_FLIGHT, succeeded(2), "success of attempt 2 while attempt 1 is in flight"),
        (IN_FLIGHT, started(2, 1), "attempt 2 started on a delivery in_flight"),
        ((scheduled(), started(1)), started(3), "attempt 3 started on a delivery in_flight"),
        (
            (scheduled(), started(1), failed(1, 1, next_in=30)),
            started(2, 10),
            "attempt 2 started before it was due",
        ),
        (
            (scheduled(), started(1), failed(1, 1, next_in=30)),
            started(3, 31),
            "attempt 3 started after attempt 1",
        ),
        (
            IN_FLIGHT,
            AttemptExpired(number=1, at=at(LEASE - 1)),
            "attempt 1 expired before its lease ran out",
        ),
        (SUCCEEDED, DeliveryGaveUp(reason="r", at=at(2)), "a delivery succeeded gave up"),
        ((scheduled(),), DeliveryRequeued(at=at(2)), "requeued without giving up"),
    ],
)
def test_check_refuses_what_decide_never_produces(
    given: tuple[DeliveryEvent, ...], event: DeliveryEvent, problem: str
) -> None:
    state = delivery.given(*given).state
    assert check(state, event) == problem
    assert DELIVERY.evolve(state, event) == state  # and evolve leaves the state as it was


def test_an_outcome_on_a_fresh_delivery_changes_nothing() -> None:
    assert DELIVERY.evolve(DELIVERY.initial, succeeded(1)) == DELIVERY.initial


def test_evolve_ignores_an_event_of_another_stream() -> None:
    state = delivery.given(*IN_FLIGHT).state
    stranger: Any = object()
    assert DELIVERY.evolve(state, stranger) == state
    assert check(state, stranger) == "not a delivery event"


def test_check_lets_the_events_decide_produces_follow() -> None:
    # A takeover: the abandoned attempt expires and the next starts, in one decision
    when = delivery.given(*IN_FLIGHT).when(StartAttempt(lease=LEASE), now=at(LEASE))
    state = when.before
    for event in when.events:
        assert check(state, event) is None
        state = DELIVERY.evolve(state, event)
    assert state == when.state
