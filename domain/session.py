"""Session: the signed-in browsers of one account holder or one operator.

Stream: one per holder (`account:<login>` or `operator:<name>`, see `holder`). A
session is known by the SHA-256 of its random id (the id itself lives only in the
browser's cookie) and lasts until its expiry, its sign-out, or the end of all of the
holder's sessions (a password change, an operator revoked). The state keeps only the
sessions still open: expired ones are dropped whenever the stream moves on.

`evolve` applies any event and never raises; every event may follow any state.
"""

import re
from datetime import datetime, timedelta

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .rejection import Rejection, reject

__all__ = [
    "EndSession",
    "EndSessions",
    "SessionCommand",
    "SessionEnded",
    "SessionEvent",
    "SessionStarted",
    "SessionState",
    "SessionsEnded",
    "StartSession",
    "check",
    "decide",
    "evolve",
    "holder",
    "initial",
    "is_open",
]

# The longest a session may last, whatever its caller asks.
LONGEST = timedelta(hours=12)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def holder(kind: str, name: str) -> str:
    """The stream key of the sessions of an account holder (`kind` "account") or an
    operator (`kind` "operator")."""
    return f"{kind}:{name}"


# --- Commands -------------------------------------------------------------------------
class StartSession(Struct, frozen=True, kw_only=True, tag="StartSession"):
    session_sha256: str
    expires_at: datetime


class EndSession(Struct, frozen=True, tag="EndSession"):
    session_sha256: str


class EndSessions(Struct, frozen=True, tag="EndSessions"):
    """End every open session of the holder; `reason` says why (sign-out everywhere, a
    password change, a revoked operator)."""

    reason: str


SessionCommand = StartSession | EndSession | EndSessions


# --- Events ---------------------------------------------------------------------------
class SessionStarted(Struct, frozen=True, kw_only=True, tag="SessionStarted"):
    session_sha256: str
    expires_at: datetime
    at: datetime


class SessionEnded(Struct, frozen=True, kw_only=True, tag="SessionEnded"):
    session_sha256: str
    at: datetime


class SessionsEnded(Struct, frozen=True, kw_only=True, tag="SessionsEnded"):
    reason: str
    at: datetime


SessionEvent = SessionStarted | SessionEnded | SessionsEnded


# --- State ----------------------------------------------------------------------------
class SessionState(Struct, frozen=True, kw_only=True):
    """The open sessions: (SHA-256 of the id, expiry), oldest first."""

    open: tuple[tuple[str, datetime], ...] = ()


initial = SessionState()


def is_open(state: SessionState, session_sha256: str, now: datetime) -> bool:
    """Whether the session is open at `now`: started, not ended, not expired."""
    return any(digest == session_sha256 and now < until for digest, until in state.open)


# --- Decisions ------------------------------------------------------------------------
def decide(
    state: SessionState, command: SessionCommand, now: datetime
) -> list[SessionEvent] | Rejection:
    """Decide what a command does to a holder's sessions.

    Rejections: 2101 a session digest that is not 64 hex digits, or an expiry not after
    `now` or more than `LONGEST` after it. Ending a session that is not open, or all of
    them when none is, changes nothing (no events).
    """
    match command:
        case StartSession(session_sha256=digest, expires_at=until):
            if not _SHA256_HEX.fullmatch(digest):
                return reject(Code.INVALID_PARAMETER, "session_sha256 is 64 hex digits")
            if not now < until <= now + LONGEST:
                return reject(Code.INVALID_PARAMETER, f"a session lasts up to {LONGEST}")
            return [SessionStarted(session_sha256=digest, expires_at=until, at=now)]
        case EndSession(session_sha256=digest):
            if not is_open(state, digest, now):
                return []
            return [SessionEnded(session_sha256=digest, at=now)]
        case EndSessions(reason=reason):
            if not any(now < until for _, until in state.open):
                return []
            return [SessionsEnded(reason=reason, at=now)]
    return reject(Code.INVALID_PARAMETER, "unknown session command")


def check(state: SessionState, event: SessionEvent) -> str | None:
    """Every session event may follow any state."""
    return None


def evolve(state: SessionState, event: SessionEvent) -> SessionState:
    """Apply one session event (never raises); sessions expired by the event's time go."""
    match event:
        case SessionStarted(session_sha256=digest, expires_at=until, at=at):
            kept = tuple(s for s in state.open if s[1] > at)
            return replace(state, open=(*kept, (digest, until)))
        case SessionEnded(session_sha256=digest, at=at):
            return replace(state, open=tuple(s for s in state.open if s[0] != digest and s[1] > at))
        case SessionsEnded():
            return initial
        case _:
            return state
