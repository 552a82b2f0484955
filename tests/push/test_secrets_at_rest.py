"""Push signing secrets are sealed in the database with a key kept outside it: whoever
reads the database cannot forge a webhook; without the key polls go on and pushes are
refused, saying why; the key is rotated by a command; a key file others may read is
refused."""

import logging
import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook
from tidings.adapters import Tidings
from tidings.adapters.ledger.keys import BadKey, new_key
from tidings.adapters.store.secrets import SecretsLocked
from tidings.domain import Code, RetryPolicy, UrlChannel

from tests.cli.shell import json_of, one_line_error, shell
from tests.conftest import POSTGRES
from tests.http.conftest import events, wait_until
from tests.push.conftest import Receiver, running

FAST = RetryPolicy(schedule=(0.05,), jitter=0.0)


def _rows(db: str) -> list[tuple[str, str]]:
    """The secrets table as whoever reads the database sees it."""
    if db.startswith("postgresql://"):
        schema = db.rsplit("schema=", 1)[1]
        with psycopg.connect(POSTGRES) as conn:
            return [
                tuple(r) for r in conn.execute(f'SELECT id, secret FROM "{schema}".tidings_secrets')
            ]  # type: ignore[misc]
    import sqlite3

    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute("SELECT id, secret FROM tidings_secrets"))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.key"
    result = shell("key", "new", str(path), "--secrets")
    assert result.exit_code == 0, result.output
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path


@pytest.fixture
def sealed_env(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TIDINGS_SECRETS_KEY", str(key_file))
    yield key_file


def _pushed(t: Tidings, receiver: Receiver) -> tuple[str, int]:
    channel = UrlChannel(success_url=receiver.url("/ok"))
    secret = t.open_account("shop", "s3cret", channel=channel, retry_policy=FAST).signing_secret
    pending = t.accept("shop", "AvrX87Kqk6h3", "ping-async")
    return secret, t.end(pending.svtrid, 1000, "OK").id


def test_a_sealed_secret_signs_pushes_and_is_not_in_the_database(
    db_url: str, receiver: Receiver, sealed_env: Path
) -> None:
    with Tidings(db_url) as t:
        secret, n = _pushed(t, receiver)
        with running(t):
            wait_until(lambda: t.delivery("shop", n).status == "succeeded", what="push")
    [request] = receiver.to("/ok")
    Webhook(secret).verify(request.body, request.headers, json_parse=False)  # raises if wrong
    [(_, stored)] = _rows(db_url)
    assert stored.startswith("aesgcm:") and secret not in stored
    assert secret.removeprefix("whsec_") not in stored


def test_without_the_key_polls_go_on_and_pushes_are_refused_saying_why(
    db_url: str,
    receiver: Receiver,
    sealed_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a database whose secrets are sealed, and a notification waiting to be pushed
    with Tidings(db_url) as t:
        _, n = _pushed(t, receiver)
        t.open_account("poller", "s3cret")
    # When it is opened by a process without the key
    monkeypatch.delenv("TIDINGS_SECRETS_KEY")
    with Tidings(db_url) as t:
        # Then polls are served
        pending = t.accept("poller", "c-1", "ping-async")
        t.end(pending.svtrid, 1000, "OK")
        assert t.poll("poller").code == Code.OK
        # but a secret cannot be added
        with pytest.raises(SecretsLocked, match="TIDINGS_SECRETS_KEY is not set"):
            t.open_account("another", "s3cret")
        # and no push leaves: the runner says why, once for the process and once for
        # each delivery, without a traceback
        later = t.end(t.accept("shop", "c-2", "ping-async").svtrid, 1000, "OK").id
        with caplog.at_level(logging.WARNING), running(t):
            wait_until(lambda: len(events(caplog, "delivery_not_signed")) == 2, what="refusals")
        assert receiver.to("/ok") == []
        # claimed at most once (before its secret was found sealed), then left alone
        held = [t.delivery("shop", i) for i in (n, later)]
        assert all(len(d.attempts) <= 1 and d.status != "succeeded" for d in held)
    [locked] = events(caplog, "signing_secrets_locked")
    assert "TIDINGS_SECRETS_KEY is not set" in locked["reason"]
    unsigned = events(caplog, "delivery_not_signed")
    assert sorted(e["notification"] for e in unsigned) == [n, later]
    assert all(e["login"] == "shop" and e["svtrid"] for e in unsigned)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_rotation_seals_every_secret_with_the_new_key(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "t.db")
    # Given secrets kept in clear (before any key)
    with Tidings(db) as t:
        t.open_account("one", "s3cret")
        secret = t.rotate_secret("one")
    assert any(stored == secret for _, stored in _rows(db))
    # When they are sealed with a first key, then rotated to a second one
    done = json_of(shell("key", "rotate-secrets", str(key_file), "--db", db, "--json"))
    assert done["sealed"] == 2
    second = tmp_path / "second.key"
    assert shell("key", "new", str(second), "--secrets").exit_code == 0
    monkeypatch.setenv("TIDINGS_SECRETS_KEY", str(key_file))
    assert json_of(shell("key", "rotate-secrets", str(second), "--db", db, "--json"))["sealed"] == 2
    # Then none is in clear, the second key opens them, the first no longer does
    assert all(stored.startswith("aesgcm:") for _, stored in _rows(db))
    assert not any(secret in stored for _, stored in _rows(db))
    monkeypatch.setenv("TIDINGS_SECRETS_KEY", str(second))
    with Tidings(db) as t:
        t.open_account("two", "s3cret")  # a secret can be added with the key
    monkeypatch.setenv("TIDINGS_SECRETS_KEY", str(key_file))
    one_line_error(shell("key", "rotate-secrets", str(second), "--db", db), 2, "another key")


def test_an_edited_sealed_secret_does_not_open(tmp_path: Path, sealed_env: Path) -> None:
    import sqlite3

    db = str(tmp_path / "t.db")
    with Tidings(db) as t:
        t.open_account("one", "s3cret")
        t.open_account("two", "s3cret")
    # one row's sealed value moved to the other's id
    with closing(sqlite3.connect(db)) as conn, conn:
        (_, sealed), (second, _) = conn.execute("SELECT id, secret FROM tidings_secrets")
        conn.execute("UPDATE tidings_secrets SET secret = ? WHERE id = ?", (sealed, second))
    new = tmp_path / "new.key"
    assert shell("key", "new", str(new), "--secrets").exit_code == 0
    one_line_error(shell("key", "rotate-secrets", str(new), "--db", db), 2, "does not open")


@pytest.mark.parametrize("kind", ["secrets", "signing"])
def test_a_key_file_others_may_read_is_refused(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{kind}.key"
    if kind == "secrets":
        assert shell("key", "new", str(path), "--secrets").exit_code == 0
    else:
        new_key(path)
    path.chmod(0o644)
    db = str(tmp_path / "t.db")
    options: dict[str, Any] = {}
    if kind == "secrets":
        monkeypatch.setenv("TIDINGS_SECRETS_KEY", str(path))
    else:
        options["signing_key"] = str(path)
    with pytest.raises(BadKey, match="may be read by others"):
        Tidings(db, **options)
    path.chmod(0o600)
    with Tidings(db, **options):
        pass
