"""A receiver proves what it got: a push names the notification's leaf in the log's
Merkle tree (`tidings-log-index`; `Tidings-Log-Index` in an e-mail), and the entry at
that leaf, the delivery's scheduling event that holds the notification, is in the tree
the served checkpoint signs. The proof is computed from the public tiles by the
independent RFC 9162 and signed-note code of `tests/audit/test_tiles.py`."""

import re
from pathlib import Path
from typing import Any

import pytest
from tidings.adapters.ledger.checkpoint import Cadence
from tidings.adapters.library import Tidings
from tidings.adapters.push.mail import SmtpServer
from tidings.adapters.store.application import Store
from tidings.cli.app import app
from tidings.domain import EmailChannel, RetryPolicy, UrlChannel
from typer.testing import CliRunner

from tests.audit.test_tiles import check_inclusion, h, inclusion, subtree, tile_path, verify_note
from tests.http.conftest import serve, settings_for, wait_until
from tests.push.conftest import Receiver, running
from tests.push.test_email import Inbox, inbox

__all__ = ["inbox"]  # the fixture, for the e-mail test

runner = CliRunner()
FAST = RetryPolicy(schedule=(0.05,), jitter=0.0)
ORIGIN = "example.com/tidings"
README = Path(__file__).resolve().parents[2] / "README.md"


