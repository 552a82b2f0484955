"""`decide` is total: whatever a client or an adapter puts in a command, the answer is
events or a rejection, never an exception. Commands come from wide strategies (any text,
any float, URL-ish junk) and are decided on a few states each stream can reach."""

import math
from datetime import timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    MAILBOX,
    OPERATION,
    EmailChannel,
    Notification,
    Outcome,
    PollChannel,
    Rejection,
    RetryPolicy,
    UrlChannel,
    fold,
)
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.values import channel_problem

from tests.gwt import T0

SETTINGS = settings(max_examples=100, deadline=None)
ANY_TEXT = st.text(max_size=12)
# Strings that have broken URL checks before (urlsplit raises on some), then URL-ish junk.
NASTY_URLS = st.sampled_from(
    ["http://[::1", "http://[x]/", "//[", "https://u@[", "http://]", "https://:99999", ""]
)
URLISH = st.one_of(
    NASTY_URLS,
    st.builds(
        "{}{}".format,
        st.sampled_from(["http://", "https://", "//"]),
        st.text(alphabet="[]:@%/1x.", max_size=8),
    ),
    ANY_TEXT,
)
ANY_FLOAT = st.floats()  # NaN and infinities included
NASTY_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e308])
# Mostly in range, so the check after the range check is reached too.
JITTER = st.one_of(st.floats(min_value=-1.0, max_value=1.0), NASTY_FLOATS, ANY_FLOAT)


def answers(result: object) -> bool:
    return isinstance(result, Rejection) or (
        isinstance(result, list) and all(hasattr(event, "at") for event in result)
    )


# --- Account ----------------------------------------------------------------------------
OPENED = acc.AccountOpened(
    login="tester",
    password_sha1="5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
    channel=PollChannel(),
    retry_policy=RetryPolicy(),
    allowed_ips=(),
    at=T0,
)


def account_after(*events: acc.AccountEvent) -> acc.AccountState:
    return fold(ACCOUNT, list(events))


def operation_after(*events: op.OperationEvent) -> op.OperationState:
    return fold(OPERATION, list(events))


def mailbox_after(*events: mbx.MailboxEvent) -> mbx.MailboxState:
    return fold(MAILBOX, list(events))


ACCOUNT_STATES = st.sampled_from(
    [
        ACCOUNT.initial,
        account_after(OPENED),
        account_after(OPENED, acc.AccountSuspended(reason="fraud", at=T0)),
    ]
)
ANY_CHANNEL = st.one_of(
    st.just(PollChannel()),
    st.builds(
        UrlChannel,
        success_url=st.none() | URLISH,
        error_url=st.none() | URLISH,
        expected_status=st.frozensets(st.integers(), max_size=3),
        body_format=st.sampled_from(["wapi-form", "jobresult"]),
    ),
    st.builds(EmailChannel, ANY_TEXT),
)
ANY_POLICY = st.builds(
    RetryPolicy,
    schedule=st.lists(ANY_FLOAT, max_size=3).map(tuple),
    jitter=ANY_FLOAT,
    retry_after_min=ANY_FLOAT,
    retry_after_max=ANY_FLOAT,
)
ANY_IPS = st.lists(ANY_TEXT, max_size=3).map(tuple)
ANY_ACCOUNT_COMMAND: st.SearchStrategy[acc.AccountCommand] = st.one_of(
    st.builds(
        acc.OpenAccount,
        login=ANY_TEXT,
        password_sha1=ANY_TEXT,
        signing_secret=ANY_TEXT,
        channel=ANY_CHANNEL,
        retry_policy=ANY_POLICY,
        allowed_ips=ANY_IPS,
    ),
    st.builds(acc.ChangePassword, ANY_TEXT),
    st.builds(acc.ConfigureChannel, ANY_CHANNEL),
    st.builds(acc.SetRetryPolicy, ANY_POLICY),
    st.builds(acc.RotateSecret, ANY_TEXT),
    st.builds(acc.SetIpAllowList, ANY_IPS),
    st.builds(acc.SuspendAccount, ANY_TEXT),
    st.just(acc.ResumeAccount()),
    st.builds(acc.CloseAccount, ANY_TEXT),
)


@SETTINGS
@given(URLISH, st.none() | URLISH)
def test_checking_a_url_channel_never_raises(success_url: str, error_url: str | None) -> None:
    problem = channel_problem(UrlChannel(success_url=success_url, error_url=error_url))
    assert problem is None or isinstance(problem, str)


@SETTINGS
@given(ACCOUNT_STATES, ANY_ACCOUNT_COMMAND)
@example(account_after(OPENED), acc.ConfigureChannel(UrlChannel(success_url="http://[::1")))
@example(ACCOUNT.initial, acc.SetRetryPolicy(RetryPolicy(jitter=math.nan)))
def test_account_decide_never_raises(state: acc.AccountState, command: Any) -> None:
    assert answers(ACCOUNT.decide(state, command, T0))


