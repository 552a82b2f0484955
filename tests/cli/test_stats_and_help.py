"""`tidings stats`, and what every command shares: --help with an example, completion."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from tidings.cli.app import app

from tests.cli.shell import json_of, shell
from tests.cli.test_queue import queued


def test_stats_counts_accounts_queue_and_deliveries(db_url: str) -> None:
    queued(db_url, 3)
    stats = json_of(shell("stats", "--db", db_url, "--json"))
    assert stats["accounts"] == 1 and stats["queued"] == 3
    assert stats["oldest_queued_at"] is not None
    assert stats["deliveries"] == {"scheduled": 0, "in_flight": 0, "succeeded": 0, "gave_up": 0}
    assert (stats["attempts_last_hour"], stats["failure_rate"]) == (0, None)
    people = shell("stats", "--db", db_url).stdout
    assert "queued" in people and "oldest queued" in people


def _commands() -> list[list[str]]:
    """Every command's words, e.g. ["account", "add"]."""
    found: list[list[str]] = []

    def walk(command: Any, words: list[str]) -> None:
        if not hasattr(command, "list_commands"):  # not a group
            found.append(words)
            return
        for name in command.list_commands(None):
            walk(command.get_command(None, name), [*words, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(words: list[str]) -> None:
    result = shell(*words, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and "tidings " + " ".join(words) in result.stdout


@pytest.mark.parametrize(
    "words",
    [w for w in _commands() if w not in (["demo"], ["key", "new"], ["key", "rotate"], ["witness"])],
    ids=" ".join,
)
def test_every_command_on_a_database_takes_db(words: list[str]) -> None:
    assert "--db" in shell(*words, "--help").stdout


def test_completion_can_be_installed(tmp_path: Path) -> None:
    assert "--install-completion" in shell("--help").stdout
    script = Path(sys.executable).with_name("tidings")
    # Typer detects the shell from the parent process: run it from bash, as a user would.
    command = ["bash", "-c", f"'{script}' --show-completion; exit $?"]  # bash stays the parent
    shown = subprocess.run(command, capture_output=True, text=True, timeout=60,
                           env={"HOME": str(tmp_path)})  # fmt: skip
    assert shown.returncode == 0 and "_TIDINGS_COMPLETE" in shown.stdout


def test_bench_without_its_extra_is_one_line() -> None:
    # The peers made unimportable, as in an install without the `bench` extra.
    code = (
        "import runpy, sys; sys.modules['persistqueue'] = None; "
        "sys.argv = ['bench', '--quick']; runpy.run_module('bench', run_name='__main__')"
    )
    top = Path(__file__).resolve().parents[2]  # the bench runs from a clone's top folder
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=top
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "error: the bench compares with peers it cannot import (persistqueue): "
        "pip install 'tidings[bench]'"
    ]
