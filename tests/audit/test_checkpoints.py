"""When the store signs, and a tree caught up from a log written without one."""

import logging
from pathlib import Path

import pytest
from tidings.adapters.errors import InvalidArgument, StorageError
from tidings.adapters.ledger.checkpoint import Cadence
from tidings.adapters.ledger.keys import BadKey, load_key, new_key
from tidings.adapters.ledger.signer import Signer, signer_for, warn_unsigned
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.cli.app import app
from typer.testing import CliRunner

from ..clock import FakeClock
from ..store.tamper import tamper

runner = CliRunner()


def _sizes(db: str) -> list[int]:
    """The tree sizes of the checkpoints stored in `db`, read beside the writer."""
    store = Store(db)
    try:
        recorder = store.recorder
        return [c.size for c in recorder.tree.checkpoints_stored(recorder.tree_rows)]
    finally:
        store.close()


def _vkey(key_file: Path) -> str:
    """The verifier key of a key file, as auditors pin it."""
    signer = signer_for(str(key_file))
    assert signer is not None
    return str(signer.verifier)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    new_key(tmp_path / "signing.key")
    return tmp_path / "signing.key"


def test_a_checkpoint_is_signed_every_n_entries(sqlite_url: str, key_file: Path) -> None:
    with Tidings(sqlite_url, signing_key=str(key_file), cadence=Cadence(5, 3600)) as t:
        t.open_account("tester", "pw")  # the first write is signed: 1 entry
        for i in range(4):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")  # 1, then 2 entries
    assert _sizes(sqlite_url) == [1, 7, 13]


def test_a_checkpoint_is_signed_t_seconds_after_the_last_while_the_log_grows(
    db_url: str, key_file: Path
) -> None:
    clock = FakeClock()
    signer = Signer(load_key(key_file), Cadence(1000, 60), clock=lambda: clock().timestamp())
    with Tidings.over(Store(db_url, signer=signer), clock=clock) as t:
        t.open_account("tester", "pw")
        clock.advance(59)
        t.accept("tester", "c0", "op")
        assert _sizes(db_url) == [1]
        clock.advance(120)  # nothing written meanwhile: nothing signed
        assert _sizes(db_url) == [1]
        t.accept("tester", "c1", "op")
        assert _sizes(db_url) == [1, 3]


def test_a_log_written_without_a_tree_gets_one_when_opened(
    db_url: str, key_file: Path, tmp_path: Path
) -> None:
    """A database from before the tree (here: its table emptied) is caught up from the
    log at the next open, under the write lock; then signed and witnessed as any."""
    with Tidings(db_url) as t:
        t.open_account("tester", "pw")
        for i in range(3):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
    with tamper(db_url) as forge:
        forge.drop_tree()
    witness = tmp_path / "witness.json"
    env = {"TIDINGS_SIGNING_KEY": str(key_file)}
    taken = runner.invoke(app, ["checkpoint", "--db", db_url, "--out", str(witness)], env=env)
    assert taken.exit_code == 0, taken.output
    assert witness.read_text().split("\n")[1] == "10"
    with Tidings(db_url, signing_key=str(key_file)) as t:
        t.accept("tester", "c9", "op")
    verified = runner.invoke(
        app, ["verify", "--db", db_url, "--witness", str(witness), "--key", _vkey(key_file)]
    )
    assert verified.exit_code == 0, verified.output
    assert "1 of 1 witnessed checkpoints: the log extends them" in verified.output


