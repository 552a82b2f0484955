"""The retry policy: a pure function of the failure count, jitter and Retry-After."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.domain import DEFAULT_SCHEDULE, RetryPolicy, next_delay
from tidings.domain.retry import policy_problem

DEFAULT = RetryPolicy()
MINUTE = 60.0
HOUR = 3600.0


def test_the_default_schedule_is_5s_5min_30min_2h_5h_10h_10h() -> None:
    assert DEFAULT_SCHEDULE == (
        5.0,
        5 * MINUTE,
        30 * MINUTE,
        2 * HOUR,
        5 * HOUR,
        10 * HOUR,
        10 * HOUR,
    )
    assert DEFAULT.schedule == DEFAULT_SCHEDULE


def test_the_default_policy_jitters_by_20_percent_and_bounds_retry_after_to_1s_1day() -> None:
    assert DEFAULT.jitter == 0.2
    assert (DEFAULT.retry_after_min, DEFAULT.retry_after_max) == (1.0, 86400.0)


@pytest.mark.parametrize(("failures", "delay"), list(enumerate(DEFAULT_SCHEDULE, start=1)))
@pytest.mark.parametrize(("jitter", "factor"), [(-1.0, 0.8), (0.0, 1.0), (1.0, 1.2)])
def test_the_nth_failure_waits_the_nth_delay_within_20_percent_jitter(
    failures: int, delay: float, jitter: float, factor: float
) -> None:
    assert next_delay(DEFAULT, failures, jitter) == pytest.approx(delay * factor)


def test_jitter_scales_linearly_between_its_bounds() -> None:
    assert next_delay(DEFAULT, 2, 0.5) == pytest.approx(300.0 * 1.1)
    assert next_delay(DEFAULT, 2, -0.25) == pytest.approx(300.0 * 0.95)


def test_the_same_inputs_always_give_the_same_delay() -> None:
    assert {next_delay(DEFAULT, 3, 0.37) for _ in range(10)} == {next_delay(DEFAULT, 3, 0.37)}


def test_after_the_schedule_is_used_up_the_delivery_gives_up() -> None:
    assert next_delay(DEFAULT, len(DEFAULT_SCHEDULE) + 1, 0.0) is None
    assert next_delay(DEFAULT, 1000, 1.0) is None


def test_the_default_schedule_allows_eight_attempts_over_about_28_hours() -> None:
    delays = [next_delay(DEFAULT, n, 0.0) for n in range(1, 9)]
    assert delays[-1] is None
    total = sum(d for d in delays if d is not None)
    assert 27 * HOUR < total < 29 * HOUR


def test_retry_after_replaces_the_scheduled_delay_and_ignores_jitter() -> None:
    assert next_delay(DEFAULT, 1, 1.0, retry_after=120.0) == 120.0
    assert next_delay(DEFAULT, 5, -1.0, retry_after=120.0) == 120.0


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [(0.0, 1.0), (-30.0, 1.0), (0.5, 1.0), (1.0, 1.0), (86400.0, 86400.0), (10**9, 86400.0)],
)
def test_retry_after_is_clamped_to_the_policys_bounds(retry_after: float, delay: float) -> None:
    assert next_delay(DEFAULT, 1, 0.0, retry_after=retry_after) == delay


def test_an_infinite_retry_after_is_clamped_to_the_maximum() -> None:
    assert next_delay(DEFAULT, 1, 0.0, retry_after=math.inf) == 86400.0


def test_a_retry_after_that_is_not_a_number_is_ignored_and_the_schedule_applies() -> None:
    # float("nan") parses from a "nan" header; a NaN delay cannot become a time.
    assert next_delay(DEFAULT, 2, 0.0, retry_after=math.nan) == 300.0


def test_retry_after_is_clamped_to_custom_bounds() -> None:
    policy = RetryPolicy(retry_after_min=10.0, retry_after_max=60.0)
    assert next_delay(policy, 1, 0.0, retry_after=3.0) == 10.0
    assert next_delay(policy, 1, 0.0, retry_after=30.0) == 30.0
    assert next_delay(policy, 1, 0.0, retry_after=3600.0) == 60.0


def test_retry_after_never_extends_the_schedule() -> None:
    assert next_delay(DEFAULT, len(DEFAULT_SCHEDULE) + 1, 0.0, retry_after=10.0) is None


def test_a_custom_schedule_is_followed_then_given_up() -> None:
    policy = RetryPolicy(schedule=(1.0, 2.0, 3.0), jitter=0.5)
    assert next_delay(policy, 1, 0.0) == 1.0
    assert next_delay(policy, 2, 1.0) == pytest.approx(3.0)
    assert next_delay(policy, 3, -1.0) == pytest.approx(1.5)
    assert next_delay(policy, 4, 0.0) is None


def test_an_empty_schedule_gives_up_after_the_first_failure() -> None:
    assert next_delay(RetryPolicy(schedule=()), 1, 0.0) is None


def test_a_policy_without_jitter_ignores_the_drawn_jitter() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert next_delay(policy, 1, -1.0) == next_delay(policy, 1, 1.0) == 5.0


@pytest.mark.parametrize("failures", [0, -1, -100])
def test_failures_start_at_one_else_value_error(failures: int) -> None:
    with pytest.raises(ValueError, match="failures"):
        next_delay(DEFAULT, failures, 0.0)


@pytest.mark.parametrize("jitter", [-1.0001, 1.0001, 2.0, -5.0, math.inf, -math.inf, math.nan])
def test_jitter_outside_minus_one_to_one_is_a_value_error(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        next_delay(DEFAULT, 1, jitter)


def test_bad_arguments_are_refused_even_when_the_schedule_is_used_up() -> None:
    with pytest.raises(ValueError):
        next_delay(DEFAULT, 100, 3.0)


# --- Which policies an account may set --------------------------------------------------
def test_the_default_policy_is_usable() -> None:
    assert policy_problem(DEFAULT) is None


def test_an_empty_schedule_is_usable() -> None:
    assert policy_problem(RetryPolicy(schedule=())) is None


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        (RetryPolicy(schedule=(5.0, 0.0)), "positive"),
        (RetryPolicy(schedule=(-1.0,)), "positive"),
        (RetryPolicy(schedule=(5.0, math.nan)), "positive"),
        (RetryPolicy(jitter=math.nan), "jitter"),
        (RetryPolicy(retry_after_min=math.nan), "Retry-After"),
        (RetryPolicy(schedule=(1.0,) * 101), "at most 100"),
        (RetryPolicy(jitter=1.0), "jitter"),
        (RetryPolicy(jitter=-0.1), "jitter"),
        (RetryPolicy(retry_after_min=0.0), "Retry-After"),
        (RetryPolicy(retry_after_min=10.0, retry_after_max=5.0), "Retry-After"),
    ],
)
def test_an_unusable_policy_says_what_is_wrong(policy: RetryPolicy, says: str) -> None:
    problem = policy_problem(policy)
    assert problem is not None
    assert says in problem


def test_a_schedule_of_exactly_100_steps_is_usable() -> None:
    assert policy_problem(RetryPolicy(schedule=(1.0,) * 100)) is None


# --- Properties ---------------------------------------------------------------------------
USABLE_POLICIES = st.builds(
    RetryPolicy,
    schedule=st.lists(st.floats(min_value=0.001, max_value=10.0**6), max_size=8).map(tuple),
    jitter=st.floats(min_value=0.0, max_value=0.99),
    retry_after_min=st.floats(min_value=0.001, max_value=100.0),
    retry_after_max=st.floats(min_value=100.0, max_value=10.0**6),
)
RETRY_AFTERS = st.one_of(
    st.none(), st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0]), st.floats()
)


@settings(max_examples=200, deadline=None)
@given(
    USABLE_POLICIES,
    st.integers(min_value=1, max_value=10),
    st.floats(min_value=-1.0, max_value=1.0),
    RETRY_AFTERS,
)
def test_a_usable_policy_gives_up_or_waits_a_finite_time_within_its_bounds(
    policy: RetryPolicy, failures: int, jitter: float, retry_after: float | None
) -> None:
    assert policy_problem(policy) is None
    delay = next_delay(policy, failures, jitter, retry_after)
    if failures > len(policy.schedule):
        assert delay is None
        return
    assert delay is not None
    assert math.isfinite(delay)
    assert delay > 0
    if retry_after is not None and not math.isnan(retry_after):
        assert policy.retry_after_min <= delay <= policy.retry_after_max
    else:
        scheduled = policy.schedule[failures - 1]
        assert scheduled * (1 - policy.jitter) <= delay * (1 + 1e-12)
        assert delay <= scheduled * (1 + policy.jitter) * (1 + 1e-12)
