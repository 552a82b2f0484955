"""The pure core of tidings: commands, events, state and the rules between them.

No I/O, no clock, no randomness: time and jitter are arguments. Each stream kind has one
module holding its commands, events, state, `initial`, `decide` and `evolve`:
`account`, `operation`, `mailbox`, `delivery`, `endpoint`. `Decider` bundles them for the store.
"""

from . import account, delivery, endpoint, mailbox, operation
from .backlog import Backlog
from .codes import Code
from .decider import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, OPERATION, Decider, fold
from .rejection import Rejection, reject
from .retry import DEFAULT_SCHEDULE, RetryPolicy, next_delay
from .values import (
    BatchState,
    BodyFormat,
    Channel,
    EmailChannel,
    InitRequest,
    Notification,
    Outcome,
    PollChannel,
    UrlChannel,
    push_target,
)

__all__ = [
    "ACCOUNT",
    "DEFAULT_SCHEDULE",
    "DELIVERY",
    "ENDPOINT",
    "MAILBOX",
    "OPERATION",
    "Backlog",
    "BatchState",
    "BodyFormat",
    "Channel",
    "Code",
    "Decider",
    "EmailChannel",
    "InitRequest",
    "Notification",
    "Outcome",
    "PollChannel",
    "Rejection",
    "RetryPolicy",
    "UrlChannel",
    "account",
    "delivery",
    "endpoint",
    "fold",
    "mailbox",
    "next_delay",
    "operation",
    "push_target",
    "reject",
]
