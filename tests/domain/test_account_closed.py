"""Closing an account: for good, its stream (and its queue) kept for audit. A closed
account refuses every later command but closing (2304), its login is not reused (2302),
and its clients are refused as if it did not exist: 2303 to the backend, 2050 over the
network (the answer of an unknown login)."""

from datetime import timedelta

import pytest
from tidings.domain import ACCOUNT, Code, RetryPolicy
from tidings.domain.access import Remote, Trusted, refusal
from tidings.domain.account import (
    AccountClosed,
    AccountCommand,
    AccountOpened,
    AccountSuspended,
    ChangePassword,
    CloseAccount,
    OpenAccount,
    ResumeAccount,
    SetIpAllowList,
    SuspendAccount,
    check,
)
from tidings.domain.values import PollChannel

from tests.gwt import T0, process, spec

T1 = T0 + timedelta(minutes=1)
account = spec(ACCOUNT)
access = process(refusal)
OPENED = AccountOpened(
    login="tester",
    password_sha1="0" * 40,
    channel=PollChannel(),
    retry_policy=RetryPolicy(),
    allowed_ips=(),
    at=T0,
)
CLOSED = AccountClosed(reason="contract ended", at=T1)


def test_closing_an_account_records_why_and_when() -> None:
    when = account.given(OPENED).when(CloseAccount("contract ended"), now=T1).then(CLOSED)
    assert (when.state.closed, when.state.closed_reason) == (True, "contract ended")


def test_a_suspended_account_can_be_closed() -> None:
    suspended = AccountSuspended(reason="unpaid", at=T0)
    account.given(OPENED, suspended).when(CloseAccount("unpaid"), now=T1).then(
        AccountClosed(reason="unpaid", at=T1)
    )


def test_closing_a_closed_account_is_refused_it_has_nothing_to_do() -> None:
    account.given(OPENED, CLOSED).when(CloseAccount("again")).then_rejected(
        Code.STATUS_PROHIBITS, "account is already closed"
    )


@pytest.mark.parametrize(
    "command",
    [ChangePassword("1" * 40), SetIpAllowList(()), SuspendAccount("x"), ResumeAccount()],
    ids=lambda c: type(c).__name__,
)
def test_a_closed_account_refuses_every_other_command_with_2304(command: AccountCommand) -> None:
    account.given(OPENED, CLOSED).when(command).then_rejected(Code.STATUS_PROHIBITS)


def test_a_closed_accounts_login_is_not_opened_again() -> None:
    opening = OpenAccount(login="tester", password_sha1="0" * 40, signing_secret="s" * 16)
    account.given(OPENED, CLOSED).when(opening).then_rejected(Code.OBJECT_EXISTS)


def test_closing_an_account_never_opened_is_2303() -> None:
    account.given().when(CloseAccount("x")).then_rejected(Code.OBJECT_NOT_FOUND)


def test_nothing_may_follow_the_closing_in_the_log() -> None:
    closed = account.given(OPENED, CLOSED).state
    assert check(closed, AccountClosed(reason="again", at=T1)) == "the account is closed"
    assert check(closed, AccountSuspended(reason="r", at=T1)) == "the account is closed"


def test_the_backend_is_told_a_closed_account_does_not_exist() -> None:
    closed = account.given(OPENED, CLOSED).state
    access.given(closed).when(Trusted()).then_rejected(Code.OBJECT_NOT_FOUND, "account is closed")


def test_a_client_of_a_closed_account_gets_the_answer_of_an_unknown_login() -> None:
    closed = account.given(OPENED, CLOSED).state
    client = Remote(authenticated=True, client_ip="203.0.113.7")
    access.given(closed).when(client).then_rejected(Code.AUTH_FAILED)
