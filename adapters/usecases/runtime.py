"""What every use case shares: the store, the group commit, the clock, svTRIDs, who may
run a command on an account, the checks of the calls' arguments (each returns the value
given or raises `InvalidArgument` naming the argument, before anything is done); and how
`Tidings`' calls are made from the use cases' one implementation (`blocking_call`,
`awaited_call`, `face_of`, `submitted_call`): a synchronous call drives the
coroutine on the calling thread (`Runtime.blocking`), where `Runtime.run` never
suspends, with no event loop."""

import asyncio
import contextlib
import functools
import inspect
import itertools
import os
import secrets
import threading
import types
from collections.abc import Callable, Coroutine, Generator, Iterator
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, get_args, get_origin

import msgspec
from tidings.domain import ACCOUNT, Code, Decider
from tidings.domain import account as acc
from tidings.domain.access import Caller, Remote, Trusted, refusal

from ..errors import Closed, InvalidArgument, Rejected
from ..store.application import LogEntry, Store
from ..store.commit import GroupCommit
from ..store.outage import storage_errors
from ..store.work import Work

__all__ = [
    "CHUNK",
    "LAST_POSITION",
    "RemoteClient",
    "Runtime",
    "SvtridCalls",
    "SvtridSource",
    "admitted",
    "ascii_texts",
    "awaited_call",
    "blocking_call",
    "existing",
    "face_of",
    "instance",
    "integer",
    "remote",
    "submitted_call",
    "text",
    "texts",
    "unicode",
    "utcnow",
]

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

CHUNK = 100  # streams loaded, or changed, a unit of work by a use case over many
# Log positions are 64-bit signed in both stores: a larger one is no position.
LAST_POSITION = 2**63 - 1


class _Driving(threading.local):
    # While `Runtime.blocking` drives a use case on this thread (cheaper than a ContextVar).
    on = False


_BLOCKING = _Driving()


# Aware UTC now, the default clock: `datetime.now` bound to UTC, no Python frame of its own.
utcnow: Callable[[], datetime] = functools.partial(datetime.now, UTC)


class SvtridSource:
    """`<unix>.<process>.<counter>`: `process` drawn at random once per process (again in
    a forked child), so machines sharing one database mint different svTRIDs."""

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self.process = secrets.randbelow(10**9)
        self.counter = itertools.count(1)
        self._middle = f".{self.process}."

    def mint(self, now: datetime) -> str:
        return f"{int(now.timestamp())}{self._middle}{next(self.counter)}"

    def minted_here(self, svtrid: str) -> bool:
        parts = svtrid.split(".")
        return len(parts) == 3 and parts[1] == str(self.process)


_SVTRIDS = SvtridSource()
_TRUSTED = Trusted()  # a frozen value: one serves every command


