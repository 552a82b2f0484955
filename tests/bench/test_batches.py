"""`python -m bench.batches` runs batches of exactly one command of each of its clients."""

import pytest

from bench.batches import CLIENTS, run_batches


@pytest.mark.parametrize("phase", ["enqueue", "poll+ack"])
def test_every_batch_holds_one_command_of_each_client(
    phase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given/when: two rounds of the phase (its two commands), on queues filled by two
    run_batches(phase=phase, rounds=2, queued=2)
    # then: a transaction for each account opened and each batch, no more: each batch
    # held all its clients' commands
    batches = 2 * 2 + (2 * 2 if phase == "poll+ack" else 0)
    assert capsys.readouterr().out.strip() == (
        f"{phase}: 2 rounds of {CLIENTS}, {CLIENTS + batches} transactions"
    )
