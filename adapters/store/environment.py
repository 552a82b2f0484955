"""The store's settings: a database URL turned into eventsourcing's settings, and its
application built from them, its tables created once however many processes start.
"""

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from eventsourcing.utils import Environment, EnvType

from ..ledger.entries import MsgspecMapper
from .schema_check import connect as _connect

__all__ = ["LOG", "SQLITE_BUSY", "LogApplication", "created", "environment", "is_postgres"]

# Seconds a SQLite connection waits for another connection's lock before it gives up
# ("database is locked", answered as the store cannot answer): far above a commit's
# hold, far below a client's patience (docs/decisions.md, "Operations").
SQLITE_BUSY = 5


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


# The package the recorders live in, for eventsourcing's recorder topics.
_HERE = __name__.rpartition(".")[0]


def environment(url: str, *, create: bool = True) -> dict[str, str]:
    """eventsourcing settings for a database URL
    (`postgresql://user[:password]@host:port/dbname[?schema=name]`, defaults filled in
    here, not by libpq) or SQLite file path; `create`: make the tables that are missing.
    The process's variables never join them."""
    env = {
        "IS_SNAPSHOTTING_ENABLED": "y",
        "CREATE_TABLE": "y" if create else "n",
    }
    if is_postgres(url):
        parts = urlsplit(url)
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            # eventsourcing insists on a password even where trust auth needs none.
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "16",
            "APPLICATION_RECORDER_TOPIC": f"{_HERE}.postgres_recorder:ChainedPostgresRecorder",
        }
    else:
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": url,
            "SQLITE_LOCK_TIMEOUT": str(SQLITE_BUSY),
            "APPLICATION_RECORDER_TOPIC": f"{_HERE}.sqlite_recorder:ChainedSQLiteRecorder",
        }
    return env


# The application's name: what projections' tracking records name the log by.
LOG = "tidings"


class LogApplication(Application[UUID]):
    """eventsourcing's application, with our mapper and only our settings."""

    name = LOG

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Settings come from the database URL alone, never from stray process variables.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return MsgspecMapper()


_T = TypeVar("_T")


def created(env: dict[str, str], build: Callable[[], _T]) -> _T:
    """What `build` makes (the application, a view), its tables created if missing when
    `env` says CREATE_TABLE; on PostgreSQL under an advisory lock, as processes starting
    together would race on `CREATE ... IF NOT EXISTS`."""
    if "POSTGRES_DBNAME" not in env or env["CREATE_TABLE"] != "y":
        return build()
    with _connect(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
        try:
            return build()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK,))


# Any fixed 64-bit key: "tidings" in ASCII.
_CREATE_LOCK = 0x74696469_6E6773
