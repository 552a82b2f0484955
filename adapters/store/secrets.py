"""Signing secrets, beside the log and never in it: `tidings_secrets (id, secret)`, each
committed before the event naming it. With `TIDINGS_SECRETS_KEY`, sealed with AES-256-GCM
as `aesgcm:<key id>:<base64 of nonce and ciphertext>`, the id as associated data.
"""

import base64
import hashlib
import os
import secrets
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.postgres import PostgresDatastore

from ..errors import StorageError
from ..ledger.keys import BadKey, create_private, private_file, refuse_shared
from .application import Store
from .environment import quoted
from .sqlite_recorder import WriterTurns

__all__ = ["SECRETS_KEY_ENV", "TABLE", "Secrets", "SecretsKey", "SecretsLocked", "new_secrets_key"]

SECRETS_KEY_ENV = "TIDINGS_SECRETS_KEY"
TABLE = "tidings_secrets"
_PREFIX = "aesgcm:"
_NONCE = 12
# Any fixed 64-bit key: "secrets" in ASCII.
_CREATE_LOCK = 0x73656372_657473


class SecretsLocked(StorageError):
    """A signing secret is sealed and this process has not got its key: polls go on,
    but no push can be signed (nor a secret added) until the key is given."""


def new_secrets_key(path: Path) -> str:
    """Write a new key to `path` (created 0600, never over an existing file); returns
    its id. Raises `BadKey`."""
    raw = secrets.token_bytes(32)
    create_private(path, base64.b64encode(raw) + b"\n")
    return SecretsKey(raw).id


class SecretsKey:
    """One AES-256-GCM key (its id: the first 8 bytes of its SHA-256)."""

    def __init__(self, raw: bytes) -> None:
        self._aead = AESGCM(raw)
        self.id = hashlib.sha256(raw).digest()[:8].hex()

    @classmethod
    def load(cls, path: str | Path) -> "SecretsKey":
        """The key in the file at `path`. Raises `BadKey` (unreadable, readable by
        others, not a key), naming the file, never its content."""
        text = private_file(path, "secrets key").decode(errors="replace").strip()
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise BadKey(f"{path} holds no secrets key (made by `tidings key new PATH --secrets`)")
        refuse_shared(path, "secrets key")
        return cls(raw)

    @classmethod
    def from_env(cls) -> "SecretsKey | None":
        path = os.environ.get(SECRETS_KEY_ENV, "").strip()
        return cls.load(path) if path else None

    def seal(self, secret_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), secret_id.encode())
        return f"{_PREFIX}{self.id}:{base64.b64encode(nonce + sealed).decode()}"

    def opens(self, value: str) -> bool:
        return value.startswith(f"{_PREFIX}{self.id}:")

    def open(self, secret_id: str, value: str) -> str:
        """The secret `value` seals. Raises `SecretsLocked` when another key sealed it
        or it does not open (edited, or moved from another row)."""
        if not self.opens(value):
            raise SecretsLocked(
                f"signing secret {secret_id} is sealed with another key than "
                f"{SECRETS_KEY_ENV}'s ({self.id})"
            )
        blob = base64.b64decode(value.rsplit(":", 1)[1])
        try:
            plain = self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], secret_id.encode())
        except InvalidTag:
            raise SecretsLocked(f"signing secret {secret_id} does not open: edited") from None
        return plain.decode()


class Secrets:
    """The signing secrets of one store, by id. `key`: the secrets key (else the one
    `TIDINGS_SECRETS_KEY` names, if set; `BadKey` for a file that cannot be used)."""

    def __init__(self, store: Store, key: SecretsKey | None = None) -> None:
        self._key = key or SecretsKey.from_env()
        recorder: Any = store.recorder
        self._datastore = recorder.datastore
        self._postgres = isinstance(self._datastore, PostgresDatastore)
        if self._postgres:
            self._table, self._mark = quoted(self._datastore.schema, TABLE), "%s"
        else:
            self._table, self._mark = TABLE, "?"
            # In turn with the other writers: the transaction reads the schema before it
            # writes, which SQLite would refuse at once had another commit come between.
            self._turns = WriterTurns(self._datastore.pool.db_name)
        self._found: dict[str, str] = {}
        self._lock = threading.Lock()

    def _execute(self, *steps: tuple[str, tuple[str, ...]], commit: bool) -> list[Any]:
        turn: AbstractContextManager[None] = nullcontext()
        if commit and not self._postgres:
            turn = self._turns.turn()
        with turn, self._datastore.transaction(commit=commit) as cursor:
            for query, params in steps:
                cursor.execute(query.format(table=self._table, mark=self._mark), params)
            return [] if commit else list(cursor.fetchall())

    def _select(self, query: str, *params: str) -> list[Any]:
        return self._execute((query, params), commit=False)

    def close(self) -> None:
        if not self._postgres:
            self._turns.close()

    def keep(self, secret_id: str, secret: str) -> None:
        """Store `secret` under `secret_id`, sealed when there is a key (committed when
        this returns). Raises `SecretsLocked` without the key of secrets already sealed."""
        sealed = "SELECT secret FROM {table} WHERE secret LIKE {mark} LIMIT 1"
        if self._key is None and self._exists() and self._select(sealed, "aesgcm:%"):
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
        rows = self._select("SELECT secret FROM {table} WHERE id = {mark}", secret_id)
        if not rows:
            return None
        secret = self._opened(secret_id, str(rows[0]["secret"]))
        with self._lock:
            self._found[secret_id] = secret
        return secret

    def _exists(self) -> bool:
        if self._postgres:
            return bool(self._select("SELECT 1 WHERE to_regclass({mark}) IS NOT NULL", self._table))
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {mark}"
        return bool(self._select(query, TABLE))

    def _opened(self, secret_id: str, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            return stored
        if self._key is None:
            raise SecretsLocked(
                f"signing secret {secret_id} is sealed and {SECRETS_KEY_ENV} is not set: "
                "pushes cannot be signed until it names the secrets key"
            )
        return self._key.open(secret_id, stored)

    def rotate(self, new: SecretsKey) -> int:
        """Seal every secret with `new` in one transaction; how many. `SecretsLocked`,
        nothing changed, for a secret this store's key does not open."""
        if not self._exists():
            return 0
        update = "UPDATE {table} SET secret = {mark} WHERE id = {mark}"
        steps = []
        for row in self._select("SELECT id, secret FROM {table}"):
            sid = str(row["id"])
            steps.append((update, (new.seal(sid, self._opened(sid, str(row["secret"]))), sid)))
        self._execute(*steps, commit=True)
        self._key = new
        return len(steps)
