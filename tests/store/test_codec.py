"""Stored events: msgspec MessagePack under a stable topic, never a Python path."""

import sqlite3
from datetime import UTC, datetime
from typing import get_args

import msgspec
import pytest
from tidings.adapters.codec import DomainEvent, decode_event, encode_event, topic_of
from tidings.adapters.library import Tidings
from tidings.domain.mailbox import NotificationAcked


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