def _signing_key(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "signing.key"
    made = runner.invoke(app, ["key", "new", str(key), "--origin", ORIGIN])
    assert made.exit_code == 0, made.output
    return key, made.stdout.strip()


def _pushed(t: Tidings, login: str, before: int) -> int:
    """`before` operations of a polled account ended first (past 256 leaves the proof
    reads a tile of level 1 too), then the one pushed."""
    if before:
        t.open_account("polled", "123456")
    for i in range(before):
        t.end(t.accept("polled", f"before{i}", "ping-async").svtrid, 1000, "OK")
    return t.end(t.accept(login, "AvrX87Kqk6h3", "ping-async").svtrid, 1000, "OK").id


def _prove_received(db: str, key: Path, vkey: str, index: int, scheduled_at: int) -> None:
    """The entry at leaf `index` is the delivery's scheduling event (at log position
    `scheduled_at`), and is included in the tree the served, signed checkpoint names."""
    signed = runner.invoke(app, ["checkpoint", "--db", db], env={"TIDINGS_SIGNING_KEY": str(key)})
    assert signed.exit_code == 0, signed.output
    with serve(settings_for(db)) as server:
        origin, size, root = verify_note(vkey, server.client.get("/log/checkpoint").text)
        assert origin == ORIGIN and index < size

        def fetch(path: str) -> bytes:
            got = server.client.get(f"/log/{path}")
            assert got.status_code == 200, path
            return got.content

        # The entry's bytes: from the entry bundle of its tile (admin only: it holds
        # the notification's content).
        width = min(256, size - 256 * (index // 256))
        bundle = server.admin("GET", "/log/" + tile_path("entries", index // 256, width))
        assert bundle.status_code == 200
        entries, rest = [], bundle.content
        while rest:
            length = int.from_bytes(rest[:2], "big")
            entries.append(rest[2 : 2 + length])
            rest = rest[2 + length :]
        entry = entries[index % 256]
        position, version = int.from_bytes(entry[:8], "big"), int.from_bytes(entry[8:16], "big")
        topic = entry[32:].split(b"\0", 1)[0]
        assert (position, version) == (scheduled_at, 1)
        assert topic.endswith(b"DeliveryScheduled") and b"AvrX87Kqk6h3" in entry

        leaf = h(b"\x00", entry)
        hashes = fetch(tile_path(0, index // 256, width))
        assert hashes[32 * (index % 256) : 32 * (index % 256) + 32] == leaf  # the public tile
        path = inclusion(index, 0, size, subtree(fetch, size))
        assert check_inclusion(index, size, leaf, path, root)
        assert not check_inclusion(index, size, h(b"\x00", entry + b"forged"), path, root)

        # and the README's receiver, which uses no tidings code, says the same
        readme = _readme_receiver()
        readme["received"](server.url, vkey, index, entry)
        with pytest.raises(ValueError, match=f"leaf {index} is not this entry"):
            readme["received"](server.url, vkey, index, entry + b"forged")


def _readme_receiver() -> dict[str, Any]:
    """The README's `received`, with the `signed_tree` and `sha256` it uses."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [check] = [b for b in blocks if "def signed_tree(" in b]
    [receiver] = [b for b in blocks if "def received(" in b]
    assert "tidings" not in receiver
    namespace: dict[str, Any] = {}
    exec(check.split("\nwith open(")[0] + receiver, namespace)
    return namespace


def _scheduled_at(t: Tidings, login: str, n: int) -> int:
    [scheduled] = [e for e in t.trail(notification=(login, n)) if e.kind == "DeliveryScheduled"]
    assert scheduled.version == 1
    return scheduled.position


def test_a_url_push_names_the_leaf_a_receiver_proves_from_the_tiles(
    db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    # given: a signed log, and an account pushed to a receiver on 127.0.0.1
    key, vkey = _signing_key(tmp_path)
    with Tidings(db_url, signing_key=str(key), cadence=Cadence(10_000, 3600)) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        t.open_account("pushed", "123456", channel=channel, retry_policy=FAST)
        n = _pushed(t, "pushed", 90)
        # when: the notification is pushed
        with running(t):
            wait_until(lambda: t.delivery("pushed", n).status == "succeeded", what="the push")
        scheduled_at = _scheduled_at(t, "pushed", n)
    [request] = receiver.to("/ok")
    index = int(request.headers["tidings-log-index"])
    assert index > 256
    # then: the receiver proves the entry at that leaf holds its notification, signed
    _prove_received(db_url, key, vkey, index, scheduled_at)


def test_a_mailed_notification_names_the_leaf_in_its_headers(
    db_url: str, inbox: tuple[Inbox, SmtpServer], tmp_path: Path
) -> None:
    handler, smtp = inbox
    key, vkey = _signing_key(tmp_path)
    with Tidings(db_url, signing_key=str(key), cadence=Cadence(10_000, 3600)) as t:
        channel = EmailChannel("ops@client.example")
        t.open_account("mailed", "123456", channel=channel, retry_policy=FAST)
        n = _pushed(t, "mailed", 2)
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status == "succeeded", what="the mail")
        scheduled_at = _scheduled_at(t, "mailed", n)
    [message] = handler.messages
    _prove_received(db_url, key, vkey, int(message["Tidings-Log-Index"]), scheduled_at)


def test_no_header_while_the_tree_is_off(sqlite_url: str, receiver: Receiver) -> None:
    with Tidings.over(Store(sqlite_url, tree=False)) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        t.open_account("pushed", "123456", channel=channel, retry_policy=FAST)
        n = _pushed(t, "pushed", 0)
        with running(t):
            wait_until(lambda: t.delivery("pushed", n).status == "succeeded", what="the push")
    [request] = receiver.to("/ok")
    assert "tidings-log-index" not in request.headers


def test_the_leaf_of_an_entry_is_its_rank_when_two_stores_append_in_turn(
    postgres_url: str,
) -> None:
    # given: two stores on one PostgreSQL log appending in turn, so appends go both the
    # client's way and the server's (`tidings_append`)
    with Tidings(postgres_url) as first, Tidings(postgres_url) as second:
        first.open_account("turns", "123456")
        for i in range(12):
            t = first if i % 2 else second
            t.end(t.accept("turns", f"c{i}", "op").svtrid, 1000, "OK")
    store = Store(postgres_url)
    try:
        tables, rows = store.recorder.tree, store.recorder.tree_rows
        entries = rows(
            f"SELECT originator_id, originator_version, notification_id FROM {tables.events} "
            "ORDER BY notification_id",
            (),
        )
        # then: positions run without gaps, and each entry's leaf is its rank in the log
        assert [r[2] for r in entries] == list(range(1, len(entries) + 1))
        assert len(entries) > 30
        found = [tables.leaf_of(rows, stream.hex, version) for stream, version, _ in entries]
        assert found == list(range(len(entries)))
        assert tables.leaf_of(rows, "00" * 16, 1) is None
    finally:
        store.close()
