"""Values shared by the deciders: channels, the init request, outcomes, notifications.

The values a caller gives (a channel, an init request) refuse a field they do not have:
decoded from JSON, a misspelt setting (`expected_statuss`) is an error, not a default.
"""

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from msgspec import Struct

__all__ = [
    "BatchState",
    "BodyFormat",
    "Channel",
    "EmailChannel",
    "Fallback",
    "InitRequest",
    "Notification",
    "Outcome",
    "PollChannel",
    "UrlChannel",
    "channel_problem",
    "command_problem",
    "is_error_outcome",
    "is_sender",
    "login_problem",
    "password_problem",
    "push_target",
]

# The Merchants API spells the success state "Successfull"; we keep its spelling.
BatchState = Literal["Failed", "PartiallyFailed", "Successfull"]
BodyFormat = Literal["wapi-form", "jobresult"]
# What happens to a pushed notification whose delivery gave up: it is kept and listed
# ("none"), and with "poll" it also enters the account's poll queue.
Fallback = Literal["none", "poll"]

_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# A command names what was asked (`domain-renew`), shown in pages, logs and an e-mail's
# subject: bounded like a clTRID, and one line of text (no C0/C1 controls, no NUL).
MAX_COMMAND = 64
_COMMAND = re.compile(rf"[^\x00-\x1f\x7f-\x9f]{{1,{MAX_COMMAND}}}")
# An address as SMTP carries it unquoted, at most 254 characters: a dot-atom local part
# of RFC 5322's `atext` (and, for SMTPUTF8, any printable non-ASCII), at most 64 of them;
# a domain of two or more dot-separated labels (1-63 letters, digits, inner hyphens). No
# angle brackets, commas, quotes or spaces: an SMTP server would refuse them.
_WIDE = r"[^\x00-\x9f\s]"  # printable, past ASCII and its C1 controls
_ATOM = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]|{_WIDE})+"
_END = rf"(?:[A-Za-z0-9]|{_WIDE})"
_LABEL = rf"{_END}(?:(?:[A-Za-z0-9-]|{_WIDE}){{0,61}}{_END})?"
_EMAIL = re.compile(
    rf"(?=.{{6,254}}\Z)(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+"
)
# The sender of tidings' mail: the same grammar in ASCII (every server takes it, no
# SMTPUTF8 needed), its host a name of one label or more (`tidings@localhost`).
_SENDER = re.compile(
    rf"(?=.{{3,254}}\Z)(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*"
)
# A URL's user and password: what follows "//" up to the last "@" of its authority.
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


class PollChannel(Struct, frozen=True, gc=False, forbid_unknown_fields=True, tag="poll"):
    """Notifications wait in the mailbox for poll-req / poll-ack (the default)."""


class UrlChannel(
    Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True, tag="url"
):
    """Notifications are POSTed to a URL.

    Success outcomes go to `success_url`, error outcomes to `error_url` (or to
    `success_url` when no error URL is set); an account that set only an error URL hears
    about errors only. A delivery succeeds only on a status in `expected_status`.

    Push settings: `connect_timeout` and `timeout` (the whole attempt) in seconds;
    `ordered`: one delivery in flight at a time, in id order, a failure holding the ones
    behind it; `pause_after` consecutive failed attempts pause the endpoint, which is
    then probed once every `probe_every` seconds until an attempt succeeds.
    """

    success_url: str | None = None
    error_url: str | None = None
    expected_status: frozenset[int] = frozenset({200})
    body_format: BodyFormat = "wapi-form"
    fallback: Fallback = "none"
    connect_timeout: float = 5.0
    timeout: float = 15.0
    ordered: bool = False
    pause_after: int = 10
    probe_every: float = 60.0


class EmailChannel(Struct, frozen=True, gc=False, forbid_unknown_fields=True, tag="email"):
    """Notifications are sent as XML by e-mail (`timeout`: seconds per attempt).

    The address's health has settings of its own: `pause_after` consecutive failed
    attempts pause it, and a paused one is probed once every `probe_every` seconds.
    """

    address: str
    fallback: Fallback = "none"
    timeout: float = 30.0
    pause_after: int = 10
    probe_every: float = 60.0


Channel = PollChannel | UrlChannel | EmailChannel


class InitRequest(Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True):
    """The original HTTP request of a JobResult client, returned in full in the JobResult."""

    method: str
    uri: str
    content_type: str
    client_ip: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""


