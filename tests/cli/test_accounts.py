"""`tidings account ...` on a real database (SQLite file and PostgreSQL)."""

import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tidings.adapters import ACCOUNT, Tidings
from tidings.adapters.wapi.auth import password_sha1
from tidings.domain.account import AccountState, secret_id

from tests.cli.shell import json_of, one_line_error, shell


def stored(tidings: Tidings, login: str) -> AccountState:
    """The account as stored, secrets and all (what only a test may look at)."""
    return tidings.state_at(ACCOUNT, login, datetime.now(UTC))


def add(db: str, login: str = "tester", password: str = "s3cret") -> None:
    result = shell("account", "add", login, "--password-stdin", "--db", db, input=password + "\n")
    assert result.exit_code == 0, result.output


def test_add_reads_the_password_from_stdin_and_shows_the_signing_secret(db_url: str) -> None:
    result = shell("account", "add", "tester", "--password-stdin", "--db", db_url, "--json",
                   input="s3cret\n")  # fmt: skip
    opened = json_of(result)
    with Tidings(db_url) as tidings:
        account = stored(tidings, "tester")
    assert account.password_sha1 == password_sha1("s3cret")
    assert opened.keys() == {"login", "signing_secret"}
    assert account.secret_id == secret_id(opened["signing_secret"])
    again = shell("account", "add", "tester", "--password-stdin", "--db", db_url, input="x\n")
    one_line_error(again, 1, "2302")


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        ((), None, 2, ("--password-stdin",)),  # no terminal to prompt at
        (("--password-stdin",), "\n", 2, ("2101", "empty")),
        (("--password-stdin",), "   \n", 2, ("2101", "whitespace")),
    ],
)
def test_add_refuses_a_missing_or_blank_password(
    args: tuple[str, ...], stdin: str | None, code: int, words: tuple[str, ...], tmp_path: Path
) -> None:
    db = str(tmp_path / "t.db")
    one_line_error(shell("account", "add", "tester", *args, "--db", db, input=stdin), code, *words)
    with Tidings(db) as tidings:
        assert tidings.account("tester") is None


def test_add_refuses_a_bad_login(tmp_path: Path) -> None:
    result = shell("account", "add", "a b", "--password-stdin", "--db", str(tmp_path / "t.db"),
                   input="x\n")  # fmt: skip
    one_line_error(result, 2, "2101", "login")


def test_list_and_show_never_show_secrets(db_url: str) -> None:
    add(db_url, "alice")
    add(db_url, "bob")
    listed = json_of(shell("account", "list", "--db", db_url, "--json"))
    assert [a["login"] for a in listed] == ["alice", "bob"]
    shown = json_of(shell("account", "show", "bob", "--db", db_url, "--json"))
    assert shown["channel"] == {"type": "poll"} and shown["suspended"] is False
    for text in (shell("account", "list", "--db", db_url).output,
                 shell("account", "show", "bob", "--db", db_url).output, str(listed)):  # fmt: skip
        assert "whsec_" not in text and password_sha1("s3cret") not in text
    assert "alice" in shell("account", "list", "--db", db_url).stdout
    one_line_error(shell("account", "show", "carol", "--db", db_url), 1, "carol")


def test_set_changes_channel_schedule_and_allow_list_together(db_url: str) -> None:
    add(db_url)
    result = shell("account", "set", "tester", "--channel", "url", "--success-url",
                   "https://shop.example/wapi", "--expect", "200", "--expect", "204",
                   "--body-format", "jobresult", "--retry-schedule", "5,60,600",
                   "--allow", "192.0.2.0/24", "--db", db_url, "--json")  # fmt: skip
    shown = json_of(result)
    assert (
        shown["channel"]
        | {
            "type": "url",
            "success_url": "https://shop.example/wapi",
            "error_url": None,
            "expected_status": [200, 204],
            "body_format": "jobresult",
        }
        == shown["channel"]
    )
    assert shown["retry_policy"]["schedule"] == [5.0, 60.0, 600.0]
    assert shown["allowed_ips"] == ["192.0.2.0/24"]
    email = ("--channel", "email", "--email", "ops@shop.example", "--allow-any")
    emailed = json_of(shell("account", "set", "tester", *email, "--db", db_url, "--json"))
    assert (emailed["channel"]["type"], emailed["channel"]["address"]) == (
        "email",
        "ops@shop.example",
    )
    assert emailed["allowed_ips"] == []
    assert json_of(shell("account", "set", "tester", "--channel", "poll", "--db", db_url,
                         "--json"))["channel"] == {"type": "poll"}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--channel", "url", "--success-url", "ftp://x", "--allow", "192.0.2.1"), 2, ("2101",)),
        (("--channel", "url", "--success-url", ""), 2, ("2101 push URL refused", "no host")),
        (("--channel", "url", "--success-url", "https://x.example", "--allow", "nope"), 2,
         ("2101", "nope")),
        (("--retry-schedule", "5,soon"), 2, ("--retry-schedule",)),
        (("--retry-schedule", ","), 2, ("--retry-schedule",)),
        (("--retry-schedule", "-5"), 2, ("2101",)),
        (("--success-url", "https://x.example"), 2, ("--channel url",)),
        (("--channel", "email"), 2, ("--email",)),
        (("--allow", "192.0.2.1", "--allow-any"), 2, ("--allow-any",)),
        ((), 2, ("nothing to change",)),
    ],
)  # fmt: skip
def test_set_refuses_bad_settings_and_changes_nothing(
    args: tuple[str, ...], code: int, words: tuple[str, ...], sqlite_url: str
) -> None:
    add(sqlite_url)
    with Tidings(sqlite_url) as tidings:
        before = tidings.account("tester")
    one_line_error(shell("account", "set", "tester", *args, "--db", sqlite_url), code, *words)
    with Tidings(sqlite_url) as tidings:
        assert tidings.account("tester") == before


