"""Operations: accepting one (`1001` and a new svTRID), its steps, its ending (which
queues or schedules its notification), and the reads of them."""

from collections.abc import Callable
from typing import Any, get_args

from tidings.adapters import telemetry
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    MAILBOX,
    OPERATION,
    BatchState,
    Code,
    InitRequest,
    Notification,
)
from tidings.domain import delivery as dlv
from tidings.domain import operation as op
from tidings.domain.ending import Ending, end
from tidings.domain.redaction import redacted

from ..errors import InvalidArgument, Rejected
from ..redaction import secret_headers, secret_params
from ..store.work import Work
from ..views import Pending
from .runtime import (
    RemoteClient,
    Runtime,
    admitted,
    ascii_texts,
    awaited_call,
    blocking_call,
    face_of,
    instance,
    integer,
    remote,
    submitted_call,
    text,
    unicode,
)

__all__ = ["OperationCalls", "Operations"]

_BATCH_STATES = get_args(BatchState)
_text = text  # for `step`, whose parameter `text` is named as `Tidings.step`'s


class Operations:
    """The operation use cases of one `Tidings` (`OperationCalls` offers them); `accept`,
    `step` and `end` check their arguments and return their command's body."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        # Redacted from recorded init requests (with TIDINGS_REDACT_PARAMS and _HEADERS).
        self._secret_params = secret_params()
        self._secret_headers = secret_headers()

    def accept(
        self,
        login: str,
        cltrid: str,
        command: str,
        *,
        init_request: InitRequest | None = None,
        client: RemoteClient | None = None,
    ) -> Callable[[Work], Pending]:
        """Accept an asynchronous operation: answers `1001 Request pending` with a new
        svTRID. `client`: a client over the network, let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended, 2005 clTRID too long,
        2100 no command, 2101 an init request nesting too deep; with a `client`, 2050 and
        2051 as `admit`), `Conflict`, `StorageError`.
        """
        if not ascii_texts(login, cltrid, command):  # else `text` says which is wrong
            text("login", login)
            text("cltrid", cltrid)
            text("command", command)
        if client is not None:
            remote(client)
        if init_request is not None:
            unicode("init_request", instance("init_request", init_request, InitRequest))
        # Credentials never enter the log (a JobResult returns the rest of it).
        stored_request = init_request and redacted(
            init_request, self._secret_params, self._secret_headers
        )
        context = telemetry.carried()  # the request's, read here: bodies may run elsewhere

        def body(work: Work) -> Pending:
            admitted(work, login, client)
            while True:
                # A svTRID met again (another process drew the same) is refused: draw again.
                svtrid = self._runtime.new_svtrid()
                accept = op.AcceptOperation(
                    svtrid=svtrid,
                    cltrid=cltrid,
                    command=command,
                    login=login,
                    init_request=stored_request,
                    context=context,
                )
                decided = work.decide(OPERATION, svtrid, accept, new=True)
                if isinstance(decided, list):  # not a `Rejection` (see `Work.decide`)
                    break
                if decided.code != Code.OBJECT_EXISTS:
                    raise Rejected.of(decided)
            if telemetry.ON:
                telemetry.note(login=login, svtrid=svtrid)
            return Pending(
                code=Code.PENDING,
                text=Code.PENDING.text,
                svtrid=svtrid,
                cltrid=cltrid,
                command=command,
                timestamp=work.now,
            )

        return body

    def step(self, svtrid: str, text: str) -> Callable[[Work], None]:
        """Record a step of a running operation. Raises `Rejected` (2303 unknown svTRID,
        2304 ended, 2100 no text), `Conflict`, `StorageError`."""
        _text("svtrid", svtrid)
        command = op.RecordStep(_text("text", text))

        def body(work: Work) -> None:
            work.must(OPERATION, svtrid, command)

        return body

    def end(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Callable[[Work], Notification]:
        """End an operation with a final answer (1000, or 2000-5999): its notification
        is queued in the account's mailbox or, for a push account, its delivery
        scheduled, all in one transaction (the domain's `ending` process decides).

        Raises `Rejected` (2303 unknown svTRID, 2304 already ended, 2100 no result
        text, 2101 a code that is not final, or `data` whose keys are not XML names or
        that nests over 32 levels), `Conflict`, `StorageError`.
        """
        if not ascii_texts(svtrid, result):  # else these say which is wrong, in this order
            text("svtrid", svtrid)
            integer("code", code)
            text("result", result)
        command = op.EndOperation(
            code=code if type(code) is int else integer("code", code),
            result=result,
            data=data if data is None else instance("data", data, dict),
            batch_state=batch_state,
        )
        if batch_state is not None and batch_state not in _BATCH_STATES:
            raise InvalidArgument(f"batch_state is one of {', '.join(_BATCH_STATES)}")

        def body(work: Work) -> Notification:
            operation = work.state(OPERATION, svtrid)
            login = operation.accepted.login if operation.accepted is not None else None
            if telemetry.ON:  # read here so that an untraced command calls nothing of it
                telemetry.note(login=login, svtrid=svtrid, code=code)
                telemetry.link(operation.accepted.context if operation.accepted else None)
            decided = end(
                operation,
                work.state(ACCOUNT, login) if login is not None else ACCOUNT.initial,
                work.state(MAILBOX, login) if login is not None else MAILBOX.initial,
                command,
                work.now,
            )
            if not isinstance(decided, Ending):  # not `Rejection`: see `Work.decide`
                raise Rejected.of(decided)
            work.record(OPERATION, svtrid, decided.operation)
            work.record(MAILBOX, decided.login, decided.mailbox)
            if decided.delivery:  # a pushed notification's: a polled one has none
                key = dlv.key(decided.login, decided.notification.id)
                work.record(DELIVERY, key, decided.delivery, new=True)
            return decided.notification

        return body

    async def operation(self, svtrid: str) -> op.OperationState | None:
        """The operation, or None when it was never accepted. Raises `StorageError`."""
        text("svtrid", svtrid)
        state = await self._runtime.run(lambda work: work.state(OPERATION, svtrid))
        return state if state.accepted is not None else None

    async def pending_operations(self, command: str | None = None) -> list[op.OperationState]:
        """Operations accepted and not yet ended (optionally of one command), oldest
        first; from the open operations' projection, so it costs what is open. Raises
        `StorageError`."""
        if command is not None:
            text("command", command)
        with self._runtime.reading():
            svtrids = self._runtime.store.open_operations()
        return [
            state
            for state in await self._runtime.states(OPERATION, svtrids)
            if state.accepted is not None
            and state.ended is None
            and (command is None or state.accepted.command == command)
        ]


class OperationCalls:
    """The operation calls of `Tidings`."""

    _operations: Operations
    _runtime: Runtime

    @face_of(Operations.accept)
    def accept(
        self,
        login: str,
        cltrid: str,
        command: str,
        *,
        init_request: InitRequest | None = None,
        client: RemoteClient | None = None,
    ) -> Pending:
        return self._runtime.execute(
            self._operations.accept(
                login, cltrid, command, init_request=init_request, client=client
            )
        )

    accept_async = submitted_call(Operations.accept, "_operations")

    @face_of(Operations.step)
    def step(self, svtrid: str, text: str) -> None:
        self._runtime.execute(self._operations.step(svtrid, text))

    @face_of(Operations.end)
    def end(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Notification:
        return self._runtime.execute(
            self._operations.end(svtrid, code, result, data=data, batch_state=batch_state)
        )

    end_async = submitted_call(Operations.end, "_operations")
    operation = blocking_call(Operations.operation, "_operations")
    operation_async = awaited_call(Operations.operation, "_operations")
    pending_operations = blocking_call(Operations.pending_operations, "_operations")
