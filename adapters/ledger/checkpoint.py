"""Signed checkpoints as C2SP notes (c2sp.org/signed-note, tlog-checkpoint,
tlog-cosignature: Ed25519 signatures and cosignatures): written, stored beside the log
(`tidings_checkpoints`), read and checked against pinned keys, and when one is due.
"""

import base64
import hashlib
import math
import os
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import InvalidArgument
from .keys import BadKey

__all__ = [
    "COSIGNATURE",
    "ED25519",
    "BadNote",
    "Cadence",
    "Checkpoint",
    "Line",
    "Note",
    "Verifier",
    "cadence_from_env",
    "checkpoint_body",
    "cosign",
    "from_note",
    "parse_body",
    "parse_note",
    "parse_vkey",
    "refused",
    "sign",
    "signed_by",
    "trusted_keys",
    "verifier_of",
]

ED25519 = 0x01
COSIGNATURE = 0x04
_DASH = "\u2014"


class BadNote(ValueError):
    """Text that is not a signed note or checkpoint; the message says why, in one line."""


class Verifier(msgspec.Struct, frozen=True):
    """A public key as a note names it: name, signature type, the 32-byte key."""

    name: str
    kind: int
    public: bytes

    @property
    def id(self) -> bytes:
        return hashlib.sha256(
            self.name.encode() + b"\n" + bytes([self.kind]) + self.public
        ).digest()[:4]

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([self.kind]) + self.public).decode()
        return f"{self.name}+{self.id.hex()}+{encoded}"


def verifier_of(key: Ed25519PrivateKey, name: str, kind: int = ED25519) -> Verifier:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Verifier(_checked_name(name), kind, raw)


def _checked_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise BadKey(f"a key name has no spaces and no '+': {name!r}")
    return name


def parse_vkey(text: str) -> Verifier:
    """A verifier key `<name>+<8 hex>+<base64>` (Ed25519 or cosignature type); BadKey."""
    try:
        name, hex_id, rest = text.strip().split("+", 2)  # ValueError: fewer parts
        raw = base64.b64decode(rest, validate=True)
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE):
            raise ValueError
        verifier = Verifier(_checked_name(name), raw[0], raw[1:])
        if verifier.id.hex() != hex_id.lower():
            raise ValueError
    except (ValueError, BadKey):
        raise BadKey(
            "a verifier key is NAME+KEYID+BASE64 (as `tidings key new` prints it), "
            "and its key id must match"
        ) from None
    return verifier


def trusted_keys(texts: Sequence[str]) -> list[Verifier]:
    """Pinned keys, each a verifier key; BadKey."""
    return [parse_vkey(text) for text in texts]


class Line(msgspec.Struct, frozen=True):
    """One signature line: the signer's name, key id and signature bytes."""

    name: str
    id: bytes
    signature: bytes

    def __str__(self) -> str:
        return f"{_DASH} {self.name} {base64.b64encode(self.id + self.signature).decode()}\n"


class Note(msgspec.Struct, frozen=True):
    """A signed note: its body (ending in a newline) and its signature lines."""

    body: str
    lines: tuple[Line, ...]

    def __str__(self) -> str:
        return self.body + "\n" + "".join(str(line) for line in self.lines)

    def with_line(self, line: Line) -> "Note":
        """The note with `line` added (a line of the same name and key id replaced)."""
        kept = tuple(x for x in self.lines if (x.name, x.id) != (line.name, line.id))
        return Note(self.body, (*kept, line))


