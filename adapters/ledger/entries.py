"""A log entry, from the domain event to its hashes. Stored as eventsourcing's row: the
topic is the event's msgspec tag, the state its MessagePack. Canonical bytes (what the
chain and the tree hash, rebuilt by outside tools from a row): position (8 bytes,
big-endian) || version (8 bytes, big-endian) || stream id (16 bytes) || topic (UTF-8) ||
0x00 || state. The chain: digest n = sha256(digest n-1 || entry). The tree: RFC 9162's,
a leaf storing the perfect subtrees it completes (`Node`: level, index).
"""

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Union, get_args
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from tidings.domain import account, delivery, endpoint, mailbox, operation, operator, session

__all__ = [
    "EMPTY_ROOT",
    "GENESIS",
    "DomainEvent",
    "Envelope",
    "LogRow",
    "MsgspecMapper",
    "Node",
    "PlacedRow",
    "Row",
    "StreamRow",
    "TailRow",
    "Tree",
    "chain_links",
    "decode_event",
    "decoder_of",
    "encode_event",
    "entry_bytes",
    "event_types",
    "frontier",
    "hex_id",
    "leaf_hash",
    "link",
    "node_hash",
    "root_of",
    "snapshot_row",
    "stored_row",
    "stream_bytes",
    "topic_of",
]

# --- stored -----------------------------------------------------------------------------
_CATEGORY_UNIONS = {
    "account": account.AccountEvent,
    "operation": operation.OperationEvent,
    "mailbox": mailbox.MailboxEvent,
    "delivery": delivery.DeliveryEvent,
    "endpoint": endpoint.EndpointEvent,
    "operator": operator.OperatorEvent,
    "session": session.SessionEvent,
}
# Every stored event type, in one union (`get_args` lists them).
DomainEvent: Any = Union[tuple(_CATEGORY_UNIONS.values())]  # noqa: UP007

_TYPES: dict[str, type[msgspec.Struct]] = {
    cls.__struct_config__.tag: cls for cls in get_args(DomainEvent)
}
_DECODERS = {topic: msgspec.msgpack.Decoder(cls) for topic, cls in _TYPES.items()}
_TOPICS: dict[type, str] = {cls: topic for topic, cls in _TYPES.items()}
encode_event = msgspec.msgpack.Encoder().encode
_SNAPSHOTTED = _TOPICS[mailbox.MailboxSnapshotted]

# An event as stored: stream id (hex; a UUID where eventsourcing gave one), version,
# topic, state.
Row = tuple[str | UUID, int, str, bytes]
StreamRow = tuple[int, str, bytes]  # version, topic, state
PlacedRow = tuple[int, int, str, bytes]  # position, version, topic, state
TailRow = tuple[str, int, int]  # stream id in hex, version, position
LogRow = tuple[int, str, int, str, bytes]  # position, stream id in hex, version, topic, state


def event_types(category: str) -> list[str]:
    return [cls.__struct_config__.tag for cls in get_args(_CATEGORY_UNIONS[category])]


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """A domain event at its place in a stream: what eventsourcing saves and reads."""

    originator_id: UUID
    originator_version: int
    event: Any


