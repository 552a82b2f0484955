"""What the library returns: answers to commands and views of accounts and mailboxes,
without the password's digest, the signing secret (only `OpenedAccount` carries it, once)
or the mailbox's internal queue type."""

from datetime import datetime

from msgspec import Struct
from tidings.domain import Channel, Code, Notification, RetryPolicy
from tidings.domain.account import AccountState
from tidings.domain.mailbox import MailboxState

__all__ = [
    "AccountPage",
    "AccountView",
    "Answer",
    "MailboxView",
    "OpenedAccount",
    "Pending",
    "PollAnswer",
    "Stats",
    "account_view",
    "mailbox_view",
]


class Answer(Struct, frozen=True):
    code: Code
    text: str


class Pending(Struct, frozen=True, kw_only=True):
    """The `1001 Request pending` answer of an accepted operation."""

    code: Code
    text: str
    svtrid: str
    cltrid: str
    command: str
    timestamp: datetime


class PollAnswer(Struct, frozen=True, kw_only=True):
    """poll-req's answer: 1000 with the oldest notification and the queue count (head
    included), 1003 with an empty queue, or 2150 when the account does not poll.
    `svtrid` is the poll's own (the one given, or one minted for it)."""

    code: Code
    text: str
    svtrid: str
    notification: Notification | None = None
    count: int = 0


class Stats(Struct, frozen=True, kw_only=True):
    """What this instance did so far: transactions saved, commands run in them (refused
    ones included; commands per transaction shows the group commit at work), and events
    read from the database to load states (what the cache and snapshots spare)."""

    transactions: int
    commands: int
    events_read: int


class AccountView(Struct, frozen=True, kw_only=True):
    """An account's settings and status."""

    login: str
    channel: Channel
    retry_policy: RetryPolicy
    allowed_ips: tuple[str, ...]
    suspended: bool
    suspended_reason: str
    closed: bool = False
    closed_reason: str = ""


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


class AccountPage(Struct, frozen=True, kw_only=True):
    """Accounts in the order they were opened; `next` is the `after` of the next page
    (None: this page is the last)."""

    accounts: list[AccountView]
    next: int | None


def account_view(state: AccountState) -> AccountView:
    return AccountView(**{name: getattr(state, name) for name in AccountView.__struct_fields__})


def mailbox_view(state: MailboxState) -> MailboxView:
    notifications = tuple(state.queue)
    oldest = notifications[0].outcome.timestamp if notifications else None
    return MailboxView(count=len(notifications), oldest_at=oldest, notifications=notifications)
