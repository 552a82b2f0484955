"""Raw edits of a stored log, as someone with write access to the database would make
them, on SQLite and PostgreSQL alike: what `tidings verify` and `tidings replay` must
find. One helper, so every tamper test runs on both backends through `db_url`."""

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from tidings.adapters.ledger.entries import GENESIS, link
from tidings.adapters.store.environment import is_postgres

__all__ = ["Tamper", "tamper"]


class Tamper:
    """Edits of the log's rows, named by log position, in one transaction."""

    def __init__(self, connection: Any, postgres: bool):
        self._connection = connection
        if postgres:
            self._names = {"events": "tidings_events", "snapshots": "tidings_snapshots"}
            self._names |= {"position": "notification_id", "mark": "%s"}
        else:
            self._names = {"events": "stored_events", "snapshots": "stored_snapshots"}
            self._names |= {"position": "rowid", "mark": "?"}

    def _run(self, sql: str, *params: Any) -> list[Any]:
        cursor = self._connection.execute(sql.format(**self._names), params)
        return list(cursor.fetchall()) if cursor.description else []

    def state(self, position: int) -> bytes:
        rows = self._run("SELECT state FROM {events} WHERE {position} = {mark}", position)
        return bytes(rows[0][0])

    def position_of(self, topic: str) -> int:
        """The position of the first event stored under `topic`."""
        rows = self._run("SELECT min({position}) FROM {events} WHERE topic = {mark}", topic)
        return int(rows[0][0])

    def set_state(self, position: int, state: bytes) -> None:
        self._run("UPDATE {events} SET state = {mark} WHERE {position} = {mark}", state, position)

    def set_stream(self, position: int, stream: str) -> None:
        """The row at `position` moved to the stream `stream` (its id as text)."""
        self._run(
            "UPDATE {events} SET originator_id = {mark} WHERE {position} = {mark}", stream, position
        )

    def delete(self, position: int, *, with_link: bool = False) -> None:
        self._run("DELETE FROM {events} WHERE {position} = {mark}", position)
        if with_link:
            self._run("DELETE FROM tidings_chain WHERE position = {mark}", position)

    def swap(self, first: int, second: int) -> None:
        """Swap two rows' contents (topic and state), each keeping its place."""
        one = self._run("SELECT topic, state FROM {events} WHERE {position} = {mark}", first)
        two = self._run("SELECT topic, state FROM {events} WHERE {position} = {mark}", second)
        for position, (topic, state) in ((first, two[0]), (second, one[0])):
            self._run(
                "UPDATE {events} SET topic = {mark}, state = {mark} WHERE {position} = {mark}",
                topic,
                bytes(state),
                position,
            )

    def recut(self, position: int, moved: int) -> None:
        """Move the last `moved` bytes of the row at `position` to the start of the next
        row: both rows' bytes together are unchanged."""
        this, after = self.state(position), self.state(position + 1)
        self.set_state(position, this[:-moved])
        self.set_state(position + 1, this[-moved:] + after)

    def run(self, sql: str, *params: Any) -> list[Any]:
        """Any other edit: `sql` names {events}, {snapshots}, {position} and the
        placeholder {mark} as this database does."""
        return self._run(sql, *params)

    def truncate(self, after: int) -> None:
        """The entries after position `after` gone with their chain links, and the
        snapshots dropped: the newest rows deleted, as a forger would (issue 19)."""
        self._run("DELETE FROM {events} WHERE {position} > {mark}", after)
        self._run("DELETE FROM tidings_chain WHERE position > {mark}", after)
        self._run("DELETE FROM {snapshots}")

    def relink(self) -> None:
        """Every chain digest recomputed with the published `link`, over the rows as
        they now are: an edit the chain alone no longer shows (issue 19)."""
        rows = self._run(
            "SELECT {position}, originator_id, originator_version, topic, state "
            "FROM {events} ORDER BY {position}"
        )
        previous = GENESIS
        for position, stream, version, topic, state in rows:
            raw = stream.bytes if isinstance(stream, UUID) else bytes.fromhex(stream)
            previous = link(previous, position, raw, version, topic, bytes(state))
            self._run(
                "UPDATE tidings_chain SET digest = {mark} WHERE position = {mark}",
                previous,
                position,
            )

    def drop_tree(self, *, after: int = 0) -> None:
        """The Merkle tree's rows of the entries after position `after` gone (all by
        default): the `nodes` of the chain's rows, where it keeps them."""
        self._run("UPDATE tidings_chain SET nodes = NULL WHERE position > {mark}", after)

    def drop_leaf(self, leaf: int) -> None:
        """One leaf's row of the Merkle tree gone."""
        self._run("UPDATE tidings_chain SET nodes = NULL WHERE position = {mark}", leaf + 1)

    def drop_tree_tables(self) -> None:
        """The Merkle tree and the checkpoints gone, as in a database from before them."""
        self._run("ALTER TABLE tidings_chain DROP COLUMN nodes")
        self._run("DROP TABLE tidings_checkpoints")

    def set_snapshots(self, state: bytes) -> None:
        """Every stored snapshot rewritten to hold `state`."""
        self._run("UPDATE {snapshots} SET state = {mark}", state)


@contextmanager
def tamper(url: str) -> Iterator[Tamper]:
    """Edits of the database at `url` (a SQLite file or a PostgreSQL URL with its
    schema), committed when the block ends."""
    if is_postgres(url):
        import psycopg

        schema = parse_qs(urlsplit(url).query)["schema"][0]
        with psycopg.connect(url.split("?", 1)[0]) as connection:
            connection.execute(f'SET search_path TO "{schema}"')
            yield Tamper(connection, postgres=True)
    else:
        import sqlite3

        with closing(sqlite3.connect(url)) as connection, connection:
            yield Tamper(connection, postgres=False)
