"""Operators: added with a token's digest, revoked, added again; each action recorded
under the operator's name while active; bulk-ack clears a queue from its head."""

from datetime import timedelta

from tidings.domain import MAILBOX, OPERATOR, Code, Notification, Outcome, fold
from tidings.domain import mailbox as mbx
from tidings.domain.operator import (
    ActOnAccount,
    AddOperator,
    OperatorActed,
    OperatorAdded,
    OperatorRevoked,
    RevokeOperator,
    bulk_acks,
    check,
)

from tests.gwt import T0, process, spec

operator = spec(OPERATOR)
DIGEST = "a" * 64
ADDED = OperatorAdded(name="alice", token_sha256=DIGEST, at=T0)
REVOKED = OperatorRevoked(at=T0)
T1 = T0 + timedelta(minutes=1)


def test_an_operator_is_added_with_its_tokens_digest() -> None:
    when = operator.given().when(AddOperator(name="alice", token_sha256=DIGEST))
    when.then(ADDED)
    assert when.state.active and when.state.token_sha256 == DIGEST


def test_an_active_operator_is_not_added_twice() -> None:
    operator.given(ADDED).when(AddOperator(name="alice", token_sha256=DIGEST)).then_rejected(
        Code.OBJECT_EXISTS
    )


def test_a_revoked_operator_may_be_added_again_with_a_new_token() -> None:
    again = AddOperator(name="alice", token_sha256="b" * 64)
    operator.given(ADDED, REVOKED).when(again, T1).then(
        OperatorAdded(name="alice", token_sha256="b" * 64, at=T1)
    )


def test_names_and_digests_are_checked() -> None:
    for name in ("Alice", "admin", "", "1st", "a" * 33):
        operator.given().when(AddOperator(name=name, token_sha256=DIGEST)).then_rejected(
            Code.INVALID_PARAMETER
        )
    operator.given().when(AddOperator(name="bob", token_sha256="xyz")).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_an_action_records_the_operators_name() -> None:
    act = ActOnAccount(action="suspend", login="tester", detail="abuse")
    when = operator.given(ADDED).when(act, T1)
    when.then(OperatorActed(name="alice", action="suspend", login="tester", detail="abuse", at=T1))
    assert when.state.actions == 1


def test_a_revoked_operator_acts_no_more() -> None:
    act = ActOnAccount(action="resume", login="tester")
    operator.given(ADDED, REVOKED).when(act).then_rejected(Code.OBJECT_NOT_FOUND)
    operator.given(ADDED, REVOKED).when(RevokeOperator()).then_rejected(Code.OBJECT_NOT_FOUND)
    operator.given().when(act).then_rejected(Code.OBJECT_NOT_FOUND)


def test_an_action_names_what_and_which_account() -> None:
    operator.given(ADDED).when(ActOnAccount(action=" ", login="tester")).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_check_accepts_what_decide_could_produce() -> None:
    assert check(fold(OPERATOR, []), ADDED) is None
    assert check(fold(OPERATOR, [ADDED]), ADDED) == "added while active"
    assert check(fold(OPERATOR, [ADDED, REVOKED]), REVOKED) is not None


def _queued(*ids: int) -> mbx.MailboxState:
    outcome = Outcome(code=1000, result="ok", timestamp=T0, cltrid="c", svtrid="s", command="x")
    events = [mbx.NotificationQueued(notification=Notification(id=i, outcome=outcome), at=T0)
              for i in ids]  # fmt: skip
    return fold(MAILBOX, events)


def test_bulk_ack_acks_from_the_head_up_to_the_id() -> None:
    acks = process(bulk_acks).given(_queued(1, 2, 3)).when(2).decided
    assert [a.notification_id for a in acks] == ["1", "2"]
    assert all(a.polls for a in acks)


def test_bulk_ack_stops_at_the_first_id_above() -> None:
    # A notification that fell back to the queue keeps its (smaller) id behind a bigger one.
    acks = process(bulk_acks).given(_queued(1, 5, 3)).when(4).decided
    assert [a.notification_id for a in acks] == ["1"]


def test_bulk_ack_with_nothing_to_ack_is_refused() -> None:
    process(bulk_acks).given(_queued(4)).when(3).then_rejected(Code.OBJECT_NOT_FOUND)
    process(bulk_acks).given(_queued()).when(3).then_rejected(Code.OBJECT_NOT_FOUND)
    process(bulk_acks).given(_queued(1)).when(0).then_rejected(Code.INVALID_PARAMETER)


def test_the_admin_tokens_actions_need_no_added_operator() -> None:
    act = ActOnAccount(action="Suspend an account", login="tester", admin=True)
    when = operator.given().when(act, T1)
    when.then(OperatorActed(name="admin", action="Suspend an account", login="tester",
                            detail="", at=T1))  # fmt: skip
    assert check(fold(OPERATOR, []), when.events[0]) is None
