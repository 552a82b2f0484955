"""`python -m bench.wal` prints the pages a commit writes, by b-tree."""

import pytest
import typer
from typer.testing import CliRunner

from bench.wal import pages_per_commit


def typer_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(pages_per_commit)
    return app


@pytest.mark.parametrize("drain", [False, True])
def test_pages_per_commit_names_the_log_and_its_index(
    drain: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # given/when: a small run, four callers at once, enqueues or poll + acks
    pages_per_commit(grow=40, ops=40, threads=4, drain=drain)
    # then: commits were read, and the log's table and its primary-key index are named
    head, *trees = capsys.readouterr().out.splitlines()
    assert head.split()[1] == "commits," and int(head.split()[0]) > 0
    named = {line.split(":")[0].strip() for line in trees}
    assert {"stored_events", "sqlite_autoindex_stored_events_1"} <= named


@pytest.mark.parametrize("arguments", [["--threads", "0"], ["--ops", "0"], ["--grow", "-1"]])
def test_a_count_out_of_range_is_refused_clearly(arguments: list[str]) -> None:
    # given/when: a count no run can have, on the command line
    result = CliRunner().invoke(typer_app(), arguments)
    # then: usage error (exit 2), a message naming the option, no traceback
    assert result.exit_code == 2
    assert arguments[0] in result.output and "Traceback" not in result.output
