"""`python -m bench.wapi_calls` answers every poll-req it counts, over XML and JSON."""

import asyncio
from pathlib import Path

import pytest
from tidings.adapters import Rejected, Tidings

from bench.wapi_calls import run_cycles, run_pairs


def test_every_pair_is_answered_1003_and_leaves_the_queue_empty(tmp_path: Path) -> None:
    # given/when: three pairs on a fresh database (run_pairs raises on any other answer)
    asyncio.run(run_pairs(3, tmp_path / "t.db"))
    # then: the account it opened is there, its queue empty
    with Tidings(str(tmp_path / "t.db")) as tidings:
        assert int(tidings.poll("tester").code) == 1003


def test_a_database_already_used_is_refused(tmp_path: Path) -> None:
    # given: a database where its account exists
    asyncio.run(run_pairs(0, tmp_path / "t.db"))
    # when/then: the count wants a fresh one
    with pytest.raises(Rejected):
        asyncio.run(run_pairs(1, tmp_path / "t.db"))


def test_clients_in_poll_cycles_are_counted_until_enough_are_answered(tmp_path: Path) -> None:
    # given/when: four clients in poll cycles until 40 requests are answered (run_cycles
    # raises on an answer no cycle gets; whether a poll finds its ping ended yet is the
    # due runner's timing)
    codes = asyncio.run(run_cycles(40, tmp_path / "t.db", clients=4))
    # then: at least that many, each client at most a cycle (three requests) past it,
    # and every cycle starts with a ping-async accepted (1001) and a poll
    assert 40 <= codes.total() < 40 + 4 * 3
    assert codes[b"1001"] == codes[b"1000"] + codes[b"1003"] > 0
