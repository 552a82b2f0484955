"""Request and response bodies of the JSON API for backends.

Settings travel as the library's own domain values (`Channel`, `RetryPolicy`,
`InitRequest`, `Notification`) and `accept` answers with the library's `Pending`, so the
API and the library cannot drift apart; the views below only leave out what a backend
must not read back (the password digest) or flatten what it needs (an operation).
Unknown fields are refused, so a typo is an error rather than a silent default;
`decode_body` says what is wrong with a body, with the result code WAPI would answer.
"""

import json
import re
from datetime import datetime
from typing import Any

from msgspec import DecodeError, Struct, ValidationError, to_builtins
from msgspec.json import decode as json_decode
from msgspec.structs import asdict
from tidings.domain import (
    BatchState,
    Channel,
    Code,
    InitRequest,
    Notification,
    PollChannel,
    RetryPolicy,
)
from tidings.domain.document import too_deep
from tidings.domain.operation import OperationState, Step

from ..library import Rejected, TrailEntry
from ..views import AccountView, MailboxView

__all__ = [
    "AccountList",
    "AckUpToId",
    "AckedUpTo",
    "AllowedIps",
    "ApiError",
    "ChannelSetting",
    "Closure",
    "Done",
    "Ending",
    "EndingView",
    "NewAccount",
    "NewOperation",
    "NewPassword",
    "NewStep",
    "OperationView",
    "QueueView",
    "SigningSecret",
    "Suspension",
    "TrailEntryView",
    "decode_body",
    "operation_view",
    "queue_view",
    "trail_view",
]


