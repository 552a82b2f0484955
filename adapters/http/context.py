"""What every endpoint of the server shares: its settings, the library, the due work, and
who an operator's bearer token is (`bearer`), behind the guessing throttle."""

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from starlette.requests import Request
from tidings.domain.operator import ADMIN

from ..library import Tidings
from ..metrics import AUTH_FAILURES
from ..push.due import DueWork
from ..usecases.runtime import utcnow
from .body import client_ip
from .limits import DEFAULT_LIMITS, Limits
from .throttle import AuthGate, Guesses, SharedThrottle, Throttle

__all__ = [
    "ADMIN_TOKEN_ENV",
    "SESSION_KEY_ENV",
    "Bearer",
    "Context",
    "Settings",
    "bearer",
    "throttle_file",
    "token_digest",
]

ADMIN_TOKEN_ENV = "TIDINGS_ADMIN_TOKEN"
SESSION_KEY_ENV = "TIDINGS_SESSION_KEY"


# A named session key signs every session cookie: one that short could be guessed
# offline from a cookie.
SESSION_KEY_LEAST = 32


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def session_key_from_env() -> bytes:
    """The key that signs the pages' session cookies and CSRF tokens: the sha256 of
    TIDINGS_SESSION_KEY, else drawn at random. ValueError: a TIDINGS_SESSION_KEY of fewer
    than `SESSION_KEY_LEAST` characters (the message never holds it)."""
    named = os.environ.get(SESSION_KEY_ENV)
    if not named:
        return secrets.token_bytes(32)
    if len(named) < SESSION_KEY_LEAST:
        raise ValueError(
            f"{SESSION_KEY_ENV} must be at least {SESSION_KEY_LEAST} characters, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token_digest(named)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a server runs.

    `admin_digest` is the sha256 of the JSON API's bearer token (None: the API answers
    401 to everyone). `ping_delay` / `job_delay` are the seconds after which ping-async
    and Merchants jobs end. `clock` returns aware UTC datetimes. `worker`: run the
    due-work runner (pushes, endings) in this process (else a `tidings worker` does);
    `deliveries` and `foreign_endings_after` are the runner's (`push.due.DueWork`), for
    the workers of one server. `limits`: deadlines, caps and the authentication
    throttle (`limits.Limits`). `shared_dir`: the directory the workers of one server
    share (the throttle's failures); None for a server of one process. `session_key`
    signs the web pages' session cookies and CSRF tokens (`web.access`): drawn at
    random unless TIDINGS_SESSION_KEY names one, so a restart signs everyone out.
    """

    db: str
    admin_digest: bytes | None = None
    ping_delay: float = 1.0
    job_delay: float = 1.0
    clock: Callable[[], datetime] = utcnow
    worker: bool = True
    deliveries: bool = True
    foreign_endings_after: float = 0.0
    limits: Limits = DEFAULT_LIMITS
    shared_dir: str | None = None
    session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_env(
        cls,
        db: str,
        *,
        ping_delay: float = 1.0,
        job_delay: float = 1.0,
        worker: bool = True,
        limits: Limits = DEFAULT_LIMITS,
    ) -> "Settings":
        """Settings with the admin token's digest and the session key read from the
        environment now (the token itself is not kept). ValueError: as
        `session_key_from_env`."""
        token = os.environ.get(ADMIN_TOKEN_ENV)
        digest = token_digest(token) if token else None
        return cls(
            db=db,
            session_key=session_key_from_env(),
            admin_digest=digest,
            ping_delay=ping_delay,
            job_delay=job_delay,
            worker=worker,
            limits=limits,
        )

    def admits(self, token: str) -> bool:
        """Whether a bearer token is the admin token (constant-time)."""
        if self.admin_digest is None:
            return False
        return hmac.compare_digest(token_digest(token), self.admin_digest)


def throttle_file(shared_dir: str) -> Path:
    """Where the workers of one server keep the guessing throttle's failures."""
    return Path(shared_dir) / "throttle.db"


def _gate(limits: Limits, shared_dir: str | None) -> AuthGate:
    per_address, per_login = limits.auth_failures_per_address, limits.auth_failures_per_login
    window = limits.auth_window
    throttle: Guesses = (
        Throttle(per_address=per_address, per_login=per_login, window=window)
        if shared_dir is None
        else SharedThrottle(
            throttle_file(shared_dir), per_address=per_address, per_login=per_login, window=window
        )
    )
    return AuthGate(throttle, limits.auth_floor)


@dataclass
class Context:
    """The running server's parts; `tidings` (and `due`, when this process runs the
    due work) exist between start and stop. `gate` throttles failed authentications (its
    `throttle` counts failures and refusals, for metrics)."""

    settings: Settings
    _tidings: Tidings | None = field(default=None, repr=False)
    due: DueWork | None = field(default=None, repr=False)
    gate: AuthGate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.gate = _gate(self.settings.limits, self.settings.shared_dir)

    def start(self, tidings: Tidings) -> None:
        self._tidings = tidings

    def stop(self) -> None:
        self._tidings = self.due = None

    @property
    def tidings(self) -> Tidings:
        if self._tidings is None:
            raise RuntimeError("the server has not started")
        return self._tidings


# The "login" the failures of operator tokens are counted under (no account can be named so).
_OPERATORS = "\0admin"


@dataclass(frozen=True, slots=True)
class Bearer:
    """The operator let in (None: refused), and the seconds to wait when the client was
    throttled before its token was looked at (`Retry-After`)."""

    operator: str | None
    retry_after: int | None = None


async def bearer(request: Request, context: Context, surface: str, *, named: bool) -> Bearer:
    """The operator whose bearer token `request` carries (`named`: a named operator's
    too, else only the admin token); a refusal counted under `surface` in
    `tidings_auth_failures`. `StorageError` when the token cannot be looked up."""
    started, gate, ip = time.monotonic(), context.gate, client_ip(request)
    wait = gate.retry_after(_OPERATORS, ip)
    if wait is not None:
        await gate.refused(started)
        return Bearer(None, wait)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    operator = None
    if scheme.lower() == "bearer" and token:
        if context.settings.admits(token):
            operator = ADMIN
        elif named:
            operator = await context.tidings.operator_by_token_async(token)
    if operator is None:
        AUTH_FAILURES.labels(surface).inc()
        await gate.failed(_OPERATORS, ip, started)
    else:
        gate.passed(_OPERATORS, ip)
    return Bearer(operator)
