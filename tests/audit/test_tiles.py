"""The log as an outsider sees it: a checkpoint note checked by a signed-note verifier
written here from the C2SP spec (hashlib, base64 and cryptography only), and inclusion
and consistency proofs computed from the served tlog-tiles by RFC 9162 code of its own."""

import base64
import hashlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tidings.adapters.http.tiles import tile_index
from tidings.adapters.ledger.checkpoint import Cadence
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from typer.testing import CliRunner

from ..http.conftest import serve, settings_for

runner = CliRunner()


# --- an independent verifier, from c2sp.org/signed-note and tlog-checkpoint -----------
def verify_note(vkey: str, note: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note whose Ed25519 signature by `vkey`
    holds; raises otherwise."""
    name, key_id, encoded = vkey.split("+", 2)
    key = base64.b64decode(encoded)
    assert key[0] == 0x01 and len(key) == 33
    assert hashlib.sha256(name.encode() + b"\x0a" + key).digest()[:4] == bytes.fromhex(key_id)
    text, signatures = note.split("\n\n", 1)
    body = text + "\n"
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        signer, signature = line[2:].rsplit(" ", 1)
        raw = base64.b64decode(signature)
        if signer == name and raw[:4] == bytes.fromhex(key_id):
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], body.encode())
            origin, size, root = body.splitlines()
            assert origin == name and size.isdigit()
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature of this key")


# --- RFC 9162 from the tiles ------------------------------------------------------------
def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tile_path(level: int | str, index: int, width: int) -> str:
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{path}" + (f".p/{width}" if width < 256 else "")


def subtree(fetch: Callable[[str], bytes], size: int) -> Callable[[int, int], bytes]:
    """MTH(D[start:end]) of the tree of `size` leaves, from its hash tiles."""

    @cache
    def tile(level: int, index: int) -> bytes:
        width = min(256, (size >> (8 * level)) - 256 * index)
        return fetch(tile_path(level, index, width))

    def node(height: int, index: int) -> bytes:  # a perfect subtree
        level, rest = divmod(height, 8)
        hashes = [
            tile(level, i // 256)[32 * (i % 256) : 32 * (i % 256) + 32]
            for i in range(index << rest, (index + 1) << rest)
        ]
        while len(hashes) > 1:
            hashes = [h(b"\x01", a, b) for a, b in zip(hashes[::2], hashes[1::2], strict=True)]
        return hashes[0]

    def mth(start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return node(n.bit_length() - 1, start // n)
        k = split(n)
        return h(b"\x01", mth(start, start + k), mth(start + k, end))

    return mth


def inclusion(m: int, start: int, end: int, mth: Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[start:end])."""
    n = end - start
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*inclusion(m, start, start + k, mth), mth(start + k, end)]
    return [*inclusion(m - k, start + k, end, mth), mth(start, start + k)]


