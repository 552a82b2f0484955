"""The log against its Merkle tree: inclusion and consistency proofs from the stored tree
(RFC 9162 2.1.3 and 2.1.4), C2SP entry bundles, and `check`, the log against every signed
or witnessed checkpoint.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import msgspec

from ..ledger.checkpoint import Checkpoint, Verifier, refused
from ..ledger.entries import Tree, entry_bytes, frontier, leaf_hash, root_of, stream_bytes
from ..ledger.merkle import consistency_path, extends, inclusion_path, needed
from ..store.application import Store

__all__ = [
    "ConsistencyProof",
    "EntryProof",
    "InclusionProof",
    "NotProvable",
    "TamperReport",
    "bundle",
    "check",
    "prove",
    "prove_consistency",
]

_PAGE = 10_000
Nodes = Callable[[int, int], bytes]


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


def _nodes(store: Store, proof: Callable[[Nodes], object]) -> Nodes:
    """The stored nodes `proof` reads (one query), looked up (KeyError: not stored)."""
    found = store.recorder.tree.nodes(store.recorder.tree_rows, needed(proof))
    return lambda level, index: found[level, index]


def _stored(store: Store, proof: Callable[[Nodes], list[bytes]]) -> list[bytes]:
    try:
        return proof(_nodes(store, proof))
    except KeyError:
        raise NotProvable("the stored tree lacks nodes of this proof") from None


def _root(store: Store, size: int) -> bytes:
    return root_of(_stored(store, lambda get: [get(*node) for node in frontier(size)]))


def _tree(store: Store) -> int:
    """The stored tree's size; `NotProvable` when there is none."""
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    if not tables.present(rows):
        raise NotProvable("this database has no Merkle tree yet")
    return tables.size(rows)


def prove(store: Store, positions: Sequence[int], size: int | None = None) -> InclusionProof:
    """Inclusion proofs of the entries at `positions` in the tree of `size` leaves (None:
    the latest checkpoint's), with the signed note and each entry's stored fields: a
    client checks them with the verifier key, hashlib and `cryptography` alone.
    `NotProvable` when nothing was signed, or an entry is not in that tree."""
    recorder = store.recorder
    tables, rows, stored = recorder.tree, recorder.tree_rows, _tree(store)
    if size is None:
        checkpoint = tables.latest(rows)
        if checkpoint is None:
            raise NotProvable("no signed checkpoint: the log is signed only with a signing key")
        size = checkpoint.size
    elif size > stored:
        raise NotProvable(f"the tree holds {stored} entries, not {size}")
    else:
        checkpoint = next((c for c in tables.checkpoints_stored(rows) if c.size == size), None)
    proofs = []
    for position in positions:
        index = tables.leaf_at(rows, position)
        if index is None or index >= size:
            raise NotProvable(
                f"the entry at position {position} is newer than the tree of {size} entries"
            )
        path = [p.hex() for p in _stored(store, functools.partial(inclusion_path, index, size))]
        [(_, stream, version, topic, state)] = recorder.scan(position, position)
        proofs.append(
            EntryProof(
                position=position,
                version=version,
                stream=stream,
                topic=topic,
                state=state.hex(),
                index=index,
                path=path,
            )
        )
    note = "" if checkpoint is None else str(checkpoint.note())
    return InclusionProof(checkpoint=note, size=size, root=_root(store, size).hex(), entries=proofs)


def prove_consistency(
    store: Store, old: int, new: int | None, head: Checkpoint | None
) -> ConsistencyProof:
    """The consistency proof from the tree of `old` leaves to that of `new` (None: the
    `head` checkpoint's, else the tree as stored). `NotProvable` past the tree's end."""
    stored = _tree(store)
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
    positions = recorder.tree.positions(recorder.tree_rows, range(first, first + count))
    if len(positions) < count:
        raise NotProvable(f"the tree does not hold leaves {first} to {first + count - 1}")
    wanted = set(positions.values())
    parts = []
    for position, stream, version, topic, state in recorder.scan(min(wanted), max(wanted)):
        if position in wanted:
            entry = entry_bytes(position, stream_bytes(stream), version, topic, state)
            if len(entry) > 0xFFFF:
                raise NotProvable(f"the entry at position {position} is too long for a bundle")
            parts += [len(entry).to_bytes(2, "big"), entry]
    if len(parts) != 2 * count:
        raise NotProvable(f"the log lacks entries of leaves {first} to {first + count - 1}")
    return b"".join(parts)


