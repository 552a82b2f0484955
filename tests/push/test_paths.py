"""How many of tidings' files a newcomer follows: the files of the package entered by one
warm poll-req that retrieves the head (through the library) and by one push attempt
(the due-work runner, from the log's news to the recorded success). ARCHITECTURE.md
lists them; these tests keep the counts within their targets.

Files are collected with `sys.setprofile`/`threading.setprofile` (every Python call's
`co_filename`), so they count what runs, not what is imported.
"""

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from tidings.adapters.library import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

POLL_FILES = 16
PUSH_FILES = 18
_PACKAGES = ("domain", "adapters", "cli")


def _ours(filename: str) -> str | None:
    """`filename` relative to the package's root (`adapters/store/commit.py`), when it is
    one of tidings' modules."""
    parts = Path(filename).parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] in _PACKAGES and parts[i - 1] == "tidings":
            return "/".join(parts[i:])
    return None


@contextmanager
def entered(skip: Callable[[], bool] = lambda: False) -> Iterator[set[str]]:
    """The tidings files whose code runs in the block, in any thread started before or
    in it with the profiler set (`skip()`: whether to leave out the calling thread)."""
    files: set[str] = set()
    recording = threading.Event()

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event == "call" and recording.is_set() and not skip():
            name = _ours(frame.f_code.co_filename)
            if name is not None:
                files.add(name)

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        recording.set()
        yield files
    finally:
        recording.clear()
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def test_a_warm_poll_that_retrieves_the_head_enters_few_files(tmp_path: Path) -> None:
    with Tidings(str(tmp_path / "poll.db")) as t:
        # given: two poll accounts with a notification each, one polled already (warm)
        for login in ("warm", "tester"):
            t.open_account(login, "123456")
            t.end(t.accept(login, "c", "domain-renew").svtrid, 1000, "OK")
        t.poll("warm")
        # when: the other's head is polled, retrieved for the first time
        with entered() as files:
            answer = t.poll("tester")
        # then
        assert answer.notification is not None
    assert len(files) <= POLL_FILES, f"{len(files)} files: " + " ".join(sorted(files))


def test_one_push_attempt_enters_few_files(tmp_path: Path, receiver: Receiver) -> None:
    fast = RetryPolicy(schedule=(0.05,), jitter=0.0)
    main = threading.get_ident()
    with Tidings(str(tmp_path / "push.db")) as t:
        login = t.open_account(
            "pushed",
            "123456",
            channel=UrlChannel(success_url=receiver.url("/ok")),
            retry_policy=fast,
        ).login

        def delivered(n: int) -> bool:
            return t.delivery(login, n).status == "succeeded"

        def pushed(files: set[str]) -> set[str]:
            """The files entered while one more notification is ended and pushed."""
            files.clear()
            n = t.end(t.accept(login, "c", "domain-renew").svtrid, 1000, "OK").id
            wait_until(lambda: delivered(n), what="the delivery")
            return set(files)

        first = t.end(t.accept(login, "c", "domain-renew").svtrid, 1000, "OK").id
        # given: a runner started under the profiler, warm from one delivery
        with entered(skip=lambda: threading.get_ident() == main) as files, running(t):
            wait_until(lambda: delivered(first), what="the first delivery")
            # when: more notifications are pushed, one at a time. A command this thread
            # calls runs on the runner's thread when the runner leads the group commit it
            # joins, which adds the command's files to that push: the fewest are the push's.
            attempt = min((pushed(files) for _ in range(3)), key=len)
    # then
    assert len(attempt) <= PUSH_FILES, f"{len(attempt)} files: " + " ".join(sorted(attempt))
