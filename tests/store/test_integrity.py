"""tidings verify (hash chain) and tidings replay (log vs live state), through the CLI."""

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.store.codec import decode_event, encode_event
from tidings.cli.app import app
from tidings.domain.mailbox import MailboxState, snapshot
from typer.testing import CliRunner

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


def test_verify_finds_an_edited_row(sqlite_url: str) -> None:
    _history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        db.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 7")
    result = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "BROKEN at position 7" in result.output
    assert "6 entries before it are intact" in result.output


def test_verify_finds_a_deleted_row(sqlite_url: str) -> None:
    _history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = 5")
    result = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "BROKEN at position 5: log entry deleted" in result.output


def test_verify_finds_a_row_deleted_with_its_link(sqlite_url: str) -> None:
    _history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        db.execute("DELETE FROM stored_events WHERE rowid = 5")
        db.execute("DELETE FROM tidings_chain WHERE position = 5")
    result = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "BROKEN at position 6" in result.output


def test_replay_matches_the_live_state(db_url: str) -> None:
    _history(db_url)
    result = runner.invoke(app, ["replay", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "replayed 16 events in 7 streams" in result.output
    assert "every stream matches the log" in result.output


def test_replay_reports_an_undecodable_event(sqlite_url: str) -> None:
    _history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        db.execute("UPDATE stored_events SET state = x'c1' WHERE rowid = 3")
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "position 3" in result.output and "cannot be decoded" in result.output


def _acked_history(db: str) -> None:
    """Four notifications queued (a snapshot at the fourth), the first polled and acked."""
    with Tidings(db, snapshot_every=4) as t:
        t.open_account("tester", "pw")
        for i in range(4):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
        polled = t.poll("tester", svtrid="poll-1")
        assert polled.notification is not None
        t.ack("tester", str(polled.notification.id))


def test_replay_reports_an_event_that_cannot_follow_its_stream(sqlite_url: str) -> None:
    # Given a log in which the ack names notification 2 while 1 is the head: it decodes,
    # but the mailbox's rules refuse it where it stands
    _acked_history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        position, state = db.execute(
            "SELECT rowid, state FROM stored_events WHERE topic = 'NotificationAcked'"
        ).fetchone()
        acked = decode_event("NotificationAcked", state)
        forged = encode_event(msgspec.structs.replace(acked, id=2))
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (forged, position))
    # When it is replayed
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
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
    sqlite_url: str, history: Callable[[str], None], forged: MailboxState, shown: str
) -> None:
    # Given a log whose stored snapshots are rewritten to hold `forged`
    history(sqlite_url)
    stored = encode_event(snapshot(forged, datetime.now(UTC)))
    with sqlite3.connect(sqlite_url) as db:
        db.execute("UPDATE stored_snapshots SET state = ?", (stored,))
    # When the log is replayed
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
    # Then the mailbox is reported as differing from the log, and no traceback
    assert result.exit_code == 1
    assert shown in result.output
    assert "1 stream(s) differ from the log" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--db", str(tmp_path / "no" / "such.db")])
    assert result.exit_code == 2
    assert "cannot open" in result.output
