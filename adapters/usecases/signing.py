"""Signing secrets of pushed notifications: minted, kept beside the log before the event
that names them (`store.secrets`), and found again for the push runner."""

import base64
import secrets

from tidings.domain import account as acc

from ..errors import StorageError
from ..store.commit import storage_errors
from ..store.secrets import Secrets
from .runtime import Runtime

__all__ = ["SigningSecrets", "new_secret"]


def new_secret() -> str:
    """A new signing secret. Standard Webhooks: "whsec_" and the key in standard base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


class SigningSecrets:
    """The secrets of one store, by id (an account's events name only the id)."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._secrets = Secrets(runtime.store)

    def keep(self, secret: str) -> str:
        """Keep `secret`; returns its id. Raises `StorageError`."""
        secret_id = acc.secret_id(secret)
        with self._runtime.reading():
            self._secrets.keep(secret_id, secret)
        return secret_id

    def forget(self, secret_id: str) -> None:
        """Drop a secret no event names (its command was refused). Raises `StorageError`."""
        with storage_errors():
            self._secrets.forget(secret_id)

    def find(self, account: acc.AccountState, secret_id: str) -> str:
        """The secret `secret_id` names ("" for none). Raises `StorageError` when the
        store has lost it."""
        if not secret_id:
            return ""
        with storage_errors():
            found = self._secrets.find(secret_id)
        if found is None:
            raise StorageError(f"the signing secret of account {account.login!r} is missing")
        return found

    def close(self) -> None:
        """Raises `StorageError`."""
        with storage_errors():
            self._secrets.close()
