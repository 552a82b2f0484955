"""Endpoint health: failures in a row pause a target, a paused one is probed once per
interval, a success or an operator resumes it."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from tidings.domain import ENDPOINT, Code, decide_each, reject
from tidings.domain.endpoint import (
    ClaimProbe,
    EndpointEvent,
    EndpointFailed,
    EndpointPaused,
    EndpointRecovered,
    EndpointResumed,
    ProbeClaimed,
    RecordOutcome,
    ResumeEndpoint,
    check,
    key,
)

from tests.gwt import T0, spec

endpoint = spec(ENDPOINT)
FAIL = RecordOutcome(ok=False, pause_after=3, probe_every=30.0)
OK = RecordOutcome(ok=True, pause_after=3, probe_every=30.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def failed(count: int) -> EndpointFailed:
    return EndpointFailed(consecutive=count, at=T0)


PAUSED = (
    failed(1),
    failed(2),
    failed(3),
    EndpointPaused(probe_every=30.0, next_probe_at=at(30), at=T0),
)


def test_the_key_names_the_account_and_target() -> None:
    assert key("tester", "https://a.example/x") == "tester/https://a.example/x"


def test_a_success_on_a_healthy_endpoint_writes_nothing() -> None:
    endpoint.given().when(OK).then_nothing()


def test_each_failure_is_counted() -> None:
    endpoint.given(failed(1)).when(FAIL).then(failed(2))


def test_a_success_after_failures_starts_the_count_over() -> None:
    when = endpoint.given(failed(1), failed(2)).when(OK).then(EndpointRecovered(at=T0))
    assert when.state.consecutive_failures == 0


def test_pause_after_failures_in_a_row_pauses_with_the_first_probe_an_interval_later() -> None:
    when = endpoint.given(failed(1), failed(2)).when(FAIL)
    when.then(failed(3), EndpointPaused(probe_every=30.0, next_probe_at=at(30), at=T0))
    assert when.state.paused


def test_a_live_endpoint_lets_every_attempt_go() -> None:
    endpoint.given(failed(1)).when(ClaimProbe()).then_nothing()


def test_a_paused_endpoint_refuses_attempts_until_the_probe_is_due() -> None:
    endpoint.given(*PAUSED).when(ClaimProbe(), now=at(29)).then_rejected(Code.STATUS_PROHIBITS)


def test_one_probe_per_interval() -> None:
    when = endpoint.given(*PAUSED).when(ClaimProbe(), now=at(30))
    when.then(ProbeClaimed(next_probe_at=at(60), at=at(30)))
    endpoint.given_state(when.state).when(ClaimProbe(), now=at(31)).then_rejected(
        Code.STATUS_PROHIBITS
    )


def test_a_failed_probe_keeps_it_paused() -> None:
    when = endpoint.given(*PAUSED).when(FAIL, now=at(30))
    when.then(EndpointFailed(consecutive=4, at=at(30)))
    assert when.state.paused


def test_a_successful_probe_resumes_it() -> None:
    when = endpoint.given(*PAUSED).when(OK, now=at(30))
    when.then(EndpointResumed(by="probe", at=at(30)))
    assert not when.state.paused and when.state.consecutive_failures == 0


def test_an_operator_resumes_a_paused_endpoint() -> None:
    when = endpoint.given(*PAUSED).when(ResumeEndpoint(), now=at(5))
    when.then(EndpointResumed(by="operator", at=at(5)))
    assert not when.state.paused


def test_resuming_a_live_endpoint_is_refused_it_has_nothing_to_do() -> None:
    endpoint.given(failed(1)).when(ResumeEndpoint()).then_rejected(
        Code.STATUS_PROHIBITS, "endpoint is not paused"
    )
    endpoint.given().when(ResumeEndpoint()).then_rejected(Code.STATUS_PROHIBITS)


def test_resuming_all_of_an_accounts_endpoints_resumes_the_paused_ones_only() -> None:
    live, paused = endpoint.given(failed(1)).state, endpoint.given(*PAUSED).state
    decided = decide_each(ENDPOINT, [live, paused], ResumeEndpoint(), at(5), "none paused")
    assert decided == [[], [EndpointResumed(by="operator", at=at(5))]]


@pytest.mark.parametrize("states", [[], [1], [1, 2]])
def test_resuming_all_when_none_is_paused_is_refused_it_has_nothing_to_do(
    states: list[int],
) -> None:
    live = [endpoint.given(*[failed(n) for n in range(1, count + 1)]).state for count in states]
    decided = decide_each(ENDPOINT, live, ResumeEndpoint(), T0, "none paused")
    assert decided == reject(Code.STATUS_PROHIBITS, "none paused")


def test_settings_out_of_range_are_2101() -> None:
    endpoint.given().when(RecordOutcome(ok=False, pause_after=0)).then_rejected(
        Code.INVALID_PARAMETER
    )


# --- evolve is total; check says what may follow -----------------------------------------
@pytest.mark.parametrize(
    ("given", "event", "problem"),
    [
        ((failed(1),), failed(3), "failure 3 in a row after 1"),
        ((), EndpointRecovered(at=T0), "recovered with no failure before"),
        (PAUSED, EndpointRecovered(at=at(1)), "a paused endpoint recovers only by a resume"),
        ((), PAUSED[-1], "paused with no failure before"),
        (PAUSED, PAUSED[-1], "paused twice"),
        (
            (failed(1),),
            ProbeClaimed(next_probe_at=at(60), at=T0),
            "a probe claimed on a live endpoint",
        ),
        (
            PAUSED,
            ProbeClaimed(next_probe_at=at(59), at=at(29)),
            "a probe claimed before it was due",
        ),
        ((failed(1),), EndpointResumed(by="operator", at=T0), "resumed while not paused"),
    ],
)
def test_check_refuses_what_decide_never_produces(
    given: tuple[EndpointEvent, ...], event: EndpointEvent, problem: str
) -> None:
    state = endpoint.given(*given).state
    assert check(state, event) == problem
    assert ENDPOINT.evolve(state, event) == state  # and evolve leaves the state as it was


def test_evolve_ignores_an_event_of_another_stream() -> None:
    state = endpoint.given(*PAUSED).state
    stranger: Any = object()
    assert ENDPOINT.evolve(state, stranger) == state
    assert check(state, stranger) == "not an endpoint event"
