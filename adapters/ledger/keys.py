"""Ed25519 key files (PKCS#8 PEM, mode 0600), never in the database: `tidings key new`
writes one; servers and the library read the one `TIDINGS_SIGNING_KEY` names. Errors
name the file, never its content.
"""

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import TidingsError

__all__ = [
    "SIGNING_KEY_ENV",
    "BadKey",
    "create_private",
    "load_key",
    "new_key",
    "private_file",
    "refuse_shared",
    "replace_file",
]

SIGNING_KEY_ENV = "TIDINGS_SIGNING_KEY"


class BadKey(TidingsError):
    """A key file or public key that cannot be used; the message says why, in one line."""


def create_private(path: Path, data: bytes) -> None:
    """Write `data` to a new key file at `path` (0600, never over an existing file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise BadKey(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def new_key(path: Path) -> None:
    """Write a new private key to `path` (`create_private`)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    create_private(path, pem)


def private_file(path: str | Path, what: str) -> bytes:
    """The content of the key file at `path`; `BadKey` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise BadKey(f"cannot read {what} {path}: {error.strerror}") from None


def refuse_shared(path: str | Path, what: str) -> None:
    """`BadKey` when others than its owner may read the key file at `path`."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise BadKey(f"{what} {path} may be read by others (mode {mode & 0o777:04o}): "
                     f"chmod 600 {path}")  # fmt: skip


def load_key(path: str | Path) -> Ed25519PrivateKey:
    """The private key in the file at `path`; `BadKey` when it cannot be read, holds no
    Ed25519 key, or others may read it."""
    data = private_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise BadKey(f"{path} holds no unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKey(f"{path} holds a key that is not Ed25519")
    refuse_shared(path, "signing key")
    return key


def replace_file(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` atomically: a crash leaves the old content or the new, whole.
    `durable`: on disk (fsync) before this returns."""
    fd, temporary = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
