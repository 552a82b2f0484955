"""`/readyz` answers 503 with the reason while the store cannot commit, and `/healthz`
stays 200 (the process lives, reads work). The writes really fail: on SQLite the server
process may not write past the first byte of any file (RLIMIT_FSIZE, what a full disk
looks like to it); on PostgreSQL its role loses the right to insert and update."""

import resource
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from tidings.adapters.http.limits import Limits

from tests.conftest import POSTGRES, postgres_schema
from tests.http.conftest import UNTHROTTLED, call_until, serve, settings_for

INTERVAL = 0.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def test_readyz_on_a_sqlite_file_the_server_cannot_write(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from tidings.cli.app import main; main()", "serve",
               "--db", str(tmp_path / "t.db"), "--port", str(port),
               "--ready-interval", str(INTERVAL), "--log-level", "warning",
               "--workers", "1"]  # fmt: skip
    # One worker: the process whose file size limit the test lowers is the one serving.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        call_until(lambda: _status(f"{base}/readyz"), lambda s: s == 200, timeout=20)
        _, hard = resource.prlimit(process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (1, hard))  # the disk is "full"
        answer = call_until(
            lambda: httpx.get(f"{base}/readyz"), lambda r: r.status_code == 503, timeout=10
        )
        assert answer.json()["status"] == "unavailable"
        assert "cannot commit" in answer.json()["reason"]
        assert _status(f"{base}/healthz") == 200
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (hard, hard))
        call_until(lambda: _status(f"{base}/readyz"), lambda s: s == 200, timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert "Traceback" not in stderr
    assert "not ready: the store cannot commit" in stderr


@pytest.fixture
def role_url() -> Iterator[tuple[str, str, str]]:
    """A fresh schema and a role of its own that owns it: (url as the role, schema, role)."""
    if not POSTGRES:
        yield from postgres_schema()  # skips or fails as every PostgreSQL test does
        return
    for url in postgres_schema():
        schema = url.rsplit("schema=", 1)[1]
        role = f"r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'GRANT ALL ON SCHEMA "{schema}" TO "{role}"')
        as_role = url.replace("postgres@", f"{role}@", 1)
        try:
            yield as_role, schema, role
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f'DROP OWNED BY "{role}" CASCADE')
                conn.execute(f'DROP ROLE "{role}"')


def _rights(schema: str, role: str, verb: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        direction = "TO" if verb == "GRANT" else "FROM"
        conn.execute(
            f'{verb} INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" {direction} "{role}"'
        )


def test_readyz_on_postgresql_when_the_role_may_not_write(
    role_url: tuple[str, str, str],
) -> None:
    url, schema, role = role_url
    limits = Limits(**{**vars(UNTHROTTLED), "ready_interval": INTERVAL})
    with serve(settings_for(url, limits=limits)) as running:
        assert running.client.get("/readyz").status_code == 200
        _rights(schema, role, "REVOKE")
        answer = call_until(
            lambda: running.client.get("/readyz"), lambda r: r.status_code == 503, timeout=10
        )
        assert "permission denied" in answer.json()["reason"]
        assert running.client.get("/healthz").status_code == 200
        _rights(schema, role, "GRANT")
        call_until(
            lambda: running.client.get("/readyz").status_code, lambda s: s == 200, timeout=10
        )


def test_probes_share_one_heartbeat_per_interval(tmp_path: Path) -> None:
    limits = Limits(**{**vars(UNTHROTTLED), "ready_interval": 60.0})
    with serve(settings_for(str(tmp_path / "t.db"), limits=limits)) as running:
        for _ in range(20):
            assert running.client.get("/readyz").status_code == 200
        assert running.app.state.readiness.heartbeats == 1
