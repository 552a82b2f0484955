"""Signing secrets, kept beside the log and never in it (a reader of the log could forge
pushes): `tidings_secrets (id, secret)`, each committed before the event that names it
(by its fingerprint) is saved, cached for the process. With a secrets key
(`secrets_key`) every secret is sealed; a database whose secrets are sealed, opened
without their key, serves everything but pushes (`SecretsLocked`).
"""

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from .application import Store
from .secrets_key import SECRETS_KEY_ENV, SecretsKey, SecretsLocked, is_sealed
from .sqlite_recorder import WriterTurns

__all__ = ["TABLE", "Secrets"]


TABLE = "tidings_secrets"
# Any fixed 64-bit key: "secrets" in ASCII.
_CREATE_LOCK = 0x73656372_657473


class Secrets:
    """The signing secrets of one store, by id. `key`: the secrets key (else the one
    `TIDINGS_SECRETS_KEY` names, if set). Raises `BadKey` for a key file that cannot
    be used."""

    def __init__(self, store: Store, key: SecretsKey | None = None) -> None:
        self._key = key or SecretsKey.from_env()
        recorder: Any = store.recorder
        self._datastore = recorder.datastore
        self._postgres = isinstance(self._datastore, PostgresDatastore)
        if self._postgres:
            schema = self._datastore.schema.replace('"', '""')
            self._table = f'"{schema}".{TABLE}'
            self._mark = "%s"
        else:
            self._table, self._mark = TABLE, "?"
            # In turn with the other writers: the transaction reads the schema before it
            # writes, which SQLite would refuse at once had another commit come between.
            self._turns = WriterTurns(self._datastore.pool.db_name)
        self._found: dict[str, str] = {}
        self._lock = threading.Lock()

    def _execute(self, *steps: tuple[str, tuple[str, ...]], commit: bool) -> list[Any]:
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
        """Store `secret` under `secret_id`, sealed when there is a key (committed when
        this returns). Raises `SecretsLocked` without the key of secrets already sealed."""
        if self._key is None and self._any_sealed():
            raise SecretsLocked(
                f"the signing secrets are sealed and {SECRETS_KEY_ENV} is not set: "
                "no secret can be added (an account opened or its secret rotated)"
            )
        stored = secret if self._key is None else self._key.seal(secret_id, secret)
        create = "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, secret TEXT NOT NULL)"
        insert = "INSERT INTO {table} (id, secret) VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING"
        steps = [(create, ()), (insert, (secret_id, stored))]
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
        """The secret stored under `secret_id`, or None. Raises `SecretsLocked` when it
        is sealed and this process has not got its key."""
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
        secret = self._opened(secret_id, str(rows[0]["secret"]))
        with self._lock:
            self._found[secret_id] = secret
        return secret

    def _exists(self) -> bool:
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

    def _opened(self, secret_id: str, stored: str) -> str:
        if not is_sealed(stored):
            return stored
        if self._key is None:
            raise SecretsLocked(
                f"signing secret {secret_id} is sealed and {SECRETS_KEY_ENV} is not set: "
                "pushes cannot be signed until it names the secrets key"
            )
        return self._key.open(secret_id, stored)

    def _any_sealed(self) -> bool:
        if not self._exists():
            return False
        rows = self._execute(
            ("SELECT secret FROM {table} WHERE secret LIKE {mark} LIMIT 1", ("aesgcm:%",)),
            commit=False,
        )
        return bool(rows)

    def rotate(self, new: SecretsKey) -> int:
        """Seal every secret with `new`, opening each with this store's key (or taking it
        as kept in clear), in one transaction; returns how many were sealed anew. Raises
        `SecretsLocked` (nothing changed) for a secret this store's key does not open."""
        if not self._exists():
            return 0
        rows = self._execute(("SELECT id, secret FROM {table}", ()), commit=False)
        resealed = [
            (new.seal(str(row["id"]), self._opened(str(row["id"]), str(row["secret"]))),
             str(row["id"]))
            for row in rows
        ]  # fmt: skip
        update = "UPDATE {table} SET secret = {mark} WHERE id = {mark}"
        self._execute(*[(update, pair) for pair in resealed], commit=True)
        self._key = new
        return len(resealed)