def topic_of(event: msgspec.Struct) -> str:
    try:
        return _TOPICS[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not a stored domain event") from None


def stored_row(stream: str, version: int, event: msgspec.Struct) -> Row:
    """`event` at `version` of the stream `stream` (hex) names, as stored."""
    # `topic_of` only for the error: the lookup alone spares every event a call.
    topic = _TOPICS.get(type(event)) or topic_of(event)
    return stream, version, topic, encode_event(event)


class _PackedSnapshot(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """`mailbox.MailboxSnapshot`'s fields in its order, the queue as it is held."""

    next_id: int
    queue: tuple[Any, ...]
    last_acked: int | None


class _PackedSnapshotted(
    msgspec.Struct,
    frozen=True,
    gc=False,
    kw_only=True,
    tag=mailbox.MailboxSnapshotted.__struct_config__.tag,
):
    state: _PackedSnapshot
    at: datetime


def snapshot_row(stream: str, version: int, state: mailbox.MailboxState, at: datetime) -> Row:
    """`mailbox.snapshot(state, at)` as `stored_row` stores it, the queued notifications'
    MessagePack copied as held, not decoded and encoded again."""
    queue = tuple([msgspec.Raw(h) if type(h) is bytes else h for h in state.queue.held()])
    packed = _PackedSnapshot(next_id=state.next_id, queue=queue, last_acked=state.last_acked)
    return stream, version, _SNAPSHOTTED, encode_event(_PackedSnapshotted(state=packed, at=at))


def decode_event(topic: str, state: bytes) -> Any:
    """The domain event stored under `topic`; KeyError for a topic we do not know."""
    return _DECODERS[topic].decode(state)


def decoder_of(topic: str) -> Callable[[bytes], Any]:
    """`decode_event` for one topic, for a reader of many rows (KeyError)."""
    return _DECODERS[topic].decode


class _NoTranscoder(Transcoder):
    """What eventsourcing's Mapper is handed, as it wants a transcoder: msgspec encodes
    and decodes every event, so a use of it is a bug, stopped before it stores JSON."""

    def encode(self, obj: Any) -> bytes:
        raise TypeError(_NO_TRANSCODER)

    def decode(self, data: bytes) -> Any:
        raise TypeError(_NO_TRANSCODER)


_NO_TRANSCODER = "events are msgspec MessagePack (`encode_event`), never a transcoder's"


class MsgspecMapper(Mapper[UUID]):
    """Decodes stored rows for eventsourcing's readers; nothing is written through it."""

    def __init__(self) -> None:
        super().__init__(transcoder=_NoTranscoder())

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        originator_id = stored_event.originator_id
        return Envelope(
            originator_id=originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
            originator_version=stored_event.originator_version,
            event=decode_event(stored_event.topic, stored_event.state),
        )


# --- canonical bytes and the chain ------------------------------------------------------
GENESIS = bytes(32)


_POSITION_VERSION = struct.Struct(">QQ").pack


def entry_bytes(position: int, stream: bytes, version: int, topic: str, state: bytes) -> bytes:
    # Joined once, not grown by four concatenations: every write runs it for every event.
    return b"".join((_POSITION_VERSION(position, version), stream, topic.encode(), b"\0", state))


def stream_bytes(stream: UUID | str) -> bytes:
    """A stream id's 16 bytes, from SQLite's hex or PostgreSQL's UUID."""
    return stream.bytes if isinstance(stream, UUID) else bytes.fromhex(stream)


def hex_id(stream: UUID | str) -> str:
    return stream.hex if isinstance(stream, UUID) else stream


def link(
    previous: bytes, position: int, stream: bytes, version: int, topic: str, state: bytes
) -> bytes:
    """The chain's digest of one log entry after `previous`."""
    return hashlib.sha256(previous + entry_bytes(position, stream, version, topic, state)).digest()


def chain_links(
    previous: bytes, ids: Sequence[int], rows: Sequence[tuple[UUID | str, int, str, bytes]]
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """The chain rows (position, digest) of `rows` at `ids`, and their entries
    (position, canonical bytes), built once for the chain and the tree."""
    links, entries, sha256 = [], [], hashlib.sha256
    for position, (stream, version, topic, state) in zip(ids, rows, strict=True):
        # `entry_bytes` and `stream_bytes`, inlined: every entry of every write runs this.
        sid = stream.bytes if isinstance(stream, UUID) else bytes.fromhex(stream)
        entry = b"".join((_POSITION_VERSION(position, version), sid, topic.encode(), b"\0", state))
        previous = sha256(previous + entry).digest()
        links.append((position, previous))
        entries.append((position, entry))
    return links, entries


# --- the tree ---------------------------------------------------------------------------
EMPTY_ROOT = hashlib.sha256(b"").digest()
Node = tuple[int, int]  # (level, index)


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\0" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\1" + left + right).digest()


def frontier(size: int) -> list[Node]:
    """The perfect subtrees a tree of `size` leaves is made of, largest first."""
    nodes, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def root_of(hashes: list[bytes]) -> bytes:
    """The root of a tree from its frontier's hashes (largest first)."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class Tree:
    """A tree kept as its frontier only (O(log n)): appends and roots, no proofs."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes = list(hashes)  # the frontier's, largest first

    def append(self, leaf: bytes) -> bytes:
        """Add a leaf hash; the nodes it completes, lowest first, 32 bytes each."""
        return self._grow((leaf,))[0]

    def extend(self, entries: Sequence[tuple[int, bytes]]) -> list[bytes]:
        """`append` the leaf of each entry (position, canonical bytes), in one loop."""
        sha256 = hashlib.sha256
        return self._grow(sha256(b"\0" + entry).digest() for _, entry in entries)  # `leaf_hash`

    def _grow(self, leaves: Iterable[bytes]) -> list[bytes]:
        hashes, size, sha256, nodes = self.hashes, self.size, hashlib.sha256, []
        for leaf in leaves:
            node = completed = leaf
            closing = size
            while closing & 1:
                node = sha256(b"\1" + hashes.pop() + node).digest()  # `node_hash`, inlined
                completed += node
                closing >>= 1
            hashes.append(node)
            size += 1
            nodes.append(completed)
        self.size = size
        return nodes

    def root(self) -> bytes:
        return root_of(self.hashes)
