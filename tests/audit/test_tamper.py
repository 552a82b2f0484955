"""Tamper evidence against whoever can write the database: the two forgeries of issue 19,
edited checkpoints, and where the private key is not."""

import base64
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from tidings.adapters.ledger.checkpoint import Cadence, Checkpoint, from_note
from tidings.adapters.ledger.entries import decode_event, encode_event
from tidings.adapters.ledger.keys import load_key
from tidings.adapters.ledger.signer import signer_for
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from typer.testing import CliRunner

from ..store.tamper import Tamper, tamper

runner = CliRunner()


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    """A signing key file and its public key, as `tidings key new` makes them."""
    path = tmp_path / "signing.key"
    made = runner.invoke(app, ["key", "new", str(path)])
    assert made.exit_code == 0, made.output
    return path, made.stdout.strip()


def _history(db: str, key_file: Path, operations: int = 5) -> None:
    """16 entries: an account, then per operation its acceptance, end and notification;
    a checkpoint signed every 4 entries."""
    with Tidings(db, signing_key=str(key_file), cadence=Cadence(4, 3600)) as t:
        t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")


def _witness(db: str, key_file: Path, out: Path) -> Checkpoint:
    """What an auditor keeps: the log's checkpoint, signed as it stands."""
    env = {"TIDINGS_SIGNING_KEY": str(key_file)}
    taken = runner.invoke(app, ["checkpoint", "--db", db, "--out", str(out)], env=env)
    assert taken.exit_code == 0, taken.output
    signer = signer_for(str(key_file))
    assert signer is not None
    return from_note(out.read_text(), [signer.verifier])


