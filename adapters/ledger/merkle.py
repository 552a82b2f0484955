"""The Merkle tree over the notification log, hashed as RFC 9162 (section 2.1) says.

A log entry is a leaf. Its canonical bytes, which any outside tool can rebuild from a
stored row, are

    position (8 bytes, big-endian) || version (8 bytes, big-endian)
    || stream id (the 16 bytes of the UUID) || topic (UTF-8) || 0x00 || state

where `state` is the stored event as written (msgspec MessagePack; the event's own time
is inside it). The chain's `link` hashes the same bytes after the previous digest.
Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right), the
empty tree's root SHA-256(""), and a tree of n leaves splits at the largest power of two
below n: exactly RFC 9162's MTH, so CT tools check our roots and proofs.

Written incrementally: appending a leaf completes the perfect subtrees it closes (itself,
then each parent whose right child it finishes), and only those are stored, once. A
perfect subtree is a `Node` (level, index): the 2**level leaves from index * 2**level.
Any root, inclusion proof or consistency proof is then a few stored nodes combined
(`subtree_hash`), O(log n) of them. The functions here are pure; `nodes` is how a caller
looks a stored node up.
"""

import hashlib
import struct
from collections.abc import Callable, Iterable

__all__ = [
    "EMPTY_ROOT",
    "Node",
    "Tree",
    "consistency_path",
    "entry_bytes",
    "frontier",
    "inclusion_path",
    "leaf_hash",
    "needed",
    "node_hash",
    "root_of",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
Node = tuple[int, int]  # (level, index)
Nodes = Callable[[int, int], bytes]


def entry_bytes(position: int, stream: bytes, version: int, topic: str, state: bytes) -> bytes:
    """The canonical bytes of one log entry (see the module's docstring)."""
    return struct.pack(">QQ", position, version) + stream + topic.encode() + b"\0" + state


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\0" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\1" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def frontier(size: int) -> list[Node]:
    """The perfect subtrees a tree of `size` leaves is made of, largest (leftmost) first."""
    nodes, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def root_of(hashes: list[bytes]) -> bytes:
    """The root of a tree from its frontier's hashes (largest first)."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class Tree:
    """A tree kept as its frontier only: appends and roots, no proofs. What the store's
    insert and `verify` run; O(log n) memory."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes = list(hashes)  # the frontier's, largest first

    def append(self, leaf: bytes) -> bytes:
        """Add a leaf hash; returns the nodes it completes, lowest first, 32 bytes each:
        the leaf, then each parent whose right child it finished (what the store keeps,
        as one value: it runs in every insert, so it builds no list to join)."""
        hashes, node, size = self.hashes, leaf, self.size
        completed = leaf
        while size & 1:
            node = node_hash(hashes.pop(), node)
            completed += node
            size >>= 1
        hashes.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return root_of(self.hashes)


def subtree_hash(start: int, end: int, nodes: Nodes) -> bytes:
    """MTH of leaves [start, end), from perfect subtrees: `start` must be a multiple of
    the largest power of two below the width, as every range of RFC 9162's recursions is."""
    width = end - start
    if width & (width - 1) == 0:
        level = width.bit_length() - 1
        if start % width:
            raise ValueError(f"leaves [{start}, {end}) are not a subtree")
        return nodes(level, start >> level)
    k = _split(width)
    return node_hash(subtree_hash(start, start + k, nodes), subtree_hash(start + k, end, nodes))


def inclusion_path(index: int, size: int, nodes: Nodes) -> list[bytes]:
    """RFC 9162 PATH(index, D[0:size]): the audit path of one leaf, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(start + k, end, nodes))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, nodes))
            start += k
    path.reverse()
    return path


def consistency_path(old: int, new: int, nodes: Nodes) -> list[bytes]:
    """RFC 9162 PROOF(old, D[0:new]): what shows the tree of `new` leaves extends the one
    of `old` leaves."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new} leaves")
    path: list[bytes] = []
    start, end, whole = 0, new, True
    while old != end:
        k = _split(end - start)
        if old - start <= k:
            path.append(subtree_hash(start + k, end, nodes))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, nodes))
            start, whole = start + k, False
    if not whole:
        path.append(subtree_hash(start, end, nodes))
    path.reverse()
    return path


def needed(proof: Callable[[Nodes], object]) -> set[Node]:
    """The stored nodes a proof or root reads: the algorithms never branch on a hash, so
    a dry run with blank hashes names them all, for one query."""
    wanted: set[Node] = set()

    def blank(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    proof(blank)
    return wanted


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2 (an empty old tree is consistent with any)."""
    if not 0 <= old <= new or any(len(p) != 32 for p in path):
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path
    if not path:
        return False
    if old & (old - 1) == 0:
        path = [old_root, *path]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
