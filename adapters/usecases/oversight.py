"""What the console reads about the log as a whole: an operation's trail by any of its
keys with the operator actions on its account, the latest signed checkpoint, and a
verification of the hash chain. Read beside the group commit (no unit of work)."""

from tidings.domain import operation as op

from ..audit.integrity import Break, verify
from ..audit.trail import TrailEntry
from ..ledger.checkpoint import Checkpoint
from .audit_reads import AuditReads
from .operators import Operators
from .runtime import Runtime

__all__ = ["Oversight", "OversightCalls"]


class Oversight:
    """The console's reads of one `Tidings` (see its methods of the same names)."""

    def __init__(self, runtime: Runtime, reads: AuditReads, operators: Operators):
        self._runtime = runtime
        self._reads = reads
        self._operators = operators

    def trail_of(self, key: str) -> list[TrailEntry]:
        login, colon, ident = key.rpartition(":")
        if colon and login and ident.isdigit():
            entries = self._reads.trail(None, None, (login, int(ident)), None)
        else:
            entries = self._reads.trail(key, None, None, None) or self._reads.trail(
                None, key, None, None
            )
            logins = {e.event.login for e in entries if isinstance(e.event, op.OperationAccepted)}
            login = next(iter(logins)) if len(logins) == 1 else ""
        if not entries or not login:
            return entries
        first = min(e.position for e in entries)
        acted = [e for e in self._operators.actions(login) if e.position > first]
        return sorted(entries + acted, key=lambda e: e.position)

    def latest_checkpoint(self) -> Checkpoint | None:
        recorder = self._runtime.store.recorder
        with self._runtime.reading():
            if not recorder.tree.present(recorder.tree_rows):
                return None
            latest: Checkpoint | None = recorder.tree.latest(recorder.tree_rows)
            return latest

    def verify(self) -> tuple[int, Break | None]:
        with self._runtime.reading():
            return verify(self._runtime.store)


class OversightCalls:
    """The console's reads of `Tidings`."""

    _oversight: Oversight

    def trail_of(self, key: str) -> list[TrailEntry]:
        """The trail of `key`, in log order: a notification's when it is `LOGIN:ID`,
        else an operation's by svTRID, else the operations' of a clTRID; with the
        operator actions on the account since the trail began. Raises `StorageError`."""
        return self._oversight.trail_of(key)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The latest signed checkpoint of the log (None: nothing signed yet). Raises
        `StorageError`."""
        return self._oversight.latest_checkpoint()

    def verify_log(self) -> tuple[int, Break | None]:
        """Check the hash chain over the whole log: the entries checked, and where it
        breaks (None: intact). Reads every entry. Raises `StorageError`."""
        return self._oversight.verify()
