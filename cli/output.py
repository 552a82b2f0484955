"""What every command prints: rich tables for people, exact JSON with `--json`, and one
line on stderr (credentials redacted) with a non-zero exit for a user's error."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from tidings.adapters import Conflict, Rejected, StorageError
from tidings.adapters.errors import DAMAGED, damaged_entry
from tidings.adapters.redaction import redacted
from tidings.adapters.visible import controls_shown
from tidings.domain import Code

__all__ = [
    "Json",
    "age",
    "emit",
    "fail",
    "progress",
    "readable",
    "table",
    "usage",
    "user_errors",
]

Json = Annotated[
    bool, typer.Option("--json", help="Print exact JSON (for scripts) instead of a table.")
]

_encoder = msgspec.json.Encoder()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr, on one line (a driver's message may have
    several) with credentials redacted; raise what it returns."""
    typer.echo(f"error: {redacted(' '.join(message.split()))}", err=True)
    return typer.Exit(code)


def usage(message: str) -> typer.Exit:
    """`fail` for a command line that is wrong (a bad option or argument value, options
    that go together or exclude each other): exit 2, as Click's own usage errors."""
    return fail(message, 2)


@contextmanager
def user_errors() -> Iterator[None]:
    """What the library raises becomes one line, not a traceback: a refusal of the core
    (`Rejected`) or a lost race (`Conflict`) exits 1, but a value the core refuses as
    invalid (2101: the command line was wrong) exits 2 as a usage error; a database that
    fails or a log entry that cannot be read (an edited or damaged database) exits 2."""
    try:
        yield
    except Rejected as rejected:
        said = f"{int(rejected.code)} {rejected.text}"
        raise fail(said, 2 if rejected.code == Code.INVALID_PARAMETER else 1) from None
    except Conflict as conflict:
        raise fail(f"{conflict}; nothing was changed, try again") from None
    except StorageError as failed:
        raise fail(str(failed), 2) from None
    # The arguments were checked before, so these come from the database's rows.
    except DAMAGED as damaged:
        raise fail(damaged_entry(damaged), 2) from None


def emit(value: Any, as_json: bool, people: Callable[[], Any]) -> None:
    """Print `value` as JSON, or what `people()` renders (a rich table or text, shown as
    it is: a `[` in it is no rich markup)."""
    if as_json:
        typer.echo(_encoder.encode(value).decode())
    else:  # a console per call: it takes the width of the terminal (or COLUMNS) now
        shown = people()
        if isinstance(shown, str):
            shown = _text(shown)
        Console(highlight=False, soft_wrap=True).print(shown)


def _text(value: str) -> Text:
    """`value` as printed: no rich markup (a reason saying `[/docs]` would stop the
    command), control characters escaped."""
    return Text(controls_shown(value))


# Work below this many log entries takes no bar: it is over before one would help.
_BAR_FROM = 50_000


def progress(total: int, what: str) -> Progress:
    """A bar on stderr for work over `total` log entries (none when the work is short)."""
    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=total < _BAR_FROM,
    )


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A table of `rows` under `columns`; None shows as an empty cell, other values as
    `readable` says."""
    shown = Table(title=None if title is None else _text(title), title_justify="left")
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*(_text("" if cell is None else readable(cell)) for cell in row))
    return shown


def readable(value: Any) -> str:
    """A JSON-ready value as people read it, not as Python prints it: `-` for nothing,
    yes/no, `none` for an empty list, a list's items by comma, a tagged value by its
    tag (`poll`, `url (success_url: https://...)`), a listed notification by its id."""
    match value:
        case None:
            return "-"
        case bool():
            return "yes" if value else "no"
        case str():
            return value
        case list() | tuple() if not value:
            return "none"
        case list() | tuple() if all(isinstance(item, dict) and "id" in item for item in value):
            return ", ".join(f"#{item['id']}" for item in value)
        case list() | tuple():
            return ", ".join(readable(item) for item in value)
        case dict():
            tag = value.get("type")
            fields = ", ".join(f"{k}: {readable(v)}" for k, v in value.items() if k != "type")
            if tag is None:
                return fields or "none"
            return f"{tag} ({fields})" if fields else str(tag)
    return str(value)


def age(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, to the second (`3m 05s`); empty for None."""
    if since is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - since) / timedelta(seconds=1))
    minutes, second = divmod(max(seconds, 0), 60)
    hours, minute = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minute:02d}m"
    return f"{minute}m {second:02d}s" if minute else f"{second}s"
