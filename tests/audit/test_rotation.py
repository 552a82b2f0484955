"""A signing key handed over: recorded by both keys, remembered by the new signer, and
shown by `verify`, which needs both keys pinned."""

from pathlib import Path

from tidings.adapters.ledger.checkpoint import Cadence, parse_note, parse_vkey, signed_by
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from typer.testing import CliRunner

from ..store.tamper import tamper

runner = CliRunner()


def _write(db: str, key: Path, operations: int, tag: str, *, account: bool = False) -> None:
    with Tidings(db, signing_key=str(key), cadence=Cadence(4, 3600)) as t:
        if account:
            t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"{tag}{i}", "op").svtrid, 1000, "OK")


def test_a_rotated_key_carries_on_the_old_ones_memory(sqlite_url: str, tmp_path: Path) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    old_vkey = runner.invoke(app, ["key", "new", str(old), "--origin", "example.com/t"]).stdout
    runner.invoke(app, ["key", "new", str(new), "--origin", "example.com/t"])
    _write(sqlite_url, old, 3, "a", account=True)

    # when: the log's signing passes to the new key
    rotated = runner.invoke(app, ["key", "rotate", str(old), str(new)])
    assert rotated.exit_code == 0, rotated.output
    note = parse_note(rotated.stdout)
    title, origin, old_line, new_line, at, _ = note.body.split("\n")
    assert (title, origin, at[:5]) == ("tidings key rotation", "example.com/t", "time ")
    old_key = parse_vkey(old_vkey)
    assert old_line == f"old {old_key}"
    new_key = parse_vkey(new_line.removeprefix("new "))
    assert signed_by(note, [old_key, new_key]) == [old_key, new_key]  # both vouch for it
    _write(sqlite_url, new, 3, "b")

    # then: verify names the change, and holds with both keys pinned only
    both = ["verify", "--db", sqlite_url, "--key", str(old_key), "--key", str(new_key)]
    verified = runner.invoke(app, both)
    assert verified.exit_code == 0, verified.output
    assert f"the signing key changed at the checkpoint of 14 entries: from {old_key.name}+" in (
        verified.output
    )
    assert runner.invoke(app, both[:-2]).exit_code == 1

    # and the new key refuses a past the old one signed, once rewritten
    with tamper(sqlite_url) as forge:
        forge.swap(2, 3)
        forge.relink()
        forge.run("DELETE FROM tidings_checkpoints")
        forge.drop_tree()
    Tidings(sqlite_url).close()
    refused = runner.invoke(
        app, ["checkpoint", "--db", sqlite_url], env={"TIDINGS_SIGNING_KEY": str(new)}
    )
    assert refused.exit_code == 1
    assert "the signer refuses" in refused.output


def test_a_key_that_signed_already_cannot_take_over(tmp_path: Path, sqlite_url: str) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    runner.invoke(app, ["key", "new", str(old), "--origin", "example.com/t"])
    runner.invoke(app, ["key", "new", str(new), "--origin", "example.com/t"])
    _write(sqlite_url, new, 1, "a", account=True)
    refused = runner.invoke(app, ["key", "rotate", str(old), str(new)])
    assert refused.exit_code == 2
    assert "has signed checkpoints already" in refused.output


def test_a_key_cannot_be_rotated_to_itself(tmp_path: Path, sqlite_url: str) -> None:
    key, copy = tmp_path / "signing.key", tmp_path / "copy.key"
    runner.invoke(app, ["key", "new", str(key), "--origin", "example.com/t"])
    copy.write_bytes(key.read_bytes())
    copy.chmod(0o600)
    for new in (key, copy):
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        refused = runner.invoke(app, ["key", "rotate", str(key), str(new)])
        assert refused.exit_code == 2, refused.output
        assert refused.output == f"error: {new} holds the key of {key}: rotate to a new key\n"
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
