"""`tidings witness` against a served log: cosigns what extends what it cosigned last,
refuses a fork naming both trees, and `verify --witness` requires N of its keys. The
cosignature is checked here by code written from C2SP tlog-cosignature."""

import base64
import hashlib
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tidings.adapters.audit.cosigner import log_url
from tidings.adapters.ledger.checkpoint import Cadence
from tidings.adapters.ledger.signer import memory_file
from tidings.adapters.library import Tidings
from tidings.cli.app import app
from typer.testing import CliRunner

from ..http.conftest import serve, settings_for
from ..store.tamper import tamper

runner = CliRunner()


def verify_cosignature(vkey: str, note: str) -> int:
    """The time a cosigner's signature on `note` states, once it holds (raises else)."""
    name, key_id, encoded = vkey.split("+", 2)
    key = base64.b64decode(encoded)
    assert key[0] == 0x04
    assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id
    text, signatures = note.split("\n\n", 1)
    for line in signatures.splitlines():
        signer, signature = line.removeprefix("\u2014 ").rsplit(" ", 1)
        raw = base64.b64decode(signature)
        if signer == name and raw[:4].hex() == key_id:
            at = int.from_bytes(raw[4:12], "big")
            message = f"cosignature/v1\ntime {at}\n{text}\n".encode()
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[12:], message)
            return at
    raise AssertionError("no cosignature of this key")


def _key(path: Path, origin: str, *extra: str) -> str:
    made = runner.invoke(app, ["key", "new", str(path), "--origin", origin, *extra])
    assert made.exit_code == 0, made.output
    return made.stdout.strip()


def _grow(db: str, key: Path, operations: int, tag: str, *, account: bool = False) -> None:
    with Tidings(db, signing_key=str(key), cadence=Cadence(1000, 3600)) as t:
        if account:
            t.open_account("tester", "pw")
        for i in range(operations):
            t.end(t.accept("tester", f"{tag}{i}", "op").svtrid, 1000, "OK")
    signed = runner.invoke(app, ["checkpoint", "--db", db], env={"TIDINGS_SIGNING_KEY": str(key)})
    assert signed.exit_code == 0, signed.output


def test_a_witness_cosigns_a_growing_log_and_refuses_a_fork(db_url: str, tmp_path: Path) -> None:
    log_key, witness_key = tmp_path / "log.key", tmp_path / "witness.key"
    vkey = _key(log_key, "example.com/tidings")
    wvkey = _key(witness_key, "witness.example/w1", "--cosigner")
    state = tmp_path / "witness"
    _grow(db_url, log_key, 30, "a", account=True)

    with serve(settings_for(db_url)) as server:
        witness = ["witness", "--log", f"{server.url}/log", "--vkey", vkey, "--key",
                   str(witness_key), "--name", "witness.example/w1", "--state", str(state),
                   "--once"]  # fmt: skip
        # given: a witness cosigned the log at 91 entries
        first = runner.invoke(app, witness)
        assert first.exit_code == 0, first.output
        kept = (state / "checkpoint").read_text()
        assert kept.split("\n")[1] == "91" and verify_cosignature(wvkey, kept) > 0

        # when: the log grows past a tile: cosigned again, from a consistency proof
        _grow(db_url, log_key, 60, "b")
        second = runner.invoke(app, witness)
        assert second.exit_code == 0, second.output
        grown = (state / "checkpoint").read_text()
        assert grown.split("\n")[1] == "271"
        verify_cosignature(wvkey, grown)

        verified = runner.invoke(app, ["verify", "--db", db_url, "--key", vkey, "--witness",
                                       str(state / "checkpoint"), "--witness-key", wvkey,
                                       "--quorum", "1"])  # fmt: skip
        assert verified.exit_code == 0, verified.output
        assert "1 of 1 witnessed checkpoints: the log extends them" in verified.output

        # when: the log is rolled back to 100 entries and written anew, signed by its key
        # without the signer's memory (a copy of the key taken elsewhere)
        with tamper(db_url) as forge:
            forge.truncate(after=100)
            forge.drop_tree(after=100)
            forge.run("DELETE FROM tidings_checkpoints WHERE position > 100")
        memory_file(log_key).write_text('{"origin": "example.com/tidings"}')
        _grow(db_url, log_key, 60, "c")

        # then: the witness refuses it, naming both trees, and keeps what it had
        forked = runner.invoke(app, witness)
        assert forked.exit_code == 1
        said = " ".join(forked.output.split())
        assert "the log's checkpoint of 280 entries" in said
        assert "does not extend the one cosigned last, of 271 entries" in said
        assert (state / "checkpoint").read_text() == grown


def test_verify_requires_the_quorum_of_cosignatures(sqlite_url: str, tmp_path: Path) -> None:
    log_key = tmp_path / "log.key"
    vkey = _key(log_key, "example.com/tidings")
    wvkey = _key(tmp_path / "w.key", "witness.example/w1", "--cosigner")
    _grow(sqlite_url, log_key, 2, "a", account=True)
    plain = tmp_path / "checkpoint.txt"
    taken = runner.invoke(app, ["checkpoint", "--db", sqlite_url, "--out", str(plain)])
    assert taken.exit_code == 0, taken.output
    args = ["verify", "--db", sqlite_url, "--key", vkey, "--witness", str(plain)]
    verified = runner.invoke(app, [*args, "--witness-key", wvkey, "--quorum", "1"])
    assert verified.exit_code == 1
    assert "carries 0 of the 1 cosignatures required" in verified.output
    too_many = runner.invoke(app, [*args, "--quorum", "1"])
    assert too_many.exit_code == 2


