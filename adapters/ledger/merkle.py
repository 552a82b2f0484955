"""RFC 9162 (section 2.1) Merkle proofs over the log's tree: subtree hashes, inclusion
and consistency paths, and their checks. Pure: `nodes(level, index)` looks up a stored
perfect subtree (`entries.Node`); any proof combines O(log n) of them.
"""

from collections.abc import Callable

from .entries import Node, node_hash

__all__ = [
    "consistency_path",
    "extends",
    "inclusion_path",
    "needed",
    "verify_consistency",
    "verify_inclusion",
]

Nodes = Callable[[int, int], bytes]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


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


def extends(old: int, new: int, old_root: bytes, new_root: bytes, nodes: Nodes) -> bool:
    """Whether the tree of `new` leaves and `new_root` extends that of `old` leaves and
    `old_root`: a consistency proof from `nodes`, checked (KeyError from `nodes`: no)."""
    try:
        path = consistency_path(old, new, nodes) if 0 < old < new else []
    except KeyError:
        return False
    return verify_consistency(old, new, old_root, new_root, path)
