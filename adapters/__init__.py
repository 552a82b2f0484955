"""The edges of tidings: storage, wire formats, HTTP. Everything a caller of the library
needs is importable from here: `Tidings`, its answers, views and errors, and the domain's
values and stream kinds its calls take."""

from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    MAILBOX,
    OPERATION,
    Channel,
    Code,
    EmailChannel,
    InitRequest,
    Notification,
    Outcome,
    PollChannel,
    RetryPolicy,
    UrlChannel,
)
from tidings.domain.operator import Actor

from .errors import (
    Closed,
    Conflict,
    InvalidArgument,
    OutcomeUnknown,
    Rejected,
    StorageError,
    TidingsError,
)
from .library import Answer, Pending, PollAnswer, Stats, Tidings, TrailEntry
from .views import AccountView, MailboxView, OpenedAccount

__all__ = [
    "ACCOUNT",
    "DELIVERY",
    "MAILBOX",
    "OPERATION",
    "AccountView",
    "Actor",
    "Answer",
    "Channel",
    "Closed",
    "Code",
    "Conflict",
    "EmailChannel",
    "InitRequest",
    "InvalidArgument",
    "MailboxView",
    "Notification",
    "OpenedAccount",
    "Outcome",
    "OutcomeUnknown",
    "Pending",
    "PollAnswer",
    "PollChannel",
    "Rejected",
    "RetryPolicy",
    "Stats",
    "StorageError",
    "Tidings",
    "TidingsError",
    "TrailEntry",
    "UrlChannel",
]
