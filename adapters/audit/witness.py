"""Does the log still hold what was signed? Checkpoints and witnesses against the log.

The hash chain catches a careless editor; anyone who can write the database can
recompute it. A signed checkpoint cannot be recomputed without the private key, which
the database never holds, and a witness (a checkpoint an auditor kept elsewhere) cannot
be deleted with the rows it covers. So `check` rebuilds the Merkle tree from the log
entries themselves, never trusting the stored tree, and asks of every checkpoint,
stored or witnessed, whose signature holds:

- does the log still hold that many entries (else it was truncated below it)?
- is the root of its first `size` entries the signed root (else one of them changed)?
- for a witness: does a consistency proof (RFC 9162) from it to the newest signed
  checkpoint (or to the log as it is) hold, i.e. does the log extend it?

Where it does not, the first log position that differs is named: the stored tree's
leaves are compared with the entries rebuilt, and they count as evidence only if they
hash to the signed root themselves (a forger who left the tree table alone). If the
tree table was rewritten too, the difference is narrowed to the stretch between two
signed checkpoints, the last that holds and the first that does not.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import msgspec

from ..ledger.checkpoint import Checkpoint, refused
from ..ledger.entries import Tree, entry_bytes, leaf_hash, stream_bytes
from ..ledger.merkle import consistency_path, needed, verify_consistency
from ..ledger.note import Verifier
from ..store.application import Store

__all__ = ["TamperReport", "check"]

_PAGE = 10_000


@dataclass(slots=True)
class TamperReport:
    """What `check` found: entries read, checkpoints whose signature holds, and the
    failures, each a sentence naming a position where it can."""

    entries: int = 0
    signed: int = 0  # stored checkpoints whose signature holds
    witnessed: int = 0  # witnesses whose signature holds and that the log extends
    tree: bool = True  # False: a database from before the tree, opened read only
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
    follows = walk.stored.get(checkpoint.size) == walk.rebuilt.get(checkpoint.size)
    after = 0
    for earlier in signed:
        if earlier.size >= checkpoint.size:
            break
        if walk.rebuilt.get(earlier.size) == bytes.fromhex(earlier.root):
            after = earlier.position
        else:
            return _between(after, earlier.position, follows)
    return _between(after, checkpoint.position or walk.ends.get(checkpoint.size, 0), follows)


def _between(after: int, upto: int, follows: bool) -> str:
    how = (
        "the stored tree agrees with the log: a fork (rolled back and written anew) or a "
        "rewrite with its tree recomputed"
        if follows
        else "the stored tree was rewritten too"
    )
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
    rows, tables = store.recorder.tree_rows, store.recorder.tree
    new = head.size if head is not None else walk.entries
    new_root = bytes.fromhex(head.root) if head is not None else walk.rebuilt.get(new, b"")
    if new < witness.size:
        return False
    if new == witness.size:
        return new_root == bytes.fromhex(witness.root)

    found = tables.nodes(rows, needed(lambda get: consistency_path(witness.size, new, get)))
    try:
        path = consistency_path(witness.size, new, lambda level, index: found[level, index])
    except KeyError:
        return False
    return verify_consistency(witness.size, new, bytes.fromhex(witness.root), new_root, path)


def check(
    store: Store, witnesses: Sequence[tuple[str, Checkpoint]], trusted: Sequence[Verifier]
) -> TamperReport:
    """Check the stored checkpoints' signatures, and the log against every checkpoint,
    stored or witnessed (named in `witnesses`), whose signature holds with one of the
    `trusted` keys (none: the key each names)."""
    report = TamperReport()
    if not store.recorder.tree.present(store.recorder.tree_rows):
        report.tree = False
        report.failures += [
            f"witness {name}: this database has no Merkle tree" for name, _ in witnesses
        ]
        return report
    signed: list[Checkpoint] = []
    for stored in store.recorder.tree.checkpoints_stored(store.recorder.tree_rows):
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
