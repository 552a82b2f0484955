"""The retry policy of pushed notifications: a pure function of the failure count.

Jitter is an argument in [-1, 1] (the adapter draws it), so the same inputs always give
the same delay and tests need no random seed.
"""

import math

from msgspec import Struct

__all__ = ["DEFAULT_SCHEDULE", "MAX_DELAY", "RetryPolicy", "next_delay", "policy_problem"]

# Seconds to wait after the 1st, 2nd, ... failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h. Eight attempts over about 28 hours, like Svix's default schedule.
DEFAULT_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


# No wait is longer than 30 days: longer ones are refused in a policy and capped in
# `next_delay`, so a stored policy can never push a time past what datetime holds.
MAX_DELAY = 30 * 86400.0


class RetryPolicy(Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True):
    """When to try a failed push again, and when to give up.

    `schedule[n]` is the delay in seconds after the (n+1)-th failure; once it is used up
    the delivery gives up. `jitter` is the largest relative deviation (0.2 = +-20 %).
    A receiver's `Retry-After` replaces the scheduled delay, clamped to
    [`retry_after_min`, `retry_after_max`] so a receiver can neither hammer us nor park
    a notification for ever.
    """

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    retry_after_min: float = 1.0
    retry_after_max: float = 86400.0


def policy_problem(policy: RetryPolicy) -> str | None:
    """What is wrong with `policy`, or None when it is usable."""
    if not all(delay > 0 for delay in policy.schedule):  # also refuses NaN
        return "every delay of the retry schedule must be positive"
    if any(delay > MAX_DELAY for delay in policy.schedule):
        return "no delay of the retry schedule is longer than 30 days"
    if len(policy.schedule) > 100:
        return "a retry schedule has at most 100 steps"
    if not 0 <= policy.jitter < 1:
        return "jitter must be in [0, 1)"
    if not 0 < policy.retry_after_min <= policy.retry_after_max <= MAX_DELAY:
        return "Retry-After bounds must satisfy 0 < min <= max <= 30 days"
    return None


def next_delay(
    policy: RetryPolicy, failures: int, jitter: float, retry_after: float | None = None
) -> float | None:
    """Seconds to wait before the next attempt after `failures` failed attempts.

    Returns None when the schedule is used up: the delivery gives up. `jitter` in [-1, 1]
    scales the policy's jitter; a `retry_after` (seconds) from the receiver replaces the
    scheduled delay, clamped to the policy's bounds, but never extends the schedule; a NaN
    `retry_after` is no answer at all, so the schedule applies.

    Raises ValueError for `failures < 1` or `jitter` outside [-1, 1].
    """
    if failures < 1:
        raise ValueError("failures counts failed attempts and starts at 1")
    if not -1.0 <= jitter <= 1.0:
        raise ValueError("jitter must be in [-1, 1]")
    if failures > len(policy.schedule):
        return None
    if retry_after is not None and not math.isnan(retry_after):
        return min(max(retry_after, policy.retry_after_min), policy.retry_after_max, MAX_DELAY)
    return min(policy.schedule[failures - 1] * (1.0 + policy.jitter * jitter), MAX_DELAY)
