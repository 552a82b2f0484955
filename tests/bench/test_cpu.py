"""`python -m bench.cpu` prints the CPU per enqueue and per poll + ack."""

import pytest

from bench.cpu import cpu_per_operation


def test_cpu_per_operation_prints_both_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    # given/when: a small run, four callers at once
    cpu_per_operation(ops=24, threads=4)
    # then
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["enqueue", "poll+ack"]
    assert all("µs CPU" in line and "context switches" in line for line in lines)
