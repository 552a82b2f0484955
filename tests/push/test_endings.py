"""Endings of the operations the server runs itself go through the due-work runner:
rebuilt from the log, so any live process ends what a dead one accepted, and an ending
that failed is tried again."""

from dataclasses import replace
from pathlib import Path

from tidings.adapters.library import Tidings
from tidings.adapters.push.due import Ending, EndingRule
from tidings.domain import Code
from tidings.domain.operation import OperationState

from tests.http.conftest import serve, settings_for, wait_until
from tests.push.conftest import running


def test_a_ping_async_accepted_by_a_server_that_died_is_ended_by_a_live_one(
    db_url: str,
) -> None:
    with serve(settings_for(db_url)) as b:
        b.tidings.open_account("tester", "123456")
        # A would end its pings after an hour; it stops long before.
        with serve(settings_for(db_url, ping_delay=3600.0)) as a:
            svtrid = a.tidings.accept("tester", "AvrX87Kqk6h3", "ping-async").svtrid
        ended = wait_until(
            lambda: (op := b.tidings.operation(svtrid)) is not None and op.ended,
            what="server B to end A's ping-async",
        )
        assert ended.code == Code.OK
        polled = b.tidings.poll("tester", svtrid=b.tidings.new_svtrid())
        assert polled.notification is not None
        assert polled.notification.outcome.svtrid == svtrid


def test_an_ending_left_pending_is_found_in_the_log_at_start(tmp_path: Path) -> None:
    with Tidings(str(tmp_path / "t.db")) as t:
        t.open_account("tester", "123456")
        svtrid = t.accept("tester", "c", "ping-async").svtrid
        rules = {"ping-async": EndingRule(0.0, lambda _: Ending(Code.OK, "OK"))}
        with running(t, endings=rules):
            wait_until(lambda: (op := t.operation(svtrid)) and op.ended, what="the ending")


def test_an_ending_that_failed_once_is_tried_again(tmp_path: Path) -> None:
    calls: list[str] = []

    def fails_once(operation: OperationState) -> Ending:
        assert operation.accepted is not None
        calls.append(operation.accepted.svtrid)
        if len(calls) == 1:
            raise OSError("No space left on device")
        return Ending(Code.OK, "OK")

    with Tidings(str(tmp_path / "t.db")) as t:
        t.open_account("tester", "123456")
        svtrid = t.accept("tester", "c", "ping-async").svtrid
        with running(t, endings={"ping-async": EndingRule(0.0, fails_once)}) as runner:
            wait_until(lambda: runner.ended == 1, what="the retry")
            operation = t.operation(svtrid)
            assert operation is not None and operation.ended is not None
    assert calls == [svtrid, svtrid]


def test_a_server_without_its_worker_leaves_endings_to_a_worker(db_url: str) -> None:
    with serve(replace(settings_for(db_url), worker=False)) as server:
        server.tidings.open_account("tester", "123456")
        svtrid = server.tidings.accept("tester", "c", "ping-async").svtrid
        assert server.context.due is None
        rules = {"ping-async": EndingRule(0.0, lambda _: Ending(Code.OK, "OK"))}
        with running(server.tidings, endings=rules):
            wait_until(lambda: (op := server.tidings.operation(svtrid)) and op.ended)


def test_a_fixed_ending_ends_without_a_read_and_one_ended_meanwhile_stands(
    tmp_path: Path,
) -> None:
    with Tidings(str(tmp_path / "t.db")) as t:
        t.open_account("tester", "123456")
        mine = t.accept("tester", "c", "ping-async").svtrid
        theirs = t.accept("tester", "d", "ping-async").svtrid
        t.end(theirs, 2400, "ended by another process first")
        rules = {"ping-async": EndingRule(0.0, Ending(Code.OK, "fixed"))}
        with running(t, endings=rules) as runner:
            ended = wait_until(lambda: (op := t.operation(mine)) and op.ended, what="the ending")
            assert ended.code == Code.OK and ended.result == "fixed"
            wait_until(lambda: runner.ended == 1, what="the runner's count")
        other = t.operation(theirs)
        assert other is not None and other.ended is not None and other.ended.code == 2400
