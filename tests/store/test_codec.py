"""Stored events: msgspec MessagePack under a stable topic, never a Python path."""

import sqlite3
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import get_args
from uuid import uuid4

import msgspec
import pytest
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from tidings.adapters.ledger.entries import (
    DomainEvent,
    MsgspecMapper,
    decode_event,
    encode_event,
    snapshot_row,
    stored_row,
    topic_of,
)
from tidings.adapters.library import Tidings
from tidings.domain import MAILBOX, Backlog, Notification, Outcome
from tidings.domain.mailbox import (
    MailboxCommand,
    MailboxState,
    NotificationAcked,
    replayed,
    snapshot,
)

from tests.domain.test_replay_property import MAILBOX_COMMANDS, play, steps


def test_every_event_type_has_an_explicit_unique_topic() -> None:
    topics = [cls.__struct_config__.tag for cls in get_args(DomainEvent)]
    assert all(isinstance(t, str) and "." not in t and ":" not in t for t in topics)
    assert len(topics) == len(set(topics))


def test_an_event_round_trips_through_its_topic() -> None:
    event = NotificationAcked(id=7, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert decode_event(topic_of(event), encode_event(event)) == event


def test_a_topic_we_do_not_know_is_refused() -> None:
    with pytest.raises(KeyError):
        decode_event("SomethingElse", b"\x80")
    with pytest.raises(TypeError):
        topic_of(msgspec.Struct())


def test_rows_store_the_topic_and_msgpack_state(sqlite_url: str) -> None:
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "pw")
        t.end(t.accept("tester", "c", "op").svtrid, 1000, "OK")
    with sqlite3.connect(sqlite_url) as db:
        rows = db.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
    assert [topic for topic, _ in rows] == [
        "AccountOpened",
        "OperationAccepted",
        "OperationEnded",
        "NotificationQueued",
    ]
    assert msgspec.msgpack.decode(rows[-1][1])["type"] == "NotificationQueued"


# A mailbox snapshot as the store wrote it before the queue became a `Backlog`: its
# shape is fixed, so snapshots already stored stay readable and new ones read the same.
_T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
_STORED_SNAPSHOT = bytes.fromhex(
    "83a474797065b24d61696c626f78536e617073686f74746564a5737461746583a76e6578745f696404a5"
    "71756575659284a2696402a76f7574636f6d6589a4636f6465cd03e8a6726573756c74a24f4ba974696d"
    "657374616d70d6ff695735a5a6636c74726964a4636c2d32a6737674726964a5312e322e32a7636f6d6d"
    "616e64aa70696e672d6173796e63a464617461c0ab62617463685f7374617465c0ac696e69745f726571"
    "75657374c0ac7265747269657665645f6174d6ff695735a5ac7265747269657665645f6279a473762d39"
    "84a2696403a76f7574636f6d6589a4636f6465cd03e8a6726573756c74a24f4ba974696d657374616d70"
    "d6ff695735a5a6636c74726964a4636c2d33a6737674726964a5312e322e33a7636f6d6d616e64aa7069"
    "6e672d6173796e63a464617461c0ab62617463685f7374617465c0ac696e69745f72657175657374c0ac"
    "7265747269657665645f6174c0ac7265747269657665645f6279c0aa6c6173745f61636b656401a26174"
    "d6ff695735a5"
)


def _outcome(n: int) -> Outcome:
    return Outcome(
        code=1000,
        result="OK",
        timestamp=_T,
        cltrid=f"cl-{n}",
        svtrid=f"1.2.{n}",
        command="ping-async",
    )


def test_a_mailbox_snapshot_keeps_its_stored_shape() -> None:
    head = Notification(id=2, outcome=_outcome(2), retrieved_at=_T, retrieved_by="sv-9")
    # Split between the backlog's two lists, as a live mailbox holds it.
    queue = Backlog.of([Notification(id=1, outcome=_outcome(1))]).pushed(head).popped()
    state = MailboxState(
        next_id=4, queue=queue.pushed(Notification(id=3, outcome=_outcome(3))), last_acked=1
    )
    event = snapshot(state, _T)
    assert encode_event(event) == _STORED_SNAPSHOT
    assert snapshot_row("ab", 4, state, _T) == ("ab", 4, "MailboxSnapshotted", _STORED_SNAPSHOT)
    stored = decode_event("MailboxSnapshotted", _STORED_SNAPSHOT)
    assert stored == event
    assert stored.state.restored() == state


@settings(max_examples=200, deadline=None)
@given(steps(MAILBOX_COMMANDS))
def test_a_snapshot_row_holds_the_bytes_of_the_snapshot_event(
    script: list[tuple[int, MailboxCommand]],
) -> None:
    # Given a mailbox as commands left it (notifications held packed, the head decoded),
    # and the same mailbox as a replay builds it (every notification held as it is)
    live, events = play(MAILBOX, script)
    for state in (live, replayed(MAILBOX.initial, events)):
        # When its snapshot is written as a row, then it is the snapshot event's row
        assert snapshot_row("ab", 9, state, _T) == stored_row("ab", 9, snapshot(state, _T))


def test_a_stray_use_of_eventsourcing_s_transcoder_fails_loudly() -> None:
    # msgspec encodes every event: JSON slipped into the log would be a second format.
    mapper = MsgspecMapper()
    with pytest.raises(TypeError, match="msgspec"):
        mapper.transcoder.encode({"id": 7})
    with pytest.raises(TypeError, match="msgspec"):
        mapper.transcoder.decode(b'{"id": 7}')
    # eventsourcing's own mapping, called past ours, stops there too
    stray = SimpleNamespace(originator_id=uuid4(), originator_version=1, id=7)
    with pytest.raises(TypeError, match="msgspec"):
        Mapper.to_stored_event(mapper, stray)
