"""The Merkle tree and the signed checkpoints, kept in the log's insert transaction.

Each log entry's tree row holds `leaf`, its index in the tree (0, 1, ...), its log
`position` and `nodes`, the hashes of the perfect subtrees that entry completes, lowest
first (its leaf hash, then each parent it closes; `merkle.Tree.append`). Node (level,
index) is thus in the row of leaf (index + 1) * 2**level - 1, at offset 32 * level:
every root and proof is read from O(log n) rows, and an append adds 64 bytes of hashes
on average. Where the rows live (one SQL for both; `Tables` words it):

- SQLite: in the chain's own rows, `tidings_chain (position, digest, nodes)`; positions
  there run 1, 2, ... without gaps, so leaf = position - 1, and an append writes one row
  per entry, not two. `nodes` is NULL where the tree was off (`catch_up` fills it in).
  The separate table cost a row and a page of WAL more per transaction
  (docs/decisions.md); a database with the old table is moved over once (`sqlite_recorder`).
- PostgreSQL: `tidings_tree (leaf, position, nodes)`: its positions may skip (a
  sequence), the tree does not. Its frontier is read with where the log ends, in one
  statement (`frontier_columns`, `keep`).
- `tidings_checkpoints (size, position, root, time, key, signature)`: a signed
  checkpoint when one is due (`checkpoint.Cadence`); none without a signing key. `key`
  holds the signer's verifier key (its name is the log's origin: the note is rebuilt
  from the row), or 32 raw bytes in an old checkpoint.

`grow` runs inside the recorder's insert, under the log's write lock, so the tree has
the log's one order. It reads the tree's frontier (at most one row per level) only when
another writer appended since its last write (the chain then ends in a digest it did not
write); else it goes on from the frontier it kept, and a write costs no read. On
PostgreSQL the recorder reads that frontier with where the log ends (`keep`), so even
then `grow` reads nothing. The
private key stays in the process (`signer.Signer`); only public keys and signatures
reach the database.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..errors import StorageError
from ..ledger.chain import stream_bytes
from ..ledger.checkpoint import Checkpoint
from ..ledger.merkle import Tree, consistency_path, entry_bytes, frontier, leaf_hash, needed
from ..ledger.signer import Prover, Refused, Signer

__all__ = ["CHAIN", "CHECKPOINTS", "TREE", "Db", "Tables", "tree_lags"]

CHAIN = "tidings_chain"
TREE = "tidings_tree"
CHECKPOINTS = "tidings_checkpoints"
_PAGE = 10_000
_CHECKPOINT = "size, position, root, time, key, signature"

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Db:
    """How `Tables` talks to one connection or cursor: a query's rows, and a statement
    run for many parameter rows. Placeholders are written `?`."""

    rows: Callable[[str, tuple[Any, ...]], Rows]
    many: Callable[[str, list[tuple[Any, ...]]], None]


class Tables:
    """The tree's and the checkpoints' SQL for one database, and the tree's writer.

    `signer`: signs checkpoints when due (None: nothing is signed). `enabled`: whether
    writes grow the tree at all; off only for the bench's side-by-side row (a
    store opened with it on catches the tree up from the log, `catch_up`)."""

    def __init__(
        self, prefix: str, events: str, position: str, *, postgres: bool, in_chain: bool = False
    ):
        self.checkpoints = prefix + CHECKPOINTS
        self.events, self.position = prefix + events, position
        self._postgres = postgres
        self.in_chain = in_chain
        # Where the tree's rows are, and how a leaf maps to their key (`_key`): the
        # chain's own rows keyed by position (leaf + 1), or a table keyed by leaf.
        self.tree = prefix + (CHAIN if in_chain else TREE)
        self._key = "position" if in_chain else "leaf"
        self._offset = 1 if in_chain else 0
        self.signer: Signer | None = None
        self.enabled = True
        # The tree as this process last wrote it, and the chain digest the log ended in
        # then: while the log still ends in it, nobody appended since, and the tree
        # needs no reading. The latest checkpoint as last seen (read again only when
        # one seems due, to learn of other writers' checkpoints).
        self._kept: tuple[bytes, Tree] | None = None
        self._last: Checkpoint | None = None
        # Leaves (leaf, position, nodes) stored: in the chain's rows, which exist by then
        # (`catch_up`; `grow` hands the nodes to the chain's INSERT instead), or as rows.
        self._store_leaves = self.sql(
            f"UPDATE {self.tree} SET nodes = ?3 WHERE position = ?2"
            if in_chain
            else f"INSERT INTO {self.tree} VALUES (?, ?, ?)"
        )

    def sql(self, query: str) -> str:
        return query.replace("?", "%s") if self._postgres else query

    def create(self) -> list[str]:
        integer, blob = ("bigint", "bytea") if self._postgres else ("INTEGER", "BLOB")
        tree = (
            []
            if self.in_chain
            else [
                f"CREATE TABLE IF NOT EXISTS {self.tree} (leaf {integer} PRIMARY KEY, "
                f"position {integer} NOT NULL, nodes {blob} NOT NULL)"
            ]
        )
        return [
            *tree,
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (size {integer} PRIMARY KEY, "
            f"position {integer} NOT NULL, root {blob} NOT NULL, time TEXT NOT NULL, "
            f"key {blob} NOT NULL, signature {blob} NOT NULL)",
        ]

    # --- writing, under the log's write lock ------------------------------------------
    def grow(
        self, db: Db, entries: Sequence[tuple[int, bytes]], chained: tuple[bytes, bytes]
    ) -> Sequence[bytes | None]:
        """Append the entries just inserted, (position, canonical bytes) as the chain
        built them, to the tree, and a checkpoint if one is due. `chained`: the chain
        digest the log ended in before them, and after. Returns each entry's nodes (None
        each while the tree is off): with `in_chain` the caller stores them in the chain
        rows it inserts; else they are stored here."""
        if not self.enabled:
            return [None] * len(entries)
        before, after = chained
        kept, self._kept = self._kept, None  # not to be trusted while it changes
        tree = kept[1] if kept is not None and kept[0] == before else self._frontier(db)
        nodes = self._append(db, tree, entries, store=not self.in_chain)
        self._kept = after, tree
        return nodes

    def _append(
        self, db: Db, tree: Tree, entries: Sequence[tuple[int, bytes]], *, store: bool = True
    ) -> list[bytes]:
        """Each entry's nodes, grown into `tree` (stored here with `store`); then a
        checkpoint if one is due."""
        first, append = tree.size, tree.append
        nodes = [append(leaf_hash(entry)) for _, entry in entries]
        if not nodes:
            return nodes
        if store:
            db.many(
                self._store_leaves,
                [(first + i, entries[i][0], n) for i, n in enumerate(nodes)],
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
        """A FROM item of one row: the tree's size, its last leaf's log position and its
        frontier's hashes (largest first), in one statement (PostgreSQL's table); all
        NULL unless the tree has more leaves than the one kept (`kept_size`, the
        statement's one parameter), which spares the server the reads. The recorder
        reads it in the statement that reads where the log ends, and hands the row to
        `keep`: after another writer appended, `grow` then reads nothing, where
        `_frontier` costs two round trips with the log's lock held."""
        assert self._postgres and not self.in_chain
        # Node (level k, index i) is in the row of leaf (i + 1) * 2**k - 1; the frontier
        # of n leaves has one node per bit k set in n, its leaves starting where n's
        # bits above k end (`merkle.frontier`).
        return (
            "(SELECT t.leaf + 1 AS size, t.position AS at, "
            "ARRAY(SELECT substring(f.nodes FROM 32 * k + 1 FOR 32) "
            "FROM generate_series(62, 0, -1) AS k "
            f"JOIN {self.tree} f ON f.leaf = "
            "(((t.leaf + 1) >> (k + 1)) << (k + 1)) + (1::bigint << k) - 1 "
            "WHERE t.leaf IS NOT NULL AND (((t.leaf + 1) >> k) & 1) = 1 "
            "ORDER BY k DESC) AS hashes "
            "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT leaf, position "
            f"FROM {self.tree} WHERE leaf >= %s ORDER BY leaf DESC LIMIT 1) AS t ON true) "
            "AS frontier"
        )

    def kept_size(self) -> int:
        """The size of the tree kept (0: none): `frontier_columns` reads a larger one."""
        kept = self._kept
        return kept[1].size if kept is not None else 0

    def keep(
        self, digest: bytes, last: int, size: int | None, at: int | None, hashes: Sequence[bytes]
    ) -> None:
        """The tree as `frontier_columns` read it, in the statement that found the log
        ending at `last` in chain `digest`: kept for the next `grow` after that digest,
        if it is the whole log's tree (not lagging, no rows missing) and larger than the
        one kept (a read that ran before this process's own append committed must not
        replace the tree that append left); else (or when not read: `size` None) `grow`
        reads it, and refuses what is missing."""
        if (
            self.enabled
            and size is not None
            and size > self.kept_size()
            and at == last
            and len(hashes) == size.bit_count()
        ):
            self._kept = digest, Tree(size, [bytes(h) for h in hashes])

    def _frontier(self, db: Db) -> Tree:
        """The tree as it stands, as its frontier, read from its table."""
        last = db.rows(self._last_leaf, ())
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
                    checkpoint.public if checkpoint.legacy else checkpoint.key.encode(),
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

    # --- reading ----------------------------------------------------------------------
    def nodes(
        self, rows: Callable[[str, tuple[Any, ...]], Rows], wanted: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """Stored nodes (level, index) -> hash; a node not stored is left out."""
        holders = {node: ((node[1] + 1) << node[0]) - 1 for node in wanted}
        found = self._rows(rows, "nodes", sorted(set(holders.values())))
        return {
            node: found[leaf][32 * node[0] : 32 * node[0] + 32]
            for node, leaf in holders.items()
            if leaf in found and len(found[leaf]) >= 32 * node[0] + 32
        }

    def positions(
        self, rows: Callable[[str, tuple[Any, ...]], Rows], leaves: Sequence[int]
    ) -> dict[int, int]:
        """Log position of each of these leaves (those stored)."""
        return self._rows(rows, "position", leaves)

    def _rows(
        self, rows: Callable[[str, tuple[Any, ...]], Rows], column: str, leaves: Sequence[int]
    ) -> dict[int, Any]:
        if not leaves:
            return {}
        marks = ", ".join("?" * len(leaves))
        query = self.sql(
            f"SELECT {self._key} - {self._offset}, {column} FROM {self.tree} "
            f"WHERE {self._key} IN ({marks}) AND nodes IS NOT NULL"
        )
        return {
            r[0]: bytes(r[1]) if isinstance(r[1], memoryview | bytes) else r[1]
            for r in rows(query, tuple(leaf + self._offset for leaf in leaves))
        }

    @property
    def _last_leaf(self) -> str:
        """(leaf, position) of the tree's last leaf, by the key: the chain's rows where
        the tree was off hold no nodes, and only a catch-up runs past them."""
        return (
            f"SELECT {self._key} - {self._offset}, position FROM {self.tree} "
            f"WHERE nodes IS NOT NULL ORDER BY {self._key} DESC LIMIT 1"
        )

    def present(self, rows: Callable[[str, tuple[Any, ...]], Rows]) -> bool:
        """Whether the database has the tree's tables: one from before them, opened read
        only, has not."""
        if self._postgres:
            found = rows("SELECT to_regclass(%s) IS NOT NULL", (self.checkpoints,))
            return bool(found[0][0])
        found = rows("SELECT count(*) FROM sqlite_master WHERE name = ?", (CHECKPOINTS,))
        # A database from before the tree moved into the chain's rows: moved when it is
        # next opened to write.
        nodes = rows("SELECT count(*) FROM pragma_table_info(?) WHERE name = 'nodes'", (CHAIN,))
        return bool(found[0][0]) and bool(nodes[0][0])

    def last_position(self, rows: Callable[[str, tuple[Any, ...]], Rows]) -> int:
        """The log position of the tree's last leaf (0: the tree is empty); by the key."""
        found = rows(self._last_leaf, ())
        return int(found[0][1]) if found else 0

    def size(self, rows: Callable[[str, tuple[Any, ...]], Rows]) -> int:
        found = rows(self._last_leaf, ())
        return int(found[0][0]) + 1 if found else 0

    def page(
        self, rows: Callable[[str, tuple[Any, ...]], Rows], first: int, last: int
    ) -> list[tuple[int, int, bytes]]:
        """(leaf, position, nodes) of the leaves in [first, last], in order."""
        query = self.sql(
            f"SELECT {self._key} - {self._offset}, position, nodes FROM {self.tree} "
            f"WHERE {self._key} BETWEEN ? AND ? AND nodes IS NOT NULL ORDER BY {self._key}"
        )
        offset = self._offset
        return [(r[0], r[1], bytes(r[2])) for r in rows(query, (first + offset, last + offset))]

    def leaf_at(self, rows: Callable[[str, tuple[Any, ...]], Rows], position: int) -> int | None:
        """The leaf of a log position: positions grow with leaves, so a binary search
        over the primary key, O(log n) reads."""
        low, high = 0, self.size(rows) - 1
        while low <= high:
            middle = (low + high) // 2
            found = self.positions(rows, [middle]).get(middle)
            if found is None:
                return None
            if found == position:
                return middle
            if found < position:
                low = middle + 1
            else:
                high = middle - 1
        return None

    def leaf_of(
        self, rows: Callable[[str, tuple[Any, ...]], Rows], stream: str, version: int
    ) -> int | None:
        """The leaf of a stream's event (`stream` in hex, as `stream_hex` gives it), in
        one query; None while the tree is off or does not hold it. SQLite's leaf is the
        chain row's position - 1; PostgreSQL's positions may skip, so its query binary
        searches the leaves' primary key (positions grow with leaves, and a leaf is
        below its position) for the event's position, O(log n) reads in the server."""
        if not self.enabled:
            return None
        if self.in_chain:
            query = (
                f"SELECT c.position - 1 FROM {self.events} e JOIN {self.tree} c "
                f"ON c.position = e.{self.position} WHERE e.originator_id = ? "
                "AND e.originator_version = ? AND c.nodes IS NOT NULL"
            )
            found = rows(query, (stream, version))
        else:
            query = (
                f"WITH RECURSIVE entry AS (SELECT e.{self.position} AS at "
                f"FROM {self.events} e WHERE e.originator_id = %s "
                "AND e.originator_version = %s), "
                "search(low, high) AS (SELECT 0::bigint, "
                f"LEAST(entry.at - 1, (SELECT max(leaf) FROM {self.tree})) FROM entry "
                "UNION ALL SELECT "
                "CASE WHEN t.position < entry.at THEN t.leaf + 1 ELSE search.low END, "
                "CASE WHEN t.position < entry.at THEN search.high ELSE t.leaf END "
                f"FROM search JOIN {self.tree} t ON t.leaf = (search.low + search.high) / 2 "
                "CROSS JOIN entry WHERE search.low < search.high) "
                f"SELECT t.leaf FROM search JOIN {self.tree} t ON t.leaf = search.low "
                "CROSS JOIN entry WHERE search.low = search.high AND t.position = entry.at"
            )
            found = rows(query, (UUID(hex=stream), version))
        return int(found[0][0]) if found else None

    def checkpoints_stored(self, rows: Callable[[str, tuple[Any, ...]], Rows]) -> list[Checkpoint]:
        """Every stored checkpoint, smallest tree first."""
        query = f"SELECT {_CHECKPOINT} FROM {self.checkpoints} ORDER BY size"
        return [_checkpoint(r) for r in rows(query, ())]

    def latest(self, rows: Callable[[str, tuple[Any, ...]], Rows]) -> Checkpoint | None:
        """The checkpoint of the largest tree, if any."""
        query = f"SELECT {_CHECKPOINT} FROM {self.checkpoints} ORDER BY size DESC LIMIT 1"
        found = rows(query, ())
        return _checkpoint(found[0]) if found else None


def _checkpoint(row: tuple[Any, ...]) -> Checkpoint:
    return Checkpoint(
        size=row[0],
        position=row[1],
        root=bytes(row[2]).hex(),
        time=row[3],
        key=bytes(row[4]).hex() if len(row[4]) == 32 else bytes(row[4]).decode(),
        signature=bytes(row[5]).hex(),
    )


def tree_lags(tree: Tables, rows: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]) -> bool:
    """Whether the log holds entries after the tree's last."""
    found = tree.last_position(rows)
    after = f"SELECT 1 FROM {tree.events} WHERE {tree.position} > ? LIMIT 1"
    return bool(rows(tree.sql(after), (found,)))
