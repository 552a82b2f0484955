"""tidings verify (hash chain) and tidings replay (log vs live state), through the CLI."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tidings.adapters.codec import encode_event
from tidings.adapters.library import Tidings
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


def test_replay_reports_a_live_state_that_differs(sqlite_url: str) -> None:
    _history(sqlite_url)
    # A forged snapshot: the live mailbox now disagrees with its own events.
    forged = snapshot(MailboxState(next_id=99), datetime.now(UTC))
    with sqlite3.connect(sqlite_url) as db:
        db.execute("UPDATE stored_snapshots SET state = ?", (encode_event(forged),))
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "MISMATCH mailbox" in result.output
    assert "1 stream(s) differ from the log" in result.output


def test_replay_reports_an_undecodable_event(sqlite_url: str) -> None:
    _history(sqlite_url)
    with sqlite3.connect(sqlite_url) as db:
        db.execute("UPDATE stored_events SET state = x'c1' WHERE rowid = 3")
    result = runner.invoke(app, ["replay", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "position 3" in result.output and "cannot be decoded" in result.output


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--db", str(tmp_path / "no" / "such.db")])
    assert result.exit_code == 2
    assert "cannot open" in result.output
