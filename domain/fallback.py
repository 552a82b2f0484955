"""Fallback: a pushed notification whose delivery gave up enters the poll queue.

An account may choose `fallback: "poll"` on its push channel. When a delivery of one of
its notifications gives up (its schedule used up, 410 Gone, a permanent SMTP refusal),
the notification is queued in the account's mailbox under the id it was issued, so the
client can still fetch it with poll-req (the account's `polls` allows it). A delivered
notification never enters the queue, and one already waiting there is not queued again
(a redelivery that gave up once more).
"""

from datetime import datetime

from . import mailbox as mbx
from .account import AccountState
from .delivery import DeliveryState
from .values import PollChannel

__all__ = ["fall_back"]


def fall_back(
    account: AccountState, delivery: DeliveryState, mailbox: mbx.MailboxState, now: datetime
) -> list[mbx.MailboxEvent]:
    """The mailbox events a delivery's state calls for: its notification queued when it
    gave up and the account falls back to polling, else none."""
    scheduled = delivery.scheduled
    channel = account.channel
    if (
        delivery.status != "gave_up"
        or scheduled is None
        or scheduled.notification is None
        or isinstance(channel, PollChannel)
        or channel.fallback != "poll"
    ):
        return []
    notification = scheduled.notification
    if any(waiting.id == notification.id for waiting in mailbox.queue):
        return []
    return [mbx.NotificationQueued(notification=notification, at=now)]
