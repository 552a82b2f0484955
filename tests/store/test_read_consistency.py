"""Readers never see part of a transaction: on PostgreSQL, trails and log reads run
against writers committing multi-stream transactions (an operation ended and its
notification queued, together) for a bounded time."""

import threading
import time
from collections.abc import Callable

from tidings.adapters.library import Tidings

# How long the readers race the writers: the 20 seconds, at most.
DURATION = 20.0
LOGINS = ("first", "second")
WHOLE = ["OperationAccepted", "OperationEnded", "NotificationQueued"]


class _Race:
    """Writers and readers on their own `Tidings` (their own connections) until the
    deadline, or until a reader sees part of a transaction."""

    def __init__(self, url: str):
        self.url = url
        self.deadline = time.monotonic() + DURATION
        self.svtrids: list[str] = []
        self.partial: list[str] = []
        self.reads = 0
        self.seen = 0  # the last log position the log reader saw
        self.errors: list[BaseException] = []

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.partial and not self.errors

    def thread(self, body: Callable[[Tidings], None]) -> threading.Thread:
        def run() -> None:
            try:
                with Tidings(self.url) as tidings:
                    while self.running():
                        body(tidings)
            except BaseException as error:  # shown by the test, not lost in a thread
                self.errors.append(error)

        return threading.Thread(target=run)

    def write(self, tidings: Tidings) -> None:
        for login in LOGINS:
            pending = tidings.accept(login, f"c-{len(self.svtrids)}", "op")
            self.svtrids.append(pending.svtrid)
            tidings.end(pending.svtrid, 1000, "OK")

    def read_trail(self, tidings: Tidings) -> None:
        """The newest operations' trails: each is none, the acceptance, or all three."""
        for svtrid in self.svtrids[-4:]:
            kinds = [entry.kind for entry in tidings.trail(svtrid)]
            if kinds not in (WHOLE[:0], WHOLE[:1], WHOLE):
                self.partial.append(f"trail of {svtrid}: {kinds}")
            self.reads += 1

    def read_log(self, tidings: Tidings) -> None:
        """The log's newest entries (from a little before the end of the last read), read
        to its end: an ending is never the last one seen, nor without its notification
        right after it."""
        start = max(self.seen - 30, 1)
        entries = list(tidings.log(start, page_size=7))
        topics = [entry.topic for entry in entries]
        for i, topic in enumerate(topics):
            if topic == "OperationEnded" and topics[i + 1 : i + 2] != ["NotificationQueued"]:
                self.partial.append(f"log from {start}: {topics}")
        self.seen = entries[-1].position if entries else self.seen
        self.reads += 1


def test_readers_never_see_part_of_a_multi_stream_commit(postgres_url: str) -> None:
    # Given two accounts, two writers ending operations (one transaction, two streams
    # each), and readers of trails and of the log, each on its own connections
    with Tidings(postgres_url) as setup:
        for login in LOGINS:
            setup.open_account(login, "pw")
    race = _Race(postgres_url)
    threads = [race.thread(race.write) for _ in range(2)]
    threads += [race.thread(race.read_trail), race.thread(race.read_log)]
    # When they race for the bounded time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no reader saw part of a transaction, and they did read while writers wrote
    assert not race.errors, race.errors
    assert race.partial == []
    assert len(race.svtrids) > 20 and race.reads > 20
