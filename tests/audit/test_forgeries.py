"""Forgeries by whoever can write the database but not read the signing key: each is
refused by the honest signer, and caught by `verify --witness` with the key pinned,
which names where the log stops being what was signed."""

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from tidings.adapters.ledger.checkpoint import Cadence, Note, sign
from tidings.adapters.ledger.entries import decode_event, encode_event
from tidings.adapters.ledger.keys import load_key
from tidings.adapters.ledger.signer import memory_file, signing_refusal
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.cli.app import app
from typer.testing import CliRunner

from ..store.tamper import Tamper, tamper

runner = CliRunner()
Forgery = Callable[[str, Path], str]  # (db, attacker's key) -> what verify must name


def _new_key(path: Path, origin: str) -> str:
    made = runner.invoke(app, ["key", "new", str(path), "--origin", origin])
    assert made.exit_code == 0, made.output
    return made.stdout.strip()


def _write(db: str, key: Path | None, operations: int, tag: str, *, account: bool = True) -> None:
    """An account, then per operation its acceptance, end and notification; a
    checkpoint every 4 entries when signed."""
    with Tidings(db, signing_key=str(key) if key else None, cadence=Cadence(4, 3600)) as t:
        if account:
            t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"{tag}{i}", "op").svtrid, 1000, "OK")


def _checkpoint(db: str, key: Path, out: Path | None = None) -> tuple[int, str]:
    args = ["checkpoint", "--db", db] + (["--out", str(out)] if out else [])
    taken = runner.invoke(app, args, env={"TIDINGS_SIGNING_KEY": str(key)})
    return taken.exit_code, taken.output


def _stored_sizes(db: str) -> list[int]:
    store = Store(db, read_only=True)
    try:
        recorder = store.recorder
        return [c.size for c in recorder.tree.checkpoints_stored(recorder.tree_rows)]
    finally:
        store.close()


def _recompute_tree(db: str) -> None:
    """The tree rebuilt from the log as it now is, with the published hashing (a store
    opened to write catches it up)."""
    with tamper(db) as forge:
        forge.drop_tree()
    Tidings(db).close()


def _forge_result(forge: Tamper) -> int:
    """The second operation's OperationEnded says KO; its position."""
    [(position, state)] = forge.run(
        "SELECT {position}, state FROM {events} WHERE topic = 'OperationEnded' "
        "ORDER BY {position} LIMIT 1 OFFSET 1"
    )
    ended = decode_event("OperationEnded", bytes(state))
    forged = encode_event(msgspec.structs.replace(ended, result="KO"))
    forge.run("UPDATE {events} SET state = {mark} WHERE {position} = {mark}", forged, position)
    return int(position)


def truncation(db: str, _: Path) -> str:
    with tamper(db) as forge:
        forge.truncate(after=13)
        forge.drop_tree(after=13)
        forge.run("DELETE FROM tidings_checkpoints WHERE position > 13")
    return (
        "the log was truncated: it holds 13 entries, 16 were signed; "
        "the entries after position 13 are missing"
    )


def rewrite(db: str, _: Path) -> str:
    with tamper(db) as forge:
        position = _forge_result(forge)
        forge.relink()
        forge.run("DELETE FROM tidings_checkpoints")
    _recompute_tree(db)
    assert 0 < position <= 16
    return "the first entry that differs is after position 0, at or before position 16"


def rollback(db: str, _: Path) -> str:
    """An old copy restored (the log as it was at 10 entries, its checkpoints then), and
    another future written on it."""
    with tamper(db) as forge:
        forge.truncate(after=10)
        forge.drop_tree(after=10)
        forge.run("DELETE FROM tidings_checkpoints WHERE position > 10")
    _write(db, None, 3, "other", account=False)
    return (
        "the first entry that differs is after position 10, at or before position 16 (the "
        "stored tree agrees with the log: a fork"
    )


def swap(db: str, _: Path) -> str:
    with tamper(db) as forge:
        forge.swap(6, 9)
        forge.relink()
        forge.run("DELETE FROM tidings_checkpoints")
    _recompute_tree(db)
    return "the first entry that differs is after position 0, at or before position 16"


