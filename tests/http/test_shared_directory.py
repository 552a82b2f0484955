"""The workers' shared directory (throttle and metrics files) of a `serve --workers`
whose parent was killed with `kill -9` is removed by the next server started; a live
server's never is. Real processes on real ports; each process group is killed at the end."""

import os
import signal
from pathlib import Path

from tidings.adapters import Tidings

from tests.http.conftest import wait_until
from tests.http.processes import gone, serve_process, workers_of


def _shared(place: Path) -> set[str]:
    return {p.name for p in place.iterdir() if p.name.startswith("tidings-serve-")}


def test_a_killed_servers_directory_is_removed_at_the_next_start_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "t.db")
    with Tidings(db) as tidings:
        tidings.open_account("tester", "123456")
    place = tmp_path / "tmp"
    place.mkdir()
    env = {"TMPDIR": str(place)}
    two = ("--port", "0", "--workers", "2")
    with serve_process(db, *two, env=env) as live:
        [kept] = _shared(place)
        assert kept.startswith(f"tidings-serve-{live.process.pid}.")
        with serve_process(db, *two, env=env) as killed:
            [left] = _shared(place) - {kept}
            workers = wait_until(
                lambda: (w := workers_of(killed.process.pid)) and len(w) == 2 and w
            )
            os.kill(killed.process.pid, signal.SIGKILL)
            wait_until(lambda: all(gone(pid) for pid in workers), timeout=30,
                       what="the orphaned workers to exit")  # fmt: skip
        assert left in _shared(place)  # nobody was left to remove it
        with serve_process(db, *two, env=env) as again:
            now = _shared(place)
            assert left not in now and kept in now
            removed = again.logged(logger="tidings.server")
            assert any(left in line.get("message", "") for line in removed), again.text
