"""Group commit: commands from many threads saved together, one transaction a batch.

A caller queues its command (a body run on a `Work`); if no other caller leads, it
leads: it runs every queued body in arrival order, saves their events in one
transaction, and only then wakes the callers. A batch that lost a race (nothing
written) runs again under the log's write lock (`Store.locked`), where it cannot lose.
"""

import itertools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError
from tidings.adapters import telemetry

from ..errors import Conflict
from ..metrics import BATCH_COMMANDS, COMMIT_SECONDS
from .application import Store
from .outage import OUTAGE, storage_error
from .work import Work

__all__ = ["MAX_ATTEMPTS", "MAX_BATCH", "GroupCommit"]

T = TypeVar("T")

MAX_ATTEMPTS = 40  # bounds the retries against bugs
MAX_BATCH = 256  # bodies a transaction: bounds how long the front of a long queue waits
# After a lost race, writes go straight to the locked path for this long: an unlocked
# save would mostly lose again.
CONTENDED_FOR = 1.0
GATHER_FOR = 0.001  # how long a leader may wait for callers on their way (`_gather`)

_log = logging.getLogger("tidings.store")

_UNTRACED: AbstractContextManager[None] = nullcontext()
_Outcome = tuple[Any, BaseException | None]
Settle = Callable[[Any, BaseException | None], None]

_WAKES = threading.local()
_NO_WAKE = threading.Lock()


def _new_wake_lock() -> threading.Lock:
    lock = _WAKES.lock = threading.Lock()
    lock.acquire()
    return lock


class _Call:
    """One queued command; `wake` is held until its caller may go on (done, or handed
    the lead). A submitted command has no caller: `settle` tells it."""

    __slots__ = (
        "abandoned",
        "body",
        "clock",
        "done",
        "error",
        "leads",
        "next",
        "result",
        "settle",
        "trace",
        "wake",
    )

    def __init__(
        self, body: Callable[[Work], Any], clock: Callable[[], datetime], settle: Settle | None
    ):
        self.body = body
        self.clock = clock
        self.settle = settle
        self.done = self.abandoned = False  # abandoned: its caller was interrupted
        self.leads = False  # handed the lead, not yet passed on (`_pass_lead`)
        self.next: _Call | None = None  # the caller it wakes once woken (`_run`)
        self.result: Any = None
        self.error: BaseException | None = None
        if settle is not None:
            self.wake = _NO_WAKE
        else:  # this thread's lock, made at its first command
            try:
                self.wake = _WAKES.lock
            except AttributeError:
                self.wake = _new_wake_lock()
        # The caller's trace context: an untraced command calls nothing of telemetry.
        self.trace = telemetry.parent() if telemetry.ON else None


