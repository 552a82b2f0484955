"""The database a URL names: eventsourcing's settings and application for it, its tables
created once however many processes start; whose database it is (tidings opens its own,
makes a new one where there are no tables, and refuses any other before writing
anything); and the readiness heartbeat, one row per server process outside the log.
"""

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from eventsourcing.utils import Environment, EnvType

from ..errors import InvalidArgument, StorageError
from ..ledger.entries import MsgspecMapper

__all__ = [
    "LOG",
    "SQLITE_BUSY",
    "LogApplication",
    "NotTidings",
    "beat",
    "claim",
    "created",
    "environment",
    "is_postgres",
    "present",
    "quoted",
    "read_only",
]

# Seconds a SQLite connection waits for another connection's lock before it gives up
# ("database is locked", answered as the store cannot answer): far above a commit's
# hold, far below a client's patience (docs/decisions.md, "Operations").
SQLITE_BUSY = 5
# The application's name: what projections' tracking records name the log by.
LOG = "tidings"
# The tables a tidings database has (eventsourcing creates them in one transaction). The
# open operations' view and the secrets are not among them: a database from before them
# is still a tidings database.
_TABLES = ("stored_events", "stored_snapshots", "tidings_chain")
_POSTGRES_TABLES = ("tidings_events", "tidings_snapshots", "tidings_chain")
_NAMED = 3  # how many of a foreign database's tables an error names
# Any fixed 64-bit key: "tidings" in ASCII.
_CREATE_LOCK = 0x74696469_6E6773
_HERE = __name__.rpartition(".")[0]  # the recorders' package, for eventsourcing's topics
_T = TypeVar("_T")


class NotTidings(StorageError):
    """The database holds something other than a tidings log (or, opened to read only,
    nothing at all); it was left as it was found."""


def quoted(*names: str) -> str:
    """SQL identifiers (a schema, then a table), each quoted, joined by dots."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def environment(url: str, *, create: bool = True) -> dict[str, str]:
    """eventsourcing settings for a SQLite file path or a database URL
    (`postgresql://user[:password]@host:port/dbname[?schema=name]`), never the process's
    variables; `create`: make the tables that are missing. InvalidArgument: a URL
    parameter other than one `schema` (a misspelt one would silently mean `public`)."""
    env = {"IS_SNAPSHOTTING_ENABLED": "y", "CREATE_TABLE": "y" if create else "n"}
    if not is_postgres(url):
        return env | {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": url,
            "SQLITE_LOCK_TIMEOUT": str(SQLITE_BUSY),
            "APPLICATION_RECORDER_TOPIC": f"{_HERE}.sqlite_recorder:ChainedSQLiteRecorder",
        }
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"schema"} or len(query.get("schema", [""])) > 1:
        named = ", ".join(sorted(query))  # names only: a value may be a secret
        raise InvalidArgument(f"the database URL may hold one parameter, ?schema=name, not {named}")
    return env | {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        # eventsourcing insists on a password even where trust auth needs none.
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": query.get("schema", ["public"])[0] or "public",
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "16",
        "APPLICATION_RECORDER_TOPIC": f"{_HERE}.postgres_recorder:ChainedPostgresRecorder",
    }


class LogApplication(Application[UUID]):
    """eventsourcing's application, with our mapper and only our settings."""

    name = LOG

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Settings come from the database URL alone, never from stray process variables.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return MsgspecMapper()


def created(env: dict[str, str], build: Callable[[], _T]) -> _T:
    """What `build` makes, its tables created if `env` says CREATE_TABLE; on PostgreSQL
    under an advisory lock (processes starting together race on `CREATE`)."""
    if "POSTGRES_DBNAME" not in env or env["CREATE_TABLE"] != "y":
        return build()
    with _connect(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
        try:
            return build()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK,))


def _connect(env: dict[str, str], timeout: float | None = None) -> Any:
    """A psycopg connection (autocommit) to the PostgreSQL database `env` names (waiting
    at most `timeout` seconds, if given)."""
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


def _path(env: dict[str, str]) -> Path:
    return Path(env["SQLITE_DBNAME"].removeprefix("file:").split("?", 1)[0])


def _tables(env: dict[str, str]) -> list[str]:
    """Every table of the database `env` names, read without writing anything."""
    if "POSTGRES_DBNAME" in env:
        with _connect(env) as conn:
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
    return set(tables) <= set(_tables(env))


def claim(env: dict[str, str], *, read_only: bool) -> bool:
    """Whether the database `env` names is empty (its tables about to be created) rather
    than tidings'. `NotTidings` for one with other tables, or (`read_only`) an empty one."""
    found = _tables(env)
    postgres = "POSTGRES_DBNAME" in env
    ours = _POSTGRES_TABLES if postgres else _TABLES
    if set(ours) <= set(found):
        return False
    if read_only:
        missing = [table for table in ours if table not in found]
        raise NotTidings(f"not a tidings database (it has no {', '.join(missing)})")
    if found:
        named = ", ".join(found[:_NAMED]) + (", ..." if len(found) > _NAMED else "")
        raise NotTidings(
            f"not a tidings database: it holds another program's tables ({named}); "
            f"left unchanged: give tidings a {'schema' if postgres else 'file'} of its own"
        )
    return True


def read_only(env: dict[str, str]) -> dict[str, str]:
    """`env` with its SQLite file opened read-only (PostgreSQL's as it is: a store that
    only reads writes nothing there)."""
    if "POSTGRES_DBNAME" in env:
        return env
    return env | {"SQLITE_DBNAME": _ro_uri(_path(env))}


_BEAT = (
    "CREATE TABLE IF NOT EXISTS tidings_heartbeat (server TEXT PRIMARY KEY, at DOUBLE PRECISION)",
    "INSERT INTO tidings_heartbeat (server, at) VALUES ({0}, {0}) "
    "ON CONFLICT (server) DO UPDATE SET at = excluded.at",
)


def beat(db: str, server: str, timeout: float) -> None:
    """Write `server`'s heartbeat into the store at `db`, waiting at most `timeout`
    seconds for a connection or a lock; the driver's error when it fails."""
    if not is_postgres(db):
        with closing(sqlite3.connect(db, timeout=timeout, isolation_level=None)) as conn:
            conn.execute(_BEAT[0])
            conn.execute(_BEAT[1].format("?"), (server, time.time()))
        return
    env = environment(db)
    with _connect(env, timeout) as connection:
        connection.execute(f"SET lock_timeout = '{int(timeout)}s'")
        connection.execute(f"SET search_path TO {quoted(env['POSTGRES_SCHEMA'])}")
        connection.execute(_BEAT[0])
        connection.execute(_BEAT[1].format("%s"), (server, time.time()))
