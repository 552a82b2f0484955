"""Who an operator's bearer token is, behind the guessing throttle (`throttle.AuthGate`):
TIDINGS_ADMIN_TOKEN (the operator `admin`) or, where let in, a named operator's token.
"""

import time
from dataclasses import dataclass

from starlette.requests import Request
from tidings.domain.operator import ADMIN

from ..metrics import AUTH_FAILURES
from .body import client_ip
from .context import Context

__all__ = ["Bearer", "bearer"]

# The "login" the failures of operator tokens are counted under (no account can be named so).
_OPERATORS = "\0admin"


@dataclass(frozen=True, slots=True)
class Bearer:
    """What `bearer` found: the operator let in (None: refused), and, when the client
    was refused for its earlier failures before its token was looked at, the seconds it
    must wait (for `Retry-After`)."""

    operator: str | None
    retry_after: int | None = None


async def bearer(request: Request, context: Context, surface: str, *, named: bool) -> Bearer:
    """The operator whose bearer token `request` carries; `named`: a named operator's
    token lets in too, else only the admin token. A refusal is counted under
    `surface` in `tidings_auth_failures`. Raises `StorageError` when a named operator's
    token cannot be looked up."""
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
