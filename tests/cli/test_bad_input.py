"""A newcomer's mistakes: each is one line on stderr, a non-zero exit, no traceback, and
nothing made or changed (a database URL of another kind, a directory for a file, a log
level that does not exist, an empty host, a refused key name, a read-only database)."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tidings.adapters import Tidings

from tests.cli.shell import one_line_error, shell
from tests.cli.test_queue import queued


def _tidings(*args: str, cwd: Path | None = None) -> "subprocess.CompletedProcess[str]":
    """`tidings ARGS` in a process of its own, as a user runs it (no test harness catches
    its log records, a server that started anyway is killed after 60 s, not waited on),
    with a password on standard input for the commands that read one."""
    return subprocess.run(
        [sys.executable, "-c", "from tidings.cli.app import main; main()", *args],
        input="s3cret-pw\n", capture_output=True, text=True, timeout=60, check=False,
        cwd=cwd, start_new_session=True,
    )  # fmt: skip


def _one_line(run: "subprocess.CompletedProcess[str]", *words: str) -> None:
    """It failed as a user's error should: exit 2, one line on stderr naming `words`."""
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr
    assert all(word in run.stderr for word in words) and run.stdout == "", run.stderr


# Commands that open the database, one of each way (read, write, work, serve).
_OPENING = [("account", "list"), ("account", "add", "bob", "--password-stdin"), ("worker",),
            ("serve", "--port", "0", "--workers", "1")]  # fmt: skip


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("db", ["mysql://db.internal/tidings", "http://127.0.0.1/x", "", " "])
@pytest.mark.parametrize(
    "args",
    [("account", "list"), ("stats",), ("account", "add", "bob", "--password-stdin"),
     ("worker",), ("serve", "--port", "0", "--workers", "1")],
    ids=" ".join,
)  # fmt: skip
def test_a_url_of_another_database_is_named_as_such(
    args: tuple[str, ...], db: str, tmp_path: Path
) -> None:
    run = _tidings(*args, "--db", db, cwd=tmp_path)
    _one_line(run, "give a SQLite file path or a postgresql:// URL")
    assert _files(tmp_path) == []


@pytest.mark.parametrize("args", _OPENING, ids=" ".join)
def test_a_misspelt_parameter_of_a_postgresql_url_is_refused_not_ignored(
    args: tuple[str, ...], postgres_url: str
) -> None:
    server, _, schema = postgres_url.partition("?")
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    with psycopg.connect(server, autocommit=True) as conn:
        before = conn.execute(tables).fetchone()
        run = _tidings(*args, "--db", f"{server}?shcema={schema.partition('=')[2]}")
        _one_line(run, "?schema=name", "shcema")
        # then: nothing was made in the schema a URL without one means
        assert conn.execute(tables).fetchone() == before


