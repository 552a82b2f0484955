"""Account: a client of the API, its credentials and how it wants to be told.

Stream: one per login. The password is stored as `sha1(password)` in hex and nothing
else: WAPI's auth token is `sha1(login + sha1(password) + HH)`, so the server must hold
exactly `sha1(password)` to check it. A slow salted hash cannot be used by this protocol;
the stored value is still not the password itself.

The signing secret of pushed notifications never enters the log: a command carries it,
the event carries its `secret_id` (a SHA-256 fingerprint, one-way; the secret itself is
random and long), and the store keeps the secret beside the log under that id.

`evolve` applies any event and never raises: an opening resets the account to what it
says, any other event changes its field whatever came before, and anything else is
ignored. `check` says whether an event may follow a state (replay reports the ones it
refuses).
"""

import hashlib
import re
from datetime import datetime

from msgspec import Struct
from msgspec.structs import replace

from .allowlist import ips_problem
from .codes import Code
from .rejection import Rejection, reject
from .retry import RetryPolicy, policy_problem
from .values import Channel, PollChannel, channel_problem, login_problem

__all__ = [
    "AccountClosed",
    "AccountCommand",
    "AccountEvent",
    "AccountOpened",
    "AccountResumed",
    "AccountState",
    "AccountSuspended",
    "ChangePassword",
    "ChannelConfigured",
    "CloseAccount",
    "ConfigureChannel",
    "IpAllowListSet",
    "OpenAccount",
    "PasswordChanged",
    "ResumeAccount",
    "RetryPolicySet",
    "RotateSecret",
    "SecretRotated",
    "SetIpAllowList",
    "SetRetryPolicy",
    "SuspendAccount",
    "check",
    "decide",
    "evolve",
    "initial",
    "secret_id",
]

_SHA1_HEX = re.compile(r"[0-9a-f]{40}")


# --- Commands -------------------------------------------------------------------------
class OpenAccount(Struct, frozen=True, gc=False, kw_only=True, tag="OpenAccount"):
    login: str
    password_sha1: str
    signing_secret: str
    channel: Channel = PollChannel()
    retry_policy: RetryPolicy = RetryPolicy()
    allowed_ips: tuple[str, ...] = ()


class ChangePassword(Struct, frozen=True, gc=False, tag="ChangePassword"):
    password_sha1: str


class ConfigureChannel(Struct, frozen=True, gc=False, tag="ConfigureChannel"):
    channel: Channel


class SetRetryPolicy(Struct, frozen=True, gc=False, tag="SetRetryPolicy"):
    retry_policy: RetryPolicy


class RotateSecret(Struct, frozen=True, gc=False, tag="RotateSecret"):
    signing_secret: str


class SetIpAllowList(Struct, frozen=True, gc=False, tag="SetIpAllowList"):
    """An empty list allows every address."""

    allowed_ips: tuple[str, ...]


class SuspendAccount(Struct, frozen=True, gc=False, tag="SuspendAccount"):
    reason: str


class ResumeAccount(Struct, frozen=True, gc=False, tag="ResumeAccount"):
    pass


class CloseAccount(Struct, frozen=True, gc=False, tag="CloseAccount"):
    """Close the account for good: its stream, its queue and its trail stay for audit."""

    reason: str


AccountCommand = (
    OpenAccount
    | ChangePassword
    | ConfigureChannel
    | SetRetryPolicy
    | RotateSecret
    | SetIpAllowList
    | SuspendAccount
    | ResumeAccount
    | CloseAccount
)


# --- Events ---------------------------------------------------------------------------
class AccountOpened(
    Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="AccountOpened"
):
    login: str
    password_sha1: str
    secret_id: str = ""
    channel: Channel
    retry_policy: RetryPolicy
    allowed_ips: tuple[str, ...]
    at: datetime


class PasswordChanged(Struct, frozen=True, gc=False, kw_only=True, tag="PasswordChanged"):
    password_sha1: str
    at: datetime


class ChannelConfigured(Struct, frozen=True, gc=False, kw_only=True, tag="ChannelConfigured"):
    channel: Channel
    at: datetime


class RetryPolicySet(Struct, frozen=True, gc=False, kw_only=True, tag="RetryPolicySet"):
    retry_policy: RetryPolicy
    at: datetime


class SecretRotated(
    Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="SecretRotated"
):
    secret_id: str = ""
    at: datetime


class IpAllowListSet(Struct, frozen=True, gc=False, kw_only=True, tag="IpAllowListSet"):
    allowed_ips: tuple[str, ...]
    at: datetime


class AccountSuspended(Struct, frozen=True, gc=False, kw_only=True, tag="AccountSuspended"):
    reason: str
    at: datetime


class AccountResumed(Struct, frozen=True, gc=False, kw_only=True, tag="AccountResumed"):
    at: datetime


class AccountClosed(Struct, frozen=True, gc=False, kw_only=True, tag="AccountClosed"):
    reason: str
    at: datetime


AccountEvent = (
    AccountOpened
    | PasswordChanged
    | ChannelConfigured
    | RetryPolicySet
    | SecretRotated
    | IpAllowListSet
    | AccountSuspended
    | AccountResumed
    | AccountClosed
)


# --- State ----------------------------------------------------------------------------
class AccountState(Struct, frozen=True, gc=False, kw_only=True):
    opened: bool = False
    login: str = ""
    password_sha1: str = ""
    secret_id: str = ""
    channel: Channel = PollChannel()
    retry_policy: RetryPolicy = RetryPolicy()
    allowed_ips: tuple[str, ...] = ()
    suspended: bool = False
    suspended_reason: str = ""
    closed: bool = False
    closed_reason: str = ""
    # The secret before the last rotation: pushes carry both signatures for a while.
    previous_secret_id: str = ""
    secret_rotated_at: datetime | None = None

    @property
    def polls(self) -> bool:
        """Whether poll-req and poll-ack serve this account: a poll account, or a push
        account whose given-up notifications fall back to the poll queue."""
        return isinstance(self.channel, PollChannel) or self.channel.fallback == "poll"