# --- Operation --------------------------------------------------------------------------
ACCEPTED = op.OperationAccepted(
    svtrid="sv", cltrid="cl", command="ping-async", login="tester", init_request=None, at=T0
)
OPERATION_STATES = st.sampled_from(
    [
        OPERATION.initial,
        operation_after(ACCEPTED),
        operation_after(
            ACCEPTED,
            op.OperationEnded(code=1000, result="OK", data=None, batch_state=None, at=T0),
        ),
    ]
)
ANY_OPERATION_COMMAND: st.SearchStrategy[op.OperationCommand] = st.one_of(
    st.builds(
        op.AcceptOperation,
        svtrid=ANY_TEXT,
        cltrid=st.text(max_size=80),
        command=ANY_TEXT,
        login=ANY_TEXT,
    ),
    st.builds(op.RecordStep, ANY_TEXT),
    st.builds(
        op.EndOperation,
        code=st.integers(),
        result=ANY_TEXT,
        data=st.none() | st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=2),
        batch_state=st.sampled_from([None, "Failed", "PartiallyFailed", "Successfull"]),
    ),
)


@SETTINGS
@given(OPERATION_STATES, ANY_OPERATION_COMMAND)
def test_operation_decide_never_raises(state: op.OperationState, command: Any) -> None:
    assert answers(OPERATION.decide(state, command, T0))


# --- Mailbox ----------------------------------------------------------------------------
OUTCOME = Outcome(
    code=1000, result="OK", timestamp=T0, cltrid="cl", svtrid="sv", command="ping-async"
)


def _queued(id_: int) -> mbx.NotificationQueued:
    return mbx.NotificationQueued(notification=Notification(id=id_, outcome=OUTCOME), at=T0)


MAILBOX_STATES = st.sampled_from(
    [
        MAILBOX.initial,
        mailbox_after(_queued(1), _queued(2)),
        mailbox_after(_queued(1), _queued(2), mbx.NotificationAcked(id=1, at=T0)),
        mailbox_after(_queued(1), mbx.NotificationAcked(id=1, at=T0)),
    ]
)
ANY_MAILBOX_COMMAND: st.SearchStrategy[mbx.MailboxCommand] = st.one_of(
    st.builds(mbx.EnqueueNotification, st.just(OUTCOME)),
    st.builds(mbx.PollNotification, svtrid=ANY_TEXT, polls=st.booleans()),
    st.builds(
        mbx.AckNotification,
        notification_id=st.one_of(ANY_TEXT, st.integers().map(str), st.text(alphabet="0123 ")),
        polls=st.booleans(),
    ),
)


@SETTINGS
@given(MAILBOX_STATES, ANY_MAILBOX_COMMAND)
def test_mailbox_decide_never_raises(state: mbx.MailboxState, command: Any) -> None:
    result = MAILBOX.decide(state, command, T0)
    assert answers(result)
    if isinstance(command, mbx.AckNotification) and isinstance(result, Rejection):
        assert result.code in (2150, 2151)


# --- Delivery ---------------------------------------------------------------------------
# Delays stay within what a calendar holds: the known gap of test_delivery's xfail.
BOUNDED_POLICY = st.builds(
    RetryPolicy,
    schedule=st.lists(st.floats(min_value=0.001, max_value=10.0**6), max_size=3).map(tuple),
    jitter=st.floats(min_value=0.0, max_value=0.99),
    retry_after_min=st.floats(min_value=0.001, max_value=10.0),
    retry_after_max=st.floats(min_value=10.0, max_value=10.0**6),
)


def _in_flight(policy: RetryPolicy, failures: int) -> dlv.DeliveryState:
    events: list[dlv.DeliveryEvent] = [
        dlv.DeliveryScheduled(
            login="tester",
            notification_id=1,
            medium="url",
            target="https://client.example/ok",
            expected_status=frozenset({200}),
            retry_policy=policy,
            at=T0,
        )
    ]
    for number in range(1, failures + 1):
        events += [
            dlv.AttemptStarted(number=number, at=T0),
            dlv.AttemptFailed(
                number=number,
                status=500,
                error="boom",
                duration_ms=1.0,
                next_attempt_at=T0,
                at=T0,
            ),
        ]
    events.append(dlv.AttemptStarted(number=failures + 1, at=T0))
    return fold(DELIVERY, events)


ANY_RECORD = st.builds(
    dlv.RecordAttempt,
    status=st.none() | st.integers(),
    error=st.none() | ANY_TEXT,
    duration_ms=ANY_FLOAT,
    jitter=JITTER,
    retry_after=st.one_of(st.none(), NASTY_FLOATS, ANY_FLOAT),
)


@SETTINGS
@given(BOUNDED_POLICY, st.integers(min_value=0, max_value=3), ANY_RECORD)
@example(RetryPolicy(), 0, dlv.RecordAttempt(status=503, duration_ms=1.0, retry_after=math.nan))
def test_delivery_decide_never_raises_on_what_an_attempt_returned(
    policy: RetryPolicy, failures: int, command: dlv.RecordAttempt
) -> None:
    state = _in_flight(policy, failures)
    assert answers(DELIVERY.decide(state, command, T0 + timedelta(days=1)))


@SETTINGS
@given(
    st.builds(
        dlv.ScheduleDelivery,
        login=ANY_TEXT,
        notification_id=st.integers(),
        medium=st.sampled_from(["url", "email"]),
        target=ANY_TEXT,
        expected_status=st.frozensets(st.integers(), max_size=3),
        retry_policy=BOUNDED_POLICY,
    )
    | st.sampled_from([dlv.StartAttempt(), dlv.GiveUp(""), dlv.GiveUp("x"), dlv.RequeueDelivery()]),
    st.integers(min_value=0, max_value=3),
)
def test_delivery_decide_never_raises_on_any_other_command(
    command: dlv.DeliveryCommand, failures: int
) -> None:
    for state in (DELIVERY.initial, _in_flight(RetryPolicy(), failures)):
        assert answers(DELIVERY.decide(state, command, T0))