class GroupCommit:
    """Runs commands against one `Store`, batching the callers that arrive together. One
    caller leads at a time, until its own command is done, then hands the lead on."""

    def __init__(self, store: Store):
        self.store = store
        self._queued: list[_Call] = []
        self._mutex = threading.Lock()
        self._leading = False
        # Transactions saved and the commands run in them (refused ones included).
        self.transactions = self.commands = 0
        self._contended_until = 0.0
        self._last_batch = 0
        # Leads for submitted commands, which have no thread of their own.
        self._committer: threading.Thread | None = None
        self._committer_wake = threading.Semaphore(0)
        self._committer_leads = False  # a lead handed to it, not yet taken

    @property
    def waiting(self) -> int:
        with self._mutex:
            return len(self._queued)

    @property
    def leading(self) -> bool:
        return self._leading

    def execute(self, clock: Callable[[], datetime], body: Callable[[Work], T]) -> T:
        """Run `body` on current states and save what it decided, atomically; what `body`
        returns once its events are durable. Raises what `body` raises (nothing of it
        saved), `Conflict` after `MAX_ATTEMPTS` lost races, or the database's error."""
        call = _Call(body, clock, None)
        try:  # to the end of its lead: a lead it holds is passed on if it is interrupted
            with self._mutex:
                self._queued.append(call)
                lead = call.leads = not self._leading
                self._leading = True
            if not lead:
                call.wake.acquire()  # until done, or handed the lead
                after = call.next
                if after is not None:  # the next caller of the batch: see `_run`
                    call.next = None
                    after.wake.release()
            if not call.done:
                self._lead(call)
        except BaseException:
            self._abandon(call)
            raise
        if call.error is not None:
            raise call.error
        result: T = call.result
        return result

    def submit(
        self, clock: Callable[[], datetime], body: Callable[[Work], Any], settle: Settle
    ) -> None:
        """Queue `body` and return at once; `settle(result, error)` is called, from the
        thread that saved the batch, with what `execute` would return or raise. It must
        be quick (an event loop's `call_soon_threadsafe`); an error it raises is logged."""
        call = _Call(body, clock, settle)
        with self._mutex:
            self._queued.append(call)
            # Started before any lead is handed to it: a caller of `execute` leading now
            # hands it the lead when it is done, if this call is still queued.
            if self._committer is None:
                self._start_committer()
            if self._leading:
                return
            self._leading = self._committer_leads = True
            self._committer_wake.release()

    def _commit_submitted(self) -> None:
        try:
            while True:
                self._committer_wake.acquire()  # handed the lead, or told to stop
                with self._mutex:
                    leads, self._committer_leads = self._committer_leads, False
                    if not leads:  # told to stop: `close`
                        return
                self._lead(None)
        except BaseException:
            # Dying (a `settle` raised e.g. `SystemExit`): a lead handed to this one is
            # taken by another committer now, not lost.
            with self._mutex:
                if self._committer is threading.current_thread():
                    self._committer = None
                    if self._committer_leads:
                        self._start_committer()
            raise

    def _start_committer(self) -> None:  # holds `_mutex`
        self._committer = threading.Thread(
            target=self._commit_submitted, name="tidings-committer", daemon=True
        )
        self._committer.start()

    def close(self) -> None:
        """Stop the committer thread, after any lead it was handed."""
        with self._mutex:
            committer, self._committer = self._committer, None
        if committer is None:
            return
        self._committer_wake.release()
        committer.join()

    def _lead(self, call: _Call | None) -> None:
        """Save batches until `call` is done (None: the committer, until none is queued),
        then pass the lead on, even if interrupted: a lost lead would stall every caller."""
        try:
            while call is None or not call.done:
                if self._last_batch > 1:
                    self._gather()
                with self._mutex:
                    batch = self._queued[:MAX_BATCH]
                    del self._queued[:MAX_BATCH]
                if not batch:
                    break
                self._last_batch = len(batch)
                self._run(batch, call)
        finally:
            with self._mutex:
                self._pass_lead(call)

    def _pass_lead(self, call: _Call | None) -> None:
        """If `call` holds the lead (None: the committer), hand it to the oldest caller
        still waiting, or lay it down. Nothing is called between clearing `leads` and
        handing on, so an interruption lands before both or after both."""
        heir = next((c for c in self._queued if c.settle or not c.abandoned), None)
        if call is not None:
            if not call.leads:
                return
            call.leads = False
        if heir is None:
            self._leading = False  # any abandoned call left is run by the next leader
        elif heir.settle is not None:
            self._committer_leads = True
            self._committer_wake.release()
        else:
            heir.leads = True
            heir.wake.release()

    def _abandon(self, call: _Call) -> None:
        """`call`'s caller was interrupted: its next call waits on a new lock; the caller
        it was to wake is woken now, or skipped; a lead handed to it is passed on."""
        del _WAKES.lock
        with self._mutex:
            call.abandoned = True
            after, call.next = call.next, None
            if call.done and after is not None:
                after.wake.release()
            self._pass_lead(call)

    def _gather(self) -> None:
        """Yield the GIL while the queue grows, for at most `GATHER_FOR` (docs/decisions.md)."""
        deadline = time.perf_counter() + GATHER_FOR
        seen = len(self._queued)
        while time.perf_counter() < deadline:
            time.sleep(0)
            now = len(self._queued)
            if now == seen:
                return
            seen = now

    def _run(self, batch: list[_Call], leader: _Call | None) -> None:
        interrupted = RuntimeError("interrupted while saving: the command may not be saved")
        outcomes: list[_Outcome] = [(None, interrupted)] * len(batch)
        try:
            with telemetry.commit(len(batch)) if telemetry.ON else _UNTRACED:
                outcomes = self._attempts(batch)
            if not OUTAGE.steady and any(error is None for _, error in outcomes):
                OUTAGE.passed()  # the store answered again
        except Exception as failure:  # the database failed: every caller hears of it
            outcomes = [(None, storage_error(failure))] * len(batch)
        finally:
            # Callers are woken one by one, each by the one before it (`execute`): woken
            # at once, they fought over the GIL (docs/decisions.md).
            waiting: list[_Call] = []
            ending: BaseException | None = None
            for call, (result, error) in zip(batch, outcomes, strict=True):
                call.result, call.error, call.done = result, error, True
                if call.settle is not None:
                    try:
                        call.settle(result, error)
                    except Exception:
                        _log.exception(
                            "a submitted command could not be settled; its batch goes on"
                        )
                    except BaseException as raised:  # raised below, once all are answered
                        ending = ending or raised
                elif call is not leader:
                    waiting.append(call)
            with self._mutex:  # against `_abandon`
                waiting = [call for call in waiting if not call.abandoned]
                for call, after in itertools.pairwise(waiting):
                    call.next = after
            if waiting:
                waiting[0].wake.release()
            if ending is not None:
                raise ending

    def _attempts(self, batch: list[_Call]) -> list[_Outcome]:
        store = self.store
        races = 0  # lost by this batch
        for attempt in range(MAX_ATTEMPTS):
            # A retry holds the write lock from its refresh to its save's commit.
            hold: AbstractContextManager[None] = store.locked() if attempt else nullcontext()
            # The batch's commands change the cached states in place (`Work`): unless its
            # save commits, they are put back, or forgotten after a lost race.
            work = Work(store, trust_new=races == 0)
            try:
                with hold:
                    store.refresh()
                    outcomes = _decided(work, batch)
                    if not work.rows and store.moved():  # the look `refresh` left to now
                        work = Work(store, trust_new=races == 0)  # the first changed nothing
                        outcomes = _decided(work, batch)
                    if not attempt and work.rows and time.monotonic() < self._contended_until:
                        work.put_back()
                        continue  # decided again under the lock, on what refresh leaves fresh
                    started = time.perf_counter()
                    try:
                        store.save(work.rows, work.snapshots())
                        won = True
                    except IntegrityError:
                        won = False
                        races += 1
                        self._contended_until = time.monotonic() + CONTENDED_FOR
            except BaseException:
                work.put_back()
                raise
            if not won:
                store.forget(work.touched())
                continue
            if work.rows:
                COMMIT_SECONDS.observe(time.perf_counter() - started)
                BATCH_COMMANDS.observe(len(batch))
                self.transactions += 1
                self.commands += len(batch)
            return outcomes
        text = f"gave up after {MAX_ATTEMPTS} version conflicts"
        return [(None, Conflict(text)) for _ in batch]


def _decided(work: Work, batch: list[_Call]) -> list[_Outcome]:
    """Each command's body run on `work`, in order: what it returned or raised (a
    driver's error as a `StorageError`)."""
    outcomes: list[_Outcome] = []
    for call in batch:
        work.now = call.clock()
        try:
            if call.trace is None:
                result = call.body(work)
            else:
                with telemetry.command(call.body, call.trace):
                    result = call.body(work)
        except BaseException as error:  # even SystemExit: raised in its caller's thread
            work.drop()
            outcomes.append((None, storage_error(error)))
            continue
        work.absorb()
        outcomes.append((result, None))
    return outcomes
