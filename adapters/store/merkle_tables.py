"""The Merkle tree and the signed checkpoints, kept in the log's insert transaction, and
what both recorders share. Each chain row, `tidings_chain (position, digest, nodes)`,
holds its leaf's `nodes`: the hashes of the perfect subtrees that entry completes,
lowest first (NULL where the tree was off). Leaf = position - 1, and node (level,
index) is in the row of leaf (index + 1) * 2**level - 1, at offset 32 * level: every
root and proof is read from O(log n) rows by the primary key.
"""

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..errors import StorageError
from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import (
    LogRow,
    PlacedRow,
    StreamRow,
    Tree,
    entry_bytes,
    frontier,
    stream_bytes,
)
from ..ledger.merkle import consistency_path, needed
from ..ledger.signer import Prover, Refused, Signer
from .environment import quoted

__all__ = ["CHAIN", "CHECKPOINTS", "ChainedRecorder", "Db", "Read", "Tables"]

CHAIN = "tidings_chain"
CHECKPOINTS = "tidings_checkpoints"
_CHECKPOINT = "size, position, root, time, key, signature"
_PAGE = 10_000

Read = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]  # a query, its parameters


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
    tree's writer, under the log's write lock. `signer`: signs checkpoints when due.
    `enabled`: off only for the bench's row without the tree."""

    def __init__(self, prefix: str, events: str, position: str, *, postgres: bool):
        self.prefix, self.postgres = prefix, postgres
        self.checkpoints = prefix + CHECKPOINTS
        self.events, self.position = prefix + events, position
        self.tree = prefix + CHAIN  # the tree's rows are the chain's, keyed by leaf + 1
        self.enabled = True
        self.signer: Signer | None = None
        # The tree as this process last wrote it, and the chain digest the log ended in
        # then; the latest checkpoint as last seen (read again when one seems due).
        self._kept: tuple[bytes, Tree] | None = None
        self._last: Checkpoint | None = None
        self._store_leaves = self.sql(f"UPDATE {self.tree} SET nodes = ? WHERE position = ?")
        self._leaf_of = self.sql(
            f"SELECT c.position - 1 FROM {self.events} e JOIN {self.tree} c "
            f"ON c.position = e.{position} WHERE e.originator_id = ? "
            "AND e.originator_version = ? AND c.nodes IS NOT NULL"
        )
        # The position of the tree's last leaf, by the key: the chain's rows where the
        # tree was off hold no nodes, and only a catch-up runs past them.
        self._last_leaf = (
            f"SELECT position FROM {self.tree} WHERE nodes IS NOT NULL "
            "ORDER BY position DESC LIMIT 1"
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

    def size(self, rows: Read) -> int:
        """The tree's size, which is the log position of its last leaf (0: empty)."""
        found = rows(self._last_leaf, ())
        return int(found[0][0]) if found else 0

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

    def grow(
        self, db: Db, entries: Sequence[tuple[int, bytes]], chained: tuple[bytes, bytes]
    ) -> Sequence[bytes | None]:
        """Append the entries just inserted, (position, canonical bytes), to the tree,
        and a checkpoint if due; each entry's nodes (None while the tree is off), for the
        chain rows. `chained`: the chain digest the log ended in before them, and after."""
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
        """Each entry's nodes, grown into `tree` (and stored, with `store`)."""
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

    def sign_every(self) -> int | None:
        """For `tidings_append`, which cannot sign: how many entries past the largest
        checkpoint one falls due (0: one may be due at any size; None: none ever is)."""
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
        """The tree as `postgres_sql.frontier_columns` read it, the log ending at `last`
        in chain `digest`: kept for the next `grow` if it is the whole log's tree and
        larger than the one kept."""
        if (
            self.enabled
            and size is not None
            and size > self.kept_size()
            and at == last
            and len(hashes) == size.bit_count()
        ):
            self._kept = digest, Tree(size, [bytes(h) for h in hashes])

    def _frontier(self, db: Db) -> Tree:
        size = self.size(db.rows)
        if not size:
            return Tree()
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
        signed = bytes.fromhex(checkpoint.root), checkpoint.time, checkpoint.key.encode()
        row = (checkpoint.size, checkpoint.position, *signed, bytes.fromhex(checkpoint.signature))
        db.many(self.sql(f"INSERT INTO {self.checkpoints} VALUES (?, ?, ?, ?, ?, ?)"), [row])

    def catch_up(self, db: Db) -> None:
        """Append to the tree the log entries it lacks (written with it off)."""
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
            page = db.rows(query, (self.size(db.rows),))
            entries = [
                (r[0], entry_bytes(r[0], stream_bytes(r[1]), r[2], r[3], bytes(r[4]))) for r in page
            ]
            self._append(db, tree, entries)
            if len(page) < _PAGE:
                return

    def sign_head(self, db: Db) -> Checkpoint | None:
        """Sign the tree unless the latest checkpoint covers it; the latest checkpoint
        after. `Refused` when the tree does not extend what the signer's key signed."""
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


class ChainedRecorder:
    """What both recorders share, on the tables `tree` names: the reads (`_read`: a query
    with `?` placeholders -> tuple rows) and the tree's transactions (under the lock)."""

    tree: Tables
    snapshots_table: str
    _read: Callable[[str, tuple[Any, ...]], list[Any]]
    tree_rows: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
    _tree_transaction: Callable[[Callable[[Db], Any]], Any]

    def _sid(self, stream: UUID) -> UUID | str:
        return stream if self.tree.postgres else stream.hex

    def select_after(self, stream: UUID, version: int) -> list[StreamRow]:
        query = (
            f"SELECT originator_version, topic, state FROM {self.tree.events} "
            "WHERE originator_id = ? AND originator_version > ? ORDER BY originator_version"
        )
        return self._read(self.tree.sql(query), (self._sid(stream), version))

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        tree = self.tree
        table = tree.prefix + quoted(self.snapshots_table)
        query = (
            f"SELECT originator_version, topic, state FROM {table} "
            "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1"
        )
        rows = self._read(tree.sql(query), (self._sid(stream),))
        return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, with their positions."""
        tree = self.tree
        query = (
            f"SELECT {tree.position}, originator_version, topic, state FROM {tree.events} "
            f"WHERE originator_id = ? AND {tree.position} <= ? ORDER BY originator_version"
        )
        rows = self._read(tree.sql(query), (self._sid(stream), upto))
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Rows at positions in [start, stop] (of `topics`, when given), as stored; on
        SQLite, a text forged into bytes that are not UTF-8 reads with U+FFFD for them."""
        tree, at, params = self.tree, self.tree.position, (start, stop, *topics)
        only = f" AND topic IN ({', '.join('?' * len(topics))})" if topics else ""
        rest = f"FROM {tree.events} WHERE {at} BETWEEN ? AND ?{only} ORDER BY {at}"
        if tree.postgres:
            sid = "replace(originator_id::text, '-', '')"
            return self._read(
                tree.sql(f"SELECT {at}, {sid}, originator_version, topic, state {rest}"), params
            )
        columns = "originator_id, originator_version, topic"
        try:  # the state as bytes, whatever a forger stored
            return self._read(f"SELECT {at}, {columns}, CAST(state AS BLOB) {rest}", params)
        except sqlite3.OperationalError:  # a text SQLite cannot decode: read again as bytes
            columns = "CAST(originator_id AS BLOB), originator_version, CAST(topic AS BLOB)"
            rows = self._read(f"SELECT {at}, {columns}, CAST(state AS BLOB) {rest}", params)
        return [
            (position, sid.decode(errors="replace"), version, topic.decode(errors="replace"), state)
            for position, sid, version, topic, state in rows
        ]

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        query = f"SELECT position, digest FROM {self.tree.tree} WHERE position BETWEEN ? AND ? "
        rows = self._read(self.tree.sql(query + "ORDER BY position"), (start, stop))
        return [(r[0], bytes(r[1])) for r in rows]

    def max_chained(self) -> int:
        return int(self._read(f"SELECT max(position) FROM {self.tree.tree}", ())[0][0] or 0)

    def ensure_tree(self) -> None:
        tree = self.tree
        if not tree.enabled:
            return
        after = tree.sql(f"SELECT 1 FROM {tree.events} WHERE {tree.position} > ? LIMIT 1")
        if self.tree_rows(after, (tree.size(self.tree_rows),)):
            self._tree_transaction(tree.catch_up)

    def sign_head(self) -> Checkpoint | None:
        signed: Checkpoint | None = self._tree_transaction(self.tree.sign_head)
        return signed
