"""The Merkle tree and the signed checkpoints, kept in the log's insert transaction.

Each log entry's chain row, `tidings_chain (position, digest, nodes)`, also holds its
leaf's `nodes`: the hashes of the perfect subtrees that entry completes, lowest first.
Positions run without gaps, so leaf = position - 1, and node (level, index) is in the
row of leaf (index + 1) * 2**level - 1, at offset 32 * level: every root and proof is
read from O(log n) rows by the primary key. `nodes` is NULL where the tree was off.
`tidings_checkpoints` holds the signed checkpoints (the signer's public key and
signature; the private key stays in the process). Every read takes a `rows` callable (a
query and its parameters -> rows), so it runs on whatever connection the caller holds.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..errors import StorageError
from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import (
    Tree,
    entry_bytes,
    frontier,
    stream_bytes,
)
from ..ledger.merkle import consistency_path, needed
from ..ledger.signer import Prover, Refused, Signer

__all__ = ["CHAIN", "CHECKPOINTS", "Db", "Read", "Tables"]

CHAIN = "tidings_chain"
CHECKPOINTS = "tidings_checkpoints"
_CHECKPOINT = "size, position, root, time, key, signature"
_PAGE = 10_000

Rows = list[tuple[Any, ...]]
Read = Callable[[str, tuple[Any, ...]], Rows]  # a query and its parameters -> its rows


@dataclass(frozen=True, slots=True)
class Db:
    """How `Tables` talks to one connection or cursor: a query's rows, and a statement
    run for many parameter rows. Placeholders are written `?`."""

    rows: Read
    many: Callable[[str, list[tuple[Any, ...]]], None]


def _checkpoint(row: tuple[Any, ...]) -> Checkpoint:
    return Checkpoint(
        size=row[0],
        position=row[1],
        root=bytes(row[2]).hex(),
        time=row[3],
        key=bytes(row[4]).decode(errors="replace"),
        signature=bytes(row[5]).hex(),
    )


class Tables:
    """The tree's and the checkpoints' tables in one database: their reads, and the
    tree's writer, under the log's write lock. `signer`: signs checkpoints when due
    (None: nothing is signed). `enabled`: off only for the bench's row without the tree
    (a lookup then answers None)."""

    def __init__(self, prefix: str, events: str, position: str, *, postgres: bool):
        self.prefix, self.postgres = prefix, postgres
        self.checkpoints = prefix + CHECKPOINTS
        self.events, self.position = prefix + events, position
        self.tree = prefix + CHAIN  # the tree's rows are the chain's, keyed by leaf + 1
        self.enabled = True
        self.signer: Signer | None = None
        # The tree as this process last wrote it, and the chain digest the log ended in
        # then (while the log still ends in it, the tree needs no reading); the latest
        # checkpoint as last seen (read again when one seems due).
        self._kept: tuple[bytes, Tree] | None = None
        self._last: Checkpoint | None = None
        self._store_leaves = self.sql(f"UPDATE {self.tree} SET nodes = ? WHERE position = ?")
        # Written once: `leaf_of` runs in every claim of a push attempt.
        self._leaf_of = self.sql(
            f"SELECT c.position - 1 FROM {self.events} e JOIN {self.tree} c "
            f"ON c.position = e.{position} WHERE e.originator_id = ? "
            "AND e.originator_version = ? AND c.nodes IS NOT NULL"
        )
        # (leaf, position) of the tree's last leaf, by the key: the chain's rows where the
        # tree was off hold no nodes, and only a catch-up runs past them.
        self.last_leaf_query = (
            f"SELECT position - 1, position FROM {self.tree} "
            "WHERE nodes IS NOT NULL ORDER BY position DESC LIMIT 1"
        )

    def sql(self, query: str) -> str:
        return query.replace("?", "%s") if self.postgres else query

    def create(self) -> list[str]:
        integer, blob = ("bigint", "bytea") if self.postgres else ("INTEGER", "BLOB")
        return [
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (size {integer} PRIMARY KEY, "
            f"position {integer} NOT NULL, root {blob} NOT NULL, time TEXT NOT NULL, "
            f"key {blob} NOT NULL, signature {blob} NOT NULL)",
        ]

    # --- reads -------------------------------------------------------------------------
    def nodes(self, rows: Read, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored nodes (level, index) -> hash; a node not stored is left out."""
        holders = {node: ((node[1] + 1) << node[0]) - 1 for node in wanted}
        found = self._rows(rows, "nodes", sorted(set(holders.values())))
        return {
            node: found[leaf][32 * node[0] : 32 * node[0] + 32]
            for node, leaf in holders.items()
            if leaf in found and len(found[leaf]) >= 32 * node[0] + 32
        }

    def positions(self, rows: Read, leaves: Sequence[int]) -> dict[int, int]:
        """Log position of each of these leaves (those stored)."""
        return self._rows(rows, "position", leaves)

    def _rows(self, rows: Read, column: str, leaves: Sequence[int]) -> dict[int, Any]:
        if not leaves:
            return {}
        query = self.sql(
            f"SELECT position - 1, {column} FROM {self.tree} "
            f"WHERE position IN ({', '.join('?' * len(leaves))}) AND nodes IS NOT NULL"
        )
        return {
            r[0]: bytes(r[1]) if isinstance(r[1], memoryview | bytes) else r[1]
            for r in rows(query, tuple(leaf + 1 for leaf in leaves))
        }

    def present(self, rows: Read) -> bool:
        """Whether the database has the tree's tables (and the chain its `nodes` column)."""
        if self.postgres:
            found = rows(
                "SELECT to_regclass(%s) IS NOT NULL, EXISTS (SELECT FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attname = 'nodes' AND NOT attisdropped)",
                (self.checkpoints, self.tree),
            )
            return bool(found[0][0]) and bool(found[0][1])
        found = rows("SELECT count(*) FROM sqlite_master WHERE name = ?", (CHECKPOINTS,))
        nodes = rows("SELECT count(*) FROM pragma_table_info(?) WHERE name = 'nodes'", (CHAIN,))
        return bool(found[0][0]) and bool(nodes[0][0])

    def last_position(self, rows: Read) -> int:
        """The log position of the tree's last leaf (0: the tree is empty)."""
        found = rows(self.last_leaf_query, ())
        return int(found[0][1]) if found else 0

    def size(self, rows: Read) -> int:
        found = rows(self.last_leaf_query, ())
        return int(found[0][0]) + 1 if found else 0

    def page(self, rows: Read, first: int, last: int) -> list[tuple[int, int, bytes]]:
        """(leaf, position, nodes) of the leaves in [first, last], in order."""
        query = self.sql(
            f"SELECT position - 1, position, nodes FROM {self.tree} "
            "WHERE position BETWEEN ? AND ? AND nodes IS NOT NULL ORDER BY position"
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows(query, (first + 1, last + 1))]

    def leaf_at(self, rows: Read, position: int) -> int | None:
        """The leaf of a log position (its position - 1), None when no leaf is there."""
        leaf = position - 1
        if not 0 <= leaf < self.size(rows):  # also keeps any int the database cannot hold out
            return None
        return leaf if self.positions(rows, [leaf]) else None

    def leaf_of(self, rows: Read, stream: str, version: int) -> int | None:
        """The leaf of a stream's event (`stream` in hex, as `stream_hex` gives it); None
        while the tree is off or does not hold it."""
        if not self.enabled:
            return None
        found = rows(self._leaf_of, (UUID(hex=stream) if self.postgres else stream, version))
        return int(found[0][0]) if found else None

    def checkpoints_stored(self, rows: Read) -> list[Checkpoint]:
        """Every stored checkpoint, smallest tree first."""
        query = f"SELECT {_CHECKPOINT} FROM {self.checkpoints} ORDER BY size"
        return [_checkpoint(r) for r in rows(query, ())]

    def latest(self, rows: Read) -> Checkpoint | None:
        query = f"SELECT {_CHECKPOINT} FROM {self.checkpoints} ORDER BY size DESC LIMIT 1"
        found = rows(query, ())
        return _checkpoint(found[0]) if found else None

    # --- writing, under the log's write lock ------------------------------------------
    def grow(
        self, db: Db, entries: Sequence[tuple[int, bytes]], chained: tuple[bytes, bytes]
    ) -> Sequence[bytes | None]:
        """Append the entries just inserted, (position, canonical bytes), to the tree,
        and a checkpoint if one is due. `chained`: the chain digest the log ended in
        before them, and after. Returns each entry's nodes (None while the tree is off),
        which the caller stores in its chain rows."""
        if not self.enabled:
            return [None] * len(entries)
        before, after = chained
        kept, self._kept = self._kept, None  # not to be trusted while it changes
        tree = kept[1] if kept is not None and kept[0] == before else self._frontier(db)
        nodes = self._append(db, tree, entries, store=False)
        self._kept = after, tree
        return nodes

    def _append(
        self, db: Db, tree: Tree, entries: Sequence[tuple[int, bytes]], *, store: bool = True
    ) -> list[bytes]:
        """Each entry's nodes, grown into `tree` (and stored, with `store`); then a
        checkpoint if one is due."""
        first = tree.size
        nodes = tree.extend(entries)
        if not nodes:
            return nodes
        if store:
            db.many(self._store_leaves, [(n, entries[i][0]) for i, n in enumerate(nodes)])
        signer = self.signer
        if signer is not None and signer.pending:  # did the last one commit?
            signer.settle(self.latest(db.rows))
        if signer is not None and signer.due(self._last, tree.size):
            self._last = self.latest(db.rows)  # another writer may have signed since
            if signer.due(self._last, tree.size):
                prove = self._prover(db, tree.size, first, nodes)
                try:
                    signed = signer.sign(tree.size, entries[-1][0], tree.root(), prove, self._last)
                except Refused:  # logged, counted, on /readyz: the log itself goes on
                    return nodes
                self._last = signed
                self._insert(db, signed)
        return nodes

    def _prover(self, db: Db, size: int, first: int, fresh: Sequence[bytes]) -> Prover:
        """Consistency paths to the tree of `size` leaves, from the stored nodes and
        those of leaves `first`... (`fresh`, each leaf's nodes, not stored yet)."""

        def prove(old: int) -> list[bytes]:
            wanted = needed(lambda get: consistency_path(old, size, get))
            found = self.nodes(db.rows, [n for n in wanted if ((n[1] + 1) << n[0]) - 1 < first])
            for level, index in wanted:
                holder = ((index + 1) << level) - 1
                if holder >= first and len(fresh[holder - first]) >= 32 * level + 32:
                    found[level, index] = fresh[holder - first][32 * level : 32 * level + 32]
            return consistency_path(old, size, lambda level, index: found[level, index])

        return prove

    def frontier_columns(self) -> str:
        """A FROM item of one row (PostgreSQL's): the tree's size, its last leaf's log
        position and its frontier's hashes (largest first); all NULL unless the tree is
        larger than `kept_size` (the statement's one parameter), for `keep`."""
        assert self.postgres
        # The tree of n leaves ends in chain row n. Its frontier has one node per bit k
        # set in n, that node's leaves starting where n's bits above k end
        # (`merkle.frontier`): node (k, i) is in the row of leaf (i + 1) * 2**k - 1, at
        # position (i + 1) * 2**k. A row without nodes leaves its hash out.
        return (
            "(SELECT t.last AS size, t.last AS at, "
            "ARRAY(SELECT substring(f.nodes FROM 32 * k + 1 FOR 32) "
            "FROM generate_series(62, 0, -1) AS k "
            f"JOIN {self.tree} f ON f.position = "
            "((t.last >> (k + 1)) << (k + 1)) + (1::bigint << k) AND f.nodes IS NOT NULL "
            "WHERE ((t.last >> k) & 1) = 1 ORDER BY k DESC) AS hashes "
            "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT CASE WHEN c.nodes IS NOT NULL "
            f"THEN c.position END AS last FROM {self.tree} c WHERE c.position > %s "
            "ORDER BY c.position DESC LIMIT 1) AS t ON true) AS frontier"
        )

    def sign_every(self) -> int | None:
        """For an append whose tree the database grows (`tidings_append`, which cannot
        sign): how many entries past the largest checkpoint stored one falls due. 0: one
        may be due at any size (none seen yet, the time cadence passed, or the last one
        signed is not settled); None: none is ever due (no signer, a refused one, or the
        tree off)."""
        signer, last = self.signer, self._last
        if signer is None or signer.refusal is not None or not self.enabled:
            return None
        if last is None or signer.pending or signer.due(last, last.size + 1):
            return 0
        return signer.cadence.entries

    def kept_size(self) -> int:
        kept = self._kept
        return kept[1].size if kept is not None else 0

    def keep(
        self, digest: bytes, last: int, size: int | None, at: int | None, hashes: Sequence[bytes]
    ) -> None:
        """The tree as `frontier_columns` read it with the log ending at `last` in chain
        `digest`: kept for the next `grow` after that digest if it is the whole log's
        tree and larger than the one kept; else `grow` reads it."""
        if (
            self.enabled
            and size is not None
            and size > self.kept_size()
            and at == last
            and len(hashes) == size.bit_count()
        ):
            self._kept = digest, Tree(size, [bytes(h) for h in hashes])

    def _frontier(self, db: Db) -> Tree:
        last = db.rows(self.last_leaf_query, ())
        if not last:
            return Tree()
        size = last[0][0] + 1
        wanted = frontier(size)
        found = self.nodes(db.rows, wanted)
        if len(found) < len(wanted):
            # Rows deleted by hand: growing on would sign a tree that is not the log's.
            raise StorageError(
                f"the Merkle tree lacks rows below leaf {size}: the database was "
                "edited (see `tidings verify`); nothing was written"
            )
        return Tree(size, [found[node] for node in wanted])

    def _insert(self, db: Db, checkpoint: Checkpoint) -> None:
        db.many(
            self.sql(f"INSERT INTO {self.checkpoints} VALUES (?, ?, ?, ?, ?, ?)"),
            [
                (
                    checkpoint.size,
                    checkpoint.position,
                    bytes.fromhex(checkpoint.root),
                    checkpoint.time,
                    checkpoint.key.encode(),
                    bytes.fromhex(checkpoint.signature),
                )
            ],
        )

    def catch_up(self, db: Db) -> None:
        """Append to the tree the log entries it lacks (a database from before the tree,
        or written with it off), a page at a time."""
        if not self.enabled:
            return
        self._kept = None
        query = self.sql(
            f"SELECT {self.position}, originator_id, originator_version, topic, state "
            f"FROM {self.events} WHERE {self.position} > ? "
            f"ORDER BY {self.position} LIMIT {_PAGE}"
        )
        while True:
            tree = self._frontier(db)
            page = db.rows(query, (self.last_position(db.rows),))
            entries = [
                (r[0], entry_bytes(r[0], stream_bytes(r[1]), r[2], r[3], bytes(r[4]))) for r in page
            ]
            self._append(db, tree, entries)
            if len(page) < _PAGE:
                return

    def sign_head(self, db: Db) -> Checkpoint | None:
        """Sign the tree as it stands unless the latest checkpoint already covers it;
        the latest checkpoint after (None: nothing signed, ever). `Refused` when the
        tree does not extend what the signer's key signed last."""
        latest = self.latest(db.rows)
        tree = self._frontier(db)
        if self.signer is None or tree.size == 0:
            return latest
        prove = self._prover(db, tree.size, tree.size, ())
        if latest and latest.size >= tree.size:  # the key still vouches for the tree
            self.signer.check(tree.size, tree.root(), prove, latest)
            return latest
        position = self.positions(db.rows, [tree.size - 1])[tree.size - 1]
        checkpoint = self.signer.sign(tree.size, position, tree.root(), prove, latest)
        self._insert(db, checkpoint)
        return checkpoint
