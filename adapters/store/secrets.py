"""Signing secrets, kept beside the log and never in it.

The log is what auditors replay and what `tidings log` prints; a webhook signing
secret in it would let anyone who reads it forge pushes. So an account's events carry
only the secret's id (its SHA-256 fingerprint, `domain.account.secret_id`) and the secret
itself lives in a table of its own, `tidings_secrets (id, secret)`, in the same database,
written through eventsourcing's datastore (its pooled connections and transactions).

A secret is kept before the event that names it is saved, in a commit of its own: a
crash between the two leaves an unnamed row (harmless), never an event naming a secret
that was not kept. Rows are immutable (an id is a fingerprint of its secret), so the
secrets found are cached for the process.
"""

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from .application import Store
from .turns import WriterTurns

__all__ = ["TABLE", "Secrets"]

TABLE = "tidings_secrets"
# Any fixed 64-bit key: "secrets" in ASCII.
_CREATE_LOCK = 0x73656372_657473


class Secrets:
    """The signing secrets of one store, by id."""

    def __init__(self, store: Store) -> None:
        recorder: Any = store.recorder
        self._datastore = recorder.datastore
        self._postgres = isinstance(self._datastore, PostgresDatastore)
        if self._postgres:
            schema = self._datastore.schema.replace('"', '""')
            self._table = f'"{schema}".{TABLE}'
            self._mark = "%s"
        else:
            self._table, self._mark = TABLE, "?"
            # SQLite: in turn with the other writers (`turns`). The transaction reads the
            # schema before it writes; had another connection committed in between,
            # SQLite would refuse the write at once ("database is locked").
            self._turns = WriterTurns(self._datastore.pool.db_name)
        self._found: dict[str, str] = {}
        self._lock = threading.Lock()

    def _execute(self, *steps: tuple[str, tuple[str, ...]], commit: bool) -> list[Any]:
        """Run (query, params) `steps` in one transaction; a read's rows (the last step's)."""
        with self._turn(commit), self._datastore.transaction(commit=commit) as cursor:
            for query, params in steps:
                cursor.execute(query.format(table=self._table, mark=self._mark), params)
            return [] if commit else list(cursor.fetchall())

    def close(self) -> None:
        if not self._postgres:
            self._turns.close()

    def _turn(self, commit: bool) -> AbstractContextManager[None]:
        return self._turns.turn() if commit and not self._postgres else nullcontext()

    def keep(self, secret_id: str, secret: str) -> None:
        """Store `secret` under `secret_id` (committed when this returns)."""
        create = "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, secret TEXT NOT NULL)"
        insert = "INSERT INTO {table} (id, secret) VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING"
        steps = [(create, ()), (insert, (secret_id, secret))]
        if self._postgres:
            # Processes creating the table at once would race in the catalogue ("duplicate
            # key value violates unique constraint"): one at a time.
            steps.insert(0, (f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})", ()))
        self._execute(*steps, commit=True)
        with self._lock:
            self._found[secret_id] = secret

    def forget(self, secret_id: str) -> None:
        """Drop a secret that no event names (its command was refused)."""
        self._execute(("DELETE FROM {table} WHERE id = {mark}", (secret_id,)), commit=True)
        with self._lock:
            self._found.pop(secret_id, None)

    def find(self, secret_id: str) -> str | None:
        """The secret stored under `secret_id`, or None."""
        with self._lock:
            if secret_id in self._found:
                return self._found[secret_id]
        if not self._exists():
            return None
        rows = self._execute(
            ("SELECT secret FROM {table} WHERE id = {mark}", (secret_id,)), commit=False
        )
        if not rows:
            return None
        secret = str(rows[0]["secret"])
        with self._lock:
            self._found[secret_id] = secret
        return secret

    def _exists(self) -> bool:
        """Whether the table exists (a log from before it, opened read-only, lacks it)."""
        if self._postgres:
            rows = self._execute(
                ("SELECT to_regclass({mark}) AS found", (self._table,)), commit=False
            )
            return rows[0]["found"] is not None
        rows = self._execute(
            ("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {mark}", (TABLE,)),
            commit=False,
        )
        return bool(rows)
