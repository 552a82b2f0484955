"""`python -m bench.ceiling` runs the prototype beside tidings and the peers."""

import sqlite3
from pathlib import Path

import pytest
from tidings.adapters.library import Tidings

from bench.ceiling import CeilingQueue, run_ceiling
from bench.queue import spread


def test_the_prototype_writes_a_log_tidings_reads(tmp_path: Path) -> None:
    # given: the prototype, four callers at once
    queue = CeilingQueue(tmp_path / "ceiling.db", 4)
    # when: 24 enqueues, then 20 poll + acks
    spread(4, 24, queue.put)
    spread(4, 20, queue.take)
    batches = queue.transactions()
    queue.close()
    # then: tidings reads the same log: an accept and an ending each enqueue, a retrieval
    # and an ack each poll + ack; what is left is queued
    with Tidings(str(tmp_path / "ceiling.db")) as tidings:
        topics = [entry.topic for entry in tidings.log()]
        assert topics.count("OperationAccepted") == topics.count("OperationEnded") == 24
        assert topics.count("NotificationRetrieved") == topics.count("NotificationAcked") == 20
        left = sum(tidings.mailbox(f"ceiling-{n}").count for n in range(4))
    assert left == 4
    assert 0 < batches <= 2 * 24 + 2 * 20
    # and: the chain and the tree have a row per entry
    with sqlite3.connect(tmp_path / "ceiling.db") as db:
        chained = db.execute("SELECT count(*) FROM tidings_chain WHERE nodes IS NOT NULL")
        assert chained.fetchone()[0] == len(topics)


def test_run_prints_every_subject(capsys: pytest.CaptureFixture[str]) -> None:
    # given/when: a tiny run
    run_ceiling(size=16, rounds=2, clients=4)
    # then: both phases of the prototype, tidings and the two peers
    lines = capsys.readouterr().out.splitlines()
    subjects = {(line.split()[0], line.split()[1]) for line in lines}
    for phase in ("enqueue", "poll+ack"):
        for name in ("ceiling", "tidings", "persist-queue", "litequeue"):
            assert (phase, name) in subjects
