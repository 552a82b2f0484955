"""Signed checkpoints, as C2SP `tlog-checkpoint` notes (`note`), and the signer that
refuses to sign a tree that does not extend the last one it signed.

The store appends one inside the insert transaction when one is due (`Cadence`), into
its own table `tidings_checkpoints` (size, log position of the last leaf, root, time,
key, signature), beside the log rather than in it: a checkpoint is about the log, and an
event would be a leaf of the tree it signs. The note is rebuilt from the row: its key
column holds the signer's verifier key, whose name is the log's origin. A row whose key
is 32 bytes is an old checkpoint, whose signature covers five lines
("tidings checkpoint v1", size, position, root in hex, time): read and checked still.

The signer keeps its own memory outside the database, in a file beside the private key
(`<key file>.state`, JSON, replaced atomically): the log's origin and the last checkpoint
it signed. Before signing a larger tree it checks an RFC 9162 consistency proof from
that checkpoint to the new tree, from the stored nodes, and refuses (`Refused`; logged,
counted, shown by `/readyz`) when the log does not extend it: a truncation, a rollback
or a rewrite below what the key signed is never signed again by it. A checkpoint is
remembered as pending until the signer sees it stored (its transaction committed);
one whose transaction rolled back is forgotten.
"""

import functools
import logging
import os
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import TidingsError
from ..metrics import CHECKPOINTS_REFUSED
from .keys import SIGNING_KEY_ENV, BadKey, load_key, new_key, public_key
from .merkle import verify_consistency
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
    sign,
    verifier_of,
)

__all__ = [
    "Cadence",
    "Checkpoint",
    "Refused",
    "Signer",
    "cadence_from_env",
    "from_note",
    "memory_file",
    "new_signing_key",
    "refused",
    "signer_for",
    "signing_refusal",
    "trusted_keys",
    "warn_unsigned",
]

_log = logging.getLogger("tidings.ledger")
Prover = Callable[[int], list[bytes]]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed checkpoint, as stored. `key`: the signer's verifier key (note form), or
    64 hex digits for an old checkpoint; `position`: the log position of the tree's last
    leaf (0 where not known: a note read from a file says nothing of positions)."""

    size: int
    position: int
    root: str  # hex
    time: str  # ISO 8601, UTC
    key: str
    signature: str  # hex

    @property
    def legacy(self) -> bool:
        return "+" not in self.key

    @property
    def public(self) -> bytes:
        if self.legacy:
            return bytes.fromhex(self.key)
        public: bytes = parse_vkey(self.key).public
        return public

    @property
    def origin(self) -> str:
        return "" if self.legacy else parse_vkey(self.key).name

    def body(self) -> bytes:
        """The bytes the signature covers."""
        if self.legacy:
            lines = ("tidings checkpoint v1", self.size, self.position, self.root, self.time)
            return "".join(f"{line}\n" for line in lines).encode()
        return checkpoint_body(self.origin, self.size, bytes.fromhex(self.root)).encode()

    def note(self) -> Note:
        """The checkpoint as a signed note (not for an old checkpoint)."""
        verifier = parse_vkey(self.key)
        line = Line(verifier.name, verifier.id, bytes.fromhex(self.signature))
        return Note(self.body().decode(), (line,))


def trusted_keys(texts: Sequence[str]) -> list[Verifier]:
    """Pinned keys, each a verifier key or an old public key in hex; BadKey."""
    keys = []
    for text in texts:
        if "+" in text:
            keys.append(parse_vkey(text))
        else:
            public_key(text)  # BadKey unless 64 hex digits
            keys.append(Verifier("", ED25519, bytes.fromhex(text.strip())))
    return keys


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
        public_key(public.hex()).verify(bytes.fromhex(checkpoint.signature), checkpoint.body())
    except (BadKey, InvalidSignature, ValueError):
        return "its signature does not match its fields"
    return None


def _short(checkpoint: Checkpoint) -> str:
    return checkpoint.key[:16] + "..." if checkpoint.legacy else checkpoint.key.split("+")[1]


def from_note(text: str, trusted: Sequence[Verifier]) -> Checkpoint:
    """The checkpoint a note holds, with the signature of the first pinned key that
    signed it (`refused` then checks it). BadNote when it is no checkpoint, or no
    pinned key's line is on it."""
    note = parse_note(text)
    origin, size, root = parse_body(note.body)
    if all(v.name and v.name != origin for v in trusted):
        raise BadNote(f"a checkpoint of the log {origin!r}, not of a pinned key's log")
    for verifier in trusted:
        name = verifier.name or origin  # an old hex key: under the origin's name
        named = Verifier(name, ED25519, verifier.public)
        for line in note.lines:
            if (line.name, line.id) == (named.name, named.id):
                return Checkpoint(size=size, position=0, root=root.hex(), time="",
                                  key=str(named), signature=line.signature.hex())  # fmt: skip
    ids = ", ".join(f"{line.name}+{line.id.hex()}" for line in note.lines)
    raise BadNote(f"signed by no pinned key (it carries {ids or 'no signature'})")


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


