"""Operator: a named person who runs the console, and every action they take.

Stream: one per operator name. An operator is added with the SHA-256 of a token (the
token itself never enters the log: it is random and long, shown once to whoever added
the operator), can be revoked, and can be added again later with a new token. Each
action an operator takes on an account (suspend, resume, redeliver, bulk-ack, ...) is an
event of that operator's stream, so the log says who did what; a revoked operator acts
no more.

`evolve` applies any event and never raises; `check` says whether an event may follow a
state (replay reports the ones it refuses).
"""

import itertools
import re
from datetime import datetime

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .mailbox import AckNotification, MailboxState
from .rejection import Rejection, reject

__all__ = [
    "ADMIN",
    "TEST_COMMAND",
    "TEST_RESULT",
    "ActOnAccount",
    "Actor",
    "AddOperator",
    "OperatorActed",
    "OperatorAdded",
    "OperatorCommand",
    "OperatorEvent",
    "OperatorRevoked",
    "OperatorState",
    "RevokeOperator",
    "acted",
    "bulk_acks",
    "check",
    "decide",
    "evolve",
    "initial",
    "name_problem",
]

# A test notification, sent from the center or the console: an operation of this command
# that ends at once with 1000 and this result, queued or pushed like any other.
TEST_COMMAND = "test-notification"
TEST_RESULT = "Test notification: the delivery method works"
# The operator the single admin token of the JSON API acts as; no named operator has it.
ADMIN = "admin"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name an operator (None when it can): a lowercase letter, then
    up to 31 lowercase letters, digits, `_` or `-`; `admin` is the admin token's."""
    if not _NAME.fullmatch(name):
        return "an operator's name is a lowercase letter, then up to 31 of a-z 0-9 _ -"
    if name == ADMIN:
        return f"{ADMIN!r} is the admin token's operator"
    return None


# --- Commands -------------------------------------------------------------------------
class AddOperator(Struct, frozen=True, kw_only=True, tag="AddOperator"):
    name: str
    token_sha256: str


class RevokeOperator(Struct, frozen=True, tag="RevokeOperator"):
    pass


class ActOnAccount(Struct, frozen=True, kw_only=True, tag="ActOnAccount"):
    """Record what the operator did to an account: `action` (e.g. "suspend"), and what
    it concerned (`detail`: notification ids, a reason). `admin`: the actor is the
    admin token of the JSON API (operator `ADMIN`, never added nor revoked)."""

    action: str
    login: str
    detail: str = ""
    admin: bool = False


OperatorCommand = AddOperator | RevokeOperator | ActOnAccount


class Actor(Struct, frozen=True):
    """The operator who runs an action on an account (`ADMIN`: the JSON API's admin
    token) and the action's name in the log: a use case given one records the action
    (`acted`) in the same transaction as the action itself, so a change is never saved
    without who made it."""

    name: str
    action: str


def acted(actor: Actor, login: str, detail: str = "") -> ActOnAccount:
    """The record of `actor`'s action on account `login` (`detail`: what it concerned)."""
    admin = actor.name == ADMIN
    return ActOnAccount(action=actor.action, login=login, detail=detail, admin=admin)


# --- Events ---------------------------------------------------------------------------
class OperatorAdded(Struct, frozen=True, kw_only=True, tag="OperatorAdded"):
    name: str
    token_sha256: str
    at: datetime


class OperatorRevoked(Struct, frozen=True, kw_only=True, tag="OperatorRevoked"):
    at: datetime


class OperatorActed(Struct, frozen=True, kw_only=True, tag="OperatorActed"):
    name: str
    action: str
    login: str
    detail: str
    at: datetime


OperatorEvent = OperatorAdded | OperatorRevoked | OperatorActed


# --- State ----------------------------------------------------------------------------
class OperatorState(Struct, frozen=True, kw_only=True):
    name: str = ""
    token_sha256: str = ""
    active: bool = False
    added_at: datetime | None = None
    revoked_at: datetime | None = None
    actions: int = 0


initial = OperatorState()


# --- Decisions ------------------------------------------------------------------------
def decide(
    state: OperatorState, command: OperatorCommand, now: datetime
) -> list[OperatorEvent] | Rejection:
    """Decide what a command does to an operator.

    Rejections: 2302 adding an active operator; 2101 a bad name or token digest, or an
    action without a name or login; 2303 revoking or acting as an operator that is not
    active (never added, or revoked), unless the action is the admin token's.
    """
    match command:
        case AddOperator(name=name, token_sha256=digest):
            if state.active:
                return reject(Code.OBJECT_EXISTS, f"operator {name!r} exists")
            if problem := name_problem(name):
                return reject(Code.INVALID_PARAMETER, problem)
            if not _SHA256_HEX.fullmatch(digest):
                return reject(Code.INVALID_PARAMETER, "token_sha256 is 64 hex digits")
            return [OperatorAdded(name=name, token_sha256=digest, at=now)]
    if isinstance(command, ActOnAccount) and command.admin:
        return _acted(ADMIN, command, now)
    if not state.active:
        return reject(Code.OBJECT_NOT_FOUND, "no such operator")
    match command:
        case RevokeOperator():
            return [OperatorRevoked(at=now)]
        case ActOnAccount():
            return _acted(state.name, command, now)
    return reject(Code.INVALID_PARAMETER, "unknown operator command")


def _acted(name: str, command: ActOnAccount, now: datetime) -> list[OperatorEvent] | Rejection:
    if not command.action.strip() or not command.login:
        return reject(Code.INVALID_PARAMETER, "an action names what and which account")
    return [OperatorActed(name=name, action=command.action, login=command.login,
                          detail=command.detail, at=now)]  # fmt: skip


def check(state: OperatorState, event: OperatorEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: an addition when not
    active, anything else while active."""
    if isinstance(event, OperatorAdded):
        return "added while active" if state.active else None
    if isinstance(event, OperatorActed) and event.name == ADMIN:
        return None
    return None if state.active else "an operator acts only while active"


def evolve(state: OperatorState, event: OperatorEvent) -> OperatorState:
    """Apply one operator event (never raises)."""
    match event:
        case OperatorAdded(name=name, token_sha256=digest, at=at):
            return OperatorState(name=name, token_sha256=digest, active=True, added_at=at)
        case OperatorRevoked(at=at):
            return replace(state, active=False, revoked_at=at)
        case OperatorActed():
            return replace(state, actions=state.actions + 1)
        case _:
            return state


def bulk_acks(mailbox: MailboxState, up_to: int) -> list[AckNotification] | Rejection:
    """The acks an operator's bulk-ack of an abandoned queue runs, in order: every
    queued notification from the head on, up to the first whose id is above `up_to`,
    as if its client had acked them one by one (whether the account polls or not: the
    operator clears what is queued). Rejections: 2101 an id below 1; 2303 nothing queued at or below
    `up_to`."""
    if up_to < 1:
        return reject(Code.INVALID_PARAMETER, "ack up to an id of 1 or more")
    ids = list(itertools.takewhile(lambda ident: ident <= up_to, (n.id for n in mailbox.queue)))
    if not ids:
        return reject(Code.OBJECT_NOT_FOUND, f"no notification queued at or below id {up_to}")
    return [AckNotification(notification_id=str(ident), polls=True) for ident in ids]