def resigned(db: str, attacker: Path) -> str:
    """A rewrite, every checkpoint then signed again by the forger's own key."""
    with tamper(db) as forge:
        _forge_result(forge)
        forge.relink()
        forge.run("DELETE FROM tidings_checkpoints")
    _recompute_tree(db)
    code, output = _checkpoint(db, attacker)
    assert code == 0, output
    return "the first entry that differs is after position 0, at or before position 16"


@pytest.mark.parametrize("forgery", [truncation, rewrite, rollback, swap, resigned])
def test_a_forgery_is_refused_by_the_signer_and_caught_by_a_pinned_witness(
    db_url: str, tmp_path: Path, forgery: Forgery
) -> None:
    # given: a signed log of 16 entries and the checkpoint an auditor kept of it
    honest = tmp_path / "honest.key"
    vkey = _new_key(honest, "example.com/tidings")
    attacker = tmp_path / "attacker.key"
    _new_key(attacker, "example.com/tidings")
    _write(db_url, honest, 5, "c")
    witness = tmp_path / "checkpoint.txt"
    code, output = _checkpoint(db_url, honest, witness)
    assert code == 0, output
    remembered = memory_file(honest).read_bytes()

    # when: the database is forged
    named = forgery(db_url, attacker)

    # then: a witness with the key pinned names where the log stops being what it signed
    verified = runner.invoke(
        app, ["verify", "--db", db_url, "--key", vkey, "--witness", str(witness)]
    )
    assert verified.exit_code == 1, verified.output
    assert named in " ".join(verified.output.split())
    assert "signed checkpoints hold" not in verified.output

    # and the honest key signs nothing more
    before = _stored_sizes(db_url)
    code, output = _checkpoint(db_url, honest)
    assert code == 1, output
    assert "the signer refuses" in output
    with Tidings(db_url, signing_key=str(honest), cadence=Cadence(1, 0)) as t:
        t.accept("tester", "after", "op")
        assert signing_refusal() is not None
    assert _stored_sizes(db_url) == before
    assert memory_file(honest).read_bytes() == remembered


def test_a_forged_truncation_names_the_first_entry_gone_where_the_tree_rows_remain(
    db_url: str, tmp_path: Path
) -> None:
    honest = tmp_path / "honest.key"
    vkey = _new_key(honest, "example.com/tidings")
    _write(db_url, honest, 5, "c")
    witness = tmp_path / "checkpoint.txt"
    _checkpoint(db_url, honest, witness)
    with tamper(db_url) as forge:
        forge.truncate(after=13)
        forge.run("DELETE FROM tidings_checkpoints WHERE position > 13")
    verified = runner.invoke(
        app, ["verify", "--db", db_url, "--key", vkey, "--witness", str(witness)]
    )
    assert verified.exit_code == 1
    assert "the entries after position 13 are missing" in verified.output


def test_a_witness_without_a_pinned_key_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    honest = tmp_path / "honest.key"
    _new_key(honest, "example.com/tidings")
    _write(sqlite_url, honest, 1, "c")
    witness = tmp_path / "checkpoint.txt"
    _checkpoint(sqlite_url, honest, witness)
    unpinned = runner.invoke(app, ["verify", "--db", sqlite_url, "--witness", str(witness)])
    assert unpinned.exit_code == 2
    assert "pin the log's key" in unpinned.output
    plain = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert plain.exit_code == 0
    assert "signatures NOT checked against a pinned key" in plain.output


def test_a_witness_signed_by_another_key_fails(sqlite_url: str, tmp_path: Path) -> None:
    honest, attacker = tmp_path / "honest.key", tmp_path / "attacker.key"
    vkey = _new_key(honest, "example.com/tidings")
    _new_key(attacker, "example.com/tidings")
    _write(sqlite_url, honest, 1, "c")
    kept = tmp_path / "checkpoint.txt"
    _checkpoint(sqlite_url, honest, kept)
    body = kept.read_text().partition("\n\n")[0] + "\n"
    forged = tmp_path / "forged.txt"
    forged.write_text(str(Note(body, (sign(load_key(attacker), "example.com/tidings", body),))))
    verified = runner.invoke(
        app, ["verify", "--db", sqlite_url, "--key", vkey, "--witness", str(forged)]
    )
    assert verified.exit_code == 1
    assert "signed by no pinned key" in verified.output
