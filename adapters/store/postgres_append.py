"""The append PostgreSQL computes itself (`tidings_append`) under the lock its caller
took: the same rows as the client's own append, byte for byte, so the lock is held for
the server's work alone. Also how an append whose connection died once its COMMIT may
have been sent is found in the log (`Look`, for `outage.settled`).
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Literal

from ..ledger.entries import Row
from .environment import quoted
from .merkle_tables import Tables
from .postgres_sql import Statements, frontier_columns

__all__ = ["Head", "Look", "ServerAppend", "chained", "found", "moved_on", "placed"]

Head = tuple[int, bytes]  # where the log ends: its last position and chain digest
# What an append left in the log, looked up on a connection after its own died: its
# positions and the head after it, or None when it did not commit.
Look = Callable[[Any], tuple[list[int], Head] | None]


class ServerAppend:
    """`tidings_append` of one schema: `create`, its CREATE statement; `call`, the
    statement that runs it, whose row is the first position, the last chain digest, the
    tree's size and frontier. It raises (`RaiseException`, nothing written) when the
    tree does not end where the log does or a checkpoint would fall due."""

    def __init__(self, sql: Statements, snapshots_table: str, tree: Tables):
        function = quoted(sql.schema, "tidings_append")
        self.create = SQL(
            f"CREATE OR REPLACE FUNCTION {function}(p_ids uuid[], p_versions bigint[], "
            "p_topics text[], p_states bytea[], s_ids uuid[], s_versions bigint[], "
            "s_topics text[], s_states bytea[], p_tree boolean, p_every bigint, "
            "OUT o_first bigint, OUT o_digest bytea, OUT o_size bigint, OUT o_hashes bytea[]) "
            "LANGUAGE plpgsql AS {}"
        ).format(Literal(_body(sql, snapshots_table, tree)))
        self.call = (
            f"SELECT * FROM {function}(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], "
            "%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::boolean, %s::bigint)"
        )


def placed(row: tuple[Any, ...], count: int, tree: Tables) -> tuple[list[int], Head]:
    """The positions and head `tidings_append`'s `row` gives for `count` events; `tree`
    keeps the frontier it returned."""
    first, digest, size, hashes = row
    ids = list(range(first, first + count))
    after = ids[-1], bytes(digest)
    tree.keep(after[1], ids[-1], size, ids[-1], hashes or ())
    return ids, after


def _body(sql: Statements, snapshots_table: str, tree: Tables) -> str:
    events, chain = sql.events, sql.chain
    frontier = frontier_columns(tree).replace("%s", "0")
    checkpoints = tree.checkpoints
    snapshots = quoted(sql.schema, snapshots_table)
    table = Literal(quoted(sql.schema, sql.events_table)).as_string(None)
    body = f"""
DECLARE
  v_last bigint; v_n int := cardinality(p_ids); v_at bigint;
  v_links bytea[] := '{{}}'; v_nodes bytea[] := '{{}}';
  v_entry bytea; v_node bytea; v_done bytea; v_bits bigint;
BEGIN
  SELECT coalesce(max(notification_id), 0) INTO v_last FROM {events};
  SELECT digest INTO o_digest FROM {chain} ORDER BY position DESC LIMIT 1;
  o_digest := coalesce(o_digest, decode(repeat('00', 32), 'hex'));
  IF p_tree THEN
    SELECT frontier.size, frontier.at, frontier.hashes INTO o_size, v_at, o_hashes
      FROM {frontier};
    o_size := coalesce(o_size, 0);
    o_hashes := coalesce(o_hashes, '{{}}');
    IF (o_size > 0 OR v_last > 0) AND (v_at IS DISTINCT FROM v_last
        OR cardinality(o_hashes) <> length(replace(o_size::bit(64)::text, '0', ''))) THEN
      RAISE EXCEPTION 'the tree does not end where the log does';
    END IF;
  END IF;
  FOR i IN 1..v_n LOOP
    v_entry := int8send(v_last + i) || int8send(p_versions[i]) || uuid_send(p_ids[i])
      || convert_to(p_topics[i], 'UTF8') || '\\x00'::bytea || p_states[i];
    o_digest := sha256(o_digest || v_entry);
    v_links := array_append(v_links, o_digest);
    IF p_tree THEN
      v_node := sha256('\\x00'::bytea || v_entry);
      v_done := v_node;
      v_bits := o_size;
      WHILE (v_bits & 1) = 1 LOOP
        v_node := sha256('\\x01'::bytea || o_hashes[cardinality(o_hashes)] || v_node);
        o_hashes := o_hashes[1:cardinality(o_hashes) - 1];
        v_done := v_done || v_node;
        v_bits := v_bits >> 1;
      END LOOP;
      o_hashes := array_append(o_hashes, v_node);
      v_nodes := array_append(v_nodes, v_done);
      o_size := o_size + 1;
    END IF;
  END LOOP;
  IF p_tree AND o_size - coalesce((SELECT max(size) FROM {checkpoints}), 0) >= p_every THEN
    RAISE EXCEPTION 'a checkpoint is due';
  END IF;
  INSERT INTO {events}
    (notification_id, originator_id, originator_version, topic, state)
    SELECT v_last + e_n, e_id, e_version, e_topic, e_state
    FROM unnest(p_ids, p_versions, p_topics, p_states)
    WITH ORDINALITY AS e(e_id, e_version, e_topic, e_state, e_n);
  INSERT INTO {chain} (position, digest, nodes)
    SELECT v_last + l_n, l_digest, v_nodes[l_n]
    FROM unnest(v_links) WITH ORDINALITY AS l(l_digest, l_n);
  INSERT INTO {snapshots}
    (originator_id, originator_version, topic, state)
    SELECT * FROM unnest(s_ids, s_versions, s_topics, s_states) ON CONFLICT DO NOTHING;
  PERFORM setval(pg_get_serial_sequence({table}, 'notification_id'), v_last + v_n);
  o_first := v_last + 1;
END"""
    return body


def chained(sql: Statements, ids: list[int], after: Head) -> Look:
    query = f"SELECT digest FROM {sql.chain} WHERE position = %s"

    def look(conn: Any) -> tuple[list[int], Head] | None:
        row = conn.execute(query, (after[0],)).fetchone()
        return (ids, after) if row is not None and bytes(row["digest"]) == after[1] else None

    return look


def found(sql: Statements, events: Sequence[Row]) -> Look:
    """How an append the server placed is found: its first and last events, byte for
    byte, as many positions apart as it has events."""
    query = (
        f"SELECT e.notification_id, e.state, c.digest FROM {sql.events} e JOIN {sql.chain} c "
        "ON c.position = e.notification_id WHERE e.originator_id = %s AND e.originator_version = %s"
    )

    def look(conn: Any) -> tuple[list[int], Head] | None:
        rows = []
        for stream, version, _, state in (events[0], events[-1]):
            key = stream if isinstance(stream, UUID) else UUID(hex=stream)
            row = conn.execute(query, (key, version)).fetchone()
            if row is None or bytes(row["state"]) != state:
                return None
            rows.append(row)
        first, last = rows[0]["notification_id"], rows[1]["notification_id"]
        if last - first != len(events) - 1:
            return None
        return list(range(first, last + 1)), (last, bytes(rows[1]["digest"]))

    return look


@contextmanager
def moved_on() -> Iterator[None]:
    """`Statements.news`'s failure as eventsourcing's `IntegrityError`, a lost race."""
    try:
        yield
    except psycopg.errors.InvalidArgumentForLogarithm as error:
        raise IntegrityError("a stream the batch read has moved on") from error