class Outcome(Struct, frozen=True, gc=False, kw_only=True):
    """How an operation ended, shaped like the response the request would have had."""

    code: int
    result: str
    timestamp: datetime
    cltrid: str
    svtrid: str
    command: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None
    init_request: InitRequest | None = None


class Notification(Struct, frozen=True, gc=False, kw_only=True):
    """An outcome queued in a mailbox under its id (unique per account, increasing).

    `retrieved_at` / `retrieved_by` record the first poll that returned it: when, and
    under which svTRID.
    """

    id: int
    outcome: Outcome
    retrieved_at: datetime | None = None
    retrieved_by: str | None = None


def command_problem(command: str) -> str | None:
    """What is wrong with a (non-empty) command name, or None."""
    if not _COMMAND.fullmatch(command):
        return f"a command is at most {MAX_COMMAND} characters, none a control (CR, LF, NUL...)"
    return None


def login_problem(login: str) -> str | None:
    """What is wrong with a login, or None."""
    if not _LOGIN.fullmatch(login):
        return "a login is 1-64 characters: letters, digits, '.', '_', '@', '-'"
    return None


def password_problem(password: str) -> str | None:
    """What is wrong with a password, or None: the same rule for every way an account
    gets one (the shell, the JSON API, the library)."""
    if not password.strip():
        return "a password may not be empty or only whitespace"
    return None


# RFC 9110 section 4.1: URIs of up to 8000 octets should work everywhere; a longer
# one may not (httpx refuses one over 64 KiB), so it could never be pushed to.
_URL_LONGEST = 8000


def _url_problem(url: str) -> str | None:
    if len(url) > _URL_LONGEST:
        return f"a URL is at most {_URL_LONGEST} characters"
    # Control characters (CR/LF above all) could split a request line or a header.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "a URL may not hold control characters (CR, LF, ...)"
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        userinfo = "@" in parts.netloc
    except ValueError:  # urlsplit refuses some strings, e.g. "http://[::1" (no "]")
        usable, userinfo = False, False
    if not usable:  # shown without its credentials: an error must not carry them
        return f"not an http(s) URL with a host: {_USERINFO.sub('***@', url)!r}"
    if userinfo:
        return "a URL may not carry a user or password; the push is signed instead"
    return None


def _push_problem(channel: "UrlChannel") -> str | None:
    if not 0 < channel.connect_timeout <= channel.timeout <= 300:
        return "timeouts must satisfy 0 < connect_timeout <= timeout <= 300 s"
    return _health_problem(channel)


def _health_problem(channel: "UrlChannel | EmailChannel") -> str | None:
    if not 1 <= channel.pause_after <= 1_000_000:
        return "pause_after counts failed attempts: 1 or more"
    if not 0 < channel.probe_every <= 86400:
        return "probe_every is more than 0 s and at most a day"
    return None


def is_sender(address: str) -> bool:
    """Whether `address` may send tidings' e-mail: one bare ASCII address (it can neither
    break the From header nor add one), its host a name of one label or more."""
    return address.isascii() and _SENDER.fullmatch(address) is not None


def channel_problem(channel: Channel) -> str | None:
    """What is wrong with a channel's settings, or None."""
    match channel:
        case PollChannel():
            return None
        case UrlChannel(success_url=None, error_url=None):
            return "a url channel needs a success URL, an error URL or both"
        case UrlChannel():
            for url in (channel.success_url, channel.error_url):
                if url is not None and (problem := _url_problem(url)):
                    return problem
            if not channel.expected_status:
                return "expected_status must name at least one HTTP status"
            if any(not 100 <= status <= 599 for status in channel.expected_status):
                return "expected_status holds HTTP statuses (100-599)"
            return _push_problem(channel)
        case EmailChannel(address=address):
            if not _EMAIL.fullmatch(address):
                return f"not an e-mail address: {address!r}"
            if not 0 < channel.timeout <= 300:
                return "timeout is more than 0 s and at most 300 s"
            return _health_problem(channel)


def is_error_outcome(outcome: Outcome) -> bool:
    """An outcome is an error when its code is not a success or its batch did not succeed."""
    return outcome.code >= 2000 or outcome.batch_state in ("Failed", "PartiallyFailed")


def push_target(channel: Channel, outcome: Outcome) -> str | None:
    """Where a push channel sends this outcome: a URL, an address, or None (not pushed)."""
    match channel:
        case PollChannel():
            return None
        case UrlChannel():
            if is_error_outcome(outcome):
                return channel.error_url or channel.success_url
            return channel.success_url
        case EmailChannel(address=address):
            return address
