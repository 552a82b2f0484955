"""The `LogFigures` projection folds the log's events into what `stats` and `/metrics`
show: deliveries by state and outcome, attempts with their durations and the last hour's
failures; its view tracks the position it counted up to."""

from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from tidings.adapters.audit.tally import ATTEMPT_BUCKETS, LogFigures, TallyView
from tidings.adapters.ledger.entries import Envelope
from tidings.adapters.store.application import stream_id
from tidings.adapters.store.environment import LOG
from tidings.domain import RetryPolicy
from tidings.domain import delivery as dlv

from tests.gwt import T0

Logged = tuple[Envelope, Tracking]


def entries(key: str, events: list[Any], first: int) -> list[Logged]:
    """`events` of one delivery, logged from position `first` on."""
    sid = stream_id("delivery", key)
    return [
        (Envelope(sid, n + 1, event), Tracking(LOG, first + n)) for n, event in enumerate(events)
    ]


def process(figures: LogFigures, logged: list[Logged]) -> None:
    for envelope, tracking in logged:
        figures.process_event(envelope, tracking)


def scheduled(n: int) -> dlv.DeliveryScheduled:
    return dlv.DeliveryScheduled(
        login="tester",
        notification_id=n,
        medium="url",
        target="https://client.example/n",
        expected_status=frozenset({200}),
        retry_policy=RetryPolicy(),
        at=T0,
    )


def failed(number: int, ms: float, minutes: int) -> dlv.AttemptFailed:
    at = T0 + timedelta(minutes=minutes)
    return dlv.AttemptFailed(
        number=number, status=500, error="unexpected status 500", duration_ms=ms,
        next_attempt_at=None, at=at,
    )  # fmt: skip


def test_deliveries_by_state_and_attempts_by_outcome() -> None:
    figures = LogFigures(TallyView())
    process(
        figures,
        entries("tester/1", [scheduled(1), dlv.AttemptStarted(number=1, at=T0),
                             dlv.AttemptSucceeded(number=1, status=200, duration_ms=20.0,
                                                  at=T0)], 1)
        + entries("tester/2", [scheduled(2), dlv.AttemptStarted(number=1, at=T0),
                               failed(1, 20_000.0, 0),
                               dlv.DeliveryGaveUp(reason="used up", at=T0)], 4)
        + entries("tester/3", [scheduled(3), dlv.AttemptStarted(number=1, at=T0),
                               failed(1, 300.0, 90)], 8)
    )  # fmt: skip
    tally = figures.view.tally
    assert figures.view.max_tracking_id(LOG) == 10
    assert dict(tally.deliveries) == {"scheduled": 1, "in_flight": 0, "succeeded": 1, "gave_up": 1}
    assert tally.given_up == 1
    assert dict(tally.attempts) == {"succeeded": 1, "failed": 2}
    assert tally.attempt_buckets[ATTEMPT_BUCKETS.index(0.025)] == 1
    assert tally.attempt_buckets[ATTEMPT_BUCKETS.index(0.5)] == 1
    assert tally.attempt_buckets[-1] == 1  # 20 s: slower than the last bound
    assert tally.attempt_seconds == pytest.approx(20.32)
    # An hour after the last attempt only it is recent; it failed.
    assert tally.recent_attempts(T0 + timedelta(minutes=100)) == (1, 1)
    # A requeue moves the given-up delivery back to scheduled.
    with pytest.raises(IntegrityError):  # a position counted already is refused
        process(figures, entries("tester/2", [dlv.DeliveryRequeued(at=T0)], 10))
    process(figures, entries("tester/2", [dlv.DeliveryRequeued(at=T0)], 11))
    assert tally.deliveries["gave_up"] == 0 and tally.deliveries["scheduled"] == 2
