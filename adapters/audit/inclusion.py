"""Inclusion and consistency proofs, from the stored tree (RFC 9162 2.1.3 and 2.1.4).

An inclusion proof carries the signed checkpoint (a C2SP note) of the tree it proves
against, and for each entry its stored fields (what its leaf hashes,
`merkle.entry_bytes`), its leaf index and its audit path. A client checks it with the
verifier key, hashlib and `cryptography` alone (the README shows how): that its
notification was recorded, and not altered since the checkpoint. A consistency proof
shows that a tree of one size is a prefix of a larger one: what a witness checks before
it cosigns.
"""

import functools
from collections.abc import Callable, Sequence

import msgspec

from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import entry_bytes, frontier, root_of, stream_bytes
from ..ledger.merkle import consistency_path, inclusion_path, needed
from ..store.application import Store

__all__ = [
    "ConsistencyProof",
    "EntryProof",
    "InclusionProof",
    "NotProvable",
    "bundle",
    "prove",
    "prove_consistency",
]


class EntryProof(msgspec.Struct, frozen=True, kw_only=True):
    """One log entry as stored (binary fields in hex) and its audit path."""

    position: int
    version: int
    stream: str
    topic: str
    state: str
    index: int  # the entry's leaf in the tree
    path: list[str]


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """Entries of the tree of `size` leaves and `root` (hex); `checkpoint`: the signed
    note of that tree ("" when none was stored at that size)."""

    checkpoint: str
    size: int
    root: str
    entries: list[EntryProof]


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    """The tree of `new_size` leaves extends that of `old_size` (roots in hex)."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]


class NotProvable(Exception):
    """Nothing to prove against: no signed checkpoint, or it does not reach an entry."""


def _stored(
    store: Store, proof: Callable[[Callable[[int, int], bytes]], list[bytes]]
) -> list[bytes]:
    """A proof computed from the stored nodes it needs (read in one query)."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    found = tables.nodes(rows, needed(proof))
    try:
        return proof(lambda level, i: found[level, i])
    except KeyError:
        raise NotProvable("the stored tree lacks nodes of this proof") from None


def _root(store: Store, size: int) -> bytes:
    return root_of(_stored(store, lambda get: [get(*node) for node in frontier(size)]))


def _checkpoint(store: Store, size: int | None) -> tuple[Checkpoint | None, int]:
    """The stored checkpoint of `size` leaves (None: the latest) and the size."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    if not tables.present(rows):
        raise NotProvable("this database has no Merkle tree yet")
    if size is None:
        latest = tables.latest(rows)
        if latest is None:
            raise NotProvable("no signed checkpoint: the log is signed only with a signing key")
        return latest, latest.size
    if size > tables.size(rows):
        raise NotProvable(f"the tree holds {tables.size(rows)} entries, not {size}")
    return next((c for c in tables.checkpoints_stored(rows) if c.size == size), None), size


def prove(store: Store, positions: Sequence[int], size: int | None = None) -> InclusionProof:
    """Inclusion proofs of the entries at `positions` in the tree of `size` leaves (None:
    the latest checkpoint's).

    Raises `NotProvable` when nothing was signed, or an entry is not in that tree (sign
    one first: `tidings checkpoint` with the key)."""
    recorder = store.recorder
    tables, rows = recorder.tree, recorder.tree_rows
    checkpoint, size = _checkpoint(store, size)
    proofs = []
    for position in positions:
        index = tables.leaf_at(rows, position)
        if index is None or index >= size:
            raise NotProvable(
                f"the entry at position {position} is newer than the tree of {size} entries"
            )
        path = _stored(store, functools.partial(inclusion_path, index, size))
        [(_, stream, version, topic, state)] = recorder.scan(position, position)
        proofs.append(
            EntryProof(
                position=position,
                version=version,
                stream=stream,
                topic=topic,
                state=state.hex(),
                index=index,
                path=[p.hex() for p in path],
            )
        )
    note = "" if checkpoint is None else str(checkpoint.note())
    return InclusionProof(checkpoint=note, size=size, root=_root(store, size).hex(), entries=proofs)


def prove_consistency(
    store: Store, old: int, new: int | None, head: Checkpoint | None
) -> ConsistencyProof:
    """The consistency proof from the tree of `old` leaves to that of `new` (None: the
    `head` checkpoint's, else the tree as stored). `NotProvable` past the tree's end."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    if not tables.present(rows):
        raise NotProvable("this database has no Merkle tree yet")
    stored = tables.size(rows)
    new = new if new is not None else head.size if head is not None else stored
    if not 0 <= old <= new <= stored:
        raise NotProvable(f"sizes must satisfy 0 <= OLD <= NEW <= {stored} (the tree's size)")
    path = _stored(store, lambda get: consistency_path(old, new, get)) if 0 < old < new else []
    return ConsistencyProof(
        old_size=old,
        new_size=new,
        old_root=_root(store, old).hex(),
        new_root=_root(store, new).hex(),
        path=[p.hex() for p in path],
    )


def bundle(store: Store, first: int, count: int) -> bytes:
    """The C2SP tlog-tiles entry bundle of leaves [first, first + count): each entry's
    canonical bytes after their length (big-endian uint16). `NotProvable` when the tree
    does not hold them all, or an entry is longer than a bundle can say."""
    recorder = store.recorder
    tables, rows = recorder.tree, recorder.tree_rows
    positions = tables.positions(rows, range(first, first + count))
    if len(positions) < count:
        raise NotProvable(f"the tree does not hold leaves {first} to {first + count - 1}")
    wanted = set(positions.values())
    low, high = min(wanted), max(wanted)
    parts = []
    for position, stream, version, topic, state in recorder.scan(low, high):
        if position in wanted:
            entry = entry_bytes(position, stream_bytes(stream), version, topic, state)
            if len(entry) > 0xFFFF:
                raise NotProvable(f"the entry at position {position} is too long for a bundle")
            parts += [len(entry).to_bytes(2, "big"), entry]
    if len(parts) != 2 * count:
        raise NotProvable(f"the log lacks entries of leaves {first} to {first + count - 1}")
    return b"".join(parts)
