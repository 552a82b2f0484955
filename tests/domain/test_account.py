"""Account: open, change password, configure channel and retry policy, rotate secret, set
the IP allow-list, suspend and resume."""

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from tidings.domain import (
    ACCOUNT,
    Channel,
    Code,
    EmailChannel,
    PollChannel,
    RetryPolicy,
    UrlChannel,
)
from tidings.domain.account import (
    AccountCommand,
    AccountOpened,
    AccountResumed,
    AccountState,
    AccountSuspended,
    ChangePassword,
    ChannelConfigured,
    ConfigureChannel,
    IpAllowListSet,
    OpenAccount,
    PasswordChanged,
    ResumeAccount,
    RetryPolicySet,
    RotateSecret,
    SecretRotated,
    SetIpAllowList,
    SetRetryPolicy,
    SuspendAccount,
    check,
    secret_id,
)
from tidings.domain.operation import StepRecorded

from tests.gwt import T0, spec

T1 = T0 + timedelta(minutes=1)
SHA1 = "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"  # sha1("password")
OTHER_SHA1 = "7c4a8d09ca3762af61e59520943dc26494f8941b"
SECRET = "s3cret-s3cret-16"
URL = UrlChannel(success_url="https://client.example/notify")
POLL = PollChannel()
DEFAULT_POLICY = RetryPolicy()

account = spec(ACCOUNT)


def open_account(
    login: str = "tester",
    *,
    password_sha1: str = SHA1,
    signing_secret: str = SECRET,
    channel: Channel = POLL,
    retry_policy: RetryPolicy = DEFAULT_POLICY,
    allowed_ips: tuple[str, ...] = (),
) -> OpenAccount:
    return OpenAccount(
        login=login,
        password_sha1=password_sha1,
        signing_secret=signing_secret,
        channel=channel,
        retry_policy=retry_policy,
        allowed_ips=allowed_ips,
    )


def opened(login: str = "tester", channel: Channel = POLL) -> AccountOpened:
    return AccountOpened(
        login=login,
        password_sha1=SHA1,
        secret_id=secret_id(SECRET),
        channel=channel,
        retry_policy=RetryPolicy(),
        allowed_ips=(),
        at=T0,
    )


# --- Opening ----------------------------------------------------------------------------
def test_opening_an_account_records_every_setting_at_now() -> None:
    policy = RetryPolicy(schedule=(10.0, 60.0))
    command = open_account(channel=URL, retry_policy=policy, allowed_ips=("192.0.2.0/24",))
    account.given().when(command, now=T1).then(
        AccountOpened(
            login="tester",
            password_sha1=SHA1,
            secret_id=secret_id(SECRET),
            channel=URL,
            retry_policy=policy,
            allowed_ips=("192.0.2.0/24",),
            at=T1,
        )
    )


def test_an_opened_account_polls_by_default_and_is_active() -> None:
    state = account.given().when(open_account()).state
    assert state == AccountState(
        opened=True, login="tester", password_sha1=SHA1, secret_id=secret_id(SECRET)
    )
    assert state.polls
    assert not state.suspended


def test_a_never_opened_account_is_the_initial_state() -> None:
    assert account.given().state == AccountState()
    assert not account.given().state.opened


def test_opening_twice_is_2302() -> None:
    account.given(opened()).when(open_account()).then_rejected(Code.OBJECT_EXISTS)


def test_opening_twice_is_2302_even_under_another_login_or_with_bad_settings() -> None:
    account.given(opened()).when(open_account("someone-else")).then_rejected(Code.OBJECT_EXISTS)
    account.given(opened()).when(open_account(password_sha1="x")).then_rejected(Code.OBJECT_EXISTS)


@pytest.mark.parametrize(
    "login",
    ["", " tester", "tester ", ".tester", "-tester", "a" * 65, "te ster", "tes/ter", "tëster"],
)
def test_opening_with_an_invalid_login_is_2101(login: str) -> None:
    account.given().when(open_account(login)).then_rejected(Code.INVALID_PARAMETER)


@pytest.mark.parametrize("login", ["a", "a" * 64, "John.Doe_1@example-shop", "0"])
def test_a_login_is_1_to_64_letters_digits_dots_underscores_ats_and_dashes(login: str) -> None:
    account.given().when(open_account(login)).then(opened(login))


