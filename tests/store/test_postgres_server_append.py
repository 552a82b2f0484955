"""PostgreSQL's append computed by the server (`tidings_append`), which two writers on
one log use after each other's appends: the chain links, the tree's nodes and the
checkpoints it leaves are byte for byte those the client's own append computes, which
are checked here from the stored entries over many generated batches."""

import random
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row
from tidings.adapters.audit.integrity import verify
from tidings.adapters.ledger.entries import Tree, entry_bytes, leaf_hash, stream_bytes
from tidings.adapters.ledger.keys import new_key
from tidings.adapters.ledger.signer import signer_for
from tidings.adapters.store.application import Store
from tidings.adapters.store.postgres_append import found
from tidings.adapters.store.postgres_sql import Statements

__all__: list[str] = []

_TOPICS = ["Probe", "Ünïcode topic ✓", "NotificationQueued", "x" * 200]
_Event = tuple[UUID, int, str, bytes]  # a row as appended: stream, version, topic, state


def _batch(rng: random.Random, streams: dict[UUID, int], most: int = 40) -> list[_Event]:
    """1 to `most` events of new and known streams, states of any bytes (NULs included)."""
    events = []
    for _ in range(rng.randint(1, most)):
        stream = rng.choice([*streams, uuid4()]) if streams else uuid4()
        streams[stream] = version = streams.get(stream, 0) + 1
        state = rng.randbytes(rng.randint(0, 300))
        events.append((stream, version, rng.choice(_TOPICS), state))
    return events


def _snapshots(rng: random.Random, events: list[_Event]) -> list[_Event]:
    chosen = rng.sample(events, k=min(len(events), rng.randint(0, 2)))
    return [(stream, version, "Snap", b"\0s") for stream, version, _, _ in chosen]


def _events(count: int) -> list[_Event]:
    stream = uuid4()
    return [(stream, n, "Probe", b"\x80") for n in range(1, count + 1)]


def _tree_of(store: Store) -> list[tuple[int, int, bytes]]:
    """The tree's rows (leaf, position, nodes) as stored."""
    recorder = store.recorder
    rows = recorder.tree_rows(
        f"SELECT position - 1, position, nodes FROM {recorder.tree.tree} WHERE nodes IS NOT NULL",
        (),
    )
    return sorted((int(leaf), int(at), bytes(nodes)) for leaf, at, nodes in rows)


def _expected_tree(store: Store) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """The tree rows the client's own append would have written for the log as stored,
    and the root after each leaf."""
    tree, rows, roots = Tree(), [], []
    top = store.max_position()
    for position, stream, version, topic, state in store.recorder.scan(1, top):
        entry = entry_bytes(position, stream_bytes(stream), version, topic, state)
        rows.append((tree.size, position, tree.append(leaf_hash(entry))))
        roots.append(tree.root())
    return rows, roots


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_writers_leave_the_chain_and_tree_the_client_computes(
    postgres_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    writers = [Store(postgres_url), Store(postgres_url)]
    streams: dict[UUID, int] = {}
    placed: list[int] = []
    try:
        # when: two writers append batches in a random order, each sometimes after
        # reading the log's end (its next append then goes the client's one-round-trip
        # way), else after the other's append (the server's way)
        for _ in range(60):
            writer = rng.choice(writers)
            if rng.random() < 0.3:
                writer.recorder.tail(writer.max_position(), 1)
            events = _batch(rng, streams)
            placed += writer.recorder.append(events, _snapshots(rng, events))
        # then: positions follow each other, the chain verifies, and the tree's rows are
        # exactly those computed from the stored entries
        assert placed == list(range(1, len(placed) + 1))
        assert verify(writers[0]) == (len(placed), None)
        expected, _ = _expected_tree(writers[0])
        assert _tree_of(writers[0]) == expected
    finally:
        for writer in writers:
            writer.close()


def test_checkpoints_fall_due_amid_server_appends_and_sign_the_log_s_tree(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: two writers with keys of their own, a checkpoint due every 23 entries
    monkeypatch.setenv("TIDINGS_CHECKPOINT_ENTRIES", "23")
    writers = []
    for name in ("first", "second"):
        new_key(tmp_path / name)
        writers.append(Store(postgres_url, signer=signer_for(str(tmp_path / name))))
    rng = random.Random(7)
    streams: dict[UUID, int] = {}
    try:
        # when: they append in turns, so most appends go the server's way
        for turn in range(80):
            writers[turn % 2].recorder.append(_batch(rng, streams, 6), [])
        # then: checkpoints were signed on the way, each of the log's tree at its size
        expected, roots = _expected_tree(writers[0])
        assert _tree_of(writers[0]) == expected
        signed = writers[0].recorder.tree_rows(
            f"SELECT size, root FROM {writers[0].recorder.tree.checkpoints}", ()
        )
        assert len(signed) >= len(roots) // 23 // 2
        for size, root in signed:
            assert bytes(root) == roots[size - 1]
    finally:
        for writer in writers:
            writer.close()


def test_an_append_the_server_placed_is_found_in_the_log_by_its_events(
    postgres_url: str,
) -> None:
    """What a writer asks the log when the connection of an append the server placed
    died once its COMMIT may have been sent (`outage.settled`)."""
    first, second = Store(postgres_url), Store(postgres_url)
    try:
        # given: an append the server placed, after another writer's
        first.recorder.append(_events(2), [])
        written = [
            (stream.hex, version, topic, state) for stream, version, topic, state in _events(3)
        ]
        placed = second.recorder.append(written, [])
        recorder = second.recorder
        sql = Statements(recorder.datastore.schema, recorder.events_table_name, recorder.tree)
        stranger = [(uuid4().hex, 1, "Probe", b"\x80")]
        altered = [(*written[0][:3], b"other"), *written[1:]]
        with psycopg.connect(postgres_url.split("?", 1)[0], row_factory=dict_row) as conn:
            # when: the log is asked for it, and for appends that never landed
            found_it = found(sql, written)(conn)
            never = found(sql, stranger)(conn), found(sql, altered)(conn)
        # then: it is found at its positions, the chain's last digest after it
        assert placed == [3, 4, 5]
        assert found_it == (placed, (5, recorder.chain(5, 5)[0][1]))
        assert never == (None, None)
    finally:
        first.close()
        second.close()
