"""Memory: what a queued notification costs a server, and what a replay peaks at.

Each is measured in a child process of its own (started fresh, `spawn`), so nothing the
bench did before is counted:
- `queued`: the child opens the backlog's database, loads another mailbox and reads
  the backlog mailbox's events once (so the code, the connections and the SQLite page
  cache are warm, as in a running server), reads its RSS, loads the backlog's mailbox
  into the store's cache as a server holds it (`Store.load`), and reads its RSS again:
  the difference over the notifications queued. Warm, the figure is what each queued
  notification adds: cold, about 5 MiB the first load pays once (page cache, allocator
  arenas) joined it, 250 bytes a notification more at 20,000 and 15 at 200,000.
- `replay`: the child runs `tidings replay`'s whole work (`integrity.replay`: the fold,
  then the comparison with the live states) on the history's log; the figure is the
  child's peak RSS (Linux's `VmHWM`: `ru_maxrss` of a spawned child counts its parent's
  RSS too, which survives the exec). Where there is no /proc (not Linux), the rows are
  left out.
"""

import multiprocessing
import time
from contextlib import closing
from pathlib import Path

from tidings.adapters.audit.integrity import replay
from tidings.adapters.store.application import Store
from tidings.domain import MAILBOX

from .log import History
from .results import Result

__all__ = ["measure_memory"]


_STATUS = Path("/proc/self/status")


def _status(field: str) -> int:
    """A size the kernel keeps for this process (VmRSS, VmHWM), in bytes."""
    with _STATUS.open() as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"{_STATUS} has no {field}")


def _rss() -> int:
    return _status("VmRSS")


def _peak() -> int:
    return _status("VmHWM")


def _load_queued(path: str, login: str) -> tuple[int, int, float]:
    """(RSS grown, notifications queued, seconds) of loading one mailbox into the cache."""
    with closing(Store(path, read_only=True)) as store:
        store.load(MAILBOX, "nobody")  # warm: the code, the decoders, the connections
        store.stream(MAILBOX, login)  # and the SQLite page cache, as a running server's
        before = _rss()
        start = time.perf_counter()
        loaded = store.load(MAILBOX, login)
        seconds = time.perf_counter() - start
        grown = _rss() - before
        return grown, len(loaded.state.queue), seconds


def _replay(path: str) -> tuple[int, int, float, int]:
    """(RSS at start, events, seconds, peak RSS) of `tidings replay` on one log."""
    start_rss = _rss()
    with closing(Store(path, read_only=True)) as store:
        start = time.perf_counter()
        report = replay(store)
        seconds = time.perf_counter() - start
    if report.mismatches:
        raise RuntimeError("the bench's history does not replay to its live state")
    return start_rss, report.events, seconds, _peak()


def measure_memory(history: History, backlog: History) -> list[Result]:
    """The memory rows: RSS per queued notification (the backlog's mailbox, loaded and
    cached), and the peak RSS of replaying the history's log. Each in a fresh child
    (`maxtasksperchild=1`). None where the kernel keeps no /proc/self/status (not
    Linux): RSS is read there."""
    if not _STATUS.exists():
        return []
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        grown, queued, load_seconds = pool.apply(_load_queued, (str(backlog.path), backlog.login))
        start_rss, events, seconds, peak = pool.apply(_replay, (str(history.path),))
    return [
        Result(
            scenario="memory-queued",
            subject="tidings",
            durability="equal",
            ops_per_s=queued / load_seconds,
            ops=queued,
            seconds=load_seconds,
            backlog=queued,
            rss_bytes=grown / queued,
        ),
        Result(
            scenario="memory-replay",
            subject="tidings",
            durability="equal",
            ops_per_s=events / seconds,
            ops=events,
            seconds=seconds,
            rss_bytes=peak,
            rss_start_bytes=start_rss,
        ),
    ]