# --- requests: unknown fields refused ------------------------------------------------
class _Body(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request body: unknown fields are refused."""


class NewAccount(_Body, frozen=True):
    """Open an account. Only `sha1(password)` is stored (WAPI's auth needs exactly it)."""

    login: str
    password: str
    channel: Channel = PollChannel()
    retry_policy: RetryPolicy = RetryPolicy()
    allowed_ips: tuple[str, ...] = ()


class ChannelSetting(_Body, frozen=True):
    channel: Channel


class AllowedIps(_Body, frozen=True):
    """Addresses or CIDR networks; empty allows every address."""

    allowed_ips: tuple[str, ...]


class NewPassword(_Body, frozen=True):
    password: str


class AckUpToId(_Body, frozen=True):
    """An operator's ack of a poll queue: every notification with an id up to `up_to`,
    recorded as the action of `operator`: the caller's own name when left out; a named
    operator's token may name only itself, the admin token any active operator."""

    up_to: int
    operator: str | None = None


class Suspension(_Body, frozen=True):
    reason: str


class Closure(_Body, frozen=True):
    """Why the account is closed: kept in the audit log."""

    reason: str = ""


class NewOperation(_Body, frozen=True):
    """Accept an asynchronous operation: answered with the library's `Pending` (1001)."""

    login: str
    command: str
    cltrid: str = ""
    init_request: InitRequest | None = None


class NewStep(_Body, frozen=True):
    text: str


class Ending(_Body, frozen=True):
    """End an operation: `code` 1000-5999, `data` XML-safe names, `batch_state` for
    batch jobs (Failed, PartiallyFailed, Successfull)."""

    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


class AckedUpTo(Struct, frozen=True, kw_only=True):
    acked: list[int]


# --- responses -------------------------------------------------------------------------
class ApiError(Struct, frozen=True):
    """Every error answer: a result code of `tidings.domain.Code` and a text."""

    code: int
    text: str


class Done(Struct, frozen=True):
    code: int
    text: str


class AccountList(Struct, frozen=True, kw_only=True):
    """A page of accounts, in the order they were opened; pass `next` as `after` for
    the next page (null: this is the last)."""

    accounts: list[AccountView]
    next: int | None


class QueueView(Struct, frozen=True, kw_only=True):
    """An account's poll queue: how many notifications wait, since when the oldest, and
    the first of them, oldest first."""

    login: str
    count: int
    oldest_at: datetime | None
    notifications: list[Notification]


class SigningSecret(Struct, frozen=True):
    """The secret pushed notifications are signed with (shown when made, at rotation)."""

    signing_secret: str


class EndingView(Struct, frozen=True, kw_only=True):
    code: int
    result: str
    data: dict[str, Any] | None
    batch_state: BatchState | None
    at: datetime


class OperationView(Struct, frozen=True, kw_only=True):
    svtrid: str
    cltrid: str
    command: str
    login: str
    accepted_at: datetime
    init_request: InitRequest | None
    steps: tuple[Step, ...]
    ended: EndingView | None


class TrailEntryView(Struct, frozen=True, kw_only=True):
    """One audit-trail event; `event` is the stored event with its `type` tag."""

    position: int
    stream: str
    version: int
    at: datetime
    kind: str
    event: dict[str, Any]


def queue_view(login: str, mailbox: MailboxView, limit: int) -> QueueView:
    """The view of a mailbox with its first `limit` notifications."""
    return QueueView(
        login=login,
        count=mailbox.count,
        oldest_at=mailbox.oldest_at,
        notifications=list(mailbox.notifications[:limit]),
    )


def operation_view(state: OperationState) -> OperationView:
    """The view of an accepted operation. Raises ValueError for one never accepted."""
    accepted = state.accepted
    if accepted is None:
        raise ValueError("only an accepted operation has a view")
    ended = state.ended
    return OperationView(
        svtrid=accepted.svtrid,
        cltrid=accepted.cltrid,
        command=accepted.command,
        login=accepted.login,
        accepted_at=accepted.at,
        init_request=accepted.init_request,
        steps=state.steps,
        ended=None if ended is None else EndingView(**asdict(ended)),
    )


def trail_view(entry: TrailEntry) -> TrailEntryView:
    event = to_builtins(entry.event)
    return TrailEntryView(
        position=entry.position,
        stream=entry.stream,
        version=entry.version,
        at=entry.at,
        kind=entry.kind,
        event=event if isinstance(event, dict) else {"value": event},
    )


# Where msgspec says a malformed document's fault is.
_AT = re.compile(r"\(byte (\d+)\)$")


def decode_body(raw: bytes, body_type: type, max_depth: int) -> Any:
    """`raw` decoded as `body_type`. Raises Rejected: 2008 nested deeper than
    `max_depth`; 2102 not UTF-8, or JSON holding a lone surrogate escape; 2000 not JSON;
    2100 a required field missing; 2101 a field of the wrong type or unknown."""
    if too_deep(raw, "body", limit=max_depth):
        raise Rejected(Code.TOO_COMPLEX, f"the document nests deeper than {max_depth} levels")
    try:
        return json_decode(raw, type=body_type)
    except ValidationError as error:
        missing = str(error).startswith("Object missing required field")
        code = Code.MISSING_PARAMETER if missing else Code.INVALID_PARAMETER
        raise Rejected(code, str(error)) from None
    except DecodeError as error:
        try:  # as WAPI and Merchants answer a body that is not UTF-8
            text = raw.decode()
        except UnicodeDecodeError as wrong:
            raise Rejected(Code.ENCODING_MISMATCH, f"not UTF-8 at byte {wrong.start}") from None
        fault = _fault(raw, error)
        if _lone_surrogate(text):  # JSON, but for text UTF-8 cannot carry: 2102 too
            said = fault.removeprefix("JSON is malformed: ")
            raise Rejected(Code.ENCODING_MISMATCH, f"not Unicode: {said}") from None
        raise Rejected(Code.PARSE_ERROR, f"not JSON: {fault}") from None


def _lone_surrogate(text: str) -> bool:
    """Whether `text` is JSON (as WAPI reads it: no NaN or Infinity) holding a lone
    surrogate escape (`"\\ud800"`), which msgspec refuses as malformed JSON."""
    try:
        # parse_constant: NaN and Infinity are not JSON, and int() refuses them too
        json.dumps(json.loads(text, parse_constant=int), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):  # not JSON: its first fault is what is said
        return False
    return False


def _fault(raw: bytes, error: DecodeError) -> str:
    """What msgspec says is wrong, but a lone `\\ud800` near the end (which it calls
    "truncated") named, from the body read again with spaces after (a fault found in
    those spaces is the body's end: truncated it is)."""
    try:
        json_decode(raw + b"      ")
    except DecodeError as spaced:
        at = _AT.search(str(spaced))
        inside = at is not None and int(at[1]) < len(raw)
        return str(spaced) if inside and "surrogate" in str(spaced) else str(error)
    return str(error)
