"""`tidings operator add|list|revoke`: a token shown once, only its digest kept, the
list, revocation; user errors are one line."""

import hashlib
from pathlib import Path

from tidings.adapters import Tidings

from tests.cli.shell import json_of, one_line_error, shell


def test_add_prints_a_token_once_and_keeps_only_its_digest(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    added = json_of(shell("operator", "add", "alice", "--db", db, "--json"))
    token = added["token"]
    assert added["name"] == "alice" and token.startswith("alice.")
    with Tidings(db) as t:
        assert t.operators()[0].name == "alice"
        logged = " ".join(repr(e.event) for e in t.log())
    assert token not in logged and hashlib.sha256(token.encode()).hexdigest() in logged
    listed = shell("operator", "list", "--db", db)
    assert "alice" in listed.stdout and "active" in listed.stdout and token not in listed.stdout


def test_revoke_and_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    shell("operator", "add", "bob", "--db", db)
    one_line_error(shell("operator", "add", "bob", "--db", db), 1, "2302", "bob")
    one_line_error(shell("operator", "add", "Bad Name", "--db", db), 2, "2101")
    one_line_error(shell("operator", "add", "admin", "--db", db), 2, "2101", "admin")
    revoked = json_of(shell("operator", "revoke", "bob", "--db", db, "--json"))
    assert (revoked["name"], revoked["active"]) == ("bob", False)
    one_line_error(shell("operator", "revoke", "bob", "--db", db), 1, "2303")
    assert json_of(shell("operator", "list", "--db", db, "--json"))[0]["active"] is False
    assert shell("operator", "add", "bob", "--db", db).exit_code == 0  # added again, new token


def test_a_refused_name_or_a_revoke_without_a_database_creates_none(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    one_line_error(shell("operator", "add", "Bad Name", "--db", str(db)), 2, "2101")
    revoked = shell("operator", "revoke", "bob", "--db", str(db))
    assert revoked.exit_code != 0 and "Traceback" not in revoked.output
    assert list(tmp_path.iterdir()) == []
