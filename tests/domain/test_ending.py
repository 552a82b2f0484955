"""Ending an operation: the process that decides on the operation, the mailbox and the
delivery at once."""

from datetime import timedelta
from typing import Any

import pytest
from tidings.domain import ACCOUNT, MAILBOX, OPERATION, Code, Notification
from tidings.domain import delivery as dlv
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.account import AccountOpened, AccountState, AccountSuspended
from tidings.domain.ending import Ending, end
from tidings.domain.retry import RetryPolicy
from tidings.domain.values import BatchState, Channel, EmailChannel, PollChannel, UrlChannel

from tests.gwt import T0, process, spec

T1 = T0 + timedelta(minutes=1)
ending = process(end, timed=True)

ACCEPTED = op.OperationAccepted(
    svtrid="1286957874.1271.1",
    cltrid="AvrX87Kqk6h3",
    command="domain-renew",
    login="tester",
    init_request=None,
    at=T0,
)
OPEN = spec(OPERATION).given(ACCEPTED).state
NEVER_ACCEPTED = spec(OPERATION).given().state
EMPTY = spec(MAILBOX).given().state
SUCCESS, ERROR = "https://backend.example/ok", "https://backend.example/err"
BOTH_URLS = UrlChannel(success_url=SUCCESS, error_url=ERROR, expected_status=frozenset({200, 204}))


POLL = PollChannel()


def account(channel: Channel = POLL, *, suspended: bool = False) -> AccountState:
    opened = AccountOpened(
        login="tester",
        password_sha1="0" * 40,
        channel=channel,
        retry_policy=RetryPolicy(),
        allowed_ips=(),
        at=T0,
    )
    events: list[Any] = (
        [opened, AccountSuspended(reason="unpaid", at=T0)] if suspended else [opened]
    )
    return spec(ACCOUNT).given(*events).state


def end_with(
    code: int = 1000,
    result: str = "OK",
    data: dict[str, Any] | None = None,
    batch_state: BatchState | None = None,
) -> op.EndOperation:
    return op.EndOperation(code=code, result=result, data=data, batch_state=batch_state)


def ended(code: int = 1000, result: str = "OK", **more: Any) -> op.OperationEnded:
    fields: dict[str, Any] = {"data": None, "batch_state": None} | more
    return op.OperationEnded(code=code, result=result, at=T1, **fields)


def notification(id_: int, code: int = 1000, result: str = "OK", **more: Any) -> Notification:
    return Notification(
        id=id_,
        outcome=op.outcome(spec(OPERATION).given(ACCEPTED, ended(code, result, **more)).state),
    )


def scheduled(
    id_: int,
    target: str,
    medium: dlv.Medium = "url",
    expected: frozenset[int] = frozenset({200, 204}),
    pushed: Notification | None = None,
) -> dlv.DeliveryScheduled:
    """The delivery of `pushed` (default: notification `id_`, ended 1000 OK)."""
    return dlv.DeliveryScheduled(
        login="tester",
        notification_id=id_,
        medium=medium,
        target=target,
        expected_status=expected,
        retry_policy=RetryPolicy(),
        at=T1,
        notification=pushed or notification(id_),
    )


# --- A poll account: the notification is queued ------------------------------------------
def test_a_poll_account_s_notification_is_queued_under_the_next_id() -> None:
    ending.given(OPEN, account(), EMPTY).when(end_with(), now=T1).then(
        Ending(
            login="tester",
            notification=notification(1),
            operation=[ended()],
            mailbox=[mbx.NotificationQueued(notification=notification(1), at=T1)],
            delivery=[],
        )
    )


def test_the_id_is_the_mailbox_s_next_whatever_came_before() -> None:
    mailbox = spec(MAILBOX).given_state(mbx.MailboxState(next_id=7)).state
    decided = ending.given(OPEN, account(), mailbox).when(end_with(), now=T1).decided
    assert decided.notification.id == 7


def test_a_suspended_account_s_operation_still_ends_and_its_notification_waits() -> None:
    decided = ending.given(OPEN, account(suspended=True), EMPTY).when(end_with(), now=T1).decided
    assert decided.mailbox == [mbx.NotificationQueued(notification=notification(1), at=T1)]


# --- A push account: the notification takes an id, a delivery is scheduled --------------
@pytest.mark.parametrize(
    ("code", "batch_state", "target"),
    [
        (1000, None, SUCCESS),
        (1000, "Successfull", SUCCESS),
        (2303, None, ERROR),
        (1000, "PartiallyFailed", ERROR),  # an ending whose batch failed is an error
    ],
)
def test_a_url_account_s_notification_is_scheduled_to_the_url_of_its_outcome(
    code: int, batch_state: BatchState | None, target: str
) -> None:
    more: dict[str, Any] = {"batch_state": batch_state}
    ending.given(OPEN, account(BOTH_URLS), EMPTY).when(
        end_with(code, "r", batch_state=batch_state), now=T1
    ).then(
        Ending(
            login="tester",
            notification=notification(1, code, "r", **more),
            operation=[ended(code, "r", **more)],
            mailbox=[
                mbx.NotificationIssued(notification=notification(1, code, "r", **more), at=T1)
            ],
            delivery=[scheduled(1, target, pushed=notification(1, code, "r", **more))],
        )
    )