def _verify(db: str, public: str, *witnesses: Path) -> tuple[int, str]:
    args = ["verify", "--db", db, "--key", public]
    for witness in witnesses:
        args += ["--witness", str(witness)]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_an_untouched_log_extends_its_witness(
    db_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(db_url, key[0])
    _witness(db_url, key[0], tmp_path / "witness.json")
    code, output = _verify(db_url, key[1], tmp_path / "witness.json")
    assert code == 0, output
    assert "chain intact: 16 entries" in output
    assert "1 of 1 witnessed checkpoints: the log extends them" in output
    assert "a truncation after the last witnessed checkpoint cannot be detected" in output


def test_the_newest_entries_deleted_are_caught_by_a_witness(
    db_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(db_url, key[0])
    witness = tmp_path / "witness.json"
    _witness(db_url, key[0], witness)
    with tamper(db_url) as forge:
        forge.truncate(after=13)
        forge.run("DELETE FROM tidings_checkpoints WHERE position > 13")
    replayed = runner.invoke(app, ["verify", "--db", db_url, "--key", key[1]])
    assert "chain intact: 13 entries" in replayed.output  # what the forger counted on
    code, output = _verify(db_url, key[1], witness)
    assert code == 1
    assert "the log was truncated: it holds 13 entries" in output
    # The tree's rows are the chain's, which went with the entries.
    assert "the entries after position 13 are missing" in output


def test_deleting_the_tree_rows_too_still_names_where_the_log_ends(
    db_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(db_url, key[0])
    witness = tmp_path / "witness.json"
    _witness(db_url, key[0], witness)
    with tamper(db_url) as forge:
        forge.truncate(after=13)
        forge.drop_tree(after=13)
        forge.run("DELETE FROM tidings_checkpoints WHERE position > 13")
    code, output = _verify(db_url, key[1], witness)
    assert code == 1
    assert "the entries after position 13 are missing" in output


def _forge_a_result(forge: Tamper) -> int:
    """The second operation's OperationEnded says KO instead of OK; every later chain
    digest recomputed. Returns its position."""
    [(position, state)] = forge.run(
        "SELECT {position}, state FROM {events} WHERE topic = 'OperationEnded' ORDER BY {position} "
        "LIMIT 1 OFFSET 1"
    )
    ended = decode_event("OperationEnded", bytes(state))
    assert ended.result == "OK"
    forged = encode_event(msgspec.structs.replace(ended, result="KO"))
    forge.run("UPDATE {events} SET state = {mark} WHERE {position} = {mark}", forged, position)
    forge.relink()
    return int(position)


def test_an_edited_result_with_the_chain_recomputed_is_caught_by_a_witness(
    db_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(db_url, key[0])
    witness = tmp_path / "witness.json"
    _witness(db_url, key[0], witness)
    with tamper(db_url) as forge:
        position = _forge_a_result(forge)
        forge.run("DELETE FROM tidings_checkpoints")
    unwitnessed = runner.invoke(app, ["verify", "--db", db_url, "--key", key[1]])
    assert "chain intact: 16 entries" in unwitnessed.output
    code, output = _verify(db_url, key[1], witness)
    assert code == 1
    assert f"the first entry that differs is at position {position}" in output


def test_an_edited_result_is_caught_by_the_stored_checkpoints_alone(
    db_url: str, key: tuple[Path, str]
) -> None:
    _history(db_url, key[0])
    with tamper(db_url) as forge:
        position = _forge_a_result(forge)
    code, output = _verify(db_url, key[1])
    assert code == 1
    assert f"the first entry that differs is at position {position}" in output


def test_a_rewritten_tree_is_caught_and_narrowed_between_checkpoints(
    sqlite_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    """The forger rebuilds the tree table from the forged log with the published hashing:
    the signed checkpoints still differ; the difference lies between two of them."""
    _history(sqlite_url, key[0])
    witness = tmp_path / "witness.json"
    _witness(sqlite_url, key[0], witness)
    with tamper(sqlite_url) as forge:
        position = _forge_a_result(forge)
        forge.drop_tree()
    Tidings(sqlite_url).close()  # a store opened catches the tree up: from the forged log
    code, output = _verify(sqlite_url, key[1], witness)
    assert code == 1
    assert "the first entry that differs is after position 5, at or before position 10" in output
    assert 5 < position <= 10


@pytest.mark.parametrize("field", ["signature", "size", "root"])
def test_an_edited_checkpoint_is_refused(
    db_url: str, key: tuple[Path, str], tmp_path: Path, field: str
) -> None:
    _history(db_url, key[0])
    witness = tmp_path / "witness.txt"
    kept = _witness(db_url, key[0], witness)
    origin, size, root, blank, line = witness.read_text().split("\n")[:5]
    edited = {
        "signature": [origin, size, root, blank, line[:-8] + "AAAAAAA="],
        "size": [origin, str(kept.size - 1), root, blank, line],
        "root": [origin, size, base64.b64encode(bytes(32)).decode(), blank, line],
    }[field]
    witness.write_text("\n".join(edited) + "\n")
    code, output = _verify(db_url, key[1], witness)
    assert code == 1
    assert f"witness {witness} refused: its signature does not match its fields" in output
    with tamper(db_url) as forge:
        value = {"signature": b"\0" * 64, "size": 99, "root": b"\0" * 32}[field]
        forge.run(f"UPDATE tidings_checkpoints SET {field} = {{mark}} WHERE size = 5", value)
    code, output = _verify(db_url, key[1])
    assert code == 1
    assert "refused: its signature does not match its fields" in output
    assert "signed checkpoints hold" not in output  # no count under a failure


def test_a_checkpoint_signed_with_another_key_is_refused(
    sqlite_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(sqlite_url, key[0])
    other = tmp_path / "other.key"
    public = runner.invoke(app, ["key", "new", str(other)]).stdout.strip()
    code, output = _verify(sqlite_url, public)
    assert code == 1
    assert "not by a pinned key" in output


def test_without_a_key_nothing_is_signed_and_verify_says_so(sqlite_url: str) -> None:
    with Tidings(sqlite_url) as t:
        t.open_account("tester", "pw")
    result = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "no signed checkpoints: nothing is signed without TIDINGS_SIGNING_KEY" in result.output
    taken = runner.invoke(app, ["checkpoint", "--db", sqlite_url], env={"TIDINGS_SIGNING_KEY": ""})
    assert taken.exit_code == 1
    assert "no signed checkpoint" in taken.output


def test_the_private_key_is_nowhere_in_the_database(sqlite_url: str, key: tuple[Path, str]) -> None:
    _history(sqlite_url, key[0])
    assert key[0].stat().st_mode & 0o777 == 0o600
    private = load_key(key[0]).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    files = [Path(sqlite_url), *Path(sqlite_url).parent.glob("tidings.db-*")]
    stored = b"".join(path.read_bytes() for path in files)
    assert key[1].encode() in stored  # the verifier key is, in each checkpoint
    assert private not in stored and private.hex().encode() not in stored
    assert key[0].read_bytes() not in stored


def test_key_new_refuses_to_overwrite_a_file(key: tuple[Path, str]) -> None:
    again = runner.invoke(app, ["key", "new", str(key[0])])
    assert again.exit_code == 2
    assert "cannot create" in again.output and "Traceback" not in again.output


def test_a_witness_that_cannot_be_read_is_one_clear_line(
    sqlite_url: str, key: tuple[Path, str], tmp_path: Path
) -> None:
    _history(sqlite_url, key[0])
    witness = tmp_path / "witness.json"
    witness.write_text("{not json")
    code, output = _verify(sqlite_url, key[1], witness)
    assert code == 1
    assert f"FAILED: witness {witness} cannot be read" in output
    assert "Traceback" not in output
    assert "no witness given" not in output  # it was given: it failed, said above


@pytest.mark.parametrize("column", ["state", "originator_id", "topic"])
def test_a_column_forged_into_text_is_named_where_it_lies(
    sqlite_url: str, key: tuple[Path, str], column: str
) -> None:
    # SQLite hands back text that is not UTF-8 as an error, not as the bytes stored.
    _history(sqlite_url, key[0])
    with tamper(sqlite_url) as forge:
        forge.run(f"UPDATE {{events}} SET {column} = x'ff' || {column} WHERE {{position}} = 3")
    code, output = _verify(sqlite_url, key[1])
    assert code == 1, output
    assert "BROKEN at position 3" in output
    replayed = runner.invoke(app, ["replay", "--db", sqlite_url])
    assert not isinstance(replayed.exception, Exception) or isinstance(
        replayed.exception, SystemExit
    ), replayed.output
    assert "position 3" in replayed.output