def _settle(future: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # its caller gave up waiting; the command stands
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Runtime:
    """What the use cases of one `Tidings` share. After `close`, every call raises
    `Closed`."""

    def __init__(
        self,
        store: Store,
        committer: GroupCommit,
        clock: Callable[[], datetime],
        new_svtrid: Callable[[], str],
    ):
        self.store = store
        self.committer = committer
        self.clock = clock
        self.closed = False
        self.new_svtrid = new_svtrid  # `Tidings.new_svtrid`, which a subclass may override

    def mint_svtrid(self) -> str:
        return _SVTRIDS.mint(self.clock())

    def check_open(self) -> None:
        if self.closed:
            raise Closed("this Tidings is closed")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around a read beside the group commit: `Closed`, `StorageError`."""
        self.check_open()
        with storage_errors():
            yield

    def entries(self, topic: str, after: int = 0, limit: int | None = None) -> list[LogEntry]:
        """The log's entries of event type `topic` after position `after` (`limit`: at
        most so many), read beside the group commit. Raises `Closed`, `StorageError`."""
        with self.reading():
            found = self.store.log(after + 1, limit or 1000, (topic,), None)
            return list(itertools.islice(found, limit))

    def execute(self, body: Callable[[Work], T]) -> T:
        """`run` on the calling thread, with no coroutine to drive."""
        if self.closed:  # `check_open` inline: every sync command passes here
            raise Closed("this Tidings is closed")
        return self.committer.execute(self.clock, body)

    async def run(self, body: Callable[[Work], T]) -> T:
        """Run `body` as one command of the group commit; returns once it is durable.
        Raises `Closed`, what the body raises, `Conflict`, `StorageError` (the group
        commit makes a driver's error one)."""
        if _BLOCKING.on:
            return self.execute(body)
        self.check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            # RuntimeError: the loop closed meanwhile, and no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)

        self.committer.submit(self.clock, body, settle)
        return await future

    async def states(self, kind: Decider[S, Any, Any], keys: list[str]) -> list[S]:
        """The states of `kind`'s streams `keys`, loaded a chunk a unit of work (a long
        list does not hold up the writers behind it). Raises as `run`."""
        states: list[S] = []
        for start in range(0, len(keys), CHUNK):
            states += await self.run(functools.partial(_states, kind, keys[start : start + CHUNK]))
        return states

    @staticmethod
    def blocking(call: Coroutine[Any, Any, T]) -> T:
        """A use case coroutine's answer, run to its end on this thread."""
        was, _BLOCKING.on = _BLOCKING.on, True
        try:
            answer: list[T] = []
            for _ in _driven(call, answer):
                break  # it awaited something: see below
            else:
                return answer[0]
        finally:
            _BLOCKING.on = was
        call.close()
        raise RuntimeError("a use case awaited something other than Runtime.run")


def _states(kind: Decider[S, Any, Any], keys: list[str], work: Work) -> list[S]:
    return [work.state(kind, key) for key in keys]


@types.coroutine
def _driven(call: Coroutine[Any, Any, T], answer: list[T]) -> Generator[Any, None, None]:
    # `call.send(None)` would end in a `StopIteration`; `yield from` and `for` raise none.
    answer.append((yield from call))


U = TypeVar("U")


def _face(call: F, method: Callable[..., Any], suffix: str = "") -> F:
    """`call` with `method`'s name (+ `suffix`), docstring and signature; a returned
    body's answer is the call's."""
    face: Any = functools.update_wrapper(call, method)
    face.__name__ += suffix
    signature = inspect.signature(method)
    if get_origin(signature.return_annotation) is Callable:
        answer = get_args(signature.return_annotation)[-1]
        face.__signature__ = signature.replace(return_annotation=answer)
    return call


def blocking_call(
    method: Callable[Concatenate[U, P], Coroutine[Any, Any, T]], case: str
) -> Callable[Concatenate[Any, P], T]:
    """The synchronous call of use case `method` of `Tidings`' attribute `case`."""

    def call(tidings: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return Runtime.blocking(method(getattr(tidings, case), *args, **kwargs))

    return _face(call, method)


def awaited_call(
    method: Callable[Concatenate[U, P], Coroutine[Any, Any, T]], case: str
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """`blocking_call`'s call on an event loop, named `<name>_async`."""

    async def call(tidings: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await method(getattr(tidings, case), *args, **kwargs)

    return _face(call, method, "_async")


def face_of(method: Callable[..., Any]) -> Callable[[F], F]:
    """A call written out (no wrapper on the hot path) with `method`'s docstring and
    signature."""

    def face(call: F) -> F:
        return _face(call, method)

    return face


def submitted_call(
    method: Callable[Concatenate[U, P], Callable[[Work], T]], case: str
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """The call on an event loop, named `<name>_async`, of the body `method` returns."""

    async def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        runtime: Runtime = self._runtime
        return await runtime.run(method(getattr(self, case), *args, **kwargs))

    return _face(call, method, "_async")


class SvtridCalls:
    """The svTRID calls of `Tidings`."""

    _runtime: Runtime

    def new_svtrid(self) -> str:
        """A server transaction id `<unix>.<process>.<counter>`. Raises nothing."""
        return _SVTRIDS.mint(self._runtime.clock())

    def minted_here(self, svtrid: str) -> bool:
        """Whether this process minted `svtrid` (its own operations'). Raises nothing."""
        return _SVTRIDS.minted_here(svtrid)


def integer(name: str, value: Any, *, least: int | None = None, most: int | None = None) -> int:
    """`value` when it is an `int` (not a bool) within `least`..`most`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, not {type(value).__name__}")
    if (least is not None and value < least) or (most is not None and value > most):
        low = "" if least is None else f" from {least}"
        high = "" if most is None else f" to {most}"
        raise InvalidArgument(f"{name} must be{low}{high}, not {value}")
    return value


def text(name: str, value: Any) -> str:
    """`value` when it is a `str` of Unicode text (see `unicode`)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, not {type(value).__name__}")
    return value if value.isascii() else unicode(name, value)


def ascii_texts(*values: Any) -> bool:
    """Whether every value is a plain `str` of ASCII, which `text` would let through (the
    common case, judged at once; `text` judges any other and names what is wrong)."""
    for value in values:  # noqa: SIM110 (`all` over a generator costs more)
        if type(value) is not str or not value.isascii():
            return False
    return True


def unicode(name: str, value: T) -> T:
    """`value` (a text, or a struct, dict or tuple of them) when every text in it is
    Unicode: a lone surrogate, which no event can hold, would fail a whole batch."""
    try:
        msgspec.json.encode(value)
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} holds text that is not Unicode (a lone surrogate)") from None
    return value


def instance(name: str, value: Any, kind: type[T] | tuple[type[T], ...]) -> T:
    """`value` when it is a `kind`."""
    if not isinstance(value, kind):
        raise InvalidArgument(f"{name} must not be a {type(value).__name__}")
    return value


def texts(name: str, values: Any) -> tuple[str, ...]:
    """`values`, a tuple or list of `str`, as a tuple."""
    if not isinstance(values, tuple | list) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"{name} must be a tuple of strings")
    return tuple(text(name, value) for value in values)


class RemoteClient(msgspec.Struct, frozen=True, kw_only=True):
    """A client calling over the network, let in by the domain's access rule inside the
    unit of work of the command it runs (no read of the account before it): `proof`
    says whether its credentials match the stored account (None when the login is
    unknown: it should then cost the same work), `ip` is its address (None: unknown)."""

    proof: Callable[[acc.AccountState | None], bool]
    ip: str | None


def remote(client: Any) -> "RemoteClient | None":
    """`client` when it is None or a `RemoteClient`."""
    if client is not None and not isinstance(client, RemoteClient):
        raise InvalidArgument(f"client must be a RemoteClient, not {type(client).__name__}")
    return client


def admitted(work: Work, login: str, client: RemoteClient | None) -> acc.AccountState:
    """The account, once the access rule lets `client` (None: the backend) in."""
    account = work.state(ACCOUNT, login)
    caller: Caller = _TRUSTED
    if client is not None:
        proven = client.proof(account if account.opened else None)
        caller = Remote(authenticated=proven, client_ip=client.ip)
    refused = refusal(account, caller)
    if refused is not None:
        raise Rejected.of(refused)
    return account


def existing(work: Work, login: str) -> acc.AccountState:
    """The account; 2303 when it was never opened (suspended or not)."""
    account: acc.AccountState = work.state(ACCOUNT, login)
    if not account.opened:
        raise Rejected(Code.OBJECT_NOT_FOUND, f"account {login!r} does not exist")
    return account
