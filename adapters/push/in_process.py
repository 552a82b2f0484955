"""The push runner on a thread of the library's own process (`Tidings(..., push=True)`)."""

import logging
import threading

import anyio

from .due import DueWork
from .mail import SmtpServer
from .port import DeliveryCommands

__all__ = ["PushThread"]

_log = logging.getLogger("tidings.push")
# How long `start` waits for the runner to read the log, and `stop` for it to end.
_WAIT = 30.0


class PushThread:
    """A `DueWork` runner on `tidings`, on a daemon thread with its own event loop, from
    `start` until `stop`; e-mail through TIDINGS_SMTP_URL. It ends no operation."""

    def __init__(self, tidings: DeliveryCommands):
        self._runner = DueWork(tidings, smtp=SmtpServer.from_env())
        self._started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tidings-push", daemon=True)

    def start(self) -> None:
        """Start the runner; returns once it has read the log."""
        self._thread.start()
        self._started.wait(_WAIT)

    def stop(self) -> None:
        """Stop the runner (attempts in flight are made again later, `DueWork.run`)."""
        self._stop.set()
        self._thread.join(_WAIT)

    def _main(self) -> None:
        try:
            anyio.run(self._run)
        except Exception:  # a thread has no caller to raise to: say it in the log
            _log.exception("the in-process push runner stopped")
        finally:
            self._started.set()

    async def _run(self) -> None:
        async with anyio.create_task_group() as group:
            await group.start(self._runner.run)
            self._started.set()
            await anyio.to_thread.run_sync(self._stop.wait)
            group.cancel_scope.cancel()
