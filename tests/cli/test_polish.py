"""The shell as people meet it: a quick `--help` with examples and no type noise, one
line for a key that names nothing, one key form, values as people read them, the login
on the log's entries, and no traceback on a damaged log."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tidings.adapters import Tidings
from tidings.cli.app import COMMANDS, load

from tests.cli.shell import json_of, one_line_error, shell
from tests.cli.test_queue import queued
from tests.cli.test_stats_and_help import _commands
from tests.store.tamper import tamper

HEAVY = ("starlette", "uvicorn", "psycopg", "eventsourcing", "httpx")


def test_help_imports_none_of_the_server_the_store_or_the_http_client() -> None:
    # Given a fresh interpreter, as `tidings --help` starts
    probe = (
        "import sys\n"
        "sys.argv = ['tidings', '--help']\n"
        "from tidings.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    *help_text, imported = done.stdout.strip().splitlines()
    # Then it lists every command, with an example, and imported none of the heavy ones
    assert "Example:" in "\n".join(help_text)
    assert all(name in "\n".join(help_text) for name in COMMANDS)
    assert not set(imported.split()) & set(HEAVY)


def test_every_command_a_module_defines_is_listed() -> None:
    defined: set[str] = set()
    for module, attribute, _ in COMMANDS.values():
        typer_app = getattr(importlib.import_module(f"tidings.cli.{module}"), attribute)
        if attribute == "commands":
            defined |= {info.name for info in typer_app.registered_commands if info.name}
    assert defined <= set(COMMANDS)
    assert all(load(name).name == name for name in COMMANDS)


_GROUPS = [name for name, (_, attribute, _) in COMMANDS.items() if attribute != "commands"]


@pytest.mark.parametrize("words", [[], *[[group] for group in _GROUPS], *_commands()],
                         ids=lambda words: " ".join(words) or "tidings")  # fmt: skip
def test_help_has_an_example_and_no_type_noise(words: list[str]) -> None:
    result = shell(*words, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert "<bool>" not in result.stdout
    assert not re.search(r"\s\.(\s|$)", result.stdout)  # a stray " ." of eaten markup
    # Read by people who know the product, not Python: no type names, no names in
    # lowercase or in double brackets, no examples joined by a pipe they could type, no
    # cut-off summaries in a group's list of commands
    assert not re.search(r"<(list|tuple)\[|<int,int>", result.stdout), result.stdout
    usage = result.stdout.strip().splitlines()[0]
    assert not re.search(r"[{\[][a-z_]+[}\]]|\[\[", usage), usage
    assert not re.search(r"Examples?: .* \| tidings", result.stdout), result.stdout
    assert "..." not in result.stdout.partition("Commands:")[2].replace("[ARGS]...", "")


def test_state_of_a_key_that_names_nothing_is_one_line(db_url: str) -> None:
    queued(db_url, 1)
    for kind, key in [("account", "nobody"), ("mailbox", "nobody"), ("delivery", "tester:9"),
                      ("operation", "1.2.3")]:  # fmt: skip
        one_line_error(shell("state", kind, key, "--db", db_url), 1, "no " + kind, key)
    one_line_error(shell("state", "delivery", "tester", "--db", db_url), 2, "LOGIN:ID")


def test_state_takes_login_colon_id_for_a_delivery(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "s3cret")
        tidings.configure("tester", channel=_url())
        pending = tidings.accept("tester", "c-1", "ping-async")
        n = tidings.end(pending.svtrid, 1000, "OK").id
    shown = json_of(shell("state", "delivery", f"tester:{n}", "--db", db, "--json"))
    scheduled = shown["scheduled"]
    assert (scheduled["login"], scheduled["notification_id"]) == ("tester", n)
    # the older form still works
    assert json_of(shell("state", "delivery", f"tester/{n}", "--db", db, "--json")) == shown


def _url() -> object:
    from tidings.domain import UrlChannel

    return UrlChannel(success_url="https://shop.example/wapi")


def test_values_read_as_people_read_them(db_url: str) -> None:
    queued(db_url, 0)
    account = shell("state", "account", "tester", "--db", db_url).stdout
    mailbox = shell("state", "mailbox", "tester", "--db", db_url).stdout
    for shown in (account, mailbox):
        assert "{'" not in shown and "()" not in shown and "None" not in shown
    assert "poll" in account
    assert "none" in mailbox  # an empty queue


def test_the_log_names_the_login_of_mailbox_and_delivery_events(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    queued(db, 1)
    with Tidings(db) as tidings:
        tidings.configure("tester", channel=_url())
        pending = tidings.accept("tester", "c-2", "ping-async")
        tidings.end(pending.svtrid, 1000, "OK")
    entries = json_of(shell("log", "--db", db, "--json"))
    kinds = {e["kind"]: e["login"] for e in entries}
    for kind in ("AccountOpened", "OperationAccepted", "OperationEnded", "NotificationQueued",
                 "NotificationIssued", "DeliveryScheduled"):  # fmt: skip
        assert kinds[kind] == "tester", kind
    # and read from a later position, the mailbox's are still named
    later = json_of(shell("log", "--db", db, "--json", "--from", "3"))
    assert all(e["login"] == "tester" for e in later if e["kind"].startswith("Notification"))


@pytest.mark.parametrize("args", [("trail", "SVTRID"), ("state", "operation", "SVTRID"), ("log",)],
                         ids=" ".join)  # fmt: skip
def test_a_damaged_entry_is_one_line_not_a_traceback(args: tuple[str, ...], db_url: str) -> None:
    [svtrid] = queued(db_url, 1)
    with tamper(db_url) as log:
        log.set_state(log.position_of("OperationEnded"), b"\x93garbage")
    words = [svtrid if word == "SVTRID" else word for word in args]
    one_line_error(shell(*words, "--db", db_url), 2, "cannot be read", "tidings verify")


_READERS = pytest.mark.parametrize(
    "args",
    [("trail", "SVTRID"), ("state", "operation", "SVTRID"), ("log",), ("log", "--jsonl"),
     ("stats",)],
    ids=" ".join,
)  # fmt: skip


@_READERS
def test_an_entry_whose_topic_names_no_event_is_one_line_not_a_traceback(
    args: tuple[str, ...], db_url: str
) -> None:
    _edited_past_reading(args, "topic", db_url)


@_READERS
def test_an_entry_whose_stream_id_is_not_one_is_one_line_not_a_traceback(
    args: tuple[str, ...], sqlite_url: str
) -> None:
    # SQLite only: PostgreSQL keeps stream ids as uuids, so none can be edited so.
    _edited_past_reading(args, "stream id", sqlite_url)


def _edited_past_reading(args: tuple[str, ...], edit: str, db: str) -> None:
    # given: an entry whose topic names no event, or whose stream id is not an id
    [svtrid] = queued(db, 1)
    with tamper(db) as log:
        ended = log.position_of("OperationEnded")
        if edit == "topic":
            log.run("UPDATE {events} SET topic = {mark} WHERE {position} = {mark}", "Nope", ended)
        else:
            log.set_stream(ended, "not-an-id")
    # when: a command reads it; then: one line naming what to run, exit 2
    words = [svtrid if word == "SVTRID" else word for word in args]
    result = shell(*words, "--db", db)
    if result.exit_code == 0:  # a command that does not read that entry
        assert result.exception is None
    else:
        one_line_error(result, 2, "cannot be read", "tidings verify")


def test_verify_names_an_edited_stream_id_instead_of_failing(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a signed log (verify then also rebuilds its tree) with a stream id edited
    key = tmp_path / "signing.key"
    assert shell("key", "new", str(key), "--origin", "probe.example/log").exit_code == 0
    queued(sqlite_url, 1)
    monkeypatch.setenv("TIDINGS_SIGNING_KEY", str(key))
    assert shell("checkpoint", "--db", sqlite_url).exit_code == 0
    monkeypatch.delenv("TIDINGS_SIGNING_KEY")
    with tamper(sqlite_url) as log:
        ended = log.position_of("OperationEnded")
        log.set_stream(ended, "not-an-id")
    result = shell("verify", "--db", sqlite_url)
    assert result.exit_code == 1, result.output
    assert f"BROKEN at position {ended}" in result.stderr
    assert isinstance(result.exception, SystemExit), result.exception  # no error raised
    assert f"the first entry that differs is at position {ended}" in result.stderr
