"""Shared values: where a push channel sends an outcome, and what counts as an error."""

import pytest
from tidings.domain import (
    BatchState,
    EmailChannel,
    Outcome,
    PollChannel,
    UrlChannel,
    push_target,
)
from tidings.domain.values import channel_problem, is_error_outcome, login_problem

from tests.gwt import T0

OK_URL = "https://client.example/ok"
ERR_URL = "https://client.example/err"


def outcome(code: int = 1000, batch_state: BatchState | None = None) -> Outcome:
    return Outcome(
        code=code,
        result="r",
        timestamp=T0,
        cltrid="cl",
        svtrid="sv",
        command="ping-async",
        batch_state=batch_state,
    )


@pytest.mark.parametrize(
    ("code", "batch_state", "is_error"),
    [
        (1000, None, False),
        (1001, None, False),
        (1999, None, False),
        (2000, None, True),
        (2400, None, True),
        (5999, None, True),
        (1000, "Successfull", False),
        (1000, "Failed", True),
        (1000, "PartiallyFailed", True),
        (2400, "Successfull", True),
    ],
)
def test_an_outcome_is_an_error_when_its_code_fails_or_its_batch_did_not_succeed(
    code: int, batch_state: BatchState | None, is_error: bool
) -> None:
    assert is_error_outcome(outcome(code, batch_state)) is is_error


def test_a_polling_account_is_never_pushed_to() -> None:
    assert push_target(PollChannel(), outcome()) is None
    assert push_target(PollChannel(), outcome(2400)) is None


def test_successes_go_to_the_success_url_and_errors_to_the_error_url() -> None:
    channel = UrlChannel(success_url=OK_URL, error_url=ERR_URL)
    assert push_target(channel, outcome(1000)) == OK_URL
    assert push_target(channel, outcome(2400)) == ERR_URL
    assert push_target(channel, outcome(1000, "Failed")) == ERR_URL


def test_errors_go_to_the_success_url_when_no_error_url_is_set() -> None:
    channel = UrlChannel(success_url=OK_URL)
    assert push_target(channel, outcome(2400)) == OK_URL
    assert push_target(channel, outcome(1000, "PartiallyFailed")) == OK_URL


def test_an_account_with_only_an_error_url_hears_about_errors_only() -> None:
    channel = UrlChannel(error_url=ERR_URL)
    assert push_target(channel, outcome(1000)) is None
    assert push_target(channel, outcome(2400)) == ERR_URL


def test_an_email_account_gets_every_outcome_at_its_address() -> None:
    channel = EmailChannel("ops@client.example")
    assert push_target(channel, outcome(1000)) == "ops@client.example"
    assert push_target(channel, outcome(2400)) == "ops@client.example"


def test_a_url_channel_expects_200_and_sends_the_wapi_form_by_default() -> None:
    channel = UrlChannel(success_url=OK_URL)
    assert channel.expected_status == frozenset({200})
    assert channel.body_format == "wapi-form"


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://[not-ipv6]/", "https://user@[", "javascript:alert(1)"]
)
def test_a_url_that_urlsplit_refuses_is_a_problem_not_an_exception(url: str) -> None:
    problem = channel_problem(UrlChannel(success_url=url))
    assert problem is not None
    assert "http(s) URL" in problem


def test_a_url_longer_than_8000_characters_is_a_problem() -> None:
    longest = "https://client.example/" + "a" * (8000 - len("https://client.example/"))
    assert channel_problem(UrlChannel(success_url=longest)) is None
    problem = channel_problem(UrlChannel(success_url=longest + "a"))
    assert problem == "a URL is at most 8000 characters"
    assert channel_problem(UrlChannel(error_url=OK_URL + "/" + "a" * 70_000)) == problem


def test_login_problem_names_the_rule() -> None:
    assert login_problem("tester") is None
    problem = login_problem("")
    assert problem is not None
    assert "1-64" in problem
