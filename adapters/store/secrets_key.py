"""The key that seals the push signing secrets at rest (AES-256-GCM), in a file the
database never sees (`TIDINGS_SECRETS_KEY`; made by `tidings key new PATH --secrets`).
A sealed secret reads `aesgcm:<key id>:<base64 of nonce and ciphertext>` (the key id:
the first 8 bytes of the key's SHA-256), the secret's id its associated data; a value
without the prefix is kept in clear.
"""

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import StorageError
from ..ledger.keys import BadKey, private_file, refuse_shared

__all__ = ["SECRETS_KEY_ENV", "SecretsKey", "SecretsLocked", "is_sealed", "new_secrets_key"]

SECRETS_KEY_ENV = "TIDINGS_SECRETS_KEY"
_PREFIX = "aesgcm:"
_NONCE = 12


class SecretsLocked(StorageError):
    """A signing secret is sealed and this process has not got its key: polls go on,
    but no push can be signed (nor a secret added) until the key is given."""


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX)


def new_secrets_key(path: Path) -> str:
    """Write a new key to `path` (created 0600, never over an existing file); returns
    its id. Raises `BadKey`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise BadKey(f"cannot create {path}: {error.strerror}") from None
    raw = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as file:
        file.write(base64.b64encode(raw).decode() + "\n")
    return SecretsKey(raw).id


class SecretsKey:
    """One AES-256-GCM key: seals and opens signing secrets."""

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
        """The key of the file `TIDINGS_SECRETS_KEY` names, or None when it is unset."""
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
