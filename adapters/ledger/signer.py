"""The signer of checkpoints. It keeps its memory in a file beside the private key
(`<key file>.state`, JSON): the log's origin and the last checkpoint it signed, pending
until it sees it stored (one whose transaction rolled back is forgotten). It refuses
(`Refused`; logged, counted, shown by `/readyz`), for good, a tree that an RFC 9162
consistency proof does not show to extend what it signed last.
"""

import functools
import logging
import os
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import TidingsError
from ..metrics import CHECKPOINTS_REFUSED
from .checkpoint import (
    Cadence,
    Checkpoint,
    Note,
    Verifier,
    cadence_from_env,
    checkpoint_body,
    sign,
    verifier_of,
)
from .keys import SIGNING_KEY_ENV, BadKey, load_key, new_key, replace_file
from .merkle import verify_consistency

__all__ = [
    "Prover",
    "Refused",
    "Rotation",
    "Signer",
    "memory_file",
    "new_signing_key",
    "rotate",
    "signer_for",
    "signing_refusal",
    "warn_unsigned",
]

_log = logging.getLogger("tidings.ledger")
Prover = Callable[[int], list[bytes]]
_DEFAULT = Cadence()


@functools.lru_cache(maxsize=8)
def _timestamp(iso: str) -> float:
    """Seconds since the epoch of a checkpoint's time (asked at every write)."""
    return datetime.fromisoformat(iso).timestamp()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Refused(TidingsError):
    """The signer will not sign: the log does not extend what its key signed last."""


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    """A key rotation: the log's signing key `old` gave way to `new` (verifier keys)."""

    old: str
    new: str
    time: str  # ISO 8601, UTC


class _Memory(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    signed: Checkpoint | None = None
    pending: Checkpoint | None = None
    rotations: tuple[Rotation, ...] = ()


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
        self._memory = kept or _Memory(origin=self.origin)
        if kept is None:
            self._remember(self._memory)
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
        signed = pending if stored else self._memory.signed
        # Not fsynced: it runs in the next write's transaction, under the log's write
        # lock, and a memory lost in a crash still holds `pending`, which the next
        # reader settles against the database again (docs/decisions.md).
        memory = msgspec.structs.replace(self._memory, signed=signed, pending=None)
        self._remember(memory, durable=False)

    def _remember(self, memory: _Memory, *, durable: bool = True) -> None:
        if self._path is not None:
            replace_file(self._path, msgspec.json.encode(memory), durable=durable)
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
        """A checkpoint of the tree of `size` leaves, `root`, last leaf at log `position`;
        `prove(old)`: the consistency path from `old` leaves (KeyError: nodes missing),
        `latest`: the largest checkpoint stored. Raises `Refused` as `check` does."""
        self.check(size, root, prove, latest)
        last = self._memory.signed
        line = sign(self._key, self.origin, checkpoint_body(self.origin, size, root))
        checkpoint = Checkpoint(size=size, position=position, root=root.hex(),
                                time=_iso(self.clock()), key=str(self.verifier),
                                signature=line.signature.hex())  # fmt: skip
        self._remember(msgspec.structs.replace(self._memory, signed=last, pending=checkpoint))
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


def rotate(old_file: Path, new_file: Path, clock: Callable[[], float] = time.time) -> Note:
    """Hand the log from the key in `old_file` to the one in `new_file`, which takes over
    the old one's origin and memory; the rotation as a note both keys signed, for
    auditors to pin the new key on the old one's word. BadKey, nothing written, for the
    old key again (the same file or a copy) or a key that signed already."""
    old = Signer(load_key(old_file), memory=memory_file(old_file))
    new_key = load_key(new_file)
    new_verifier = str(verifier_of(new_key, old.origin))
    if new_verifier == str(old.verifier):  # the same file, or a copy of the key
        raise BadKey(f"{new_file} holds the key of {old_file}: rotate to a new key")
    kept = _read_memory(memory_file(new_file))
    if kept is not None and (kept.signed or kept.pending):
        raise BadKey(f"{new_file} has signed checkpoints already: rotate to a new key")
    record = Rotation(old=str(old.verifier), new=new_verifier, time=_iso(clock()))
    memory = old._memory
    rotated = _Memory(origin=old.origin, signed=memory.signed,
                      rotations=(*memory.rotations, record))  # fmt: skip
    replace_file(memory_file(new_file), msgspec.json.encode(rotated))
    body = (
        f"tidings key rotation\n{old.origin}\nold {record.old}\nnew {record.new}\n"
        f"time {record.time}\n"
    )
    lines = (sign(old._key, old.origin, body), sign(new_key, old.origin, body))
    return Note(body, lines)


def new_signing_key(path: Path, origin: str | None) -> Verifier:
    """A new private key at `path` (0600) and its signer's memory beside it, naming the
    log `origin`; returns the verifier key auditors pin. BadKey."""
    new_key(path)
    try:
        signer = Signer(load_key(path), origin=origin, memory=memory_file(path))
    except BadKey:  # a refused origin leaves no key file behind
        path.unlink()
        raise
    return signer.verifier


def warn_unsigned(signer: "Signer | None") -> None:
    """At a server's start: a warning logged when it signs nothing (no signing key)."""
    if signer is None:
        _log.warning(
            "no signing key (%s): the log's checkpoints are not signed, and a rewritten "
            "past cannot be told from the true one",
            SIGNING_KEY_ENV,
        )


def signer_for(key_file: str | None = None, cadence: Cadence | None = None) -> Signer | None:
    """The signer of `key_file`, by default `TIDINGS_SIGNING_KEY`'s (None: no key), at
    `cadence`, by default `cadence_from_env()`. BadKey (`keys.load_key`)."""
    path = key_file or os.environ.get(SIGNING_KEY_ENV)
    if not path:
        return None
    cadence = cadence or cadence_from_env()
    return Signer(load_key(path), cadence, memory=memory_file(path))