@pytest.mark.parametrize(
    "digest",
    ["", "password", SHA1[:-1], SHA1 + "0", SHA1.upper(), "g" * 40, SHA1[:39] + " "],
)
def test_opening_with_a_password_that_is_not_40_lowercase_hex_digits_is_2101(digest: str) -> None:
    account.given().when(open_account(password_sha1=digest)).then_rejected(
        Code.INVALID_PARAMETER, "password_sha1 is 40 hex digits"
    )


@pytest.mark.parametrize("secret", ["", "short", "x" * 15])
def test_opening_with_a_signing_secret_under_16_characters_is_2101(secret: str) -> None:
    account.given().when(open_account(signing_secret=secret)).then_rejected(Code.INVALID_PARAMETER)


def test_a_signing_secret_of_exactly_16_characters_is_enough() -> None:
    assert account.given().when(open_account(signing_secret="x" * 16)).state.opened


BAD_CHANNELS: list[Channel] = [
    UrlChannel(),
    UrlChannel(success_url="ftp://client.example/notify"),
    UrlChannel(success_url="client.example/notify"),
    UrlChannel(success_url="https://"),
    UrlChannel(success_url="http://[::1"),
    UrlChannel(success_url="https://ok.example", error_url="mailto:ops@client.example"),
    UrlChannel(success_url="https://ok.example", expected_status=frozenset()),
    UrlChannel(success_url="https://ok.example", expected_status=frozenset({99})),
    UrlChannel(success_url="https://ok.example", expected_status=frozenset({200, 600})),
    EmailChannel(""),
    EmailChannel("ops"),
    EmailChannel("ops@localhost"),
    EmailChannel("ops@@client.example"),
    EmailChannel("o ps@client.example"),
    EmailChannel("o" * 65 + "@client.example"),
    # What an SMTP server would refuse, not sent to find out.
    EmailChannel("a<b>@client.example"),
    EmailChannel("ops@client.example>"),
    EmailChannel("a,b@client.example"),
    EmailChannel('"ops"@client.example'),
    EmailChannel(".ops@client.example"),
    EmailChannel("o..ps@client.example"),
    EmailChannel("ops@-client.example"),
    EmailChannel("ops@client..example"),
    EmailChannel("ops@client.example\n"),
    EmailChannel("o\u00a0ps@client.example"),
    EmailChannel("ops@" + "c" * 64 + ".example"),
    EmailChannel("ops@" + "c." * 125 + "example"),
    EmailChannel("ops@client.example", pause_after=0),
    EmailChannel("ops@client.example", probe_every=0.0),
    EmailChannel("ops@client.example", probe_every=86401.0),
]

GOOD_CHANNELS: list[Channel] = [
    PollChannel(),
    URL,
    UrlChannel(error_url="http://client.example/errors"),
    UrlChannel(
        success_url="https://client.example/ok",
        error_url="https://client.example/err",
        expected_status=frozenset({200, 202, 204}),
        body_format="jobresult",
    ),
    UrlChannel(success_url="http://[::1]:8080/n", expected_status=frozenset({100, 599})),
    EmailChannel("ops@client.example"),
    EmailChannel("ops@client.example", pause_after=1, probe_every=86400.0),
    EmailChannel("o'neil+tidings@mail.client-1.example"),
    EmailChannel("dörte@sörensen.example"),  # SMTPUTF8
    EmailChannel("ops@xn--srensen-90a.example"),
]


@pytest.mark.parametrize("channel", BAD_CHANNELS, ids=repr)
def test_opening_with_an_invalid_channel_is_2101(channel: Channel) -> None:
    account.given().when(open_account(channel=channel)).then_rejected(Code.INVALID_PARAMETER)


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy(schedule=(0.0,)),
        RetryPolicy(schedule=(float("nan"),)),
        RetryPolicy(schedule=(1.0,) * 101),
        RetryPolicy(jitter=1.0),
        RetryPolicy(retry_after_min=0.0),
        RetryPolicy(retry_after_min=2.0, retry_after_max=1.0),
    ],
    ids=repr,
)
def test_opening_with_an_unusable_retry_policy_is_2101(policy: RetryPolicy) -> None:
    account.given().when(open_account(retry_policy=policy)).then_rejected(Code.INVALID_PARAMETER)


