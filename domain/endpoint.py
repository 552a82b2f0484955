"""Endpoint: the health of one push target (an account's URL or e-mail address).

Stream: one per (account, target), keyed `"<login>/<target>"`. Every failed attempt to
the target is counted; `pause_after` failures in a row pause it. While it is paused its
deliveries wait (their schedules are not spent) and one probe attempt per
`probe_every` seconds may go out: claiming the probe is an event, so among many
processes exactly one gets it. A successful attempt resumes the endpoint; an operator
can resume it by hand. A success on a healthy endpoint changes nothing, so the happy
path writes no event here.
"""

from datetime import datetime, timedelta
from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .rejection import Rejection, reject

__all__ = [
    "NONE_PAUSED",
    "ClaimProbe",
    "EndpointCommand",
    "EndpointEvent",
    "EndpointFailed",
    "EndpointPaused",
    "EndpointRecovered",
    "EndpointResumed",
    "EndpointState",
    "ProbeClaimed",
    "RecordOutcome",
    "ResumeEndpoint",
    "check",
    "decide",
    "evolve",
    "initial",
    "key",
]


def key(login: str, target: str) -> str:
    """The stream key of an account's target (a login holds no '/')."""
    return f"{login}/{target}"


# --- Commands -------------------------------------------------------------------------
class RecordOutcome(Struct, frozen=True, gc=False, kw_only=True, tag="RecordOutcome"):
    """An attempt to the endpoint succeeded (`ok`) or failed; the account's settings say
    when it pauses and how often a paused one is probed."""

    ok: bool
    pause_after: int = 10
    probe_every: float = 60.0


class ClaimProbe(Struct, frozen=True, gc=False, tag="ClaimProbe"):
    """May an attempt go out now? Always on a live endpoint; on a paused one only as the
    probe of this interval."""


class ResumeEndpoint(Struct, frozen=True, gc=False, tag="ResumeEndpoint"):
    """An operator resumes a paused endpoint."""


# What an operator's resume of all of an account's endpoints answers (2304) when none is
# paused (`decide_each`).
NONE_PAUSED = "no push endpoint of the account is paused"

EndpointCommand = RecordOutcome | ClaimProbe | ResumeEndpoint


# --- Events ---------------------------------------------------------------------------
class EndpointFailed(Struct, frozen=True, gc=False, kw_only=True, tag="EndpointFailed"):
    consecutive: int
    at: datetime


class EndpointRecovered(Struct, frozen=True, gc=False, kw_only=True, tag="EndpointRecovered"):
    """A success after failures that did not pause the endpoint: the count starts over."""

    at: datetime


class EndpointPaused(Struct, frozen=True, gc=False, kw_only=True, tag="EndpointPaused"):
    probe_every: float
    next_probe_at: datetime
    at: datetime


class ProbeClaimed(Struct, frozen=True, gc=False, kw_only=True, tag="ProbeClaimed"):
    next_probe_at: datetime
    at: datetime


class EndpointResumed(Struct, frozen=True, gc=False, kw_only=True, tag="EndpointResumed"):
    by: Literal["probe", "operator"]
    at: datetime


EndpointEvent = EndpointFailed | EndpointRecovered | EndpointPaused | ProbeClaimed | EndpointResumed


# --- State ----------------------------------------------------------------------------
class EndpointState(Struct, frozen=True, gc=False, kw_only=True):
    consecutive_failures: int = 0
    paused: bool = False
    paused_at: datetime | None = None
    probe_every: float = 60.0
    next_probe_at: datetime | None = None


initial = EndpointState()


# --- Decisions ------------------------------------------------------------------------
def decide(
    state: EndpointState, command: EndpointCommand, now: datetime
) -> list[EndpointEvent] | Rejection:
    """Decide what an outcome, a probe claim or a resume does to an endpoint.

    Rejections: 2304 claiming a probe of a paused endpoint before its interval is over,
    or resuming one that is not paused (nothing to do: refused, as the account refuses
    resuming one not suspended); 2101 settings out of range (pause_after < 1,
    probe_every not in (0 s, 1 day]).
    """
    match command:
        case RecordOutcome(ok=True):
            if state.paused:
                return [EndpointResumed(by="probe", at=now)]
            return [EndpointRecovered(at=now)] if state.consecutive_failures else []
        case RecordOutcome(pause_after=pause_after, probe_every=probe_every):
            if pause_after < 1 or not 0 < probe_every <= 86400:
                return reject(Code.INVALID_PARAMETER, "pause_after >= 1, 0 < probe_every <= 1 day")
            count = state.consecutive_failures + 1
            failed: list[EndpointEvent] = [EndpointFailed(consecutive=count, at=now)]
            if state.paused or count < pause_after:
                return failed
            next_probe = now + timedelta(seconds=probe_every)
            paused = EndpointPaused(probe_every=probe_every, next_probe_at=next_probe, at=now)
            return [*failed, paused]
        case ClaimProbe():
            if not state.paused:
                return []
            if state.next_probe_at is not None and now < state.next_probe_at:
                return reject(Code.STATUS_PROHIBITS, "endpoint paused: next probe not due")
            next_probe = now + timedelta(seconds=state.probe_every)
            return [ProbeClaimed(next_probe_at=next_probe, at=now)]
        case ResumeEndpoint():
            if not state.paused:
                return reject(Code.STATUS_PROHIBITS, "endpoint is not paused")
            return [EndpointResumed(by="operator", at=now)]


def check(state: EndpointState, event: EndpointEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: what `decide` could have
    produced there. A failure counts one more than the failures before it; a recovery
    ends failures of a live endpoint; a pause follows a failure of a live one; a probe is
    claimed on a paused endpoint once it is due; a resume ends a pause. (Which failure
    pauses is the account's setting of that moment, so any may.) Anything that is not
    an endpoint event may not follow."""
    match event:
        case EndpointFailed(consecutive=count):
            expected = state.consecutive_failures + 1
            return None if count == expected else f"failure {count} in a row after {expected - 1}"
        case EndpointRecovered():
            if state.paused:
                return "a paused endpoint recovers only by a resume"
            return None if state.consecutive_failures else "recovered with no failure before"
        case EndpointPaused():
            if state.paused:
                return "paused twice"
            return None if state.consecutive_failures else "paused with no failure before"
        case ProbeClaimed(at=at):
            if not state.paused:
                return "a probe claimed on a live endpoint"
            if state.next_probe_at is not None and at < state.next_probe_at:
                return "a probe claimed before it was due"
            return None
        case EndpointResumed():
            return None if state.paused else "resumed while not paused"
        case _:
            return "not an endpoint event"


def evolve(state: EndpointState, event: EndpointEvent) -> EndpointState:
    """Apply one endpoint event. Never raises: an event `check` refuses (a resume of a
    live endpoint, a failure counted wrong, ...: only a forged log holds one) changes
    nothing, and so does anything that is not an endpoint event."""
    if check(state, event) is not None:
        return state
    match event:
        case EndpointFailed(consecutive=count):
            return replace(state, consecutive_failures=count)
        case EndpointRecovered():
            return replace(state, consecutive_failures=0)
        case EndpointPaused(probe_every=probe_every, next_probe_at=next_probe, at=at):
            return replace(
                state, paused=True, paused_at=at, probe_every=probe_every, next_probe_at=next_probe
            )
        case ProbeClaimed(next_probe_at=next_probe):
            return replace(state, next_probe_at=next_probe)
        case EndpointResumed():
            return EndpointState()
    return state
