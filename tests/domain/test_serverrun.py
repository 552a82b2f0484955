"""Server-run operations: ping-async ends 1000 after its delay; a Merchants job ends as
its submitted document says, after the job delay; an operation is ended once."""

from datetime import timedelta
from typing import Any

import pytest
from tidings.domain import OPERATION, Code, InitRequest
from tidings.domain import operation as op
from tidings.domain.serverrun import (
    FILES,
    PING_ASYNC,
    PRODUCTS,
    Ending,
    awaiting_ending,
    due_at,
    job_ending,
    job_outcome,
    ping_ending,
)

from tests.gwt import T0, spec

operation = spec(OPERATION)


def accepted(command: str = PING_ASYNC, body: str | None = None) -> op.OperationAccepted:
    request = (
        None
        if body is None
        else InitRequest(
            method="POST",
            uri="http://127.0.0.1/merchants/files",
            content_type="application/xml",
            client_ip="127.0.0.1",
            body=body,
        )
    )
    return op.OperationAccepted(
        svtrid="sv-1", cltrid="", command=command, login="tester", init_request=request, at=T0
    )


def ended() -> op.OperationEnded:
    return op.OperationEnded(code=1000, result="OK", data=None, batch_state=None, at=T0)


OPEN_PING = operation.given(accepted()).state


# --- When --------------------------------------------------------------------------------
def test_an_operation_the_server_ends_is_due_its_delay_after_acceptance() -> None:
    assert due_at(accepted(), 2.5) == T0 + timedelta(seconds=2.5)
    assert due_at(accepted(), 0.0) == T0


def test_only_an_accepted_operation_not_yet_ended_awaits_its_ending() -> None:
    assert awaiting_ending(OPEN_PING) == accepted()
    assert awaiting_ending(operation.given().state) is None
    assert awaiting_ending(operation.given(accepted(), ended()).state) is None


def test_a_second_ending_of_an_operation_another_process_ended_is_2304() -> None:
    ending = ping_ending(OPEN_PING)
    command = op.EndOperation(code=ending.code, result=ending.result)
    operation.given(accepted(), ended()).when(command).then_rejected(Code.STATUS_PROHIBITS)


# --- ping-async ----------------------------------------------------------------------------
def test_ping_async_ends_1000() -> None:
    assert ping_ending(OPEN_PING) == Ending(Code.OK, Code.OK.text)


def test_the_ending_of_a_ping_async_is_one_the_operation_accepts() -> None:
    ending = ping_ending(OPEN_PING)
    command = op.EndOperation(code=ending.code, result=ending.result)
    (event,) = operation.given(accepted()).when(command).events
    assert isinstance(event, op.OperationEnded) and event.code == 1000


# --- Merchants jobs ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "ending"),
    [
        ({}, Ending(Code.OK, Code.OK.text, batch_state="Successfull")),
        ({"State": "Successfull"}, Ending(Code.OK, Code.OK.text, batch_state="Successfull")),
        ({"State": "Failed"}, Ending(Code.COMMAND_FAILED, "Batch failed", batch_state="Failed")),
        (
            {"State": "PartiallyFailed"},
            Ending(Code.COMMAND_FAILED, "Batch partially failed", batch_state="PartiallyFailed"),
        ),
    ],
)
def test_a_batch_ends_in_the_state_its_document_gives(
    fields: dict[str, str], ending: Ending
) -> None:
    assert job_outcome(FILES, fields) == ending


def test_a_batch_state_that_does_not_exist_is_2101() -> None:
    refused = job_outcome(FILES, {"State": "Done"})
    assert not isinstance(refused, Ending)
    assert refused.code == Code.INVALID_PARAMETER
    assert refused.text == "State is one of Failed, PartiallyFailed, Successfull"


def test_a_single_job_without_an_error_code_succeeds() -> None:
    assert job_outcome(PRODUCTS, {"Name": "chair"}) == Ending(Code.OK, Code.OK.text)


def test_a_single_job_with_an_error_code_fails_with_its_error_data() -> None:
    fields = {"ErrorCode": "42", "ErrorData": "no stock"}
    assert job_outcome(PRODUCTS, fields) == Ending(Code.COMMAND_FAILED, "no stock", data=fields)


def test_an_error_code_without_error_data_says_the_command_failed() -> None:
    text = Code.COMMAND_FAILED.text
    assert job_outcome(PRODUCTS, {"ErrorCode": "7", "ErrorData": ""}) == Ending(
        Code.COMMAND_FAILED, text, data={"ErrorCode": "7", "ErrorData": text}
    )


@pytest.mark.parametrize("code", ["", "x", "-1", "1234567890", "4.2"])
def test_an_error_code_that_is_not_a_whole_number_of_9_digits_at_most_is_2101(code: str) -> None:
    refused = job_outcome(PRODUCTS, {"ErrorCode": code})
    assert not isinstance(refused, Ending)
    assert refused.code == Code.INVALID_PARAMETER


def test_a_job_ends_as_its_recorded_document_says() -> None:
    job = operation.given(accepted(FILES, "<Batch><State>Failed</State></Batch>")).state
    assert job_ending(job, {"State": "Failed"}) == Ending(
        Code.COMMAND_FAILED, "Batch failed", batch_state="Failed"
    )


UNREADABLE = "the job's request cannot be read"


@pytest.mark.parametrize(
    ("body", "fields", "text"),
    [
        (None, {}, "the job has no recorded request"),
        ("not xml", None, UNREADABLE),
        ("<Batch><State>Done</State></Batch>", {"State": "Done"}, UNREADABLE),
    ],
    ids=["no request", "unreadable", "says what cannot be"],
)
def test_a_job_whose_document_cannot_tell_how_it_ends_fails(
    body: str | None, fields: Any, text: str
) -> None:
    job = operation.given(accepted(FILES, body)).state
    assert job_ending(job, fields) == Ending(Code.COMMAND_FAILED, text)
