"""Signed checkpoints, as C2SP `tlog-checkpoint` notes (`note`): how they are stored,
read from a file, and checked against pinned keys.

The store appends one inside the insert transaction when one is due (`Cadence`), into
its own table `tidings_checkpoints` (size, log position of the last leaf, root, time,
key, signature), beside the log rather than in it: a checkpoint is about the log, and an
event would be a leaf of the tree it signs. The note is rebuilt from the row: its key
column holds the signer's verifier key, whose name is the log's origin.

The signer (`signer.Signer`) refuses to sign a tree that does not extend the last one it
signed.
"""

import os
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import BadKey
from .note import (
    ED25519,
    BadNote,
    Line,
    Note,
    Verifier,
    checkpoint_body,
    parse_body,
    parse_note,
    parse_vkey,
)

__all__ = [
    "Cadence",
    "Checkpoint",
    "cadence_from_env",
    "from_note",
    "refused",
    "trusted_keys",
]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed checkpoint, as stored. `key`: the signer's verifier key (note form);
    `position`: the log position of the tree's last leaf (0 where not known: a note read
    from a file says nothing of positions)."""

    size: int
    position: int
    root: str  # hex
    time: str  # ISO 8601, UTC
    key: str
    signature: str  # hex

    @property
    def public(self) -> bytes:
        public: bytes = parse_vkey(self.key).public
        return public

    @property
    def origin(self) -> str:
        return parse_vkey(self.key).name

    def body(self) -> bytes:
        """The bytes the signature covers."""
        return checkpoint_body(self.origin, self.size, bytes.fromhex(self.root)).encode()

    def note(self) -> Note:
        """The checkpoint as a signed note."""
        verifier = parse_vkey(self.key)
        line = Line(verifier.name, verifier.id, bytes.fromhex(self.signature))
        return Note(self.body().decode(), (line,))


def trusted_keys(texts: Sequence[str]) -> list[Verifier]:
    """Pinned keys, each a verifier key; BadKey."""
    return [parse_vkey(text) for text in texts]


def refused(checkpoint: Checkpoint, trusted: Sequence[Verifier]) -> str | None:
    """Why `checkpoint` cannot be trusted (None: its signature holds with one of the
    `trusted` keys). Without any, the key it names is used: that proves only that it was
    not edited since, not who signed it."""
    try:
        public = checkpoint.public
    except (BadKey, ValueError):
        return "it names no key"
    if trusted and all(public != v.public or v.kind != ED25519 for v in trusted):
        return f"signed by key {_short(checkpoint)}, not by a pinned key"
    try:
        signature = bytes.fromhex(checkpoint.signature)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, checkpoint.body())
    except (BadKey, InvalidSignature, ValueError):
        return "its signature does not match its fields"
    return None


def _short(checkpoint: Checkpoint) -> str:
    return checkpoint.key.split("+")[1]


def from_note(text: str, trusted: Sequence[Verifier]) -> Checkpoint:
    """The checkpoint a note holds, with the signature of the first pinned key that
    signed it (`refused` then checks it). BadNote when it is no checkpoint, or no
    pinned key's line is on it."""
    note = parse_note(text)
    origin, size, root = parse_body(note.body)
    if all(v.name != origin for v in trusted):
        raise BadNote(f"a checkpoint of the log {origin!r}, not of a pinned key's log")
    for verifier in trusted:
        for line in note.lines:
            if (line.name, line.id) == (verifier.name, verifier.id):
                return Checkpoint(size=size, position=0, root=root.hex(), time="",
                                  key=str(verifier), signature=line.signature.hex())  # fmt: skip
    ids = ", ".join(f"{line.name}+{line.id.hex()}" for line in note.lines)
    raise BadNote(f"signed by no pinned key (it carries {ids or 'no signature'})")


class Cadence(msgspec.Struct, frozen=True):
    """When the store signs: once `entries` entries were appended since the last
    checkpoint, or `seconds` after it if the log grew meanwhile (and at the first write)."""

    entries: int = 1000
    seconds: float = 60.0


_DEFAULT = Cadence()


def cadence_from_env() -> Cadence:
    """`TIDINGS_CHECKPOINT_ENTRIES` and `TIDINGS_CHECKPOINT_SECONDS`, else `Cadence()`;
    BadKey when they are not numbers."""
    try:
        return Cadence(
            int(os.environ.get("TIDINGS_CHECKPOINT_ENTRIES", _DEFAULT.entries)),
            float(os.environ.get("TIDINGS_CHECKPOINT_SECONDS", _DEFAULT.seconds)),
        )
    except ValueError:
        raise BadKey("TIDINGS_CHECKPOINT_ENTRIES/_SECONDS must be numbers") from None
