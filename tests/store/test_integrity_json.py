"""`tidings verify --json` and `tidings replay --json`: the facts of the text output as
one JSON object, with the same exit codes."""

import json
from datetime import UTC, datetime

from tidings.adapters.ledger.entries import encode_event
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from tidings.domain.mailbox import MailboxState, snapshot
from typer.testing import CliRunner

from .tamper import tamper

runner = CliRunner()


def _history(db: str) -> None:
    with Tidings(db, snapshot_every=4) as t:
        t.open_account("tester", "pw")
        for i in range(5):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")


def test_verify_json_on_an_untouched_log(db_url: str) -> None:
    _history(db_url)
    result = runner.invoke(app, ["verify", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["holds"] is True
    assert found["intact"] == 16
    assert found["broken"] is None
    assert found["checkpoints"]["failures"] == []
    assert any("truncation" in note for note in found["checkpoints"]["notes"])


def test_verify_json_names_the_break_and_exits_1(db_url: str) -> None:
    # Given a log with a deleted row
    _history(db_url)
    with tamper(db_url) as log:
        log.delete(5)
    # When it is verified with --json
    result = runner.invoke(app, ["verify", "--db", db_url, "--json"])
    # Then one JSON object names the break, and the exit code is the text output's
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert found["holds"] is False
    assert found["broken"]["position"] == 5
    assert found["broken"]["reason"].startswith("log entry deleted")
    assert found["intact"] == 4


def test_replay_json_on_an_untouched_log(db_url: str) -> None:
    _history(db_url)
    result = runner.invoke(app, ["replay", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "matches": True,
        "events": 16,
        "streams": 7,
        "mismatches": [],
        "corrupt": None,
    }


def test_replay_json_names_a_differing_stream(db_url: str) -> None:
    _history(db_url)
    with tamper(db_url) as log:
        log.set_snapshots(encode_event(snapshot(MailboxState(next_id=99), datetime.now(UTC))))
    result = runner.invoke(app, ["replay", "--db", db_url, "--json"])
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert found["matches"] is False
    assert [m["category"] for m in found["mismatches"]] == ["mailbox"]
    assert found["mismatches"][0]["live"]["next_id"] == 99


def test_replay_json_names_a_corrupt_entry(db_url: str) -> None:
    _history(db_url)
    with tamper(db_url) as log:
        log.set_state(3, b"\xc1")
    result = runner.invoke(app, ["replay", "--db", db_url, "--json"])
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert found["matches"] is False
    assert found["corrupt"]["position"] == 3
    assert found["corrupt"]["topic"]
