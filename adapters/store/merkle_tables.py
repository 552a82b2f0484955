"""The Merkle tree and the signed checkpoints, kept in the log's insert transaction.

Each log entry's chain row, `tidings_chain (position, digest, nodes)`, also holds its
leaf's `nodes`: the hashes of the perfect subtrees that entry completes, lowest first
(`merkle.Tree.append`). Positions run without gaps (each append writes the ones after
the log's last, under its write lock), so leaf = position - 1, and node (level, index)
is in the row of leaf (index + 1) * 2**level - 1, at offset 32 * level: every root and
proof is read from O(log n) rows by the primary key. `nodes` is NULL where the tree was
off (`catch_up` fills it in).

- `tidings_checkpoints (size, position, root, time, key, signature)`: a signed
  checkpoint when one is due (`checkpoint.Cadence`); none without a signing key. `key`
  holds the signer's verifier key.

`grow` runs inside the recorder's insert, under the log's write lock, so the tree has
the log's one order; it reads the tree's frontier only when another writer appended
since its last write. The private key stays in the process (`signer.Signer`); only
public keys and signatures reach the database.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..errors import StorageError
from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import Tree, entry_bytes, frontier, stream_bytes
from ..ledger.merkle import consistency_path, needed
from ..ledger.signer import Prover, Refused, Signer
from .merkle_reads import Read, TreeReads

__all__ = ["Db", "Tables"]

_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Db:
    """How `Tables` talks to one connection or cursor: a query's rows, and a statement
    run for many parameter rows. Placeholders are written `?`."""

    rows: Read
    many: Callable[[str, list[tuple[Any, ...]]], None]


class Tables(TreeReads):
    """The tree's and the checkpoints' SQL for one database, and the tree's writer.

    `signer`: signs checkpoints when due (None: nothing is signed). `enabled`: whether
    writes grow the tree at all; off only for the bench's side-by-side row (a
    store opened with it on catches the tree up from the log, `catch_up`)."""

    def __init__(self, prefix: str, events: str, position: str, *, postgres: bool):
        super().__init__(prefix, events, position, postgres=postgres)
        self.signer: Signer | None = None
        # The tree as this process last wrote it, and the chain digest the log ended in
        # then: while the log still ends in it, nobody appended since, and the tree
        # needs no reading. The latest checkpoint as last seen (read again only when
        # one seems due, to learn of other writers' checkpoints).
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
        """The checkpoints' table; the tree's column is the chain's (the recorder's)."""
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
        """Each entry's nodes, grown into `tree` (stored here in chain rows already
        written, with `store`); then a checkpoint if one is due."""
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
        position and its frontier's hashes (largest first); all NULL unless the log has
        more entries than `kept_size` (the statement's one parameter) and its last one
        is in the tree. The recorder reads it with where the log ends and hands the row
        to `keep`, so `grow` reads nothing with the log's lock held."""
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
