"""The Merkle tree against RFC 9162's definitions and the CT test vectors
(transparency-dev/merkle, proof/verify_test.go)."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.adapters.ledger.entries import EMPTY_ROOT, Tree, leaf_hash, node_hash
from tidings.adapters.ledger.merkle import (
    consistency_path,
    inclusion_path,
    needed,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, path)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
# (old size, new size, path)
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH written out recursively: the reference the tree is held to."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _stored(leaves: list[bytes]) -> tuple[Tree, dict[tuple[int, int], bytes]]:
    """A tree grown leaf by leaf, and the nodes it completed, as the store keeps them."""
    tree, nodes = Tree(), {}
    for index, leaf in enumerate(leaves):
        completed = tree.append(leaf_hash(leaf))
        for level in range(len(completed) // 32):
            nodes[level, index >> level] = completed[32 * level : 32 * level + 32]
    return tree, nodes


def test_the_empty_tree_hashes_the_empty_string() -> None:
    assert Tree().root() == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_ct_vectors(size: int) -> None:
    tree, _ = _stored(LEAVES[:size])
    assert tree.root().hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_ct_vectors(index: int, size: int, path: list[str]) -> None:
    _, nodes = _stored(LEAVES[:size])
    proof = inclusion_path(index, size, lambda level, i: nodes[level, i])
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size - 1])
    assert verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof, root)
    assert not verify_inclusion(index, size, leaf_hash(b"other"), proof, root)
    assert not verify_inclusion(index ^ 1, size, leaf_hash(LEAVES[index]), proof, root)
    assert not verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof[:-1], root)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_ct_vectors(old: int, new: int, path: list[str]) -> None:
    _, nodes = _stored(LEAVES[:new])
    proof = consistency_path(old, new, lambda level, i: nodes[level, i])
    assert [p.hex() for p in proof] == path
    old_root, new_root = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    assert verify_consistency(old, new, old_root, new_root, proof)
    assert not verify_consistency(old, new, new_root, old_root, proof)
    assert not verify_consistency(old, new, old_root, new_root, proof[1:])
    flipped = [bytes([proof[0][0] ^ 16]) + proof[0][1:], *proof[1:]]
    assert not verify_consistency(old, new, old_root, new_root, flipped)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_stored_nodes_prove_what_the_rfc_definitions_say(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree, nodes = _stored(leaves)
    size = len(leaves)
    assert tree.root() == _mth(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_path(index, size, lambda level, i: nodes[level, i])
    assert verify_inclusion(index, size, leaf_hash(leaves[index]), proof, _mth(leaves))
    old = data.draw(st.integers(1, size))
    consistency = consistency_path(old, size, lambda level, i: nodes[level, i])
    assert verify_consistency(old, size, _mth(leaves[:old]), _mth(leaves), consistency)
    if old < size:
        forked = [*leaves[: old - 1], leaves[old - 1] + b"x"]
        assert not verify_consistency(old, size, _mth(forked), _mth(leaves), consistency)
    asked = needed(lambda get: inclusion_path(index, size, get))
    assert asked <= nodes.keys() and len(asked) <= 2 * size.bit_length()


@given(
    st.lists(st.binary(max_size=40), max_size=40),
    st.lists(st.integers(0, 40), max_size=6),
)
def test_extending_by_many_entries_is_appending_their_leaves_one_by_one(
    leaves: list[bytes], cuts: list[int]
) -> None:
    # Given the same leaves appended one by one, and extended in writes of any sizes
    one_by_one, _ = _stored(leaves)
    extended, nodes, start = Tree(), [], 0
    for end in [*sorted(c for c in cuts if c <= len(leaves)), len(leaves)]:
        nodes += extended.extend([(i + 1, leaf) for i, leaf in enumerate(leaves[start:end])])
        start = end
    # Then the trees agree, and each entry completed the nodes `append` completes
    assert (extended.size, extended.hashes) == (one_by_one.size, one_by_one.hashes)
    replayed = Tree()
    assert nodes == [replayed.append(leaf_hash(leaf)) for leaf in leaves]
