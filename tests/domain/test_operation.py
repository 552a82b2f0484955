"""Operation: accepted with 1001, may record steps, ends once with a result code and text."""

from datetime import timedelta
from typing import Any

import pytest
from tidings.domain import OPERATION, Code, InitRequest, Outcome
from tidings.domain.mailbox import NotificationAcked
from tidings.domain.operation import (
    MAX_CLTRID,
    AcceptOperation,
    EndOperation,
    OperationAccepted,
    OperationCommand,
    OperationEnded,
    OperationEvent,
    OperationState,
    RecordStep,
    Step,
    StepRecorded,
    check,
    is_terminal,
    outcome,
)

from tests.gwt import T0, spec

T1 = T0 + timedelta(seconds=30)
T2 = T0 + timedelta(seconds=58)
SVTRID = "1286957874.1271.15706"
INIT = InitRequest(
    method="PUT",
    uri="https://api.example/merchants/products/id",
    content_type="application/xml",
    client_ip="10.17.32.74",
    headers=(("Accept", "application/xml"),),
    body="<Product/>",
)

operation = spec(OPERATION)


def accept(
    svtrid: str = SVTRID, cltrid: str = "AvrX87Kqk6h3", command: str = "ping-async"
) -> AcceptOperation:
    return AcceptOperation(svtrid=svtrid, cltrid=cltrid, command=command, login="tester")


def accepted(init_request: InitRequest | None = None) -> OperationAccepted:
    return OperationAccepted(
        svtrid=SVTRID,
        cltrid="AvrX87Kqk6h3",
        command="ping-async",
        login="tester",
        init_request=init_request,
        at=T0,
    )


def ended(code: int = 1000, result: str = "OK") -> OperationEnded:
    return OperationEnded(code=code, result=result, data=None, batch_state=None, at=T2)


# --- Accepting ------------------------------------------------------------------------
def test_accepting_records_the_request_at_now() -> None:
    operation.given().when(accept(), now=T0).then(accepted())


def test_accepting_keeps_the_init_request_of_a_jobresult_client() -> None:
    command = AcceptOperation(
        svtrid=SVTRID,
        cltrid="AvrX87Kqk6h3",
        command="ping-async",
        login="tester",
        init_request=INIT,
    )
    operation.given().when(command).then(accepted(INIT))


def test_accepting_the_same_svtrid_twice_is_2302() -> None:
    operation.given(accepted()).when(accept()).then_rejected(Code.OBJECT_EXISTS)


def test_accepting_an_ended_operation_again_is_still_2302() -> None:
    operation.given(accepted(), ended()).when(accept()).then_rejected(Code.OBJECT_EXISTS)


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (accept(svtrid=""), "svtrid is required"),
        (accept(command=""), "command is required"),
        (accept(svtrid="", command=""), "svtrid and command are required"),
    ],
    ids=["svtrid", "cmd", "both"],
)
def test_accepting_without_svtrid_or_command_is_2100_naming_what_is_missing(
    command: AcceptOperation, said: str
) -> None:
    operation.given().when(command).then_rejected(Code.MISSING_PARAMETER, said)


def test_a_command_of_64_characters_is_accepted() -> None:
    state = operation.given().when(accept(command="c" * 64)).state
    assert state.accepted is not None and state.accepted.command == "c" * 64


@pytest.mark.parametrize("name", ["c" * 65, "renew\nBcc: x", "ping\x00", "ping\x85"])
def test_a_command_over_64_characters_or_holding_a_control_is_2101(name: str) -> None:
    operation.given().when(accept(command=name)).then_rejected(Code.INVALID_PARAMETER)


def test_a_cltrid_of_64_characters_is_accepted() -> None:
    state = operation.given().when(accept(cltrid="c" * MAX_CLTRID)).state
    assert state.accepted is not None
    assert state.accepted.cltrid == "c" * 64


def test_a_cltrid_over_64_characters_is_2005() -> None:
    operation.given().when(accept(cltrid="c" * (MAX_CLTRID + 1))).then_rejected(
        Code.CLTRID_TOO_LONG, Code.CLTRID_TOO_LONG.text
    )


def test_an_empty_cltrid_is_accepted_since_wapi_makes_it_optional() -> None:
    assert operation.given().when(accept(cltrid="")).state.accepted is not None


@pytest.mark.parametrize("login", ["", "bad login", ".x", "x" * 65])
def test_accepting_for_an_invalid_login_is_2101(login: str) -> None:
    command = AcceptOperation(svtrid=SVTRID, cltrid="c", command="ping-async", login=login)
    operation.given().when(command).then_rejected(Code.INVALID_PARAMETER)


# --- Steps ------------------------------------------------------------------------------
def test_a_step_is_recorded_with_its_time() -> None:
    when = operation.given(accepted()).when(RecordStep("domain locked"), now=T1)
    when.then(StepRecorded(text="domain locked", at=T1))
    assert when.state.steps == (Step("domain locked", T1),)