class Refused(TidingsError):
    """The signer will not sign: the log does not extend what its key signed last."""


class _Memory(msgspec.Struct, frozen=True, kw_only=True):
    """What the signer keeps beside its key."""

    origin: str
    signed: Checkpoint | None = None
    pending: Checkpoint | None = None


def memory_file(key_file: str | Path) -> Path:
    """Where the signer of `key_file` keeps its memory."""
    return Path(f"{key_file}.state")


def _read_memory(path: Path) -> _Memory | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=_Memory)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError) as error:
        raise BadKey(f"cannot read the signer's memory {path}: {error}") from None


def _write_memory(path: Path, memory: _Memory) -> None:
    """Replace the file atomically: a crash leaves the old memory or the new, whole."""
    fd, temporary = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(msgspec.json.encode(memory))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_REFUSING: "weakref.WeakSet[Signer]" = weakref.WeakSet()  # for /readyz


def signing_refusal() -> str | None:
    """Why a signer of this process refuses to sign (None: none does)."""
    return next((s.refusal for s in list(_REFUSING) if s.refusal is not None), None)


class Signer:
    """Signs checkpoints with a private key held in memory only, remembering the last
    it signed (in `memory`, a file, or this object alone when None)."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        cadence: Cadence = _DEFAULT,
        clock: Callable[[], float] = time.time,
        *,
        origin: str | None = None,
        memory: Path | None = None,
    ):
        self._key = key
        self._path = memory
        kept = _read_memory(memory) if memory is not None else None
        default = "tidings/" + verifier_of(key, "tidings").public.hex()[:16]
        self.origin = origin or (kept.origin if kept is not None else default)
        self.verifier = verifier_of(key, self.origin)
        self.public = self.verifier.public.hex()
        self._memory = kept if kept is not None else _Memory(origin=self.origin)
        if memory is not None and kept is None:
            _write_memory(memory, self._memory)
        self.cadence = cadence
        self.clock = clock
        self.refusal: str | None = None  # why it refused to sign, for good

    @property
    def pending(self) -> bool:
        return self._memory.pending is not None

    def due(self, last: Checkpoint | None, size: int) -> bool:
        if self.refusal is not None:
            return False  # refused for good: the operator looks at the log first
        if last is None:
            return size > 0
        grown = size - last.size
        if grown >= self.cadence.entries:
            return True
        return grown > 0 and self.clock() - _timestamp(last.time) >= self.cadence.seconds

    def settle(self, latest: Checkpoint | None) -> None:
        """Learn whether the checkpoint signed last was stored (`latest`: the largest
        the database holds, read under the write lock): remembered if so, else (its
        transaction rolled back) forgotten."""
        if self._path is not None:
            self._memory = _read_memory(self._path) or self._memory  # other processes
        pending = self._memory.pending
        if pending is None:
            return
        stored = latest is not None and latest.size >= pending.size
        memory = _Memory(origin=self.origin, signed=pending if stored else self._memory.signed)
        self._remember(memory)

    def _remember(self, memory: _Memory) -> None:
        if self._path is not None:
            _write_memory(self._path, memory)
        self._memory = memory

    def check(self, size: int, root: bytes, prove: Prover, latest: Checkpoint | None) -> None:
        """Raise `Refused` (and keep refusing) unless the tree of `size` leaves and
        `root` extends the last checkpoint this key signed (`sign` says the rest)."""
        self.settle(latest)
        last = self._memory.signed
        why = None if last is None else _extends(last, size, root, prove)
        if why is not None:
            self.refusal = why
            _REFUSING.add(self)
            CHECKPOINTS_REFUSED.inc()
            _log.error("refused to sign the log: %s", why)
            raise Refused(why)

    def sign(
        self, size: int, position: int, root: bytes, prove: Prover, latest: Checkpoint | None
    ) -> Checkpoint:
        """A checkpoint of the tree of `size` leaves and `root`, whose last leaf is at log
        `position`; `prove(old)` is the consistency path from the tree's first `old`
        leaves to it, from the stored nodes (KeyError: some are missing), `latest` the
        largest checkpoint stored. Raises `Refused` (and keeps refusing) when the
        tree does not extend the last checkpoint this key signed."""
        self.check(size, root, prove, latest)
        last = self._memory.signed
        line = sign(self._key, self.origin, checkpoint_body(self.origin, size, root))
        checkpoint = Checkpoint(size=size, position=position, root=root.hex(),
                                time=_iso(self.clock()), key=str(self.verifier),
                                signature=line.signature.hex())  # fmt: skip
        self._remember(_Memory(origin=self.origin, signed=last, pending=checkpoint))
        return checkpoint


def _extends(last: Checkpoint, size: int, root: bytes, prove: Prover) -> str | None:
    """Why the tree (`size`, `root`) does not extend `last` (None: it does)."""
    old = f"the {last.size} entries this key signed last (root {last.root[:16]}...)"
    if size < last.size:
        return f"the log's tree holds {size} entries, fewer than {old}: it was truncated"
    try:
        path = prove(last.size) if size > last.size else []
    except KeyError:
        return f"the stored tree lacks the nodes that prove it extends {old}"
    if not verify_consistency(last.size, size, bytes.fromhex(last.root), root, path):
        return (
            f"the log's tree of {size} entries does not extend {old}: entries it signed "
            "were changed, or the log was rolled back and written anew"
        )
    return None


def new_signing_key(path: Path, origin: str | None) -> Verifier:
    """A new private key at `path` (0600) and its signer's memory beside it, naming the
    log `origin`; returns the verifier key auditors pin. BadKey."""
    new_key(path)
    signer = Signer(load_key(path), origin=origin, memory=memory_file(path))
    return signer.verifier


def warn_unsigned(signer: "Signer | None") -> None:
    """At a server's start: a warning logged when it signs nothing (no signing key)."""
    if signer is None:
        _log.warning(
            "no signing key (%s): the log's checkpoints are not signed, and a rewritten "
            "past cannot be told from the true one",
            SIGNING_KEY_ENV,
        )


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


def signer_for(key_file: str | None = None, cadence: Cadence | None = None) -> Signer | None:
    """The signer of a key file, by default the one `TIDINGS_SIGNING_KEY` names (None:
    no key, nothing signed), at `cadence`, by default `TIDINGS_CHECKPOINT_ENTRIES` and
    `TIDINGS_CHECKPOINT_SECONDS` or else `Cadence()`. Raises `BadKey`, also for a key
    file others than its owner may read (`keys.load_key`)."""
    path = key_file or os.environ.get(SIGNING_KEY_ENV)
    if not path:
        return None
    cadence = cadence or cadence_from_env()
    key = load_key(path)
    return Signer(key, cadence, memory=memory_file(path))
