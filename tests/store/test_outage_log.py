"""An outage is logged once when it starts and once when it ends: an answer to a round
trip begun before the database fell silent (on its way when the outage started) does
not end it, and a wait begun while it lasted that runs out just after it ended does not
start another, so neither can split one outage into several in the log."""

import logging

import pytest
from psycopg import OperationalError
from tidings.adapters.store.outage import ROUND_TRIP, Outage

__all__: list[str] = []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The events logged so far, the fixture's included."""
    records = caplog.get_records("setup") + caplog.records
    return [r.msg["event"] for r in records if isinstance(r.msg, dict)]


@pytest.fixture
def down(caplog: pytest.LogCaptureFixture) -> tuple[_Clock, Outage]:
    """A store that answered, then went unanswered at t=100."""
    clock = _Clock()
    outage = Outage(clock)
    caplog.set_level(logging.INFO, logger="tidings.store")
    outage.answered(asked=90.0)
    outage.failed(OperationalError("no answer from the database in 3 s"))
    return clock, outage


def test_a_late_answer_to_a_round_trip_begun_before_the_outage_does_not_end_it(
    down: tuple[_Clock, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    clock, outage = down
    # when: the answer to a round trip begun at t=99 arrives, then the next one fails
    clock.now = 101.0
    outage.answered(asked=99.0)
    outage.failed(OperationalError("no answer from the database in 3 s"))
    # then: one outage, still going
    assert _events(caplog) == ["store_unreachable"] and outage.down
    # when: a round trip begun after the outage started is answered
    clock.now = 103.0
    outage.answered(asked=102.0)
    # then: the outage ends, once
    assert _events(caplog) == ["store_unreachable", "store_recovered"] and not outage.down


def test_a_wait_begun_in_the_outage_that_runs_out_just_after_it_starts_no_new_one(
    down: tuple[_Clock, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    clock, outage = down
    clock.now = 103.0
    outage.answered(asked=102.5)  # the outage ends at t=103
    # when: a pool wait begun at t=102.9 runs out at t=103.15
    clock.now = 103.15
    outage.failed(OperationalError("couldn't get a connection after 0.25 sec"))
    # then: no second outage
    assert _events(caplog) == ["store_unreachable", "store_recovered"] and not outage.down
    # when: the store fails again once any wait begun in the outage has run out
    clock.now = 103.0 + ROUND_TRIP
    outage.failed(OperationalError("connection refused"))
    # then: a new outage is logged
    assert _events(caplog)[-1] == "store_unreachable" and outage.down
