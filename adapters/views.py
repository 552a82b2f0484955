"""What the library returns about accounts and mailboxes: no secrets, no internals.

A view is built from a stream's state and carries what a caller may show anywhere:
never the password's digest, never the signing secret (only `OpenedAccount`, the answer
of opening an account, carries it, once), never the mailbox's internal queue type.
"""

from datetime import datetime

from msgspec import Struct
from tidings.domain import Channel, Notification, RetryPolicy
from tidings.domain.account import AccountState
from tidings.domain.mailbox import MailboxState

__all__ = ["AccountView", "MailboxView", "OpenedAccount", "account_view", "mailbox_view"]


class AccountView(Struct, frozen=True, kw_only=True):
    """An account's settings and status."""

    login: str
    channel: Channel
    retry_policy: RetryPolicy
    allowed_ips: tuple[str, ...]
    suspended: bool
    suspended_reason: str


class OpenedAccount(AccountView, frozen=True, kw_only=True):
    """A new account, with the secret its pushed notifications will be signed with: the
    only view that carries it (`rotate_secret` answers a new one)."""

    signing_secret: str


class MailboxView(Struct, frozen=True, kw_only=True):
    """The poll queue of an account: how many notifications wait, since when (the
    oldest's end time; None when none waits), and the notifications, oldest first."""

    count: int
    oldest_at: datetime | None
    notifications: tuple[Notification, ...]


def account_view(state: AccountState) -> AccountView:
    return AccountView(
        login=state.login,
        channel=state.channel,
        retry_policy=state.retry_policy,
        allowed_ips=state.allowed_ips,
        suspended=state.suspended,
        suspended_reason=state.suspended_reason,
    )


def mailbox_view(state: MailboxState) -> MailboxView:
    notifications = tuple(state.queue)
    oldest = notifications[0].outcome.timestamp if notifications else None
    return MailboxView(count=len(notifications), oldest_at=oldest, notifications=notifications)