def test_a_witness_whose_state_is_unusable_says_so_in_one_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    log_key = tmp_path / "log.key"
    vkey = _key(log_key, "example.com/tidings")
    _key(tmp_path / "w.key", "witness.example/w1", "--cosigner")
    _grow(sqlite_url, log_key, 2, "a", account=True)
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "checkpoint").write_text("not a note\n")
    with serve(settings_for(sqlite_url)) as server:
        for state, said in ((not_a_directory, "Not a directory"), (damaged, "not a signed note")):
            answer = runner.invoke(app, ["witness", "--log", f"{server.url}/log", "--vkey", vkey,
                                         "--key", str(tmp_path / "w.key"), "--state", str(state),
                                         "--once"])  # fmt: skip
            assert answer.exit_code == 2, answer.output
            assert answer.exception is None or isinstance(answer.exception, SystemExit)
            assert (
                f"error: not cosigned: the witness's state in {state} is unusable" in answer.output
            )
            assert said in answer.output
    assert (damaged / "checkpoint").read_text() == "not a note\n"


def test_an_unusable_state_is_said_before_a_log_that_cannot_be_fetched(tmp_path: Path) -> None:
    # given: a state that is a file, and a log URL on a port nothing listens on
    vkey = _key(tmp_path / "log.key", "example.com/tidings")
    _key(tmp_path / "w.key", "witness.example/w1", "--cosigner")
    state = tmp_path / "a-file"
    state.write_text("")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # when
    answer = runner.invoke(app, ["witness", "--log", f"http://127.0.0.1:{port}/log",
                                 "--vkey", vkey, "--key", str(tmp_path / "w.key"),
                                 "--state", str(state), "--once"])  # fmt: skip
    # then: the state's exit 2, not the unreachable log's 1
    assert answer.exit_code == 2, answer.output
    assert f"the witness's state in {state} is unusable" in answer.output
    assert "cannot fetch" not in answer.output


@pytest.mark.parametrize(
    ("log", "url"),
    [
        ("http://h:8/log", "http://h:8/log/tile/0/000"),
        ("http://h:8/log/", "http://h:8/log/tile/0/000"),
        ("http://h:8/log?token=a/b", "http://h:8/log/tile/0/000?token=a/b"),
        ("http://h:8/log/?t=1#top", "http://h:8/log/tile/0/000?t=1#top"),
    ],
)
def test_the_logs_urls_keep_its_query_and_fragment_after_their_path(log: str, url: str) -> None:
    assert log_url(log, "tile/0/000") == url


def test_a_witness_of_a_log_url_with_a_query_cosigns_it(sqlite_url: str, tmp_path: Path) -> None:
    log_key, witness_key = tmp_path / "log.key", tmp_path / "w.key"
    vkey = _key(log_key, "example.com/tidings")
    _key(witness_key, "witness.example/w1", "--cosigner")
    _grow(sqlite_url, log_key, 2, "a", account=True)
    with serve(settings_for(sqlite_url)) as server:
        witness = ["witness", "--log", f"{server.url}/log?via=proxy#top", "--vkey", vkey,
                   "--key", str(witness_key), "--state", str(tmp_path), "--once"]  # fmt: skip
        first = runner.invoke(app, witness)  # the checkpoint
        assert first.exit_code == 0, first.output
        _grow(sqlite_url, log_key, 2, "b")
        second = runner.invoke(app, witness)  # and the tiles, for the consistency proof
        assert second.exit_code == 0, second.output
        assert (tmp_path / "checkpoint").read_text().split("\n")[1] == "13"
        witness[2] = f"{server.url}/nolog?token=s3cr3t"
        refused = runner.invoke(app, witness)
        assert refused.exit_code == 1 and "s3cr3t" not in refused.output
        assert f"{server.url}/nolog/checkpoint?... answered 404" in " ".join(refused.output.split())


@pytest.mark.parametrize(
    "log",
    ["http://[::1/log", "http://127.0.0.1:99999/log", "ftp://127.0.0.1/log?token=s3cr3t",
     "127.0.0.1/log", "", "https://u:s3cr3t@/log"],
)  # fmt: skip
def test_a_witness_refuses_a_log_url_it_cannot_fetch_in_one_line(log: str, tmp_path: Path) -> None:
    vkey = _key(tmp_path / "log.key", "example.com/tidings")
    _key(tmp_path / "w.key", "witness.example/w1", "--cosigner")
    state = tmp_path / "state"
    state.mkdir()
    key = str(tmp_path / "w.key")
    witness = ["witness", "--log", log, "--vkey", vkey, "--key", key, "--state", str(state)]
    answer = runner.invoke(app, [*witness, "--once"])
    assert answer.exit_code == 2, answer.output
    assert answer.exception is None or isinstance(answer.exception, SystemExit)
    assert "error: --log is an http(s) URL with a host, not " in answer.output
    assert "s3cr3t" not in answer.output
    assert list(state.iterdir()) == []