def parse_note(text: str) -> Note:
    """A signed note from its text; BadNote when it is not one."""
    body, blank, signatures = text.rpartition("\n\n")
    if not blank or not signatures.endswith("\n"):
        raise BadNote("not a signed note: no blank line before the signature lines")
    lines = []
    for raw in signatures[:-1].split("\n"):
        dash, _, rest = raw.partition(" ")
        name, _, encoded = rest.rpartition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except ValueError:
            decoded = b""
        if dash != _DASH or not name or len(decoded) < 5:
            raise BadNote(f"not a signature line: {raw[:60]!r}")
        lines.append(Line(name, decoded[:4], decoded[4:]))
    return Note(body + "\n", tuple(lines))


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_body(body: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint's body; BadNote."""
    lines = body.split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
        if not origin or size < 0 or len(root) != 32 or not lines[1].isdigit():
            raise ValueError
    except (ValueError, IndexError):
        raise BadNote("not a checkpoint: origin, tree size and base64 root expected") from None
    return origin, size, root


def sign(key: Ed25519PrivateKey, name: str, body: str) -> Line:
    """The Ed25519 note signature line of `body` by `key` under `name`."""
    return Line(name, verifier_of(key, name).id, key.sign(body.encode()))


def _cosigned(body: str, at: int) -> bytes:
    return f"cosignature/v1\ntime {at}\n".encode() + body.encode()


def cosign(key: Ed25519PrivateKey, name: str, body: str, at: int) -> Line:
    """A tlog-cosignature/v1 line over a checkpoint's `body` at POSIX time `at`."""
    signature = key.sign(_cosigned(body, at))
    return Line(name, verifier_of(key, name, COSIGNATURE).id, at.to_bytes(8, "big") + signature)


def _verifies(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _holds(verifier: Verifier, line: Line, body: str) -> bool:
    if (line.name, line.id) != (verifier.name, verifier.id):
        return False
    if verifier.kind == ED25519:
        return _verifies(verifier.public, line.signature, body.encode())
    at = int.from_bytes(line.signature[:8], "big")
    signed = _cosigned(body, at)
    return len(line.signature) == 72 and _verifies(verifier.public, line.signature[8:], signed)


def signed_by(note: Note, verifiers: Sequence[Verifier]) -> list[Verifier]:
    """The verifiers among `verifiers` whose signature on `note` holds."""
    return [v for v in verifiers if any(_holds(v, line, note.body) for line in note.lines)]


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

    def body(self) -> str:
        """The body the signature covers."""
        return checkpoint_body(parse_vkey(self.key).name, self.size, bytes.fromhex(self.root))

    def note(self) -> Note:
        verifier = parse_vkey(self.key)
        line = Line(verifier.name, verifier.id, bytes.fromhex(self.signature))
        return Note(self.body(), (line,))


def refused(checkpoint: Checkpoint, trusted: Sequence[Verifier]) -> str | None:
    """Why `checkpoint` cannot be trusted (None: its signature holds with one of the
    `trusted` keys). Without any, the key it names is used: that proves only that it was
    not edited since, not who signed it."""
    try:
        public = parse_vkey(checkpoint.key).public
    except BadKey:
        return "it names no key"
    if trusted and all(public != v.public or v.kind != ED25519 for v in trusted):
        return f"signed by key {checkpoint.key.split('+')[1]}, not by a pinned key"
    try:
        signature = bytes.fromhex(checkpoint.signature)
    except ValueError:
        signature = b""
    if not _verifies(public, signature, checkpoint.body().encode()):
        return "its signature does not match its fields"
    return None


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
    checkpoint, or `seconds` after it if the log grew meanwhile (and at the first write).
    InvalidArgument: `entries` below 1, or `seconds` negative or not a finite number."""

    entries: int = 1000
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.entries < 1 or not 0 <= self.seconds < math.inf:
            raise InvalidArgument(
                "a checkpoint cadence needs entries of at least 1 and seconds of at least 0"
            )


_DEFAULT = Cadence()


def cadence_from_env() -> Cadence:
    """`TIDINGS_CHECKPOINT_ENTRIES` and `TIDINGS_CHECKPOINT_SECONDS`, else `Cadence()`;
    BadKey when they are not numbers `Cadence` takes."""
    try:
        return Cadence(
            int(os.environ.get("TIDINGS_CHECKPOINT_ENTRIES", _DEFAULT.entries)),
            float(os.environ.get("TIDINGS_CHECKPOINT_SECONDS", _DEFAULT.seconds)),
        )
    except ValueError:
        raise BadKey(
            "TIDINGS_CHECKPOINT_ENTRIES must be a whole number of at least 1, and "
            "TIDINGS_CHECKPOINT_SECONDS a finite number of at least 0"
        ) from None
