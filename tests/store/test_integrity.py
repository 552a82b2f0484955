"""tidings verify (hash chain) and tidings replay (log vs live state), through the CLI."""

from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from tidings.adapters.audit.integrity import PAGE, compare_live, compare_open, fold_log, replay
from tidings.adapters.ledger.entries import decode_event, encode_event
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.cli.app import app
from tidings.domain.mailbox import MailboxState, snapshot
from typer.testing import CliRunner

from bench.log import build_history

from .tamper import Tamper, tamper

runner = CliRunner()


def _history(db: str, operations: int = 5) -> None:
    with Tidings(db, snapshot_every=4) as t:
        t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")


def test_verify_passes_on_an_untouched_log(db_url: str) -> None:
    _history(db_url)
    result = runner.invoke(app, ["verify", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "chain intact: 16 entries" in result.output


@pytest.mark.parametrize(
    ("edit", "shown"),
    [
        (lambda log: log.set_state(7, b"\x00"), "BROKEN at position 7: log entry or its chain"),
        (lambda log: log.delete(5), "BROKEN at position 5: log entry deleted"),
        (lambda log: log.delete(5, with_link=True), "BROKEN at position 6"),
        (lambda log: log.swap(4, 5), "BROKEN at position 4"),
        (lambda log: log.recut(4, 3), "BROKEN at position 4"),
        (lambda log: log.set_stream(6, "0" * 32), "BROKEN at position 6"),
    ],
    ids=["edited", "deleted", "deleted-with-link", "swapped", "re-cut", "moved"],
)
def test_verify_finds_a_tampered_row(
    db_url: str, edit: Callable[[Tamper], None], shown: str
) -> None:
    # Given a log whose rows were edited behind the store's back
    _history(db_url)
    with tamper(db_url) as log:
        edit(log)
    # When its chain is verified
    result = runner.invoke(app, ["verify", "--db", db_url])
    # Then the first position that does not hold is named
    assert result.exit_code == 1
    assert shown in result.output


def test_verify_finds_a_stream_id_that_is_not_one(sqlite_url: str) -> None:
    # Given a SQLite log (its ids are text) with a row whose stream id is not hex
    _history(sqlite_url)
    with tamper(sqlite_url) as log:
        log.set_stream(6, "not a stream id")
    # When its chain is verified, then that row is the break, and no traceback
    result = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "BROKEN at position 6: log entry or its chain link was altered" in result.output


@pytest.mark.parametrize(
    ("position", "shown"),
    [
        # Its stream's rules refuse what follows: the ending's operation was never accepted
        (6, "(OperationEnded) cannot follow the events before it in its stream"),
        # Nothing follows it (the log's last row): its id is found not to be one
        (16, "(NotificationQueued) names no stream"),
    ],
    ids=["mid-stream", "last-of-its-stream"],
)
def test_replay_names_a_row_whose_stream_id_is_not_one(
    sqlite_url: str, position: int, shown: str
) -> None:
    # Given a SQLite log (its ids are text) with a row whose stream id is not hex
    _history(sqlite_url)
    with tamper(sqlite_url) as log:
        log.set_stream(position, "not a stream id")
    # When it is replayed, then that row is named, and no traceback
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
    assert result.exit_code == 1
    assert f"CORRUPT: log entry at position {position} {shown}" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_replay_matches_the_live_state(db_url: str) -> None:
    _history(db_url)
    result = runner.invoke(app, ["replay", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "replayed 16 events in 7 streams" in result.output
    assert "every stream matches the log" in result.output


@pytest.mark.parametrize(
    ("edit", "position"),
    [
        (lambda log: log.set_state(3, b"\xc1"), 3),
        # The end of row 4 moved into row 5: the two rows' bytes are all there
        (lambda log: log.recut(4, 3), 4),
    ],
    ids=["edited", "re-cut"],
)
def test_replay_names_a_row_that_cannot_be_decoded(
    db_url: str, edit: Callable[[Tamper], None], position: int
) -> None:
    # Given a log with a row that is no longer the event its topic names
    _history(db_url)
    with tamper(db_url) as log:
        edit(log)
    # When it is replayed
    result = runner.invoke(app, ["replay", "--db", db_url])
    # Then that row is named by its position, and no traceback
    assert result.exit_code == 1
    assert f"CORRUPT: log entry at position {position}" in result.output
    assert "cannot be decoded" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _acked_history(db: str) -> None:
    """Four notifications queued (a snapshot at the fourth), the first polled and acked."""
    with Tidings(db, snapshot_every=4) as t:
        t.open_account("tester", "pw")
        for i in range(4):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
        polled = t.poll("tester", svtrid="poll-1")
        assert polled.notification is not None
        t.ack("tester", str(polled.notification.id))


def test_replay_reports_an_event_that_cannot_follow_its_stream(db_url: str) -> None:
    # Given a log in which the ack names notification 2 while 1 is the head: it decodes,
    # but the mailbox's rules refuse it where it stands
    _acked_history(db_url)
    with tamper(db_url) as log:
        position = log.position_of("NotificationAcked")
        acked = decode_event("NotificationAcked", log.state(position))
        log.set_state(position, encode_event(msgspec.structs.replace(acked, id=2)))
    # When it is replayed
    result = runner.invoke(app, ["replay", "--db", db_url])
    # Then the event is reported at its position, with why, and no traceback
    assert result.exit_code == 1
    assert f"CORRUPT: log entry at position {position} (NotificationAcked)" in result.output
    assert "cannot follow the events before it in its stream" in result.output
    assert "ack of 2 but the head is 1" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("history", "forged", "shown"),
    [
        # The live mailbox then disagrees with its own events
        (_history, MailboxState(next_id=99), "MISMATCH mailbox"),
        # The retrieval and the ack after the snapshot cannot follow it: no live state
        (
            _acked_history,
            MailboxState(next_id=5),
            "live:    cannot be loaded: retrieval of 1 but the queue is empty",
        ),
    ],
    ids=["differs", "cannot-be-loaded"],
)
def test_replay_reports_a_live_state_built_on_a_forged_snapshot(
    db_url: str, history: Callable[[str], None], forged: MailboxState, shown: str
) -> None:
    # Given a log whose stored snapshots are rewritten to hold `forged`
    history(db_url)
    with tamper(db_url) as log:
        log.set_snapshots(encode_event(snapshot(forged, datetime.now(UTC))))
    # When the log is replayed
    result = runner.invoke(app, ["replay", "--db", db_url])
    # Then the mailbox is reported as differing from the log, and no traceback
    assert result.exit_code == 1
    assert shown in result.output
    assert "1 stream(s) differ from the log" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--db", str(tmp_path / "no" / "such.db")])
    assert result.exit_code == 2
    assert "cannot open" in result.output


def test_replay_tells_its_progress_a_page_at_a_time(tmp_path: Path) -> None:
    # Given a log of several pages (the bench's history, written in bulk)
    history = build_history(tmp_path / "history.db", 25_000, 4)
    told: list[int] = []
    with closing(Store(str(history.path), read_only=True)) as store:
        # When it is replayed
        report = replay(store, told.append)
        # Then the events told add up to the log, each once, a page at a time
        assert sum(told) == report.events == store.max_position() == history.log_events
        assert len(told) == -(-history.log_events // PAGE) > 1
        assert report.mismatches == []


def test_a_fold_in_small_pages_unpacks_idle_streams_as_they_come_back(db_url: str) -> None:
    # Given a log in which an operation is accepted first and ended last, with others
    # accepted and ended in between, and the account configured at the end
    with Tidings(db_url, snapshot_every=4) as t:
        t.open_account("tester", "pw")
        early = t.accept("tester", "early", "op").svtrid
        for i in range(5):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
        t.end(early, 1000, "OK")
        t.suspend("tester", "paused")
    with closing(Store(db_url, read_only=True)) as store:
        # When it is folded a row per page, so every stream goes idle (held packed) and
        # comes back before the log ends, and folded in one page
        events, small = fold_log(store, page=1)
        _, whole = fold_log(store)
        # Then both folds agree, stream by stream, and match the live states
        assert events == store.max_position()
        for category in ("account", "operation", "mailbox"):
            assert dict(small.states(category)) == dict(whole.states(category))
        assert small.streams() == whole.streams() == 8
        assert compare_live(store, small) == compare_open(store, small) == []
