"""`tidings trail`, `state` and `log`: the story, a past state and the log itself."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from tidings.adapters.library import Tidings
from tidings.adapters.wapi.auth import password_sha1
from tidings.domain.session import holder

from tests.cli.shell import json_of, one_line_error, shell
from tests.http.conftest import wait_until


def story(db: str) -> tuple[str, int]:
    """tester's operation accepted, stepped, ended, polled and acked: (svTRID, id)."""
    with Tidings(db) as tidings:
        tidings.open_account("tester", "s3cret")
        pending = tidings.accept("tester", "AvrX87Kqk6h3", "domain-renew")
        tidings.step(pending.svtrid, "sent to the registry")
        notification = tidings.end(pending.svtrid, 1000, "OK")
        tidings.poll("tester")
        tidings.ack("tester", str(notification.id))
    return pending.svtrid, notification.id


KINDS = [
    "OperationAccepted",
    "StepRecorded",
    "OperationEnded",
    "NotificationQueued",
    "NotificationRetrieved",
    "NotificationAcked",
]


def test_trail_by_svtrid_cltrid_and_notification(db_url: str) -> None:
    svtrid, ident = story(db_url)
    by_svtrid = json_of(shell("trail", svtrid, "--db", db_url, "--json"))
    assert [step["kind"] for step in by_svtrid] == KINDS
    positions = [step["position"] for step in by_svtrid]
    assert positions == sorted(positions)
    by_cltrid = json_of(shell("trail", "--cltrid", "AvrX87Kqk6h3", "--db", db_url, "--json"))
    assert by_cltrid == by_svtrid
    by_id = json_of(shell("trail", "--notification", f"tester:{ident}", "--db", db_url, "--json"))
    assert [step["kind"] for step in by_id] == KINDS[3:]
    timeline = shell("trail", svtrid, "--db", db_url).stdout
    expected = ("accepted domain-renew", "step: sent to the registry", "ended 1000 OK",
                f"notification {ident} queued", "retrieved by poll", f"{ident} acked")  # fmt: skip
    for words in expected:
        assert words in " ".join(timeline.split()), words


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ((), 2, ("one of",)),
        (("1.2.3", "--cltrid", "x"), 2, ("one of",)),
        (("--notification", "tester"), 2, ("LOGIN:ID",)),
        (("--notification", "tester:x"), 2, ("LOGIN:ID",)),
        (("no-such-svtrid",), 1, ("no-such-svtrid",)),
    ],
)
def test_trail_user_errors(
    args: tuple[str, ...], code: int, words: tuple[str, ...], sqlite_url: str
) -> None:
    story(sqlite_url)
    one_line_error(shell("trail", *args, "--db", sqlite_url), code, *words)


def test_state_at_a_time_and_now(db_url: str) -> None:
    story(db_url)
    with Tidings(db_url) as tidings:
        queued_at = tidings.trail(cltrid="AvrX87Kqk6h3")[3].at
    then = (queued_at + timedelta(microseconds=1)).isoformat()
    mailbox = json_of(shell("state", "mailbox", "tester", "--at", then, "--db", db_url, "--json"))
    assert [n["id"] for n in mailbox["queue"]] == [1]
    now = json_of(shell("state", "mailbox", "tester", "--db", db_url, "--json"))
    assert (now["queue"], now["last_acked"]) == ([], 1)
    before = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    # before the account was opened, its mailbox was nothing yet
    one_line_error(shell("state", "mailbox", "tester", "--at", before, "--db", db_url), 1,
                   "no mailbox 'tester'")  # fmt: skip
    account = shell("state", "account", "tester", "--db", db_url, "--json")
    assert json_of(account)["password_sha1"] == "***" and "whsec_" not in account.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("mailbox", "tester", "--at", "yesterday"), 2, ("ISO 8601",)),
        (("mailbox", "tester", "--at", "2026-11-22T10:00:00"), 2, ("time zone",)),
    ],
)
def test_state_user_errors(
    args: tuple[str, ...], code: int, words: tuple[str, ...], sqlite_url: str
) -> None:
    story(sqlite_url)
    one_line_error(shell("state", *args, "--db", sqlite_url), code, *words)
    assert shell("state", "ledger", "x", "--db", sqlite_url).exit_code == 2  # not a kind


def test_a_bad_time_is_answered_with_an_example_that_is_taken(sqlite_url: str) -> None:
    story(sqlite_url)
    refused = shell("state", "mailbox", "tester", "--at", "soon", "--db", sqlite_url)
    example = refused.output.strip().rstrip(")").rsplit(" ", 1)[-1]
    assert refused.exit_code == 2 and datetime.fromisoformat(example).tzinfo is not None
    # taken: the mailbox is not found by then (it was opened within that second), but the
    # time is no longer refused
    taken = shell("state", "mailbox", "tester", "--at", example, "--db", sqlite_url)
    assert taken.exit_code != 2, taken.output


def test_log_exports_every_entry_with_secrets_masked(db_url: str) -> None:
    story(db_url)
    lines = shell("log", "--jsonl", "--db", db_url).stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["position"] for e in entries] == list(range(1, len(entries) + 1))
    assert [e["kind"] for e in entries][1:] == KINDS
    opened = entries[0]["event"]
    assert opened["type"] == "AccountOpened" and opened["password_sha1"] == "***"
    assert password_sha1("s3cret") not in "".join(lines) and "whsec_" not in "".join(lines)
    assert json_of(shell("log", "--from", "3", "--db", db_url, "--json")) == entries[2:]
    assert "step: sent to the registry" in " ".join(shell("log", "--db", db_url).stdout.split())


@pytest.mark.parametrize(
    ("args", "words"),
    [(("--follow",), ("--jsonl",)), (("--json", "--jsonl"), ("exclude",))],
)
def test_log_user_errors(args: tuple[str, ...], words: tuple[str, ...], sqlite_url: str) -> None:
    story(sqlite_url)
    one_line_error(shell("log", *args, "--db", sqlite_url), 2, *words)
    assert shell("log", "--from", "0", "--db", sqlite_url).exit_code == 2


def test_log_follow_prints_new_entries_as_they_come(sqlite_url: str) -> None:
    story(sqlite_url)
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()",
               "log", "--follow", "--jsonl", "--from", "8", "--db", sqlite_url]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        with Tidings(sqlite_url) as tidings:
            tidings.open_account("later", "s3cret")
        assert process.stdout is not None
        line = wait_until(process.stdout.readline, timeout=20, what="the new entry")
        entry = json.loads(line)
        assert (entry["position"], entry["kind"]) == (8, "AccountOpened")
        assert entry["event"]["login"] == "later"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_log_names_the_account_whose_holder_signed_in(sqlite_url: str) -> None:
    # Given an account whose holder signed in to the customer center
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "123456")
        expires = datetime.now(UTC) + timedelta(hours=1)
        asyncio.run(t.start_session_async(holder("account", "tester"), "0" * 64, expires))
    # Then the log names the account as the session's login, as it names its other streams
    entries = json_of(shell("log", "--db", sqlite_url, "--json"))
    assert [e["login"] for e in entries if e["kind"] == "SessionStarted"] == ["tester"]
