"""Operation: one asynchronous request, from `1001 Request pending` to its end.

Stream: one per svTRID. The svTRID is made outside the domain (it reads the clock and a
counter) and passed in.
"""

from datetime import datetime
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .rejection import Rejection, reject
from .values import BatchState, InitRequest, Outcome, login_problem

__all__ = [
    "MAX_CLTRID",
    "AcceptOperation",
    "EndOperation",
    "OperationAccepted",
    "OperationCommand",
    "OperationEnded",
    "OperationEvent",
    "OperationState",
    "RecordStep",
    "Step",
    "StepRecorded",
    "decide",
    "evolve",
    "initial",
    "is_terminal",
    "outcome",
]

MAX_CLTRID = 64


# --- Commands -------------------------------------------------------------------------
class AcceptOperation(Struct, frozen=True, kw_only=True, tag="AcceptOperation"):
    svtrid: str
    cltrid: str
    command: str
    login: str
    init_request: InitRequest | None = None


class RecordStep(Struct, frozen=True, tag="RecordStep"):
    text: str


class EndOperation(Struct, frozen=True, kw_only=True, tag="EndOperation"):
    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


OperationCommand = AcceptOperation | RecordStep | EndOperation


# --- Events ---------------------------------------------------------------------------
class OperationAccepted(Struct, frozen=True, kw_only=True, tag="OperationAccepted"):
    svtrid: str
    cltrid: str
    command: str
    login: str
    init_request: InitRequest | None
    at: datetime


class StepRecorded(Struct, frozen=True, kw_only=True, tag="StepRecorded"):
    text: str
    at: datetime


class OperationEnded(Struct, frozen=True, kw_only=True, tag="OperationEnded"):
    code: int
    result: str
    data: dict[str, Any] | None
    batch_state: BatchState | None
    at: datetime


OperationEvent = OperationAccepted | StepRecorded | OperationEnded


# --- State ----------------------------------------------------------------------------
class Step(Struct, frozen=True):
    text: str
    at: datetime


class OperationState(Struct, frozen=True, kw_only=True):
    accepted: OperationAccepted | None = None
    steps: tuple[Step, ...] = ()
    ended: OperationEnded | None = None


initial = OperationState()


def is_terminal(state: OperationState) -> bool:
    return state.ended is not None


def outcome(state: OperationState) -> Outcome:
    """The outcome of an ended operation: what its notification carries.

    Raises ValueError when the operation has not ended.
    """
    if state.accepted is None or state.ended is None:
        raise ValueError("only an ended operation has an outcome")
    return Outcome(
        code=state.ended.code,
        result=state.ended.result,
        timestamp=state.ended.at,
        cltrid=state.accepted.cltrid,
        svtrid=state.accepted.svtrid,
        command=state.accepted.command,
        data=state.ended.data,
        batch_state=state.ended.batch_state,
        init_request=state.accepted.init_request,
    )


# --- Decisions ------------------------------------------------------------------------
def _accept(
    state: OperationState, c: AcceptOperation, now: datetime
) -> list[OperationEvent] | Rejection:
    if state.accepted is not None:
        return reject(Code.OBJECT_EXISTS, f"operation {c.svtrid!r} exists")
    if not c.svtrid or not c.command:
        return reject(Code.MISSING_PARAMETER, "svtrid and command are required")
    if len(c.cltrid) > MAX_CLTRID:
        return reject(Code.CLTRID_TOO_LONG)
    if problem := login_problem(c.login):
        return reject(Code.INVALID_PARAMETER, problem)
    return [
        OperationAccepted(
            svtrid=c.svtrid,
            cltrid=c.cltrid,
            command=c.command,
            login=c.login,
            init_request=c.init_request,
            at=now,
        )
    ]


def decide(
    state: OperationState, command: OperationCommand, now: datetime
) -> list[OperationEvent] | Rejection:
    """Decide what a command does to an operation.

    Rejections: 2302 accepting a svTRID twice; 2303 a step or end of an operation never
    accepted; 2304 a step or end after the operation ended; 2005 a clTRID over 64
    characters; 2100 a step or ending without text; 2101 a code outside 1000-5999.
    """
    if isinstance(command, AcceptOperation):
        return _accept(state, command, now)
    if state.accepted is None:
        return reject(Code.OBJECT_NOT_FOUND, "operation does not exist")
    if state.ended is not None:
        return reject(Code.STATUS_PROHIBITS, "operation has already ended")
    match command:
        case RecordStep(text=text):
            if not text:
                return reject(Code.MISSING_PARAMETER, "a step needs a text")
            return [StepRecorded(text=text, at=now)]
        case EndOperation():
            if not 1000 <= command.code <= 5999:
                return reject(Code.INVALID_PARAMETER, "a result code is in 1000-5999")
            if not command.result:
                return reject(Code.MISSING_PARAMETER, "an ending needs a result text")
            return [
                OperationEnded(
                    code=command.code,
                    result=command.result,
                    data=command.data,
                    batch_state=command.batch_state,
                    at=now,
                )
            ]


def evolve(state: OperationState, event: OperationEvent) -> OperationState:
    """Apply one operation event."""
    # A replay runs every event of the log through here: comparing the exact type (no
    # event struct is subclassed) costs less than `isinstance`, and much less than `match`.
    if type(event) is OperationAccepted:
        return replace(state, accepted=event)
    if type(event) is StepRecorded:
        return replace(state, steps=(*state.steps, Step(event.text, event.at)))
    return replace(state, ended=event)
