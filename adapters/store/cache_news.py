"""What other writers appended, as the store's cache takes it: the states they moved on
are dropped (`Store.refresh`, and on PostgreSQL the save its look rides with)."""

from collections.abc import MutableMapping, Sequence
from typing import Any

from ..ledger.entries import TailRow

__all__ = ["follow"]


def follow(
    cache: MutableMapping[str, Any], seen: int, rows: Sequence[TailRow], limit: int
) -> int | None:
    """Drop from `cache` (stream -> a state with its `version`) the states log entries
    `rows` moved on; the position seen after them (`seen` at least). None, the cache
    emptied, for more than `limit` rows: forgetting it all is cheaper than reading on."""
    if len(rows) > limit:
        cache.clear()
        return None
    for key, version, position in rows:
        cached = cache.get(key)
        if cached is not None and cached.version < version:
            del cache[key]
        seen = max(seen, position)
    return seen
