"""Signed checkpoints: a tree size, the log position it reaches, the Merkle root, a time
and an Ed25519 signature over them.

The signed bytes are five lines of text, so that a verifier needs only the fields:

    tidings checkpoint v1
    <size>          leaves (log entries) the tree holds
    <position>      log position of the last of them
    <root>          the RFC 9162 root, 64 hex digits
    <time>          when it was signed, ISO 8601 UTC

The store appends one inside the insert transaction when one is due (`Cadence`), into
its own table `tidings_checkpoints`, beside the log rather than in it: a checkpoint is
about the log, and an event would be a leaf of the tree it signs. `tidings checkpoint`
prints the latest as JSON, what an auditor keeps elsewhere (a witness).
"""

import functools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .keys import SIGNING_KEY_ENV, BadKey, load_key, public_hex, public_key

__all__ = ["Cadence", "Checkpoint", "Signer", "refused", "signer_for"]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed checkpoint, as stored and as printed (JSON)."""

    size: int
    position: int
    root: str  # hex
    time: str  # ISO 8601, UTC
    key: str  # the public key that signed, hex
    signature: str  # hex

    def body(self) -> bytes:
        """The bytes the signature covers."""
        lines = ("tidings checkpoint v1", self.size, self.position, self.root, self.time)
        return "".join(f"{line}\n" for line in lines).encode()


def refused(checkpoint: Checkpoint, trusted: str | None) -> str | None:
    """Why `checkpoint` cannot be trusted (None: its signature holds). `trusted`: the
    public key (hex) it must be signed with; without one, the key it names is used and
    proves only that the checkpoint was not edited since."""
    if trusted is not None and checkpoint.key != trusted.strip().lower():
        return f"signed by key {checkpoint.key[:16]}..., not the trusted {trusted[:16]}..."
    try:
        key = public_key(checkpoint.key)
        key.verify(bytes.fromhex(checkpoint.signature), checkpoint.body())
    except (BadKey, InvalidSignature, ValueError):
        return "its signature does not match its fields"
    return None


class Cadence(msgspec.Struct, frozen=True):
    """When the store signs: once `entries` entries were appended since the last
    checkpoint, or `seconds` after it if the log grew meanwhile (and at the first write)."""

    entries: int = 1000
    seconds: float = 60.0


_DEFAULT = Cadence()


@functools.lru_cache(maxsize=8)
def _timestamp(iso: str) -> float:
    """Seconds since the epoch of a checkpoint's time (asked at every write)."""
    return datetime.fromisoformat(iso).timestamp()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Signer:
    """Signs checkpoints with a private key held in memory only."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        cadence: Cadence = _DEFAULT,
        clock: Callable[[], float] = time.time,
    ):
        self._key = key
        self.public = public_hex(key)
        self.cadence = cadence
        self.clock = clock

    def due(self, last: Checkpoint | None, size: int) -> bool:
        if last is None:
            return size > 0
        grown = size - last.size
        if grown >= self.cadence.entries:
            return True
        return grown > 0 and self.clock() - _timestamp(last.time) >= self.cadence.seconds

    def sign(self, size: int, position: int, root: bytes) -> Checkpoint:
        unsigned = Checkpoint(
            size=size,
            position=position,
            root=root.hex(),
            time=_iso(self.clock()),
            key=self.public,
            signature="",
        )
        signature = self._key.sign(unsigned.body())
        return msgspec.structs.replace(unsigned, signature=signature.hex())


def signer_for(key_file: str | None = None, cadence: Cadence | None = None) -> Signer | None:
    """The signer of a key file, by default the one `TIDINGS_SIGNING_KEY` names (None:
    no key, nothing signed), at `cadence`, by default `TIDINGS_CHECKPOINT_ENTRIES` and
    `TIDINGS_CHECKPOINT_SECONDS` or else `Cadence()`. Raises `BadKey`."""
    path = key_file or os.environ.get(SIGNING_KEY_ENV)
    if not path:
        return None
    if cadence is None:
        try:
            cadence = Cadence(
                int(os.environ.get("TIDINGS_CHECKPOINT_ENTRIES", _DEFAULT.entries)),
                float(os.environ.get("TIDINGS_CHECKPOINT_SECONDS", _DEFAULT.seconds)),
            )
        except ValueError:
            raise BadKey("TIDINGS_CHECKPOINT_ENTRIES/_SECONDS must be numbers") from None
    return Signer(load_key(path), cadence)