@pytest.mark.parametrize("args", _OPENING, ids=" ".join)
def test_a_directory_for_the_database_is_named_as_such(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    _one_line(_tidings(*args, "--db", str(tmp_path)), "a directory, not a database file")
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("worker", "--log-level", "chatty"), ("--log-level", "chatty")),
        (("worker", "--log-format", "xml"), ("--log-format", "xml")),
        (("worker", "--ping-delay", "-1"), ("--ping-delay", "at least 0")),
        (("worker", "--job-delay", "-0.5"), ("--job-delay", "at least 0")),
        (("worker", "--ping-delay", "1e12"), ("--ping-delay", "at most 86400")),
        (("serve", "--port", "0", "--job-delay", "inf"), ("--job-delay", "at most")),
        (("serve", "--port", "0", "--backlog", "99999999999999999999"), ("--backlog", "at most")),
        (("serve", "--port", "0", "--auth-floor", "inf"), ("--auth-floor", "at most 60")),
        (("serve", "--port", "0", "--head-timeout", "1e308"), ("--head-timeout", "at most")),
        (("serve", "--host", "", "--port", "0"), ("--host",)),
        (("serve", "--host", " ", "--port", "0"), ("--host",)),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_a_bad_option_of_serve_or_worker_stops_it_before_it_starts(
    args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path
) -> None:
    db = tmp_path / "tidings.db"
    _one_line(_tidings(*args, "--db", str(db)), *words)
    assert not db.exists()


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("worker",)], ids=" ".join)
@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("TIDINGS_SIGNING_KEY", "{tmp}/missing.key", ("cannot read signing key",)),
        ("TIDINGS_SECRETS_KEY", "{tmp}/missing.key", ("cannot read secrets key",)),
        ("TIDINGS_SMTP_URL", "mail.example:25", ("TIDINGS_SMTP_URL must be",)),
        (
            "TIDINGS_SMTP_URL",
            "smtps://u:s3cr3t@127.0.0.1:465?starttls=1",
            ("TIDINGS_SMTP_URL", "smtps://", "starttls=1"),
        ),
        ("TIDINGS_SMTP_FROM", "a@b.example\r\nBcc: c@d.example", ("TIDINGS_SMTP_FROM",)),
        ("TIDINGS_PUSH_ALLOW", "10.0.0.0/8,not-a-network", ("TIDINGS_PUSH_ALLOW",)),
        ("TIDINGS_SESSION_KEY", "hunter2", ("TIDINGS_SESSION_KEY", "at least 32")),
        ("TIDINGS_CHECKPOINT_ENTRIES", "many", ("TIDINGS_CHECKPOINT_ENTRIES",)),
        ("TIDINGS_CHECKPOINT_ENTRIES", "-5", ("TIDINGS_CHECKPOINT_ENTRIES", "at least 1")),
        ("TIDINGS_CHECKPOINT_SECONDS", "nan", ("TIDINGS_CHECKPOINT_SECONDS", "finite")),
        ("TIDINGS_CHECKPOINT_SECONDS", "-1", ("TIDINGS_CHECKPOINT_SECONDS", "at least 0")),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("TIDINGS") else "",
)
def test_a_bad_setting_of_the_environment_stops_serve_or_worker_before_it_starts(
    command: tuple[str, ...],
    variable: str,
    value: str,
    words: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if variable.startswith("TIDINGS_CHECKPOINT_"):  # read with a signing key only
        assert (
            shell(
                "key", "new", str(tmp_path / "signing.key"), "--origin", "x.example/log"
            ).exit_code
            == 0
        )
        monkeypatch.setenv("TIDINGS_SIGNING_KEY", str(tmp_path / "signing.key"))
    if variable == "TIDINGS_SMTP_FROM":  # read with a mail server only
        monkeypatch.setenv("TIDINGS_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv(variable, value.format(tmp=tmp_path))
    db = tmp_path / "tidings.db"
    _one_line(_tidings(*command, "--db", str(db)), *words)
    assert not db.exists()


@pytest.mark.parametrize(("origin", "words"), [("has space", "no spaces"), ("", "--origin")])
def test_a_refused_key_name_leaves_no_key_file(origin: str, words: str, tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    result = shell("key", "new", str(key), "--origin", origin)
    one_line_error(result, 2, words)
    assert _files(tmp_path) == []


@pytest.fixture
def read_only_database(tmp_path: Path) -> Iterator[Path]:
    """A tidings database the commands may read but not write: immutable for root
    (`chattr +i`), else without write permission."""
    db = tmp_path / "tidings.db"
    with Tidings(str(db)) as tidings:
        tidings.open_account("tester", "s3cret-pw")
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", db], check=False).returncode:
            pytest.skip("root, and the file system cannot make a file immutable")
        yield db
        subprocess.run([chattr, "-i", db], check=True)
    else:
        db.chmod(0o444)
        yield db


def test_a_write_to_a_read_only_database_is_one_line(read_only_database: Path) -> None:
    before = hashlib.sha256(read_only_database.read_bytes()).hexdigest()
    for args in (["operator", "add", "bob"], ["account", "suspend", "tester"]):
        _one_line(_tidings(*args, "--db", str(read_only_database)), "readonly database")
    assert hashlib.sha256(read_only_database.read_bytes()).hexdigest() == before


def test_a_bad_choice_is_said_plainly(tmp_path: Path) -> None:
    run = _tidings("state", "nothing", "tester", "--db", str(tmp_path / "tidings.db"))
    _one_line(run, "'nothing' is not one of 'account', 'operation'")
    assert "Value error" not in run.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--key", "not-a-key"), ("a verifier key is",)),
        (("--witness", "kept.txt"), ("pin the log's key",)),
        (("--quorum", "1"), ("--quorum 1",)),
    ],
    ids=["bad key", "witness without key", "quorum"],
)
def test_verify_refuses_its_arguments_before_it_walks_the_log(
    args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path
) -> None:
    db = tmp_path / "tidings.db"
    with Tidings(str(db)) as tidings:
        tidings.open_account("tester", "s3cret-pw")
    # Then only the error is said: no "chain intact" first, for a walk the typo wasted
    one_line_error(shell("verify", *args, "--db", str(db)), 2, *words)


def test_a_log_position_past_64_bits_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "tidings.db"
    with Tidings(str(db)) as tidings:
        tidings.open_account("tester", "s3cret-pw")
    _one_line(_tidings("log", "--from", "9" * 25, "--db", str(db)), "--from")


def test_an_out_file_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "tidings.db"
    with Tidings(str(db)) as tidings:
        tidings.open_account("tester", "s3cret-pw")
    monkeypatch.setenv("TIDINGS_SIGNING_KEY", str(tmp_path / "signing.key"))
    for name in ("old.key", "new.key", "signing.key"):
        assert (
            shell("key", "new", str(tmp_path / name), "--origin", "example.com/log").exit_code == 0
        )
    missing, folder = tmp_path / "missing" / "out.txt", tmp_path

    def kept() -> tuple[bytes, ...]:  # what a rotation or a signature would change
        files = ("new.key.state", "signing.key.state", "tidings.db")
        return tuple((tmp_path / name).read_bytes() for name in files)

    before = kept()
    for args, out in (
        (("key", "rotate", str(tmp_path / "old.key"), str(tmp_path / "new.key")), missing),
        (("checkpoint", "--db", str(db)), folder),
        (("prove", "--consistency", "0", "1", "--db", str(db)), missing),
    ):
        one_line_error(shell(*args, "--out", str(out)), 2, f"cannot write {out}")
    assert kept() == before  # refused before any work: no key rotated, no head signed


@pytest.mark.parametrize(
    "args",
    [("account", "set", "tester", "--retry-schedule", ","),
     ("account", "set", "tester", "--retry-schedule", "-5"),
     ("account", "set", "tester", "--channel", "url", "--success-url", "ftp://x"),
     ("account", "set", "tester", "--email", "a@b.example"),
     ("account", "add", "a b", "--password-stdin"),
     ("operator", "add", "Bad Name"),
     ("ack", "tester", "0", "--up-to", "--operator", "alice"),
     ("redeliver", "tester", "--since", "soon"),
     ("trail", "--notification", "tester"),
     ("state", "mailbox", "tester", "--at", "yesterday")],
    ids=" ".join,
)  # fmt: skip
def test_a_bad_option_value_is_a_usage_error_that_changes_nothing(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
        before = len(list(tidings.log()))
    one_line_error(shell(*args, "--db", db, input="s3cret-pw\n"), 2)  # exit 2, as Click's
    with Tidings(db) as tidings:
        assert len(list(tidings.log())) == before


def test_an_address_serve_cannot_listen_on_is_one_line_and_makes_no_database(
    tmp_path: Path,
) -> None:
    # Given a port another program listens on
    db = tmp_path / "tidings.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the server is asked to listen there
        run = _tidings("serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db))
    # Then it says so in one line, exits 3 (it failed, the command line was right), and
    # no database was made
    assert run.returncode == 3 and run.stdout == "", run.stderr
    said = f"error: cannot listen on 127.0.0.1:{port}: "
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(said), run.stderr
    assert not db.exists()


def test_a_database_that_cannot_be_made_is_said_in_the_drivers_words(tmp_path: Path) -> None:
    db = str(tmp_path / "missing" / "tidings.db")
    said = shell("account", "add", "tester", "--password-stdin", "--db", db, input="123456\n")
    one_line_error(said, 2, f"cannot open {db}: unable to open database file")
    assert "Error" not in said.stderr  # no driver's class name (InterfaceError: ...)
    assert not (tmp_path / "missing").exists()


def test_a_stored_text_is_shown_as_it_is_not_as_markup_or_a_terminal_escape(
    sqlite_url: str,
) -> None:
    # Given a reason that looks like rich markup and holds a terminal's escape
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "123456")
    reason = "see [/docs] and [bold]x \x1b[31mred"
    suspended = shell("account", "suspend", "tester", "--reason", reason, "--db", sqlite_url)
    # Then every table shows it as it is, the escape as \x1b, and no command stops
    for said in (
        suspended,
        shell("account", "show", "tester", "--db", sqlite_url),
        shell("log", "--db", sqlite_url),
        shell("state", "account", "tester", "--db", sqlite_url),
    ):
        assert said.exit_code == 0, said.output
        assert "see [/docs] and [bold]x \\x1b[31mred" in said.stdout, said.stdout
        assert "\x1b" not in said.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("trail", "--notification", "tester:\u0661"),
        ("state", "delivery", "tester:\u0661"),
        ("ack", "tester", "\u0661", "--up-to", "--operator", "alice"),
    ],
    ids=["trail", "state", "ack --up-to"],
)
def test_a_notification_id_in_other_digits_than_ascii_is_refused(
    sqlite_url: str, args: tuple[str, ...]
) -> None:
    # Given notification 1 queued, and ARABIC-INDIC DIGIT ONE, which int() reads as 1
    queued(sqlite_url, 1)
    with Tidings(sqlite_url) as t:
        t.add_operator("alice")
    # Then no command takes it for notification 1, and nothing is acked
    one_line_error(shell(*args, "--db", sqlite_url), 2, "\u0661")
    with Tidings(sqlite_url) as t:
        assert t.mailbox("tester").count == 1