def test_steps_are_kept_in_order() -> None:
    state = operation.given(
        accepted(),
        StepRecorded(text="one", at=T1),
        StepRecorded(text="two", at=T2),
    ).state
    assert state.steps == (Step("one", T1), Step("two", T2))


def test_a_step_without_text_is_2100() -> None:
    operation.given(accepted()).when(RecordStep("")).then_rejected(Code.MISSING_PARAMETER)


# --- Ending -----------------------------------------------------------------------------
def test_ending_records_code_result_data_and_batch_state_at_now() -> None:
    command = EndOperation(
        code=2400, result="Command failed", data={"errors": 3}, batch_state="PartiallyFailed"
    )
    operation.given(accepted()).when(command, now=T2).then(
        OperationEnded(
            code=2400,
            result="Command failed",
            data={"errors": 3},
            batch_state="PartiallyFailed",
            at=T2,
        )
    )


def test_an_operation_is_terminal_once_ended_and_not_before() -> None:
    assert not is_terminal(operation.given().state)
    assert not is_terminal(operation.given(accepted()).state)
    assert is_terminal(operation.given(accepted(), ended()).state)


def test_ending_twice_is_2304() -> None:
    operation.given(accepted(), ended()).when(EndOperation(code=1000, result="OK")).then_rejected(
        Code.STATUS_PROHIBITS
    )


def test_a_step_after_the_end_is_2304() -> None:
    operation.given(accepted(), ended()).when(RecordStep("late")).then_rejected(
        Code.STATUS_PROHIBITS
    )


@pytest.mark.parametrize(
    "command",
    [RecordStep("step"), EndOperation(code=1000, result="OK")],
    ids=["step", "end"],
)
def test_a_step_or_end_of_an_operation_never_accepted_is_2303(command: OperationCommand) -> None:
    operation.given().when(command).then_rejected(Code.OBJECT_NOT_FOUND)


@pytest.mark.parametrize("code", [1000, 2000, 2151, 4000, 5999])
def test_a_final_end_code_is_accepted(code: int) -> None:
    operation.given(accepted()).when(EndOperation(code=code, result="r"), now=T2).then(
        ended(code, "r")
    )


@pytest.mark.parametrize("code", [0, 200, 999, 1001, 1002, 1003, 1999, 6000, 40015, -1000])
def test_an_end_code_that_is_not_a_final_answer_is_2101(code: int) -> None:
    # 1001 would tell a polling client its operation is still pending, forever
    operation.given(accepted()).when(EndOperation(code=code, result="r")).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_an_end_without_result_text_is_2100() -> None:
    operation.given(accepted()).when(EndOperation(code=1000, result="")).then_rejected(
        Code.MISSING_PARAMETER
    )


# --- The outcome a notification carries -------------------------------------------------
def test_the_outcome_of_an_ended_operation_is_shaped_like_its_response() -> None:
    state = operation.given(
        accepted(INIT),
        StepRecorded(text="halfway", at=T1),
        OperationEnded(
            code=1000, result="OK", data={"id": 102220}, batch_state="Successfull", at=T2
        ),
    ).state
    assert outcome(state) == Outcome(
        code=1000,
        result="OK",
        timestamp=T2,
        cltrid="AvrX87Kqk6h3",
        svtrid=SVTRID,
        command="ping-async",
        data={"id": 102220},
        batch_state="Successfull",
        init_request=INIT,
    )


@pytest.mark.parametrize(
    "state",
    [OperationState(), OperationState(accepted=accepted())],
    ids=["never accepted", "pending"],
)
def test_an_operation_that_has_not_ended_has_no_outcome(state: OperationState) -> None:
    with pytest.raises(ValueError, match="ended"):
        outcome(state)


# --- evolve is total; check says what may follow -----------------------------------------
def test_evolve_ignores_an_event_of_another_stream() -> None:
    state = operation.given(accepted()).state
    stranger: Any = NotificationAcked(id=1, at=T1)
    assert OPERATION.evolve(state, stranger) == state


@pytest.mark.parametrize(
    ("given", "event", "problem"),
    [
        ((), StepRecorded(text="s", at=T1), "an operation's first event is its acceptance"),
        ((), ended(), "an operation's first event is its acceptance"),
        ((accepted(),), accepted(), "accepted twice"),
        (
            (accepted(), ended()),
            StepRecorded(text="s", at=T1),
            "nothing follows an operation's end",
        ),
        ((accepted(), ended()), ended(), "nothing follows an operation's end"),
    ],
)
def test_check_refuses_what_decide_never_produces(
    given: tuple[OperationEvent, ...], event: OperationEvent, problem: str
) -> None:
    state = operation.given(*given).state
    assert check(state, event) == problem
    OPERATION.evolve(state, event)  # and evolve applies it all the same, without raising


def test_check_lets_the_events_decide_produces_follow() -> None:
    when = operation.given(accepted()).when(EndOperation(code=1000, result="OK"), now=T2)
    assert [check(when.before, event) for event in when.events] == [None]
    assert check(operation.given().state, accepted()) is None
