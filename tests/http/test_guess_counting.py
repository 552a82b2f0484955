"""A guess counts from the moment it passes the throttle's check: concurrent guesses
cannot get past the budget by all passing the check before any has failed, and a right
password takes its attempt back."""

from tidings.adapters.http.throttle import Throttle

BUDGET = 30


def test_concurrent_guesses_past_the_check_are_held_to_the_budget() -> None:
    throttle = Throttle(per_address=BUDGET, per_login=BUDGET, window=60.0, clock=lambda: 5.0)
    # 40 guesses checked before any of them has failed, as concurrent requests are.
    let_through = [throttle.retry_after("tester", "192.0.2.1") for _ in range(40)]
    assert let_through.count(None) == BUDGET
    for _ in range(BUDGET):
        throttle.failed("tester", "192.0.2.1")
    assert throttle.retry_after("tester", "192.0.2.1") is not None


def test_a_right_password_takes_its_attempt_back() -> None:
    throttle = Throttle(per_address=BUDGET, per_login=BUDGET, window=60.0, clock=lambda: 5.0)
    for _ in range(10 * BUDGET):  # a busy, honest client
        assert throttle.retry_after("tester", "192.0.2.1") is None
        throttle.passed("tester", "192.0.2.1")
    for _ in range(BUDGET - 1):
        assert throttle.retry_after("tester", "192.0.2.1") is None
        throttle.failed("tester", "192.0.2.1")
    assert throttle.retry_after("tester", "192.0.2.1") is None  # the 30th guess
    assert throttle.retry_after("tester", "192.0.2.1") is not None  # the 31st
