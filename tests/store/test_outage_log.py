"""An outage is logged once when it starts and once when it ends: an answer to a round
trip begun before the database fell silent (on its way when the outage started) does
not end it, so a late answer cannot split one outage into several in the log."""

import logging

import pytest
from psycopg import OperationalError
from tidings.adapters.store.outage import Outage

__all__: list[str] = []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.msg["event"] for r in caplog.records if isinstance(r.msg, dict)]


def test_a_late_answer_to_a_round_trip_begun_before_the_outage_does_not_end_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    outage = Outage(clock)
    caplog.set_level(logging.INFO, logger="tidings.store")
    # given: the store answered, then a round trip went unanswered at t=100
    outage.answered(asked=90.0)
    outage.failed(OperationalError("no answer from the database in 5 s"))
    # when: the answer to a round trip begun at t=99 arrives, then the next one fails
    clock.now = 101.0
    outage.answered(asked=99.0)
    outage.failed(OperationalError("no answer from the database in 5 s"))
    # then: one outage, still going
    assert _events(caplog) == ["store_unreachable"] and outage.down
    # when: a round trip begun after the outage started is answered
    clock.now = 103.0
    outage.answered(asked=102.0)
    # then: the outage ends, once
    assert _events(caplog) == ["store_unreachable", "store_recovered"] and not outage.down
