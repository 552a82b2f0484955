"""The errors tidings raises: one root, so a caller can catch everything of ours at once.

    TidingsError
     ├─ Rejected      the core refused a command (`.code`, `.text`); nothing changed
     │   └─ InvalidArgument  an argument of the wrong type or out of range (2101);
     │                       also a `ValueError`
     ├─ Conflict      other writers kept changing the same streams; nothing was written,
     │                try again (not a `Rejected`: the command itself was fine)
     ├─ StorageError  the database could not be opened, read or written
     │   └─ OutcomeUnknown  the database went away while a command committed: it may
     │                      have been saved; read it back before trying again
     └─ Closed        the `Tidings` was closed; nothing was done

A driver's own exception (`sqlite3`, `psycopg`, `eventsourcing`) never reaches a caller:
`store.outage.storage_error` turns it into a `StorageError`, the driver's error kept as
its cause.
"""

import msgspec
from tidings.domain import Code, Rejection

__all__ = [
    "DAMAGED",
    "Closed",
    "Conflict",
    "InvalidArgument",
    "OutcomeUnknown",
    "Rejected",
    "StorageError",
    "TidingsError",
    "damaged_entry",
]

# What reading the rows of an edited or damaged log raises: a stored event that does not
# decode, a topic that names no event (KeyError), a stream id that is not one (ValueError,
# SQLite keeps it as text).
DAMAGED = (msgspec.MsgspecError, KeyError, ValueError)


def damaged_entry(error: BaseException) -> str:
    """What to tell whoever read a `DAMAGED` row (`error`), in one line."""
    return (
        f"the log holds an entry that cannot be read ({error}): the database was edited "
        "or damaged; `tidings verify` says where"
    )


class TidingsError(Exception):
    """The root of every error tidings raises."""


class Rejected(TidingsError):
    """The core refused a command. `code` and `text` say why (see `tidings.domain.Code`)."""

    def __init__(self, code: Code, text: str):
        super().__init__(f"{int(code)} {text}")
        self.code = code
        self.text = text

    @classmethod
    def of(cls, rejection: Rejection) -> "Rejected":
        return cls(rejection.code, rejection.text)


class InvalidArgument(Rejected, ValueError):
    """An argument of the wrong type or out of range; nothing was done. Its code is
    2101 (`Code.INVALID_PARAMETER`)."""

    def __init__(self, text: str):
        super().__init__(Code.INVALID_PARAMETER, text)


class Conflict(TidingsError):
    """Other writers kept changing the same streams; nothing was written. Try again."""


class StorageError(TidingsError):
    """The database could not be opened, read or written; the driver's error is the
    `__cause__`. What was being saved was not saved."""


class OutcomeUnknown(StorageError):
    """The connection to the database died after a command's commit was sent, and the
    database could not be asked whether it committed: the command may have been saved.
    Read it back (its svTRID, the queue) before sending it again."""


class Closed(TidingsError):
    """The `Tidings` was closed; nothing was done."""
