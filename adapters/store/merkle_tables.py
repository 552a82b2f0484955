"""The Merkle tree and the signed checkpoints, kept in the log's insert transaction.

Each log entry's chain row, `tidings_chain (position, digest, nodes)`, also holds its
leaf's `nodes`: the hashes of the perfect subtrees that entry completes, lowest first.
Positions run without gaps, so leaf = position - 1, and node (level, index) is in the
row of leaf (index + 1) * 2**level - 1, at offset 32 * level: every root and proof is
read from O(log n) rows by the primary key. `nodes` is NULL where the tree was off.
`tidings_checkpoints` holds the signed checkpoints (the signer's public key and
signature; the private key stays in the process).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..errors import StorageError
from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import PlacedRow, StreamRow, Tree, entry_bytes, frontier, stream_bytes
from ..ledger.merkle import consistency_path, needed
from ..ledger.signer import Prover, Refused, Signer
from .merkle_reads import Read, TreeReads, tree_lags

__all__ = ["Db", "RecorderReads", "Tables"]

_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Db:
    """How `Tables` talks to one connection or cursor: a query's rows, and a statement
    run for many parameter rows. Placeholders are written `?`."""

    rows: Read
    many: Callable[[str, list[tuple[Any, ...]]], None]


class Tables(TreeReads):
    """The tree's and the checkpoints' SQL for one database, and the tree's writer, under
    the log's write lock. `signer`: signs checkpoints when due (None: nothing is
    signed). `enabled`: off only for the bench's row without the tree."""

    def __init__(self, prefix: str, events: str, position: str, *, postgres: bool):
        super().__init__(prefix, events, position, postgres=postgres)
        self.signer: Signer | None = None
        # The tree as this process last wrote it, and the chain digest the log ended in
        # then (while the log still ends in it, the tree needs no reading); the latest
        # checkpoint as last seen (read again when one seems due).
        self._kept: tuple[bytes, Tree] | None = None
        self._last: Checkpoint | None = None
        # Leaves' (nodes, position) stored in the chain's rows, which exist by then
        # (`catch_up`; `grow` hands the nodes to the chain's INSERT instead).
        self._store_leaves = self.sql(f"UPDATE {self.tree} SET nodes = ? WHERE position = ?")
        # Written once: `leaf_of` runs in every claim of a push attempt.
        self._leaf_of = self.sql(
            f"SELECT c.position - 1 FROM {self.events} e JOIN {self.tree} c "
            f"ON c.position = e.{self.position} WHERE e.originator_id = ? "
            "AND e.originator_version = ? AND c.nodes IS NOT NULL"
        )

    def create(self) -> list[str]:
        integer, blob = ("bigint", "bytea") if self.postgres else ("INTEGER", "BLOB")
        return [
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (size {integer} PRIMARY KEY, "
            f"position {integer} NOT NULL, root {blob} NOT NULL, time TEXT NOT NULL, "
            f"key {blob} NOT NULL, signature {blob} NOT NULL)",
        ]

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
            db.many(
                self._store_leaves,
                [(n, entries[i][0]) for i, n in enumerate(nodes)],
            )
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
        larger than `kept_size` (the statement's one parameter). The recorder reads it
        with where the log ends and hands the row to `keep`."""
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
        """For an append whose tree the database grows (PostgreSQL's `tidings_append`),
        which cannot sign: how many entries past the largest checkpoint stored one falls
        due, when the append must be `grow`'s, which signs. 0: one may be due at any size
        (none seen yet, the time cadence passed, or the last one signed is not settled);
        None: none is ever due (no signer, a refused one, or the tree off)."""
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
        while True:
            tree = self._frontier(db)
            last = self.last_position(db.rows)
            page = db.rows(
                self.sql(
                    f"SELECT {self.position}, originator_id, originator_version, topic, state "
                    f"FROM {self.events} WHERE {self.position} > ? "
                    f"ORDER BY {self.position} LIMIT {_PAGE}"
                ),
                (last,),
            )
            self._append(
                db,
                tree,
                [
                    (r[0], entry_bytes(r[0], stream_bytes(r[1]), r[2], r[3], bytes(r[4])))
                    for r in page
                ],
            )
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

    def leaf_of(self, rows: Read, stream: str, version: int) -> int | None:
        """The leaf of a stream's event (`stream` in hex, as `stream_hex` gives it), in
        one query: its chain row's position - 1 (a join on primary keys); None while the
        tree is off or does not hold it."""
        if not self.enabled:
            return None
        found = rows(self._leaf_of, (UUID(hex=stream) if self.postgres else stream, version))
        return int(found[0][0]) if found else None


class RecorderReads:
    """Both recorders' reads of one stream's rows and of the chain, and the tree's
    transactions, on the tables `tree` names: `_read` runs a query (`?` placeholders)
    and answers tuple rows; `_tree_transaction` runs a body under the write lock."""

    tree: Tables
    snapshots_table: str
    _read: Callable[[str, tuple[Any, ...]], list[Any]]
    tree_rows: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
    _tree_transaction: Callable[[Callable[[Db], Any]], Any]

    def _sid(self, stream: UUID) -> UUID | str:
        return stream if self.tree.postgres else stream.hex

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        """The newest snapshot of a stream."""
        tree, table = self.tree, self.snapshots_table
        if tree.postgres:
            table = '"' + table.replace('"', '""') + '"'
        rows = self._read(
            tree.sql(
                f"SELECT originator_version, topic, state FROM {tree.prefix}{table} "
                "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1"
            ),
            (self._sid(stream),),
        )
        return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, oldest first, with their
        positions: one query, so events and positions come from one snapshot."""
        tree = self.tree
        rows = self._read(
            tree.sql(
                f"SELECT {tree.position}, originator_version, topic, state FROM {tree.events} "
                f"WHERE originator_id = ? AND {tree.position} <= ? ORDER BY originator_version"
            ),
            (self._sid(stream), upto),
        )
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        query = f"SELECT position, digest FROM {self.tree.tree} WHERE position BETWEEN ? AND ? "
        rows = self._read(self.tree.sql(query + "ORDER BY position"), (start, stop))
        return [(r[0], bytes(r[1])) for r in rows]

    def max_chained(self) -> int:
        return int(self._read(f"SELECT max(position) FROM {self.tree.tree}", ())[0][0] or 0)

    def ensure_tree(self) -> None:
        if self.tree.enabled and tree_lags(self.tree, self.tree_rows):
            self._tree_transaction(self.tree.catch_up)

    def sign_head(self) -> Checkpoint | None:
        signed: Checkpoint | None = self._tree_transaction(self.tree.sign_head)
        return signed
