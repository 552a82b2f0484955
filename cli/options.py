"""Options shared by the shell's commands."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from tidings.adapters.errors import StorageError
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.adapters.store.environment import claim, environment, is_postgres
from tidings.domain.operator import Actor, name_problem

from .output import fail, usage

__all__ = [
    "Db",
    "Operator",
    "acting",
    "every_login",
    "examples",
    "open_store",
    "open_tidings",
    "operator_option",
]

Db = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="TIDINGS_DB",
        metavar="PATH|URL",
        help="SQLite file path or postgresql:// URL.",
        show_default=True,
    ),
]


def _operator_name(name: str | None) -> str | None:
    """A name no operator can have is the command line's mistake: exit 2 before the
    database is opened."""
    if name is not None and (problem := name_problem(name)):
        raise usage(f"--operator: {problem}")
    return name


def operator_option(help: str) -> Any:
    """The `--operator NAME` option, its name checked before the database is opened,
    with a command's own `help` (`Operator` is the usual one)."""
    return typer.Option("--operator", metavar="NAME", callback=_operator_name, help=help)


Operator = Annotated[
    str | None,
    operator_option(
        "The operator the log records this change as (tidings operator add); "
        "without it, the change is the backend's own."
    ),
]


def acting(operator: str | None, action: str) -> Actor | None:
    """Who a use case records as making the change: operator `operator` doing `action`,
    saved in the change's own transaction (an unknown or revoked operator is refused with
    2303 and nothing changes); None, the backend itself."""
    return None if operator is None else Actor(operator, action)


def examples(*lines: str) -> str:
    """A command's epilog: its examples, one a line as they are typed (`\\b` keeps
    Click from joining the lines into one paragraph)."""
    head = "Example:" if len(lines) == 1 else "Examples:"
    return "\b\n" + "\n".join([head, *(f"  {line}" for line in lines)])


def _refuse(db: str, why: object) -> typer.Exit:
    if isinstance(why, StorageError) and why.__cause__ is not None:
        why = why.__cause__  # the driver's words, as `open_store` says them, not its class
    return fail(f"cannot open {db if db.strip() else repr(db)}: {why}", 2)


def _check(db: str, must_exist: bool) -> None:
    if is_postgres(db):
        return
    if "://" in db or not db.strip():  # mysql://, http://...: a store tidings does not speak
        raise _refuse(db, "give a SQLite file path or a postgresql:// URL")
    if Path(db).is_dir():
        raise _refuse(db, "a directory, not a database file")
    if must_exist and not Path(db).is_file():
        raise _refuse(db, "no such database file")


class _Said(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=True)


@contextmanager
def _creation_said(said: bool = True) -> Iterator[None]:
    """The store's line saying it created a new database, on stderr as it is, while the
    block runs (a command that writes to a new file or schema says so)."""
    store_log = logging.getLogger("tidings.store")
    handler, level = _Said(logging.INFO), store_log.level
    if said:
        store_log.addHandler(handler)
        store_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        store_log.removeHandler(handler)
        store_log.setLevel(level)


def open_store(db: str, *, read_only: bool = False, say_created: bool = True) -> Store:
    """The store at `db`, or exit 2 with one clear line (never a traceback).
    `read_only`: an existing tidings database only, left as it is found. Another
    program's database is refused; a new one is created, saying so on stderr unless
    `say_created` is False (the store still logs it)."""
    _check(db, must_exist=read_only)
    try:
        with _creation_said(say_created):
            return Store(db, read_only=read_only)
    except Exception as error:  # every driver's "cannot open" becomes one clear line
        raise _refuse(db, error) from error


def open_tidings(db: str, *, must_exist: bool = False, read_only: bool = False) -> Tidings:
    """The library on `db`, or exit 2 with one clear line (never a traceback).
    `must_exist`: an existing tidings database only (a SQLite file, a PostgreSQL schema
    with tidings' tables), none created to refuse the command; `read_only`: one left as
    it is found too (for the commands that only read)."""
    _check(db, must_exist or read_only)
    try:
        if read_only:
            return Tidings.over(Store(db, read_only=True))
        if must_exist and is_postgres(db):  # an empty schema is left as a missing file is
            claim(environment(db, create=False), read_only=True)
        with _creation_said():
            return Tidings(db)
    except Exception as error:
        raise _refuse(db, error) from error


def every_login(tidings: Tidings) -> list[str]:
    """Every account's login, in the order they were opened."""
    logins: list[str] = []
    after: int | None = 0
    while after is not None:
        page = tidings.accounts(after=after, limit=1000)
        logins += [account.login for account in page.accounts]
        after = page.next
    return logins
