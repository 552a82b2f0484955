"""The array literals the PostgreSQL recorder binds its rows with read back as the values
they were built from, whatever the values hold, and a batch's many-row insert stores
its rows as they were."""

from uuid import uuid4

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import ClientCursor
from tidings.adapters.store.postgres_sql import Batch, byteas, ints, texts, uuids

_texts = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    max_size=6,
)
_bytes = st.lists(st.binary(max_size=40), max_size=6)
_ints = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6)


def _server(postgres_url: str) -> tuple[str, str]:
    """The server's URL and the test's schema, from the fixture's URL."""
    server, _, schema = postgres_url.rpartition("schema=")
    return server.rstrip("?&"), schema


def _read_back(postgres_url: str, query: str, literal: str) -> object:
    with psycopg.connect(_server(postgres_url)[0]) as conn:
        cursor = ClientCursor(conn)
        row = conn.execute(cursor.mogrify(query, (literal,))).fetchone()
        assert row is not None
        return row[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=_texts, blobs=_bytes, numbers=_ints)
def test_array_literals_read_back_as_their_values(
    postgres_url: str, values: list[str], blobs: list[bytes], numbers: list[int]
) -> None:
    # given: values of each kind, quotes, backslashes, braces and commas included
    # when: each is bound as its literal and read back
    # then
    assert _read_back(postgres_url, "SELECT %s::text[]", texts(values)) == values
    assert _read_back(postgres_url, "SELECT %s::bytea[]", byteas(blobs)) == blobs
    assert _read_back(postgres_url, "SELECT %s::bigint[]", ints(numbers)) == numbers


def test_stream_ids_read_back_as_uuids(postgres_url: str) -> None:
    ids = [uuid4(), uuid4()]
    # given: stream ids as a UUID and as hex; when: bound; then: the same UUIDs
    mixed = [ids[0], ids[1].hex]
    assert _read_back(postgres_url, "SELECT %s::uuid[]", uuids(mixed)) == ids


def test_a_batch_inserts_many_rows_as_they_were(postgres_url: str) -> None:
    # given: rows whose bytes and text hold quotes, backslashes and braces
    rows = [(1, b"\x00\\'\"", "a\\b"), (2, b"", '{"x",}'), (3, bytes(range(256)), "")]
    server, schema = _server(postgres_url)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".t (n bigint, b bytea, s text)')
        # when: a batch inserts them in one statement
        batch = Batch(conn)
        batch.executemany(f'INSERT INTO "{schema}".t VALUES (%s, %s, %s)', rows)
        batch.send()
        stored = conn.execute(f'SELECT n, b, s FROM "{schema}".t ORDER BY n').fetchall()
    # then
    assert stored == rows
