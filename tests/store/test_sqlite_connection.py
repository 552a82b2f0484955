"""The connection the SQLite recorder writes on: WAL, every commit fsynced, the
statement journals of a batch's multi-row INSERTs kept in memory, not written to a
temporary file at every batch, and a page cache that holds the pages its commits come
back to on a long log, and its WAL copied into the file every 4,000 pages, not 1,000."""

from pathlib import Path

from tidings.adapters.store.application import Store


def test_the_writer_connection_is_durable_and_journals_statements_in_memory(
    tmp_path: Path,
) -> None:
    # given: a store on a SQLite file
    store = Store(str(tmp_path / "tidings.db"))
    try:
        # when: its writer connection is asked how it is set
        recorder = store.recorder
        # then: WAL, synchronous FULL (2), temporary storage in memory (2)
        assert recorder.pragma("PRAGMA journal_mode") == "wal"
        assert recorder.pragma("PRAGMA synchronous") == 2
        assert recorder.pragma("PRAGMA temp_store") == 2
        # and: a page cache of 8 MiB (negative: KiB), four times SQLite's default
        assert recorder.pragma("PRAGMA cache_size") == -8192
        # and: the WAL checkpointed every 4,000 pages
        assert recorder.pragma("PRAGMA wal_autocheckpoint") == 4000
    finally:
        store.close()
