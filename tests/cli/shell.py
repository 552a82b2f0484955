"""Running the shell as a user would, in process: Typer's runner on a real database."""

import json
from typing import Any

from tidings.cli.app import app
from typer.testing import CliRunner, Result

__all__ = ["json_of", "one_line_error", "shell"]

_runner = CliRunner()


def shell(*args: str, input: str | None = None) -> Result:
    """`tidings ARGS` with `input` on standard input, on a terminal wide enough that
    tables do not wrap their cells."""
    return _runner.invoke(app, list(args), input=input, env={"COLUMNS": "250"})


def json_of(result: Result) -> Any:
    """The JSON a successful `--json` run printed."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, code: int, *words: str) -> None:
    """The run failed as a user's error should: exit `code`, one line on stderr naming
    `words`, no traceback, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in result.output
