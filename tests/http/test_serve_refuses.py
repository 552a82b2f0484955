"""`tidings serve` on a log it cannot read refuses to start, in one line: the due work's
index is rebuilt from the log's rows at start-up, and a damaged row stops it."""

import os
import signal
import subprocess
import sys
from contextlib import suppress

import pytest

from tests.cli.test_queue import queued
from tests.store.tamper import tamper

__all__: list[str] = []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_log_with_an_entry_that_cannot_be_read_is_one_line_and_no_server(
    workers: str, db_url: str
) -> None:
    # given: a log whose ending was overwritten with bytes that decode to no event
    queued(db_url, 1)
    with tamper(db_url) as log:
        log.set_state(log.position_of("OperationEnded"), b"\x00")
    # when: served
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--db", db_url, "--port", "0", "--workers", workers]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    # then: it exits as failed, saying why and what to run, without a traceback
    assert process.returncode == 3, err
    refusals = [line for line in err.splitlines() if "not serving" in line]
    assert len(refusals) == int(workers), err
    assert all("cannot be read" in r and "tidings verify" in r for r in refusals)
    assert "Traceback" not in err, err
