"""Operation: one asynchronous request, from `1001 Request pending` to its end.

Stream: one per svTRID. The svTRID is made outside the domain (it reads the clock and a
counter) and passed in.

Only a final answer ends an operation: a success (1000) or an error (2000-5999). The
other 1xxx codes (1001 pending, 1002 acquired, 1003 empty queue, and any unassigned
1xxx) say that a request is still going or answer the poll queue itself; a client
polling `1001` would be told its operation is still pending while it never will be
again, so ending with them is refused (2101).

`evolve` applies any event and never raises: a second acceptance replaces the first, a
step or an end is applied whatever came before, and anything else is ignored. `check`
says whether an event may follow a state (replay reports the ones it refuses).
"""

from datetime import datetime
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .document import data_problem, init_request_problem
from .rejection import Rejection, reject
from .values import BatchState, InitRequest, Outcome, command_problem, login_problem

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
    "check",
    "decide",
    "evolve",
    "initial",
    "is_final",
    "is_terminal",
    "outcome",
]

MAX_CLTRID = 64


# --- Commands -------------------------------------------------------------------------
class AcceptOperation(Struct, frozen=True, gc=False, kw_only=True, tag="AcceptOperation"):
    svtrid: str
    cltrid: str
    command: str
    login: str
    init_request: InitRequest | None = None
    context: dict[str, str] | None = None


class RecordStep(Struct, frozen=True, gc=False, tag="RecordStep"):
    text: str


class EndOperation(Struct, frozen=True, gc=False, kw_only=True, tag="EndOperation"):
    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


OperationCommand = AcceptOperation | RecordStep | EndOperation


# --- Events ---------------------------------------------------------------------------
class OperationAccepted(Struct, frozen=True, gc=False, kw_only=True, tag="OperationAccepted"):
    """`context`: what the accepting request left for the ending and the deliveries to
    refer to (its request id, its trace context); the domain only carries it."""

    svtrid: str
    cltrid: str
    command: str
    login: str
    init_request: InitRequest | None
    at: datetime
    context: dict[str, str] | None = None


class StepRecorded(Struct, frozen=True, gc=False, kw_only=True, tag="StepRecorded"):
    text: str
    at: datetime


class OperationEnded(Struct, frozen=True, gc=False, kw_only=True, tag="OperationEnded"):
    code: int
    result: str
    data: dict[str, Any] | None
    batch_state: BatchState | None
    at: datetime


OperationEvent = OperationAccepted | StepRecorded | OperationEnded


# --- State ----------------------------------------------------------------------------
class Step(Struct, frozen=True, gc=False):
    text: str
    at: datetime


class OperationState(Struct, frozen=True, gc=False, kw_only=True):
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


def is_final(code: int) -> bool:
    """Whether `code` is a final answer that may end an operation: 1000, or 2000-5999."""
    return code == 1000 or 2000 <= code <= 5999


# --- Decisions ------------------------------------------------------------------------
def _accept(
    state: OperationState, c: AcceptOperation, now: datetime
) -> list[OperationEvent] | Rejection:
    if state.accepted is not None:
        return reject(Code.OBJECT_EXISTS, f"operation {c.svtrid!r} exists")
    if missing := [
        name for name, value in (("svtrid", c.svtrid), ("command", c.command)) if not value
    ]:
        are = "is" if len(missing) == 1 else "are"
        return reject(Code.MISSING_PARAMETER, f"{' and '.join(missing)} {are} required")
    if len(c.cltrid) > MAX_CLTRID:
        return reject(Code.CLTRID_TOO_LONG)
    problem = command_problem(c.command) or login_problem(c.login)
    if problem := problem or init_request_problem(c.init_request):
        return reject(Code.INVALID_PARAMETER, problem)
    return [
        OperationAccepted(
            svtrid=c.svtrid,
            cltrid=c.cltrid,
            command=c.command,
            login=c.login,
            init_request=c.init_request,
            at=now,
            context=c.context,
        )
    ]


def decide(
    state: OperationState, command: OperationCommand, now: datetime
) -> list[OperationEvent] | Rejection:
    """Decide what a command does to an operation.

    Rejections: 2302 accepting a svTRID twice; 2303 a step or end of an operation never
    accepted; 2304 a step or end after the operation ended; 2005 a clTRID over 64
    characters; 2100 an acceptance without svTRID or command (naming what is missing), a
    step or ending without text; 2101 a command over 64 characters or holding a control
    character, an ending code that is not a final answer (see `is_final`), `data` with a
    key that is not an XML name or nesting too deep, or an init request nesting too deep
    (see `document`).
    """
    if isinstance(command, AcceptOperation):
        return _accept(state, command, now)
    if state.accepted is None:
        return reject(Code.OBJECT_NOT_FOUND, "operation does not exist")
    if state.ended is not None:
        return reject(Code.STATUS_PROHIBITS, "operation has already ended")
    # An ending before a step: an `isinstance` against a struct type that fails costs a
    # call of its metaclass's `__instancecheck__`, and every operation ends.
    if isinstance(command, EndOperation):
        if not is_final(command.code):
            return reject(
                Code.INVALID_PARAMETER, "an ending code is a final answer: 1000 or 2000-5999"
            )
        if not command.result:
            return reject(Code.MISSING_PARAMETER, "an ending needs a result text")
        if problem := data_problem(command.data):
            return reject(Code.INVALID_PARAMETER, problem)
        return [
            OperationEnded(
                code=command.code,
                result=command.result,
                data=command.data,
                batch_state=command.batch_state,
                at=now,
            )
        ]
    if isinstance(command, RecordStep):
        if not command.text:
            return reject(Code.MISSING_PARAMETER, "a step needs a text")
        return [StepRecorded(text=command.text, at=now)]


def check(state: OperationState, event: OperationEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: one acceptance first, then
    steps, then one end."""
    if type(event) is OperationAccepted:
        return "accepted twice" if state.accepted is not None else None
    if state.accepted is None:
        return "an operation's first event is its acceptance"
    if state.ended is not None:
        return "nothing follows an operation's end"
    return None


def evolve(state: OperationState, event: OperationEvent) -> OperationState:
    """Apply one operation event (never raises; see the module docstring)."""
    # A replay runs every event of the log through here: comparing the exact type (no
    # event struct is subclassed) costs less than `isinstance`, and much less than `match`.
    if type(event) is OperationAccepted:
        return replace(state, accepted=event)
    if type(event) is StepRecorded:
        return replace(state, steps=(*state.steps, Step(event.text, event.at)))
    if type(event) is OperationEnded:
        return replace(state, ended=event)
    return state