@pytest.mark.parametrize(
    "ips",
    [("",), ("192.0.2.1", ""), ("a" * 65,), ("192.0.2.1 /24",), ("999.1.1.1",), ("10.0.0.0/33",)],
)
def test_opening_with_an_invalid_ip_allow_list_is_2101(ips: tuple[str, ...]) -> None:
    account.given().when(open_account(allowed_ips=ips)).then_rejected(Code.INVALID_PARAMETER)


# --- Commands on an account that does not exist -----------------------------------------
LATER_COMMANDS: list[AccountCommand] = [
    ChangePassword(OTHER_SHA1),
    ConfigureChannel(URL),
    SetRetryPolicy(RetryPolicy()),
    RotateSecret("another-secret-16"),
    SetIpAllowList(()),
    SuspendAccount("fraud"),
    ResumeAccount(),
]


@pytest.mark.parametrize("command", LATER_COMMANDS, ids=lambda c: type(c).__name__)
def test_any_command_but_open_on_an_account_never_opened_is_2303(command: AccountCommand) -> None:
    account.given().when(command).then_rejected(Code.OBJECT_NOT_FOUND)


def test_2303_comes_before_validation_of_the_settings() -> None:
    account.given().when(ChangePassword("not-a-digest")).then_rejected(Code.OBJECT_NOT_FOUND)


# --- Settings ---------------------------------------------------------------------------
def test_changing_the_password_stores_the_new_sha1() -> None:
    when = account.given(opened()).when(ChangePassword(OTHER_SHA1), now=T1)
    when.then(PasswordChanged(password_sha1=OTHER_SHA1, at=T1))
    assert when.state.password_sha1 == OTHER_SHA1


def test_changing_the_password_to_anything_but_a_sha1_is_2101() -> None:
    account.given(opened()).when(ChangePassword("hunter2")).then_rejected(Code.INVALID_PARAMETER)


@pytest.mark.parametrize("channel", GOOD_CHANNELS, ids=repr)
def test_configuring_a_valid_channel_records_it(channel: Channel) -> None:
    when = account.given(opened()).when(ConfigureChannel(channel), now=T1)
    when.then(ChannelConfigured(channel=channel, at=T1))
    assert when.state.channel == channel


@pytest.mark.parametrize("channel", BAD_CHANNELS, ids=repr)
def test_configuring_an_invalid_channel_is_2101_and_keeps_the_old_one(channel: Channel) -> None:
    account.given(opened()).when(ConfigureChannel(channel)).then_rejected(Code.INVALID_PARAMETER)


def test_an_account_polls_exactly_while_its_channel_is_the_poll_queue() -> None:
    assert account.given(opened()).state.polls
    pushed = account.given(opened()).when(ConfigureChannel(URL)).state
    assert not pushed.polls
    assert not account.given(opened(channel=EmailChannel("ops@client.example"))).state.polls
    back = account.given_state(pushed).when(ConfigureChannel(PollChannel())).state
    assert back.polls


def test_setting_a_usable_retry_policy_records_it() -> None:
    policy = RetryPolicy(schedule=(1.0, 2.0), jitter=0.0)
    when = account.given(opened()).when(SetRetryPolicy(policy), now=T1)
    when.then(RetryPolicySet(retry_policy=policy, at=T1))
    assert when.state.retry_policy == policy


def test_setting_an_unusable_retry_policy_is_2101() -> None:
    account.given(opened()).when(SetRetryPolicy(RetryPolicy(jitter=2.0))).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_rotating_the_secret_records_only_the_new_ones_id() -> None:
    when = account.given(opened()).when(RotateSecret("a-brand-new-secret"), now=T1)
    when.then(SecretRotated(secret_id=secret_id("a-brand-new-secret"), at=T1))
    assert when.state.secret_id == secret_id("a-brand-new-secret")
    assert when.state.previous_secret_id == secret_id(SECRET)


def test_no_event_carries_a_signing_secret() -> None:
    opening = account.given().when(open_account(signing_secret="the-opening-secret"))
    rotation = account.given(opened()).when(RotateSecret("the-rotated-secret"))
    stored = msgspec.msgpack.encode([*opening.events, *rotation.events])
    assert b"the-opening-secret" not in stored
    assert b"the-rotated-secret" not in stored
    assert b"signing_secret" not in stored


