"""`python -m bench.batches` runs batches of exactly one command of each of its clients."""

import pytest

from bench.batches import CLIENTS, run_batches


@pytest.mark.parametrize("phase", ["enqueue", "poll+ack"])
@pytest.mark.parametrize("subject", ["tidings", "ceiling"])
def test_every_batch_holds_one_command_of_each_client(
    phase: str, subject: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given/when: two rounds of the phase (its two commands), on queues filled by two
    run_batches(phase=phase, rounds=2, queued=2, subject=subject)
    # then: a transaction for each batch, no more (tidings: and each account opened, by
    # its own group commit; the ceiling's accounts are opened beside its count): each
    # batch held all its clients' commands
    batches = 2 * 2 + (2 * 2 if phase == "poll+ack" else 0)
    opened = CLIENTS if subject == "tidings" else 0
    assert capsys.readouterr().out.strip() == (
        f"{phase}: 2 rounds of {CLIENTS}, {opened + batches} transactions"
    )