@dataclass(slots=True)
class TamperReport:
    """What `check` found: entries read, checkpoints whose signature holds, and the
    failures, each a sentence naming a position where it can."""

    entries: int = 0
    signed: int = 0  # stored checkpoints whose signature holds
    witnessed: int = 0  # witnesses whose signature holds and that the log extends
    tree: bool = True  # False: the tree's tables are gone (dropped: a failure)
    failures: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Pass:
    """One walk over the log and the stored tree, leaf by leaf."""

    entries: int = 0
    last_position: int = 0
    first_difference: int | None = None  # leaf index where entry and stored leaf differ
    rebuilt: dict[int, bytes] = field(default_factory=dict)  # size -> root, from the log
    stored: dict[int, bytes] = field(default_factory=dict)  # size -> root, stored leaves
    positions: dict[int, int] = field(default_factory=dict)  # leaf -> stored position
    ends: dict[int, int] = field(default_factory=dict)  # size -> its last entry's position


def _stream(stream: UUID | str) -> bytes:
    """A stream id's bytes as the tree hashes them; an id edited into one that is none
    (SQLite keeps it as text) hashes as its text, so its leaf differs from the signed one."""
    try:
        return stream_bytes(stream)
    except ValueError:
        return str(stream).encode()


def _walk(store: Store, sizes: set[int]) -> _Pass:
    """Rebuild the tree from the log; hash the stored leaves alongside (and on past the
    log's end, up to the largest of `sizes`); keep both roots at each of `sizes`."""
    recorder, tables = store.recorder, store.recorder.tree
    rows = recorder.tree_rows
    walk, rebuilt, stored = _Pass(), Tree(), Tree()

    def take(index: int, row: tuple[int, int, bytes] | None, hashed: bytes | None, at: int) -> None:
        if row is not None:
            stored.append(row[2][:32])
            walk.positions[index] = row[1]
        if hashed is not None:
            rebuilt.append(hashed)
            walk.last_position = at
        differs = row is None or hashed is None or row[2][:32] != hashed or row[1] != at
        if differs and walk.first_difference is None:
            walk.first_difference = index
        if rebuilt.size == index + 1 and rebuilt.size in sizes:
            walk.rebuilt[rebuilt.size] = rebuilt.root()
            walk.ends[rebuilt.size] = at
        if stored.size == index + 1 and stored.size in sizes:
            walk.stored[stored.size] = stored.root()

    for start in range(1, (recorder.max_notification_id() or 0) + 1, _PAGE):
        entries = recorder.scan(start, start + _PAGE - 1)
        if not entries:
            continue
        first = rebuilt.size
        held = {row[0]: row for row in tables.page(rows, first, first + len(entries) - 1)}
        for index, (position, stream, version, topic, state) in enumerate(entries, first):
            hashed = leaf_hash(entry_bytes(position, _stream(stream), version, topic, state))
            take(index, held.get(index), hashed, position)
    # Stored leaves beyond the log's end: what a truncation took away.
    end = min(tables.size(rows), max(sizes, default=0))
    for first in range(rebuilt.size, end, _PAGE):
        for row in tables.page(rows, first, min(first + _PAGE, end) - 1):
            take(row[0], row, None, 0)
    walk.entries = rebuilt.size
    return walk


def _where(walk: _Pass, checkpoint: Checkpoint, signed: Sequence[Checkpoint]) -> str:
    """The first position at which the log differs from what `checkpoint` signed."""
    root = bytes.fromhex(checkpoint.root)
    if walk.stored.get(checkpoint.size) == root:
        # The stored leaves hash to the signed root: they are what was signed.
        first = walk.entries if walk.first_difference is None else walk.first_difference
        position = walk.positions.get(first)
        if position is None:
            return f"the entries after position {walk.last_position} are missing"
        if first >= walk.entries:
            return f"the entries from position {position} on are missing"
        return f"the first entry that differs is at position {position}"
    if walk.entries < checkpoint.size:
        return f"the entries after position {walk.last_position} are missing"
    # The signed leaves are gone: narrow it down between signed checkpoints.
    how = (
        "the stored tree agrees with the log: a fork (rolled back and written anew) or a "
        "rewrite with its tree recomputed"
        if walk.stored.get(checkpoint.size) == walk.rebuilt.get(checkpoint.size)
        else "the stored tree was rewritten too"
    )
    after, upto = 0, checkpoint.position or walk.ends.get(checkpoint.size, 0)
    for earlier in signed:
        if earlier.size >= checkpoint.size:
            break
        if walk.rebuilt.get(earlier.size) != bytes.fromhex(earlier.root):
            upto = earlier.position
            break
        after = earlier.position
    return (
        f"the first entry that differs is after position {after}, at or before position "
        f"{upto} ({how})"
    )


