"""Signing secrets of pushed notifications: minted, kept beside the log before the event
that names them (`store.secrets`), and found again for the push runner.

A process without the key of secrets that are sealed pushes nothing to a URL (it cannot
sign): the first refusal logs one `signing_secrets_locked` warning for the process, and
each delivery held for it one `delivery_not_signed` (logger `tidings.push`), with no
traceback; polls and e-mail go on.
"""

import base64
import logging
import secrets

from tidings.domain import account as acc
from tidings.domain.delivery import DeliveryScheduled

from ..errors import StorageError
from ..logs import event
from ..store.commit import storage_errors
from ..store.secrets import Secrets
from ..store.secrets_key import SECRETS_KEY_ENV, SecretsLocked
from .runtime import Runtime

__all__ = ["SigningSecrets", "new_secret"]

_log = logging.getLogger("tidings.push")


def new_secret() -> str:
    """A new signing secret. Standard Webhooks: "whsec_" and the key in standard base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


class SigningSecrets:
    """The secrets of one store, by id (an account's events name only the id)."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._secrets = Secrets(runtime.store)
        # Ids of secrets found sealed without their key: this process cannot open them
        # (its key is read at start), so it does not ask again.
        self.locked: set[str] = set()
        self._told: set[tuple[str, int]] = set()

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

    def for_push(self, account: acc.AccountState) -> tuple[str, str] | None:
        """The account's current and previous secrets ("" for none), or None when they
        are sealed and this process has not got their key (`locked`: the first time, one
        warning for the process). Raises `StorageError`."""
        ids = (account.secret_id, account.previous_secret_id)
        if self.locked.intersection(ids):
            return None
        try:
            return self.find(account, ids[0]), self.find(account, ids[1])
        except SecretsLocked as locked:
            if not self.locked:
                reason = f"{locked}; polls are served, pushes to URLs wait for the key"
                event(_log, logging.WARNING, "signing_secrets_locked", reason=reason)
            self.locked.update(i for i in ids if i)
            return None

    def tell_unsigned(self, scheduled: DeliveryScheduled) -> None:
        """Log, once per delivery, that it waits because its secret is sealed."""
        told = (scheduled.login, scheduled.notification_id)
        if told in self._told:
            return
        self._told.add(told)
        notification = scheduled.notification
        fields = {
            "login": scheduled.login,
            "svtrid": None if notification is None else notification.outcome.svtrid,
            "notification": scheduled.notification_id,
            "request_id": (scheduled.context or {}).get("request_id"),
            "reason": f"its signing secret is sealed and {SECRETS_KEY_ENV} is not set",
        }
        event(_log, logging.WARNING, "delivery_not_signed", **fields)

    def close(self) -> None:
        """Raises `StorageError`."""
        with storage_errors():
            self._secrets.close()