initial = AccountState()


def secret_id(secret: str) -> str:
    """The id a signing secret is known by in the log: its SHA-256 fingerprint."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


# --- Decisions ------------------------------------------------------------------------
def _secret_problem(secret: str) -> str | None:
    if len(secret) < 16:
        return "a signing secret has at least 16 characters"
    return None


def _open(state: AccountState, c: OpenAccount, now: datetime) -> list[AccountEvent] | Rejection:
    if state.opened:
        return reject(Code.OBJECT_EXISTS, f"account {c.login!r} exists")
    problem = (
        login_problem(c.login)
        or (None if _SHA1_HEX.fullmatch(c.password_sha1) else "password_sha1 is 40 hex digits")
        or _secret_problem(c.signing_secret)
        or channel_problem(c.channel)
        or policy_problem(c.retry_policy)
        or ips_problem(c.allowed_ips)
    )
    if problem:
        return reject(Code.INVALID_PARAMETER, problem)
    return [
        AccountOpened(
            login=c.login,
            password_sha1=c.password_sha1,
            secret_id=secret_id(c.signing_secret),
            channel=c.channel,
            retry_policy=c.retry_policy,
            allowed_ips=c.allowed_ips,
            at=now,
        )
    ]


def decide(
    state: AccountState, command: AccountCommand, now: datetime
) -> list[AccountEvent] | Rejection:
    """Decide what a command does to an account.

    Rejections: 2302 opening twice (a closed account's login too: it is not reused);
    2303 any other command on an account never opened; 2304 any command on a closed
    account, and a command with nothing to do: suspending a suspended account, resuming
    one not suspended (as EPP refuses what the object's status makes moot, so a caller
    is told, and nothing is recorded as done); 2101 invalid settings.
    """
    if isinstance(command, OpenAccount):
        return _open(state, command, now)
    if not state.opened:
        return reject(Code.OBJECT_NOT_FOUND, "account does not exist")
    if state.closed:
        if isinstance(command, CloseAccount):
            return reject(Code.STATUS_PROHIBITS, "account is already closed")
        return reject(Code.STATUS_PROHIBITS, "account is closed")
    match command:
        case ChangePassword(password_sha1=digest):
            if not _SHA1_HEX.fullmatch(digest):
                return reject(Code.INVALID_PARAMETER, "password_sha1 is 40 hex digits")
            return [PasswordChanged(password_sha1=digest, at=now)]
        case ConfigureChannel(channel=channel):
            if problem := channel_problem(channel):
                return reject(Code.INVALID_PARAMETER, problem)
            return [ChannelConfigured(channel=channel, at=now)]
        case SetRetryPolicy(retry_policy=policy):
            if problem := policy_problem(policy):
                return reject(Code.INVALID_PARAMETER, problem)
            return [RetryPolicySet(retry_policy=policy, at=now)]
        case RotateSecret(signing_secret=secret):
            if problem := _secret_problem(secret):
                return reject(Code.INVALID_PARAMETER, problem)
            return [SecretRotated(secret_id=secret_id(secret), at=now)]
        case SetIpAllowList(allowed_ips=ips):
            if problem := ips_problem(ips):
                return reject(Code.INVALID_PARAMETER, problem)
            return [IpAllowListSet(allowed_ips=ips, at=now)]
        case SuspendAccount(reason=reason):
            if state.suspended:
                return reject(Code.STATUS_PROHIBITS, "account is already suspended")
            return [AccountSuspended(reason=reason, at=now)]
        case ResumeAccount():
            if not state.suspended:
                return reject(Code.STATUS_PROHIBITS, "account is not suspended")
            return [AccountResumed(at=now)]
        case CloseAccount(reason=reason):
            return [AccountClosed(reason=reason, at=now)]


def check(state: AccountState, event: AccountEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: the opening first, once;
    nothing after the closing."""
    if isinstance(event, AccountOpened):
        return "opened twice" if state.opened else None
    if not state.opened:
        return "an account's first event is its opening"
    return "the account is closed" if state.closed else None


def evolve(state: AccountState, event: AccountEvent) -> AccountState:
    """Apply one account event (never raises; see the module docstring)."""
    match event:
        case AccountOpened():
            return AccountState(
                opened=True,
                login=event.login,
                password_sha1=event.password_sha1,
                secret_id=event.secret_id,
                channel=event.channel,
                retry_policy=event.retry_policy,
                allowed_ips=event.allowed_ips,
            )
        case PasswordChanged(password_sha1=digest):
            return replace(state, password_sha1=digest)
        case ChannelConfigured(channel=channel):
            return replace(state, channel=channel)
        case RetryPolicySet(retry_policy=policy):
            return replace(state, retry_policy=policy)
        case SecretRotated(secret_id=new, at=at):
            return replace(
                state, secret_id=new, previous_secret_id=state.secret_id, secret_rotated_at=at
            )
        case IpAllowListSet(allowed_ips=ips):
            return replace(state, allowed_ips=ips)
        case AccountSuspended(reason=reason):
            return replace(state, suspended=True, suspended_reason=reason)
        case AccountResumed():
            return replace(state, suspended=False, suspended_reason="")
        case AccountClosed(reason=reason):
            return replace(state, closed=True, closed_reason=reason)
        case _:
            return state
