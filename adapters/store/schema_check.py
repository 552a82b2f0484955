"""Whose database it is: tidings opens its own (one with `TABLES`), makes a new one where
there are no tables, and refuses any other before anything is written. Every look here
only reads.
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import StorageError

__all__ = ["POSTGRES_TABLES", "TABLES", "NotTidings", "claim", "connect", "present", "read_only"]

# The tables a tidings database has: eventsourcing's events and snapshots (named by its
# SQLite factory, and after the application on PostgreSQL), and ours (`ledger.entries`). The
# open operations' view and the secrets are not among them: a database from before them
# is still a tidings database. eventsourcing creates these in one transaction.
TABLES = ("stored_events", "stored_snapshots", "tidings_chain")
POSTGRES_TABLES = ("tidings_events", "tidings_snapshots", "tidings_chain")

# How many of a foreign database's tables an error names.
_NAMED = 3


class NotTidings(StorageError):
    """The database holds something other than a tidings log (or, opened to read only,
    nothing at all); it was left as it was found."""


def connect(env: dict[str, str], timeout: float | None = None) -> Any:
    """A psycopg connection (autocommit) to the PostgreSQL database `env` names, the
    one eventsourcing's pool connects to (waiting at most `timeout` seconds, if given)."""
    import psycopg

    from .outage import libpq_options

    return psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        autocommit=True,
        **(libpq_options() | ({} if timeout is None else {"connect_timeout": int(timeout)})),
    )


def _postgres(env: dict[str, str]) -> bool:
    return "POSTGRES_DBNAME" in env


def _path(env: dict[str, str]) -> Path:
    name = env["SQLITE_DBNAME"]
    if name.startswith("file:"):
        return Path(name.removeprefix("file:").split("?", 1)[0])
    return Path(name)


def _tables(env: dict[str, str]) -> list[str]:
    """Every table of the database `env` names, read without writing (an absent or
    empty SQLite file has none, and stays absent or empty)."""
    if _postgres(env):
        with connect(env) as conn:
            rows: list[Any] = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "ORDER BY table_name",
                (env["POSTGRES_SCHEMA"],),
            ).fetchall()
        return [str(row[0]) for row in rows]
    path = _path(env)
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        with closing(sqlite3.connect(_ro_uri(path), uri=True)) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
    except sqlite3.OperationalError:
        raise  # cannot be read (the store's callers say why)
    except sqlite3.DatabaseError as error:  # not an SQLite file at all
        raise NotTidings(f"not a tidings database ({error}); left unchanged") from None
    return [str(row[0]) for row in rows]


def _ro_uri(path: Path) -> str:
    """A read-only URI of `path`: `immutable=1` where it cannot be written at all (SQLite
    could not even keep the WAL's shared-memory index there)."""
    writable = all(os.access(p, os.W_OK) for p in (path, path.parent))
    # (access(2) also says EROFS for a file on a read-only mount, even to root.)
    return f"file:{quote(str(path.absolute()))}?{'mode=ro' if writable else 'immutable=1'}"


def present(env: dict[str, str], tables: tuple[str, ...]) -> bool:
    """Whether the database `env` names has every one of `tables`."""
    return set(tables) <= set(_tables(env))


def claim(env: dict[str, str], *, read_only: bool) -> bool:
    """Whether the database `env` names is empty (True: its tables are about to be
    created) rather than tidings' already (False). Raises `NotTidings`, having changed
    nothing, for a database that holds other tables, or (with `read_only`) an empty one."""
    found = _tables(env)
    ours = POSTGRES_TABLES if _postgres(env) else TABLES
    if set(ours) <= set(found):
        return False
    if read_only:
        missing = [table for table in ours if table not in found]
        raise NotTidings(f"not a tidings database (it has no {', '.join(missing)})")
    if found:
        named = ", ".join(found[:_NAMED]) + (", ..." if len(found) > _NAMED else "")
        where = "schema" if _postgres(env) else "file"
        raise NotTidings(
            f"not a tidings database: it holds another program's tables ({named}); "
            f"left unchanged: give tidings a {where} of its own"
        )
    return True


def read_only(env: dict[str, str]) -> dict[str, str]:
    """`env` with its SQLite file opened read-only (`_ro_uri`). PostgreSQL's is returned
    as it is: a store that only reads writes nothing there."""
    if _postgres(env):
        return env
    return env | {"SQLITE_DBNAME": _ro_uri(_path(env))}
