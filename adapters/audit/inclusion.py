"""Inclusion proofs: this log entry is in the tree a signed checkpoint vouches for.

A proof carries the checkpoint, and for each entry its stored fields (what its leaf
hashes, `merkle.entry_bytes`), its leaf index and its RFC 9162 audit path. A client
checks it with the public key, hashlib and `cryptography` alone (the README shows how):
that its notification was recorded, and not altered since the checkpoint.
"""

from collections.abc import Sequence

import msgspec

from ..ledger.checkpoint import Checkpoint
from ..ledger.merkle import inclusion_path, needed
from ..store.application import Store

__all__ = ["EntryProof", "InclusionProof", "NotProvable", "prove"]


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
    checkpoint: Checkpoint
    entries: list[EntryProof]


class NotProvable(Exception):
    """Nothing to prove against: no signed checkpoint, or it does not reach an entry."""


def _path(store: Store, index: int, size: int, position: int) -> list[bytes]:
    """The audit path of a leaf, from the stored nodes (read in one query)."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    found = tables.nodes(rows, needed(lambda get: inclusion_path(index, size, get)))
    try:
        return inclusion_path(index, size, lambda level, i: found[level, i])
    except KeyError:
        raise NotProvable(f"the stored tree lacks nodes of position {position}") from None


def prove(store: Store, positions: Sequence[int]) -> InclusionProof:
    """Inclusion proofs of the entries at `positions` against the latest checkpoint.

    Raises `NotProvable` when nothing was signed, or an entry is newer than the latest
    checkpoint (sign one first: `tidings checkpoint` with the key)."""
    recorder = store.recorder
    tables, rows = recorder.tree, recorder.tree_rows
    checkpoint = tables.latest(rows) if tables.present(rows) else None
    if checkpoint is None:
        raise NotProvable("no signed checkpoint: the log is signed only with a signing key")
    proofs = []
    for position in positions:
        index = tables.leaf_at(rows, position)
        if index is None or index >= checkpoint.size:
            raise NotProvable(
                f"the entry at position {position} is newer than the latest signed "
                f"checkpoint (position {checkpoint.position})"
            )
        path = _path(store, index, checkpoint.size, position)
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
    return InclusionProof(checkpoint=checkpoint, entries=proofs)