def _differs(walk: _Pass, checkpoint: Checkpoint, signed: Sequence[Checkpoint]) -> str | None:
    """Why the log does not hold what `checkpoint` signed (None: it does)."""
    if walk.entries < checkpoint.size:
        upto = f" up to position {checkpoint.position}" if checkpoint.position else ""
        return (
            f"the log was truncated: it holds {walk.entries} entries, {checkpoint.size}"
            f"{upto} were signed; " + _where(walk, checkpoint, signed)
        )
    if walk.rebuilt.get(checkpoint.size) != bytes.fromhex(checkpoint.root):
        return "the log differs from what was signed; " + _where(walk, checkpoint, signed)
    return None


def _extends(store: Store, witness: Checkpoint, head: Checkpoint | None, walk: _Pass) -> bool:
    """A consistency proof from `witness` to `head` (or the log as it is), from the stored
    tree, checked as RFC 9162 says."""
    old, old_root = witness.size, bytes.fromhex(witness.root)
    new = head.size if head is not None else walk.entries
    new_root = bytes.fromhex(head.root) if head is not None else walk.rebuilt.get(new, b"")
    if new <= old:
        return new == old and new_root == old_root
    proof = functools.partial(consistency_path, old, new)
    return extends(old, new, old_root, new_root, _nodes(store, proof))


def check(
    store: Store, witnesses: Sequence[tuple[str, Checkpoint]], trusted: Sequence[Verifier]
) -> TamperReport:
    """Check the stored checkpoints' signatures, and the log against every checkpoint,
    stored or witnessed (named in `witnesses`), whose signature holds with one of the
    `trusted` keys (none: the key each names): the tree rebuilt from the log (never the
    stored one) must have each one's root at its size, and a consistency proof must lead
    from a witnessed one to the newest signed one. A failure names the first position
    that differs: from the stored leaves when they still hash to the signed root, else
    between the last signed checkpoint that holds and the first that does not."""
    report = TamperReport()
    tables, rows = store.recorder.tree, store.recorder.tree_rows
    if not tables.present(rows):
        # Every tidings database has them from its first write: without them the log can
        # be rewritten whole, chain included, with nothing left to contradict it.
        report.tree = False
        report.failures.append(
            "the Merkle tree's tables are missing: the log cannot be checked against "
            "the checkpoints signed over it"
        )
        report.failures += [
            f"witness {name}: this database has no Merkle tree" for name, _ in witnesses
        ]
        return report
    signed: list[Checkpoint] = []
    for stored in tables.checkpoints_stored(rows):
        why = refused(stored, trusted)
        if why is None:
            signed.append(stored)
        else:
            report.failures.append(
                f"stored checkpoint of {stored.size} entries (position {stored.position}) "
                f"refused: {why}"
            )
    good: list[tuple[str, Checkpoint]] = []
    for name, witness in witnesses:
        why = refused(witness, trusted)
        if why is None:
            good.append((name, witness))
        else:
            report.failures.append(f"witness {name} refused: {why}")
    sizes = {c.size for c in signed} | {w.size for _, w in good}
    walk = _walk(store, sizes | {0})
    report.entries, report.signed = walk.entries, len(signed)
    for name, kept in good:
        at = walk.ends.get(kept.size) or walk.positions.get(kept.size - 1, 0)
        witness = kept if kept.position else msgspec.structs.replace(kept, position=at)
        why = _differs(walk, witness, signed)
        head = next((c for c in reversed(signed) if c.size >= witness.size), None)
        if why is None and not _extends(store, witness, head, walk):
            why = "no consistency proof leads from it to the newest signed checkpoint"
        if why is None:
            report.witnessed += 1
        else:
            report.failures.append(f"{why} (checked against the witnessed checkpoint {name})")
    for stored in signed:
        why = _differs(walk, stored, signed)
        if why is not None:
            report.failures.append(
                f"signed checkpoint of {stored.size} entries (position {stored.position}): {why}"
            )
            break  # the later ones differ for the same reason
    return report