def consistency(
    m: int, start: int, end: int, whole: bool, mth: Callable[[int, int], bytes]
) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[start:end], whole)."""
    n = end - start
    if m == n:
        return [] if whole else [mth(start, end)]
    k = split(n)
    if m <= k:
        return [*consistency(m, start, start + k, whole, mth), mth(start + k, end)]
    return [*consistency(m - k, start + k, end, False, mth), mth(start, start + k)]


def check_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h(b"\x01", p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x01", r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def check_consistency(m: int, n: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if m & (m - 1) == 0:
        path = [old, *path]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = h(b"\x01", c, fr), h(b"\x01", c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = h(b"\x01", sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


# --- the log -------------------------------------------------------------------------------
def _write(db: str, key: Path, operations: int, tag: str, *, account: bool) -> None:
    with Tidings(db, signing_key=str(key), cadence=Cadence(100, 3600)) as t:
        if account:
            t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"{tag}{i}", "op").svtrid, 1000, "OK")


def _checkpoint(db: str, key: Path) -> str:
    taken = runner.invoke(app, ["checkpoint", "--db", db], env={"TIDINGS_SIGNING_KEY": str(key)})
    assert taken.exit_code == 0, taken.output
    return taken.stdout


def test_tile_indices_are_written_in_groups_of_three_digits() -> None:
    assert tile_path(0, 1234067, 256) == "tile/0/x001/x234/067"
    assert tile_index(["x001", "x234", "067"]) == (1234067, 256)
    assert tile_index(["x001", "x234", "067.p", "8"]) == (1234067, 8)
    assert tile_index(["005"]) == (5, 256)


def test_an_outsider_proves_inclusion_and_consistency_from_the_tiles(
    db_url: str, tmp_path: Path
) -> None:
    # given: a signed log whose checkpoint an auditor kept at 7 entries, then grown past
    # one full tile of 256 leaves
    key = tmp_path / "signing.key"
    made = runner.invoke(app, ["key", "new", str(key), "--origin", "example.com/tidings"])
    vkey = made.stdout.strip()
    _write(db_url, key, 2, "a", account=True)
    old_origin, old_size, old_root = verify_note(vkey, _checkpoint(db_url, key))
    _write(db_url, key, 95, "b", account=False)
    _checkpoint(db_url, key)

    with serve(settings_for(db_url)) as server:
        # when: an outsider fetches the checkpoint and the tiles
        answer = server.client.get("/log/checkpoint")
        assert answer.status_code == 200
        origin, size, root = verify_note(vkey, answer.text)
        assert (origin, old_origin, old_size, size) == ("example.com/tidings",) * 2 + (7, 292)

        def fetch(path: str) -> bytes:
            got = server.client.get(f"/log/{path}")
            assert got.status_code == 200, path
            return got.content

        mth = subtree(fetch, size)

        # then: the tiles hash to the signed root, and prove what they should
        assert mth(0, size) == root
        full = server.client.get("/log/tile/0/000")
        assert len(full.content) == 256 * 32 and "immutable" in full.headers["cache-control"]
        partial = server.client.get("/log/tile/0/001.p/36")
        assert (
            len(partial.content) == 36 * 32 and "immutable" not in partial.headers["cache-control"]
        )
        assert server.client.get("/log/tile/0/001.p/37").status_code == 404  # not yet

        assert server.client.get("/log/tile/entries/001.p/36").status_code == 401
        bundle = server.admin("GET", "/log/tile/entries/001.p/36").content
        entries = []
        while bundle:
            length = int.from_bytes(bundle[:2], "big")
            entries.append(bundle[2 : 2 + length])
            bundle = bundle[2 + length :]
        assert len(entries) == 36
        for offset in (0, 17, 35):
            index = 256 + offset
            leaf = h(b"\x00", entries[offset])
            assert int.from_bytes(entries[offset][:8], "big") >= index + 1  # its position
            path = inclusion(index, 0, size, mth)
            assert check_inclusion(index, size, leaf, path, root)
            assert not check_inclusion(index, size, h(b"\x00", b"forged"), path, root)

        proof = consistency(old_size, 0, size, True, mth)
        assert check_consistency(old_size, size, old_root, root, proof)
        assert not check_consistency(old_size, size, h(b"forged"), root, proof)

    # and the shell's own consistency proof says the same
    proved = runner.invoke(app, ["prove", "--consistency", "7", "0", "--db", db_url])
    assert proved.exit_code == 0, proved.output
    document = json.loads(proved.stdout)
    assert (document["old_size"], document["new_size"]) == (7, 292)
    assert bytes.fromhex(document["new_root"]) == root
    path = [bytes.fromhex(p) for p in document["path"]]
    assert path == proof
    assert check_consistency(7, 292, old_root, root, path)


@pytest.mark.parametrize("path", ["/log/tile/0/1", "/log/tile/0/x001", "/log/tile/64/000",
                                  "/log/nothing", "/log/tile/0/000.p/0"])  # fmt: skip
def test_malformed_tile_paths_are_not_found(sqlite_url: str, path: str) -> None:
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "pw")
    with serve(settings_for(sqlite_url)) as server:
        assert server.client.get(path).status_code == 404
        assert server.client.get("/log/checkpoint").status_code == 404  # never signed
        unused: httpx.Response = server.client.get("/log/tile/0/000.p/1")
        assert unused.status_code == 200 and len(unused.content) == 32


def test_a_signed_root_is_recomputed_from_the_export_alone(sqlite_url: str, tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    vkey = runner.invoke(app, ["key", "new", str(key), "--origin", "example.com/t"]).stdout
    _write(sqlite_url, key, 4, "c", account=True)
    _, size, root = verify_note(vkey.strip(), _checkpoint(sqlite_url, key))
    exported = runner.invoke(app, ["log", "--jsonl", "--db", sqlite_url])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    leaves = []
    for line in lines:
        leaf = bytes.fromhex(line["leaf"])
        if line["entry"] is None:  # an event holding a secret: its hash only
            assert line["kind"] == "AccountOpened" and line["event"]["password_sha1"] == "***"
        else:
            assert h(b"\x00", base64.b64decode(line["entry"])) == leaf
        leaves.append(leaf)

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return leaves[start]
        k = split(end - start)
        return h(b"\x01", mth(start, start + k), mth(start + k, end))

    assert len(leaves) == size == 13
    assert mth(0, size) == root
