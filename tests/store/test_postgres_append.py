"""The PostgreSQL append: sent in one round trip after where this process last saw the
log end, yet correct when another writer appended meanwhile; all or nothing when
something fails after the events' INSERT; the locked path survives lost connections."""

from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from tidings.adapters.audit.integrity import verify
from tidings.adapters.errors import StorageError
from tidings.adapters.ledger.keys import new_key
from tidings.adapters.ledger.signer import signer_for
from tidings.adapters.store.application import Store
from tidings.cli.app import app
from typer.testing import CliRunner

from tests.store.dropped import terminate_connections

__all__: list[str] = []


def _events(count: int) -> list[tuple[UUID, int, str, bytes]]:
    stream = uuid4()
    return [(stream, n, "Probe", b"\x80") for n in range(1, count + 1)]


def _schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def test_appends_interleaved_by_two_writers_keep_one_gapless_chained_log(
    postgres_url: str,
) -> None:
    first, second = Store(postgres_url), Store(postgres_url)
    try:
        # when: each appends after a log the other has moved on since it last looked
        placed = [
            first.recorder.append(_events(2), []),
            second.recorder.append(_events(1), []),
            first.recorder.append(_events(3), []),
            second.recorder.append(_events(1), []),
            second.recorder.append(_events(2), []),
        ]
        # then: positions follow each other with no gap and the chain verifies
        assert placed == [[1, 2], [3], [4, 5, 6], [7], [8, 9]]
        assert verify(first) == (9, None)
    finally:
        first.close()
        second.close()


def test_writers_that_learn_the_end_from_tail_grow_the_log_s_tree(
    postgres_url: str, tmp_path: Path
) -> None:
    """`tail` reads the tree's frontier with the log's end: the next append goes on from
    it, outside the lock, and the tree stays the log's."""
    new_key(tmp_path / "signing.key")
    env = {"TIDINGS_SIGNING_KEY": str(tmp_path / "signing.key")}
    first, second = Store(postgres_url), Store(postgres_url)
    try:
        # when: each reads the log's end, as its poller would, then appends after the
        # other's append (trees of 1 to 11 leaves, frontiers of every shape up to 8)
        for count in (1, 2, 1, 3, 1, 1, 2):
            for writer in (first, second) if count % 2 else (second, first):
                writer.recorder.tail(writer.max_position(), 1)
                writer.recorder.append(_events(count), [])
    finally:
        first.close()
        second.close()
    # then: a checkpoint of the tree as stored is one the log's own tree extends
    witness = tmp_path / "witness.json"
    runner = CliRunner()
    taken = runner.invoke(app, ["checkpoint", "--db", postgres_url, "--out", str(witness)], env=env)
    assert taken.exit_code == 0, taken.output
    assert witness.read_text().split("\n")[1] == "22"
    signer = signer_for(env["TIDINGS_SIGNING_KEY"])
    assert signer is not None
    verified = runner.invoke(
        app,
        ["verify", "--db", postgres_url, "--witness", str(witness), "--key", str(signer.verifier)],
    )
    assert verified.exit_code == 0, verified.output
    assert "1 of 1 witnessed checkpoints: the log extends them" in verified.output


def test_a_failure_after_the_events_insert_leaves_nothing(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        store.recorder.append(_events(3), [])
    finally:
        store.close()
    # given: a row of the tree's frontier was deleted by hand, so growing the tree fails
    # once the events' statement is already queued in the transaction
    with psycopg.connect(postgres_url.split("?", 1)[0], autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{_schema(postgres_url)}".tidings_chain SET nodes = NULL WHERE position = 2'
        )
    store = Store(postgres_url, tree=False)  # opens without catching the tree up
    store.recorder.tree.enabled = True
    try:
        # when: an append is tried
        with pytest.raises(StorageError, match="the Merkle tree lacks rows"):
            store.recorder.append(_events(1), [])
        # then: nothing of it was committed
        assert store.max_position() == 3
        assert store.recorder.max_chained() == 3
    finally:
        store.close()


def test_a_locked_append_after_the_connections_dropped_succeeds(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        store.recorder.append(_events(1), [])
        # given: the server ended every connection the store had open
        assert terminate_connections(store, postgres_url)
        # when: the next append runs under the lock (a retry after a lost race)
        with store.locked():
            placed = store.recorder.append(_events(2), [])
        # then: it took its lock on a fresh connection and was committed
        assert placed == [2, 3]
        assert verify(store) == (3, None)
    finally:
        store.close()