def test_rotating_to_a_secret_under_16_characters_is_2101() -> None:
    account.given(opened()).when(RotateSecret("too-short")).then_rejected(Code.INVALID_PARAMETER)


def test_setting_the_ip_allow_list_records_it() -> None:
    ips = ("192.0.2.10", "198.51.100.0/24", "2001:db8::/32")
    when = account.given(opened()).when(SetIpAllowList(ips), now=T1)
    when.then(IpAllowListSet(allowed_ips=ips, at=T1))
    assert when.state.allowed_ips == ips


def test_an_empty_ip_allow_list_is_allowed_and_clears_the_list() -> None:
    given = account.given(opened(), IpAllowListSet(allowed_ips=("192.0.2.10",), at=T0))
    assert given.when(SetIpAllowList(()), now=T1).state.allowed_ips == ()


def test_setting_an_invalid_ip_allow_list_is_2101() -> None:
    account.given(opened()).when(SetIpAllowList(("192.0.2.1", "x y"))).then_rejected(
        Code.INVALID_PARAMETER
    )


# --- Suspension ---------------------------------------------------------------------------
def test_suspending_an_active_account_records_the_reason() -> None:
    when = account.given(opened()).when(SuspendAccount("unpaid invoice"), now=T1)
    when.then(AccountSuspended(reason="unpaid invoice", at=T1))
    assert when.state.suspended
    assert when.state.suspended_reason == "unpaid invoice"


def test_suspending_a_suspended_account_is_refused_it_has_nothing_to_do() -> None:
    account.given(opened(), AccountSuspended(reason="fraud", at=T0)).when(
        SuspendAccount("again")
    ).then_rejected(Code.STATUS_PROHIBITS, "account is already suspended")


def test_resuming_a_suspended_account_clears_the_suspension_and_its_reason() -> None:
    when = account.given(opened(), AccountSuspended(reason="fraud", at=T0)).when(
        ResumeAccount(), now=T1
    )
    when.then(AccountResumed(at=T1))
    assert not when.state.suspended
    assert when.state.suspended_reason == ""


def test_resuming_an_active_account_is_refused_it_has_nothing_to_do() -> None:
    account.given(opened()).when(ResumeAccount()).then_rejected(
        Code.STATUS_PROHIBITS, "account is not suspended"
    )


def test_a_suspended_account_keeps_its_settings_and_can_still_be_configured() -> None:
    given = account.given(opened(channel=URL), AccountSuspended(reason="fraud", at=T0))
    assert given.state.channel == URL
    given.when(ConfigureChannel(PollChannel()), now=T1).then(
        ChannelConfigured(channel=PollChannel(), at=T1)
    )


def test_the_state_is_the_fold_of_every_setting_in_order() -> None:
    state = account.given(
        opened(),
        PasswordChanged(password_sha1=OTHER_SHA1, at=T1),
        ChannelConfigured(channel=URL, at=T1),
        RetryPolicySet(retry_policy=RetryPolicy(jitter=0.0), at=T1),
        SecretRotated(secret_id=secret_id("rotated-secret-xx"), at=T1),
        IpAllowListSet(allowed_ips=("192.0.2.1",), at=T1),
        AccountSuspended(reason="fraud", at=T1),
    ).state
    assert state == AccountState(
        opened=True,
        login="tester",
        password_sha1=OTHER_SHA1,
        secret_id=secret_id("rotated-secret-xx"),
        channel=URL,
        retry_policy=RetryPolicy(jitter=0.0),
        allowed_ips=("192.0.2.1",),
        suspended=True,
        suspended_reason="fraud",
        previous_secret_id=secret_id(SECRET),
        secret_rotated_at=T1,
    )


# --- evolve is total; check says what may follow -----------------------------------------
def test_evolve_ignores_an_event_of_another_stream() -> None:
    state = account.given(opened()).state
    stranger: Any = StepRecorded(text="s", at=T0)
    assert ACCOUNT.evolve(state, stranger) == state


def test_check_refuses_an_event_before_the_opening_and_a_second_opening() -> None:
    assert check(account.given().state, AccountSuspended(reason="r", at=T0)) == (
        "an account's first event is its opening"
    )
    assert check(account.given(opened()).state, opened()) == "opened twice"
    assert check(account.given().state, opened()) is None
    assert check(account.given(opened()).state, AccountSuspended(reason="r", at=T0)) is None
