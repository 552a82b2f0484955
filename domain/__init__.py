"""The pure core of tidings: commands, events, state and the rules between them.

No I/O, no clock, no randomness: time and jitter are arguments. Each stream kind has one
module holding its commands, events, state, `initial`, `decide`, `evolve` and `check`:
`account`, `operation`, `mailbox`, `delivery`, `endpoint`, `operator` (who runs the
console, and what they did), `session` (signed-in browsers). `Decider` bundles them for the
store.
The rules that span streams or paths have their own modules: `ending` (the process that
ends an operation), `dispatch` (the delivery process: claiming an attempt, settling its
outcome and its fallback to the poll queue, which secrets sign a push), `serverrun`
(how the operations the server runs itself end), `access` (who may run a client
command), `document` (how deep a document may nest, and what a notification's data may
hold), `allowlist` (an account's IP allow-list).
"""

from . import (
    access,
    account,
    allowlist,
    delivery,
    dispatch,
    document,
    ending,
    endpoint,
    mailbox,
    operation,
    operator,
    serverrun,
    session,
)
from .backlog import Backlog
from .codes import Code
from .decider import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
    MAILBOX,
    OPERATION,
    OPERATOR,
    SESSION,
    Decider,
    decide_each,
    fold,
)
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
    "OPERATOR",
    "SESSION",
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
    "access",
    "account",
    "allowlist",
    "decide_each",
    "delivery",
    "dispatch",
    "document",
    "ending",
    "endpoint",
    "fold",
    "mailbox",
    "next_delay",
    "operation",
    "operator",
    "push_target",
    "reject",
    "serverrun",
    "session",
]
