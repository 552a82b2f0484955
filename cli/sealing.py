"""`tidings key new PATH --secrets`, `tidings key rotate-secrets`: the key that seals the
push signing secrets in the database (`adapters/store/secrets.py`)."""

from pathlib import Path
from typing import Annotated

import typer
from tidings.adapters.ledger.keys import BadKey
from tidings.adapters.store.secrets import SECRETS_KEY_ENV, Secrets, SecretsKey, new_secrets_key

from .options import Db, examples, open_store
from .output import Json, emit, usage, user_errors

__all__ = ["new_secrets_key_file", "rotate_secrets_command"]


def new_secrets_key_file(path: Path) -> None:
    """Write a new secrets key to `path` (0600) and say how to use it."""
    try:
        key_id = new_secrets_key(path)
    except BadKey as error:
        raise usage(str(error)) from None
    typer.echo(f"secrets key {key_id} written to {path} (0600)", err=True)
    typer.echo(f"give it to every server and worker as {SECRETS_KEY_ENV}={path}, then seal "
               f"the secrets kept so far: tidings key rotate-secrets {path}")  # fmt: skip


ROTATE_EPILOG = examples(
    "tidings key new secrets-2.key --secrets",
    "TIDINGS_SECRETS_KEY=secrets-1.key tidings key rotate-secrets secrets-2.key",
)


def rotate_secrets_command(
    new_key: Annotated[
        Path, typer.Argument(metavar="NEW_KEY", help="The key file to seal them with.")
    ],
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Seal every push signing secret with the key in NEW_KEY, opening each with the key
    TIDINGS_SECRETS_KEY names (or, none set, taking it as kept in clear); all or none.
    Then give servers and workers TIDINGS_SECRETS_KEY=NEW_KEY: until they are restarted
    with it, they cannot sign pushes for secrets sealed since."""
    try:
        new = SecretsKey.load(new_key)
    except BadKey as error:
        raise usage(str(error)) from None
    open_store(db, read_only=True).close()  # an existing tidings database: made by none
    with user_errors():
        store = open_store(db)
        try:
            try:
                secrets = Secrets(store)
            except BadKey as error:
                raise usage(str(error)) from None
            try:
                count = secrets.rotate(new)
            finally:
                secrets.close()
        finally:
            store.close()
    sealed = {"sealed": count, "key_id": new.id}
    emit(sealed, as_json, lambda: f"sealed {count} signing secret(s) with key {new.id}")
