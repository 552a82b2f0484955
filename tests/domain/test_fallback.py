"""Fallback: a pushed notification whose delivery gave up enters the poll queue under
its own id, when the account says so; never a delivered one, never twice."""

from datetime import UTC, datetime

import msgspec
import pytest
from tidings.domain import MAILBOX, EmailChannel, Notification, Outcome, PollChannel, UrlChannel
from tidings.domain import mailbox as mbx
from tidings.domain.account import AccountState
from tidings.domain.delivery import DeliveryScheduled, DeliveryState, DeliveryStatus
from tidings.domain.dispatch import fall_back
from tidings.domain.retry import RetryPolicy

from tests.gwt import T0, spec

NOW = datetime(2026, 1, 2, tzinfo=UTC)
PUSHED = Notification(
    id=3,
    outcome=Outcome(
        code=1000, result="OK", timestamp=T0, cltrid="c", svtrid="s", command="ping-async"
    ),
)
FALLS_BACK = UrlChannel(success_url="https://client.example/hook", fallback="poll")


def account(channel: object = FALLS_BACK) -> AccountState:
    return AccountState(opened=True, login="tester", channel=channel)  # type: ignore[arg-type]


def delivery(status: DeliveryStatus = "gave_up") -> DeliveryState:
    scheduled = DeliveryScheduled(
        login="tester",
        notification_id=3,
        medium="url",
        target="https://client.example/hook",
        expected_status=frozenset({200}),
        retry_policy=RetryPolicy(),
        at=T0,
        notification=PUSHED,
    )
    return DeliveryState(status=status, scheduled=scheduled)


ISSUED = spec(MAILBOX).given(
    *(mbx.NotificationIssued(notification=msgspec.structs.replace(PUSHED, id=n), at=T0)
      for n in (1, 2, 3, 4))
).state  # fmt: skip


def test_a_delivery_that_gave_up_queues_its_notification_under_its_id() -> None:
    events = fall_back(account(), delivery(), ISSUED, NOW)
    assert events == [mbx.NotificationQueued(notification=PUSHED, at=NOW)]
    after = spec(MAILBOX).given_state(ISSUED).state
    for event in events:
        after = MAILBOX.evolve(after, event)
    assert [n.id for n in after.queue] == [3]
    assert after.next_id == 5  # the counter never goes back


def test_an_email_account_falls_back_too() -> None:
    channel = EmailChannel("ops@client.example", fallback="poll")
    assert fall_back(account(channel), delivery(), ISSUED, NOW) != []


@pytest.mark.parametrize("status", ["scheduled", "in_flight", "succeeded"])
def test_a_delivery_that_did_not_give_up_queues_nothing(status: DeliveryStatus) -> None:
    assert fall_back(account(), delivery(status), ISSUED, NOW) == []


@pytest.mark.parametrize(
    "channel", [UrlChannel(success_url="https://client.example/hook"), PollChannel()]
)
def test_without_fallback_nothing_is_queued(channel: object) -> None:
    assert fall_back(account(channel), delivery(), ISSUED, NOW) == []


def test_a_notification_already_waiting_is_not_queued_again() -> None:
    queued = MAILBOX.evolve(ISSUED, mbx.NotificationQueued(notification=PUSHED, at=T0))
    assert fall_back(account(), delivery(), queued, NOW) == []


def test_a_fallback_account_may_poll() -> None:
    assert account().polls
    assert not account(UrlChannel(success_url="https://client.example/hook")).polls
