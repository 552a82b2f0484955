"""Reading the Merkle tree's and the checkpoints' tables (their layout: `merkle_tables`).
Every read takes a `rows` callable (a query and its parameters -> rows), so it runs on
whatever connection the caller holds.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..ledger.checkpoint import Checkpoint

__all__ = ["CHAIN", "CHECKPOINTS", "TreeReads", "tree_lags"]

CHAIN = "tidings_chain"
CHECKPOINTS = "tidings_checkpoints"
_CHECKPOINT = "size, position, root, time, key, signature"

Rows = list[tuple[Any, ...]]
# Runs a query with its parameters on the caller's connection; its rows.
Read = Callable[[str, tuple[Any, ...]], Rows]


class TreeReads:
    """Where the tree's and the checkpoints' rows are in one database, and their reads.

    `enabled`: whether writes grow the tree (a lookup answers None while it is off)."""

    def __init__(self, prefix: str, events: str, position: str, *, postgres: bool):
        self.prefix = prefix
        self.checkpoints = prefix + CHECKPOINTS
        self.events, self.position = prefix + events, position
        self.postgres = postgres
        # The tree's rows are the chain's, keyed by position: leaf + 1.
        self.tree = prefix + CHAIN
        self.enabled = True

    def sql(self, query: str) -> str:
        return query.replace("?", "%s") if self.postgres else query

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
        marks = ", ".join("?" * len(leaves))
        query = self.sql(
            f"SELECT position - 1, {column} FROM {self.tree} "
            f"WHERE position IN ({marks}) AND nodes IS NOT NULL"
        )
        return {
            r[0]: bytes(r[1]) if isinstance(r[1], memoryview | bytes) else r[1]
            for r in rows(query, tuple(leaf + 1 for leaf in leaves))
        }

    @property
    def last_leaf_query(self) -> str:
        """(leaf, position) of the tree's last leaf, by the key: the chain's rows where
        the tree was off hold no nodes, and only a catch-up runs past them."""
        return (
            f"SELECT position - 1, position FROM {self.tree} "
            "WHERE nodes IS NOT NULL ORDER BY position DESC LIMIT 1"
        )

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
        """The log position of the tree's last leaf (0: the tree is empty); by the key."""
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

    def checkpoints_stored(self, rows: Read) -> list[Checkpoint]:
        """Every stored checkpoint, smallest tree first."""
        query = f"SELECT {_CHECKPOINT} FROM {self.checkpoints} ORDER BY size"
        return [_checkpoint(r) for r in rows(query, ())]

    def latest(self, rows: Read) -> Checkpoint | None:
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
        key=bytes(row[4]).decode(errors="replace"),
        signature=bytes(row[5]).hex(),
    )


def tree_lags(tree: TreeReads, rows: Read) -> bool:
    """Whether the log holds entries after the tree's last."""
    found = tree.last_position(rows)
    after = f"SELECT 1 FROM {tree.events} WHERE {tree.position} > ? LIMIT 1"
    return bool(rows(tree.sql(after), (found,)))
