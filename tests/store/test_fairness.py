"""Two processes writing to one account on one database both make progress: after a
version conflict the retry holds the write lock, so it cannot lose again, and neither
process starves (none of its commands fails with 2400 after too many conflicts)."""

import multiprocessing
import time
from multiprocessing.synchronize import Barrier

from tidings.adapters.library import Conflict, Rejected, Tidings

SECONDS = 4.0
LOGIN = "shared"


def _writer(db: str, name: str, go: Barrier, results: "multiprocessing.Queue[object]") -> None:
    """Accept and end operations on the shared account until the time is up; reports
    (name, commands done, failures)."""
    done, failures = 0, []
    with Tidings(db) as tidings:
        tidings.account(LOGIN)  # warm: the first load is not part of the race
        go.wait()
        until = time.monotonic() + SECONDS
        n = 0
        while time.monotonic() < until:
            n += 1
            try:
                pending = tidings.accept(LOGIN, f"{name}-{n}", "domain-renew")
                tidings.end(pending.svtrid, 1000, "OK")
                done += 2
            except (Rejected, Conflict) as failed:
                failures.append(str(failed))
    results.put((name, done, failures))


def test_two_processes_on_one_account_share_the_commands(db_url: str) -> None:
    with Tidings(db_url) as tidings:
        tidings.open_account(LOGIN, "123456")
    spawn = multiprocessing.get_context("spawn")
    go = spawn.Barrier(3)  # both writers warm, and the test
    results: multiprocessing.Queue[object] = spawn.Queue()
    writers = [spawn.Process(target=_writer, args=(db_url, name, go, results)) for name in "ab"]
    for writer in writers:
        writer.start()
    try:
        go.wait(timeout=60)
        outcome = {}
        for _ in writers:
            name, done, failures = results.get(timeout=SECONDS + 60)  # type: ignore[misc]
            outcome[name] = (done, failures)
    finally:
        for writer in writers:
            writer.join(timeout=30)
            if writer.is_alive():
                writer.kill()
    total = sum(done for done, _ in outcome.values())
    print({name: done for name, (done, _) in outcome.items()})
    assert all(not failures for _, failures in outcome.values()), outcome
    assert total > 0
    for name, (done, _) in outcome.items():
        assert done >= total / 3, f"process {name} did {done} of {total} commands"