def test_an_error_goes_to_the_success_url_when_no_error_url_is_set() -> None:
    channel = UrlChannel(success_url=SUCCESS)
    decided = ending.given(OPEN, account(channel), EMPTY).when(end_with(2400, "x"), now=T1).decided
    pushed = notification(1, 2400, "x")
    assert decided.delivery == [scheduled(1, SUCCESS, expected=frozenset({200}), pushed=pushed)]


def test_a_success_for_an_error_url_only_account_is_recorded_but_neither_queued_nor_sent() -> None:
    channel = UrlChannel(error_url=ERROR)
    decided = ending.given(OPEN, account(channel), EMPTY).when(end_with(), now=T1).decided
    assert decided.operation == [ended()]
    assert decided.mailbox == [mbx.NotificationIssued(notification=notification(1), at=T1)]
    assert decided.delivery == []


def test_an_email_account_s_notification_is_scheduled_to_its_address_expecting_250() -> None:
    channel = EmailChannel("ops@backend.example")
    decided = ending.given(OPEN, account(channel), EMPTY).when(end_with(), now=T1).decided
    assert decided.delivery == [scheduled(1, "ops@backend.example", "email", frozenset({250}))]


def test_a_pushed_notification_takes_an_id_but_never_enters_the_poll_queue() -> None:
    decided = ending.given(OPEN, account(BOTH_URLS), EMPTY).when(end_with(), now=T1).decided
    after = spec(MAILBOX).given(*decided.mailbox).state
    assert (after.next_id, len(after.queue)) == (2, 0)


# --- Rejections: nothing is decided on any stream ----------------------------------------
def test_ending_an_operation_never_accepted_is_2303() -> None:
    ending.given(NEVER_ACCEPTED, account(), EMPTY).when(end_with()).then_rejected(
        Code.OBJECT_NOT_FOUND
    )


def test_ending_an_ended_operation_is_2304() -> None:
    done = spec(OPERATION).given(ACCEPTED, ended()).state
    ending.given(done, account(), EMPTY).when(end_with()).then_rejected(Code.STATUS_PROHIBITS)


@pytest.mark.parametrize("code", [1001, 1002, 1003, 1500, 999, 6000])
def test_ending_with_a_code_that_is_not_a_final_answer_is_2101(code: int) -> None:
    # 1001 would have a client poll "Request pending" for an operation that is over
    ending.given(OPEN, account(), EMPTY).when(end_with(code)).then_rejected(
        Code.INVALID_PARAMETER, "an ending code is a final answer: 1000 or 2000-5999"
    )


def test_ending_without_a_result_text_is_2100() -> None:
    ending.given(OPEN, account(), EMPTY).when(end_with(result="")).then_rejected(
        Code.MISSING_PARAMETER
    )


@pytest.mark.parametrize(
    "data",
    [{"not a name": 1}, {"ok": {"1st": 2}}, {"ok": [{"a<b": 1}]}, {3: "int key"}],
    ids=["space", "nested-digit-first", "in-a-list", "not-a-string"],
)
def test_ending_with_data_whose_keys_are_not_xml_names_is_2101(data: dict[str, Any]) -> None:
    ending.given(OPEN, account(), EMPTY).when(end_with(data=data)).then_rejected(
        Code.INVALID_PARAMETER
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (
            {1, 2},
            "data values must be text, numbers, true or false, null, lists or objects, not set",
        ),
        (
            b"raw",
            "data values must be text, numbers, true or false, null, lists or objects, not bytes",
        ),
        (float("nan"), "data numbers must be finite, not nan"),
        (float("-inf"), "data numbers must be finite, not -inf"),
        (2**64, f"data whole numbers must fit in 64 bits, not {2**64}"),
        ("a\ud800", "data texts must be Unicode text, not hold a lone surrogate"),
    ],
    ids=["set", "bytes", "nan", "infinity", "too-big", "lone-surrogate"],
)
def test_ending_with_data_values_no_document_carries_is_2101(value: Any, text: str) -> None:
    # given an open operation; when it is ended with such a value, however deep;
    # then 2101 saying which, and nothing is decided
    for data in ({"v": value}, {"ok": [1, {"v": value}]}):
        ending.given(OPEN, account(), EMPTY).when(end_with(data=data)).then_rejected(
            Code.INVALID_PARAMETER, text
        )


def test_ending_with_data_nested_deeper_than_32_levels_is_2101() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(32):
        deep = {"level": deep}
    ending.given(OPEN, account(), EMPTY).when(end_with(data=deep)).then_rejected(
        Code.INVALID_PARAMETER, "data nests deeper than 32 levels"
    )


def test_a_delivery_the_delivery_s_rules_refuse_refuses_the_whole_ending() -> None:
    # An account state no command can make (its policy was refused when set): the
    # delivery's own rule still has the last word, and nothing is decided anywhere
    broken = AccountState(
        opened=True, login="tester", channel=BOTH_URLS, retry_policy=RetryPolicy(jitter=2.0)
    )
    ending.given(OPEN, broken, EMPTY).when(end_with()).then_rejected(Code.INVALID_PARAMETER)
