"""How domain events are stored: msgspec MessagePack in eventsourcing's stored format.

A stored event is eventsourcing's row: stream id, version, topic, state. The stored
topic is the event's msgspec tag, a string fixed in the domain
(`tag="NotificationQueued"`), not a Python path: renaming or moving a class does not
orphan the events already stored; the state is the event in MessagePack. The store
writes an event straight as such a row (`stored_row`); eventsourcing's readers get
each back through `MsgspecMapper`, as an `Envelope`: the pure domain event (the domain
has no eventsourcing import) with the two attributes eventsourcing needs
(`originator_id`, `originator_version`).
"""

from collections.abc import Callable, Sequence
from typing import Any, Union, get_args
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from tidings.domain import account, delivery, endpoint, mailbox, operation, operator, session

__all__ = [
    "DomainEvent",
    "Envelope",
    "MsgspecMapper",
    "Row",
    "decode_event",
    "decoder_of",
    "encode_event",
    "event_types",
    "rows_of",
    "stored_row",
    "topic_of",
]

DomainEvent = Union[  # noqa: UP007 - built from unions, not written out
    account.AccountEvent,
    operation.OperationEvent,
    mailbox.MailboxEvent,
    delivery.DeliveryEvent,
    endpoint.EndpointEvent,
    operator.OperatorEvent,
    session.SessionEvent,
]

_TYPES: dict[str, type[msgspec.Struct]] = {
    cls.__struct_config__.tag: cls for cls in get_args(DomainEvent)
}
_DECODERS = {topic: msgspec.msgpack.Decoder(cls) for topic, cls in _TYPES.items()}
_ENCODER = msgspec.msgpack.Encoder()
_TOPICS: dict[type, str] = {cls: topic for topic, cls in _TYPES.items()}
_encode = _ENCODER.encode

# An event as stored: stream id (hex; a UUID where eventsourcing gave one), version,
# topic, state.
Row = tuple[str | UUID, int, str, bytes]


_CATEGORY_UNIONS = {
    "account": account.AccountEvent,
    "operation": operation.OperationEvent,
    "mailbox": mailbox.MailboxEvent,
    "delivery": delivery.DeliveryEvent,
    "endpoint": endpoint.EndpointEvent,
    "operator": operator.OperatorEvent,
    "session": session.SessionEvent,
}


def event_types(category: str) -> list[str]:
    """The stored topics of one stream category's events."""
    return [cls.__struct_config__.tag for cls in get_args(_CATEGORY_UNIONS[category])]


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """A domain event at its place in a stream: what eventsourcing saves and reads."""

    originator_id: UUID
    originator_version: int
    event: Any


def topic_of(event: msgspec.Struct) -> str:
    """The stable stored topic of an event (its msgspec tag)."""
    try:
        return _TOPICS[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not a stored domain event") from None


def stored_row(stream: str, version: int, event: msgspec.Struct) -> Row:
    """`event` at `version` of the stream `stream` (hex) names, as stored."""
    try:
        topic = _TOPICS[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not a stored domain event") from None
    return stream, version, topic, _encode(event)


def encode_event(event: msgspec.Struct) -> bytes:
    return _ENCODER.encode(event)


def decode_event(topic: str, state: bytes) -> Any:
    """The domain event stored under `topic`; KeyError for a topic we do not know."""
    return _DECODERS[topic].decode(state)


def decoder_of(topic: str) -> Callable[[bytes], Any]:
    """The decoder of the events stored under `topic` (KeyError for a topic we do not
    know), for a reader of many rows: one lookup per topic instead of one per row."""
    return _DECODERS[topic].decode


def rows_of(events: Sequence[StoredEvent]) -> list[Row]:
    """eventsourcing's stored events as rows."""
    return [(e.originator_id, e.originator_version, e.topic, e.state) for e in events]


class _NullTranscoder(Transcoder):
    """eventsourcing's Mapper wants a transcoder; ours encodes with msgspec instead."""

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError("MsgspecMapper encodes events itself")

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError("MsgspecMapper decodes events itself")


class MsgspecMapper(Mapper[UUID]):
    """Maps envelopes to stored events and back with msgspec MessagePack."""

    def __init__(self) -> None:
        super().__init__(transcoder=_NullTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        envelope: Envelope = domain_event
        return StoredEvent(
            originator_id=envelope.originator_id,
            originator_version=envelope.originator_version,
            topic=topic_of(envelope.event),
            state=_ENCODER.encode(envelope.event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        originator_id = stored_event.originator_id
        return Envelope(
            originator_id=originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
            originator_version=stored_event.originator_version,
            event=decode_event(stored_event.topic, stored_event.state),
        )
