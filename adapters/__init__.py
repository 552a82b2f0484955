"""The edges of tidings: storage, wire formats, HTTP. `Tidings` is the embeddable library.

Everything a caller of the library needs is importable from here: `Tidings`, its
answers and views, its errors, and the domain's value types its calls take (channels,
the retry policy, the init request, the operator `Actor` an action is recorded as) and
the stream kinds `state_at` takes.
"""

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