def test_the_library_signs_with_the_key_the_environment_names(
    db_url: str, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("TIDINGS_CHECKPOINT_ENTRIES", "2")
    with Tidings(db_url) as t:
        t.open_account("tester", "pw")
        t.end(t.accept("tester", "c0", "op").svtrid, 1000, "OK")
    assert _sizes(db_url) == [1, 4]


def test_a_signing_key_that_cannot_be_read_is_one_clear_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-key").write_text("secret-looking text")
    env = {"TIDINGS_SIGNING_KEY": str(tmp_path / "not-a-key")}
    with Tidings(sqlite_url):
        pass
    result = runner.invoke(app, ["checkpoint", "--db", sqlite_url], env=env)
    assert result.exit_code == 2
    assert "holds no unencrypted PEM private key" in result.output
    assert "secret-looking" not in result.output and "Traceback" not in result.output


def test_two_writers_grow_one_tree(db_url: str, key_file: Path, tmp_path: Path) -> None:
    """Each store keeps the frontier it wrote; a write by the other shows in the chain's
    last digest, and the frontier is read again: the tree stays the log's."""
    with (
        Tidings(db_url, signing_key=str(key_file)) as one,
        Tidings(db_url, signing_key=str(key_file)) as two,
    ):
        one.open_account("tester", "pw")
        for i in range(6):
            writer = one if i % 3 else two
            writer.end(writer.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
    witness = tmp_path / "witness.json"
    env = {"TIDINGS_SIGNING_KEY": str(key_file)}
    taken = runner.invoke(app, ["checkpoint", "--db", db_url, "--out", str(witness)], env=env)
    assert taken.exit_code == 0, taken.output
    assert witness.read_text().split("\n")[1] == "19"
    verified = runner.invoke(
        app, ["verify", "--db", db_url, "--witness", str(witness), "--key", _vkey(key_file)]
    )
    assert verified.exit_code == 0, verified.output
    assert "1 of 1 witnessed checkpoints: the log extends them" in verified.output


def test_a_tree_with_rows_deleted_refuses_writes_in_one_clear_error(sqlite_url: str) -> None:
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "pw")
        t.accept("tester", "c0", "op")
        t.accept("tester", "c1", "op")
    with tamper(sqlite_url) as forge:
        forge.drop_leaf(1)
    with Tidings(sqlite_url) as t, pytest.raises(StorageError, match="Merkle tree lacks"):
        t.accept("tester", "c2", "op")


def test_verify_fails_a_database_whose_tree_was_dropped(db_url: str) -> None:
    # Without the tree the whole log, chain included, could be rewritten unnoticed.
    with Tidings(db_url) as t:
        t.open_account("tester", "pw")
    with tamper(db_url) as forge:
        forge.drop_tree_tables()
    verified = runner.invoke(app, ["verify", "--db", db_url])
    assert verified.exit_code == 1, verified.output
    assert "FAILED: the Merkle tree's tables are missing" in verified.output
    unsigned = runner.invoke(app, ["checkpoint", "--db", db_url])
    assert unsigned.exit_code == 1 and "no signed checkpoint" in unsigned.output


def test_a_key_readable_by_others_is_refused_and_no_key_at_all_is_warned(
    key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file.chmod(0o644)
    with pytest.raises(BadKey, match="may be read by others"):
        signer_for(str(key_file))
    with caplog.at_level(logging.WARNING, logger="tidings.ledger"):
        warn_unsigned(None)
    assert "no signing key (TIDINGS_SIGNING_KEY)" in caplog.text


def test_verify_warns_of_checkpoints_further_apart_than_the_cadence(
    sqlite_url: str, key_file: Path
) -> None:
    with Tidings(sqlite_url, signing_key=str(key_file), cadence=Cadence(5, 3600)) as t:
        t.open_account("tester", "pw")
        for i in range(4):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
    env = {"TIDINGS_CHECKPOINT_ENTRIES": "2"}
    verified = runner.invoke(app, ["verify", "--db", sqlite_url, "--key", _vkey(key_file)], env=env)
    assert verified.exit_code == 0, verified.output
    assert "warning: 6 entries between the checkpoints of 1 and 7 entries" in verified.output


@pytest.mark.parametrize(
    ("entries", "seconds"),
    [(0, 60.0), (-5, 60.0), (10, -1.0), (10, float("nan")), (10, float("inf"))],
)
def test_a_cadence_that_would_sign_at_every_append_or_never_is_refused(
    entries: int, seconds: float
) -> None:
    with pytest.raises(InvalidArgument, match="cadence"):
        Cadence(entries, seconds)
