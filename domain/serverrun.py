"""Server-run operations: the ones the server ends itself, a delay after acceptance.

- `ping-async` ends 1000 once the server's ping delay has passed.
- A Merchants job (`merchants-products`, `merchants-files`) ends once the job delay has
  passed, as the document it was submitted with says (`job_outcome`): a batch in its
  top-level `State` (`Failed`, `PartiallyFailed`, `Successfull`; default
  `Successfull`), a single job failed with its top-level `ErrorCode` (and `ErrorData`),
  else succeeded. The edge reads those top-level fields out of the XML or JSON.

An operation is ended once: one never accepted, or ended already, needs nothing
(`awaiting_ending`); when two processes end it at once, the operation refuses the second
(2304) and the first one's ending stands.
"""

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, get_args

from msgspec import Struct

from .codes import Code
from .operation import OperationAccepted, OperationState
from .rejection import Rejection, reject
from .values import BatchState

__all__ = [
    "FILES",
    "JOB_COMMANDS",
    "PING_ASYNC",
    "PRODUCTS",
    "Ending",
    "awaiting_ending",
    "due_at",
    "job_ending",
    "job_outcome",
    "ping_ending",
]

PING_ASYNC = "ping-async"
PRODUCTS, FILES = "merchants-products", "merchants-files"
JOB_COMMANDS = (PRODUCTS, FILES)
_STATES: tuple[BatchState, ...] = get_args(BatchState)
_ERROR_CODE = re.compile(r"[0-9]{1,9}")


class Ending(Struct, frozen=True):
    """The result a server-run operation ends with (what its `EndOperation` carries)."""

    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


# How a batch ends, by the `State` its document gives.
_BATCHES = {
    "Successfull": Ending(Code.OK, Code.OK.text, batch_state="Successfull"),
    "PartiallyFailed": Ending(
        Code.COMMAND_FAILED, "Batch partially failed", batch_state="PartiallyFailed"
    ),
    "Failed": Ending(Code.COMMAND_FAILED, "Batch failed", batch_state="Failed"),
}


def due_at(accepted: OperationAccepted, delay: float) -> datetime:
    """When an operation the server ends `delay` seconds after acceptance is due."""
    return accepted.at + timedelta(seconds=delay)


def awaiting_ending(operation: OperationState) -> OperationAccepted | None:
    """The acceptance of an operation still the server's to end (accepted, not ended);
    None when there is nothing to end."""
    return operation.accepted if operation.ended is None else None


def ping_ending(_: OperationState) -> Ending:
    """How every ping-async ends."""
    return Ending(Code.OK, Code.OK.text)


def job_outcome(command: str, fields: Mapping[str, str]) -> Ending | Rejection:
    """How a job of `command` whose document has these top-level fields ends. Rejections
    (2101): a batch `State` that does not exist, an `ErrorCode` that is not a whole
    number of at most 9 digits."""
    if command == FILES:
        batch = _BATCHES.get(fields.get("State", "Successfull"))
        if batch is None:
            return reject(Code.INVALID_PARAMETER, f"State is one of {', '.join(_STATES)}")
        return batch
    if "ErrorCode" in fields:
        if not _ERROR_CODE.fullmatch(fields["ErrorCode"]):
            return reject(Code.INVALID_PARAMETER, "ErrorCode is a whole number of at most 9 digits")
        error_data = fields.get("ErrorData") or Code.COMMAND_FAILED.text
        data = {"ErrorCode": fields["ErrorCode"], "ErrorData": error_data}
        return Ending(Code.COMMAND_FAILED, error_data, data=data)
    return Ending(Code.OK, Code.OK.text)


def job_ending(operation: OperationState, fields: Mapping[str, str] | None) -> Ending:
    """How an accepted job ends, from the top-level `fields` of its recorded document
    (None: the edge could not read it). A job with no recorded request, or one whose
    document cannot be read or says what cannot be (a log edited by hand: accepted
    documents were checked), fails."""
    accepted = operation.accepted
    if accepted is None or accepted.init_request is None:
        return Ending(Code.COMMAND_FAILED, "the job has no recorded request")
    outcome = None if fields is None else job_outcome(accepted.command, fields)
    if outcome is None or isinstance(outcome, Rejection):
        return Ending(Code.COMMAND_FAILED, "the job's request cannot be read")
    return outcome