def test_set_on_an_unknown_account(sqlite_url: str) -> None:
    add(sqlite_url)
    one_line_error(shell("account", "set", "nobody", "--channel", "poll", "--db", sqlite_url),
                   1, "nobody")  # fmt: skip


def test_rotate_suspend_resume(db_url: str) -> None:
    add(db_url)
    with Tidings(db_url) as tidings:
        old = stored(tidings, "tester")
    secret = json_of(shell("account", "rotate-secret", "tester", "--db", db_url, "--json"))
    assert secret["signing_secret"].startswith("whsec_")
    assert secret_id(secret["signing_secret"]) != old.secret_id
    suspended = json_of(shell("account", "suspend", "tester", "--reason", "unpaid",
                              "--db", db_url, "--json"))  # fmt: skip
    assert (suspended["suspended"], suspended["suspended_reason"]) == (True, "unpaid")
    assert "unpaid" in shell("account", "show", "tester", "--db", db_url).stdout
    assert (
        json_of(shell("account", "resume", "tester", "--db", db_url, "--json"))["suspended"]
        is False
    )
    for command in ("rotate-secret", "suspend", "resume"):
        one_line_error(shell("account", command, "nobody", "--db", db_url), 1, "2303")


def test_reading_commands_refuse_a_missing_database_and_create_none(tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    for args in (("account", "list"), ("account", "show", "x"), ("queue", "x"), ("stats",),
                 ("log",), ("trail", "1.2.3"), ("state", "mailbox", "x")):  # fmt: skip
        one_line_error(shell(*args, "--db", str(typo)), 2, "no such database file")
    assert not typo.exists()


def test_a_database_password_never_reaches_the_screen() -> None:
    url = "postgresql://tidings:hunter2@127.0.0.1:1/tidings"
    result = shell("account", "list", "--db", url)
    one_line_error(result, 2, "postgresql://tidings:***@127.0.0.1:1/tidings")
    assert "hunter2" not in result.output


def test_add_at_a_terminal_asks_twice_and_hides_the_password(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    leader, follower = pty.openpty()
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()",
               "account", "add", "tester", "--db", db]  # fmt: skip
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    try:
        for answer in (b"s3cret\n", b"s3cret\n"):
            seen += _read_until(leader, b": ")
            os.write(leader, answer)
        seen += _read_until(leader, b"signing secret")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(leader)
    assert b"Password: " in seen and b"Repeat for confirmation: " in seen
    assert b"s3cret" not in seen  # never echoed
    with Tidings(db) as tidings:
        assert stored(tidings, "tester").password_sha1 == password_sha1("s3cret")


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    """What the terminal shows until `marker` (or the deadline: an AssertionError)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on the terminal; saw {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 1024)
    return seen


def test_set_fallback_and_ordering(sqlite_url: str) -> None:
    add(sqlite_url)
    url = ("--channel", "url", "--success-url", "https://shop.example/wapi")
    shown = json_of(shell("account", "set", "tester", *url, "--fallback", "poll", "--ordered",
                          "--db", sqlite_url, "--json"))  # fmt: skip
    assert (shown["channel"]["fallback"], shown["channel"]["ordered"]) == ("poll", True)
    assert "ordered; fallback poll" in shell("account", "show", "tester", "--db", sqlite_url).stdout
    mail = ("--channel", "email", "--email", "ops@shop.example", "--fallback", "poll")
    assert (
        json_of(shell("account", "set", "tester", *mail, "--db", sqlite_url, "--json"))["channel"][
            "fallback"
        ]
        == "poll"
    )
    for args, words in ((("--channel", "poll", "--fallback", "poll"), "--fallback"),
                        (("--channel", "email", "--email", "a@b.example", "--ordered"),
                         "--ordered")):  # fmt: skip
        one_line_error(shell("account", "set", "tester", *args, "--db", sqlite_url), 2, words)


def test_password_is_changed_from_the_shell(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "old-one")
    result = shell("account", "password", "tester", "--password-stdin", "--db", db,
                   input="new-one\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Tidings(db) as tidings:
        state = tidings.state_at(ACCOUNT, "tester", datetime.now(UTC))
    assert state.password_sha1 == password_sha1("new-one")
    one_line_error(shell("account", "password", "tester", "--password-stdin", "--db", db,
                         input="  \n"), 2, "2101", "password")  # fmt: skip
    one_line_error(shell("account", "password", "nobody", "--password-stdin", "--db", db,
                         input="x\n"), 1, "2303")  # fmt: skip
