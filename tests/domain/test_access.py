"""Access: who may run a client command on an account, and which answer refuses it."""

import pytest
from tidings.domain import ACCOUNT, Code
from tidings.domain.access import Remote, Trusted, refusal
from tidings.domain.account import (
    AccountEvent,
    AccountOpened,
    AccountResumed,
    AccountState,
    AccountSuspended,
    IpAllowListSet,
)
from tidings.domain.allowlist import ip_allowed, ips_problem
from tidings.domain.retry import RetryPolicy
from tidings.domain.values import PollChannel

from tests.gwt import T0, process, spec

access = process(refusal)

OPENED = AccountOpened(
    login="tester",
    password_sha1="0" * 40,
    channel=PollChannel(),
    retry_policy=RetryPolicy(),
    allowed_ips=(),
    at=T0,
)
SUSPENDED = AccountSuspended(reason="unpaid", at=T0)
ONLY_OFFICE = IpAllowListSet(allowed_ips=("203.0.113.0/24",), at=T0)
OFFICE, ELSEWHERE = "203.0.113.7", "198.51.100.1"


def account(*events: AccountEvent) -> AccountState:
    """The state of an account holding `events`."""
    return spec(ACCOUNT).given(*events).state


def remote(authenticated: bool = True, ip: str | None = OFFICE) -> Remote:
    return Remote(authenticated=authenticated, client_ip=ip)


# --- The backend and the operator, calling the library -----------------------------------
def test_a_trusted_caller_may_run_a_command_on_an_active_account() -> None:
    access.given(account(OPENED)).when(Trusted()).then(None)


def test_a_trusted_caller_on_an_account_never_opened_is_2303() -> None:
    access.given(account()).when(Trusted()).then_rejected(Code.OBJECT_NOT_FOUND)


def test_a_trusted_caller_on_a_suspended_account_is_2053() -> None:
    access.given(account(OPENED, SUSPENDED)).when(Trusted()).then_rejected(
        Code.ACCOUNT_SUSPENDED, "Account suspended"
    )


def test_a_resumed_account_is_open_again() -> None:
    access.given(account(OPENED, SUSPENDED, AccountResumed(at=T0))).when(Trusted()).then(None)


def test_the_allow_list_does_not_bind_a_trusted_caller() -> None:
    # The backend calls from its own process: it has no client address to check
    access.given(account(OPENED, ONLY_OFFICE)).when(Trusted()).then(None)


# --- A client over the network (WAPI, Merchants) -----------------------------------------
def test_an_authenticated_client_on_the_list_may_run_a_command() -> None:
    access.given(account(OPENED, ONLY_OFFICE)).when(remote()).then(None)


def test_a_client_whose_credentials_did_not_match_is_2050() -> None:
    access.given(account(OPENED)).when(remote(authenticated=False)).then_rejected(Code.AUTH_FAILED)


def test_an_unknown_login_is_2050_like_a_wrong_password() -> None:
    # The answer must not tell whether the login exists
    access.given(account()).when(remote()).then_rejected(Code.AUTH_FAILED)


@pytest.mark.parametrize("ip", [ELSEWHERE, None, "garbage"])
def test_a_client_off_the_allow_list_is_2051(ip: str | None) -> None:
    access.given(account(OPENED, ONLY_OFFICE)).when(remote(ip=ip)).then_rejected(
        Code.IP_NOT_ALLOWED
    )


def test_a_client_of_a_suspended_account_is_2053() -> None:
    access.given(account(OPENED, SUSPENDED)).when(remote()).then_rejected(Code.ACCOUNT_SUSPENDED)


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        # A failed authentication answers first: an unauthenticated client learns nothing
        (remote(authenticated=False, ip=ELSEWHERE), Code.AUTH_FAILED),
        # then the address, before the suspension
        (remote(ip=ELSEWHERE), Code.IP_NOT_ALLOWED),
    ],
)
def test_the_first_failure_in_order_answers(caller: Remote, code: Code) -> None:
    access.given(account(OPENED, ONLY_OFFICE, SUSPENDED)).when(caller).then_rejected(code)


# --- The allow-list's matching, beside its validation ------------------------------------
@pytest.mark.parametrize(
    ("allowed", "ip", "expected"),
    [
        ((), "203.0.113.9", True),
        ((), None, True),
        (("203.0.113.9",), "203.0.113.9", True),
        (("203.0.113.9",), "203.0.113.10", False),
        (("203.0.113.0/24",), "203.0.113.77", True),
        (("2001:db8::/32",), "2001:db8::1", True),
        (("127.0.0.1",), "::ffff:127.0.0.1", True),
        (("10.0.0.0/8",), None, False),
        (("10.0.0.0/8",), "garbage", False),
    ],
)
def test_ip_allow_list(allowed: tuple[str, ...], ip: str | None, expected: bool) -> None:
    assert ip_allowed(allowed, ip) is expected


def test_the_entries_the_list_may_hold_are_the_ones_matching_reads() -> None:
    assert ips_problem(("203.0.113.9", "203.0.113.0/24", "2001:db8::/32")) is None
    assert ips_problem(("not an ip",)) == (
        "allowed_ips holds IP addresses or CIDR networks, not 'not an ip'"
    )
