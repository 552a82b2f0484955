"""Endings the server schedules for the operations it runs itself.

`ping-async` and the Merchants-style jobs are accepted like any backend's operation and
ended later through `Tidings.end`, the path every real operation takes, so their
notifications are queued and pushed like any other. An ending is a pure function of the
accepted operation (its command and init request), never of memory: after a restart the
server finds the operations still pending and schedules them again, so nothing accepted
is lost. Two servers on one PostgreSQL may both try; the store lets one win and the
other's 2304 is expected.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup
from tidings.domain import BatchState, Code
from tidings.domain.operation import OperationState

from ..library import Rejected, Tidings

__all__ = ["Ending", "EndingRule", "Endings"]

_log = logging.getLogger("tidings.endings")


@dataclass(frozen=True, slots=True)
class Ending:
    """The result an operation ends with (the arguments of `Tidings.end`)."""

    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


@dataclass(frozen=True, slots=True)
class EndingRule:
    """How long after acceptance an operation of one command ends, and how."""

    delay: float
    ending: Callable[[OperationState], Ending]


class Endings:
    """Ends operations at their due time, in worker threads, inside a task group that
    the server cancels at shutdown (an ending already running in its thread finishes:
    anyio does not abandon threads on cancel, so nothing is half written)."""

    def __init__(
        self,
        tidings: Tidings,
        rules: dict[str, EndingRule],
        clock: Callable[[], datetime],
        group: TaskGroup,
    ) -> None:
        self._tidings = tidings
        self._rules = rules
        self._clock = clock
        self._group = group

    def schedule(self, operation: OperationState) -> None:
        """End `operation` when its command's delay after acceptance has passed.

        Operations of commands without a rule are left alone (a backend ends them)."""
        accepted = operation.accepted
        if accepted is None or accepted.command not in self._rules:
            return
        rule = self._rules[accepted.command]
        due = accepted.at + timedelta(seconds=rule.delay)
        self._group.start_soon(self._end_at, accepted.svtrid, due, rule.ending(operation))

    async def resume(self) -> int:
        """Schedule every pending operation that has a rule (after a restart); returns
        how many were scheduled."""
        count = 0
        for command in self._rules:
            pending = await anyio.to_thread.run_sync(self._tidings.pending_operations, command)
            for operation in pending:
                self.schedule(operation)
                count += 1
        return count

    async def _end_at(self, svtrid: str, due: datetime, ending: Ending) -> None:
        wait = (due - self._clock()).total_seconds()
        if wait > 0:
            await anyio.sleep(wait)

        def end() -> None:
            self._tidings.end(
                svtrid,
                ending.code,
                ending.result,
                data=ending.data,
                batch_state=ending.batch_state,
            )

        try:
            await anyio.to_thread.run_sync(end)
        except Rejected as rejected:
            if rejected.code != Code.STATUS_PROHIBITS:  # 2304: another server ended it
                _log.error("ending %s refused: %s %s", svtrid, int(rejected.code), rejected.text)
        except Exception:
            # Left pending in the store; the next start schedules it again.
            _log.exception("ending %s failed", svtrid)
