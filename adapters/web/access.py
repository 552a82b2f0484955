"""Who may see a page: sign-in and sign-out (account holders under WAPI's throttle and
access rule, operators with their token), `guarded` pages and the `Pages` middleware.

A session is a random id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict),
signed (HMAC) with its holder and expiry; the log keeps only the id's SHA-256, so the
server can end a session for good (sign-out, a password change, a revoked operator).
"""

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tidings.domain import Code
from tidings.domain.session import holder

from ..errors import OutcomeUnknown
from ..http.body import client_ip
from ..http.context import Context
from ..library import Conflict, Rejected, RemoteClient, StorageError
from ..metrics import AUTH_FAILURES, THROTTLED
from ..wapi.auth import password_sha1
from .pages import Forbidden, checked_form, csrf_token, matches, page, redirect

__all__ = [
    "CENTER",
    "CONSOLE",
    "Area",
    "Call",
    "Handler",
    "Pages",
    "SignedIn",
    "guarded",
    "session_routes",
    "signed_in",
]

# How long a session lasts from sign-in.
_LIFETIME = timedelta(hours=8)
_PRE = "__Host-pre"
_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", _POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]
# A `Rejected` page's status: an unknown object, or a state that prohibits; else 422.
_STATUS = {
    Code.OBJECT_NOT_FOUND: 404,
    Code.STATUS_PROHIBITS: 409,
    Code.OBJECT_EXISTS: 409,
    Code.ACCOUNT_SUSPENDED: 409,
}
_CONFLICT = "Others were changing the same data: try again."
_DOWN = "The database cannot answer now: nothing was done. Try again in a moment."
_UNKNOWN = (
    "The database stopped answering while saving this: it may have been done. "
    "Look before you do it again."
)


@dataclass(frozen=True, slots=True)
class Area:
    """The center or the console: whose sessions (`kind`), in which cookie, where."""

    kind: str
    cookie: str
    home: str
    title: str

    @property
    def sign_in(self) -> str:
        return self.home + "sign-in"


CENTER = Area("account", "__Host-center", "/center/", "Customer center")
CONSOLE = Area("operator", "__Host-console", "/console/", "Operator console")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who sent a request: an account's login or an operator's name, and its session."""

    name: str
    session: str
    area: Area

    @property
    def holder(self) -> str:
        return holder(self.area.kind, self.name)


def _error(request: Request, area: Area, who: SignedIn | None, status: int, text: str) -> Response:
    return page(request, "error.html", status, area=area, who=who, error=text)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, b"session\0" + payload.encode(), hashlib.sha256).hexdigest()


def _read_cookie(key: bytes, value: str, now: datetime) -> tuple[str, str] | None:
    encoded, _, signature = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        name, session, expires = payload.split("|")
        expired = int(expires) <= now.timestamp()
    except ValueError:
        return None
    if expired or not matches(signature, _sign(key, payload)):
        return None
    return name, session


async def signed_in(request: Request, context: Context, area: Area) -> SignedIn | None:
    """Who sent `request` in `area`, or None (no session, a bad or expired cookie, or
    a session the log has ended). Sets `request.state.csrf` for the page's forms."""
    key = context.settings.session_key
    found = _read_cookie(key, request.cookies.get(area.cookie, ""), context.settings.clock())
    if found is None:
        return None
    who = SignedIn(*found, area)
    if not await context.tidings.session_open_async(who.holder, _sha256(who.session)):
        return None
    request.state.csrf = csrf_token(key, who.session)
    return who


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def _sign_in_page(
    request: Request, context: Context, area: Area, status: int = 200, **values: str
) -> Response:
    # The form's CSRF token is bound to the pre-session cookie's value, or a new one.
    pre = request.cookies.get(_PRE) or secrets.token_urlsafe(24)
    request.state.csrf = csrf_token(context.settings.session_key, pre)
    answer = page(request, "sign_in.html", status, area=area, who=None, **values)
    if request.cookies.get(_PRE) != pre:
        _set_cookie(answer, _PRE, pre, None)
    return answer


class Refusal(Exception):
    """A sign-in refused: `text` for the page, `guessed` whether it counts as a guess."""

    def __init__(self, text: str, guessed: bool) -> None:
        super().__init__(text)
        self.text, self.guessed = text, guessed


# (text, whether it counts as a guess) of the access rule's refusals.
_REFUSALS = {
    Code.AUTH_FAILED: ("Wrong login or password.", True),
    Code.IP_NOT_ALLOWED: ("This account may not be used from your address.", False),
    Code.ACCOUNT_SUSPENDED: ("This account is suspended.", False),
}


async def _account_check(context: Context, form: dict[str, str], ip: str | None) -> str:
    login, given = form.get("login", "").strip(), password_sha1(form.get("password", ""))

    def proof(account: object) -> bool:
        return hmac.compare_digest(getattr(account, "password_sha1", "0" * 40), given)

    try:
        await context.tidings.admit_async(login, RemoteClient(proof=proof, ip=ip))
    except Rejected as rejected:
        if rejected.code not in _REFUSALS:
            raise
        raise Refusal(*_REFUSALS[rejected.code]) from None
    return login


async def _operator_check(context: Context, form: dict[str, str], _: str | None) -> str:
    name = await context.tidings.operator_by_token_async(form.get("token", "").strip())
    if name is None:
        raise Refusal("Unknown or revoked operator token.", True)
    return name


def session_routes(context: Context, area: Area) -> list[Route]:
    """`GET|POST sign-in` and `POST sign-out` of `area` (paths under its mount)."""
    check = _account_check if area is CENTER else _operator_check
    gate, key, surface = context.gate, context.settings.session_key, area.home.strip("/")

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            if await signed_in(request, context, area) is not None:
                return redirect(area.home)
            return _sign_in_page(request, context, area)
        started = time.monotonic()
        try:
            form = dict(await checked_form(request, key, request.cookies.get(_PRE, "")))
        except Forbidden as forbidden:
            return _sign_in_page(request, context, area, 403, error=str(forbidden))
        ip = client_ip(request)
        if area is CENTER:
            who = form.get("login", "").strip()
        else:
            who = "\0operator:" + form.get("token", "").partition(".")[0]
        wait = gate.retry_after(who, ip)
        if wait is not None:
            THROTTLED.labels(surface).inc()
            await gate.refused(started)
            text = f"Too many failed sign-ins: try again in {wait} s."
            return _sign_in_page(request, context, area, 429, error=text)
        guessed = False  # the throttle counts the attempt a failure until it is settled
        try:
            name = await check(context, form, ip)
        except Refusal as refusal:
            guessed = refusal.guessed
            if guessed:
                AUTH_FAILURES.labels(surface).inc()
                await gate.failed(who, ip, started)
            return _sign_in_page(request, context, area, 401, error=refusal.text)
        finally:
            if not guessed:
                gate.passed(who, ip)
        session = secrets.token_urlsafe(32)
        expires = context.settings.clock() + _LIFETIME
        await context.tidings.start_session_async(
            holder(area.kind, name), _sha256(session), expires
        )
        response = redirect(area.home)
        payload = f"{name}|{session}|{int(expires.timestamp())}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        value = f"{encoded}.{_sign(key, payload)}"
        _set_cookie(response, area.cookie, value, int(_LIFETIME.total_seconds()))
        return response

    async def sign_out(request: Request) -> Response:
        who = await signed_in(request, context, area)
        if who is not None:
            try:
                await checked_form(request, key, who.session)
            except Forbidden as forbidden:
                return _error(request, area, who, 403, str(forbidden))
            await context.tidings.end_session_async(who.holder, _sha256(who.session))
        response = redirect(area.sign_in)
        response.delete_cookie(area.cookie, path="/", secure=True, httponly=True, samesite="strict")
        return response

    return [
        Route("/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
    ]


@dataclass(frozen=True, slots=True)
class Call:
    """One request to a page: who sent it, its form (empty for a GET)."""

    request: Request
    who: SignedIn
    form: Mapping[str, str]

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def page(self, template: str, status: int = 200, **values: Any) -> Response:
        """`template` rendered for the signed-in person, in their area."""
        return page(self.request, template, status, area=self.who.area, who=self.who, **values)


Handler = Callable[[Call], Awaitable[Response]]


def guarded(
    context: Context, area: Area, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind the session, CSRF and (center) ownership checks. A `Rejected`
    it raises answers the error page with its text (404 for an unknown object, 409 for
    a state that prohibits, a suspended account's included, 422 otherwise); a `Conflict` 503."""

    async def handle(request: Request) -> Response:
        who = await signed_in(request, context, area)
        if who is None:
            if request.method == "GET":
                return redirect(area.sign_in)
            return _error(request, area, None, 403, "Your session has ended: sign in again.")
        if area is CENTER and request.path_params.get("login", who.name) != who.name:
            return _error(request, area, who, 404, "Not found.")
        form: Mapping[str, str] = {}
        if request.method == "POST":
            try:
                form = await checked_form(request, context.settings.session_key, who.session)
            except Forbidden as forbidden:
                return _error(request, area, who, 403, str(forbidden))
        try:
            return await handler(Call(request, who, form))
        except Rejected as rejected:
            status = _STATUS.get(rejected.code, 422)
            return _error(request, area, who, status, rejected.text)
        except Conflict:
            return _error(request, area, who, 503, _CONFLICT)

    return handle


@dataclass(frozen=True, slots=True)
class Pages:
    """ASGI middleware of the pages: the security headers on every answer and, in an `area`,
    a `StorageError` or `Conflict` raised before the answer started answered with the
    error page (503; 504 for `OutcomeUnknown`), and so is a path or method no page
    takes (404, 405)."""

    app: ASGIApp
    area: Area | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, secured)
        except (StorageError, Conflict, HTTPException) as error:
            if started or self.area is None:
                raise
            request, headers = Request(scope), getattr(error, "headers", None) or {}
            match error:
                case HTTPException(status_code=status):  # no such page, or not by this method
                    text = f"{error.detail}: {request.method} {request.url.path}"
                case OutcomeUnknown():
                    status, text = 504, _UNKNOWN
                case _:
                    status, text = 503, _CONFLICT if isinstance(error, Conflict) else _DOWN
            answer = _error(request, self.area, None, status, text)
            answer.headers.update(headers)
            await answer(scope, receive, secured)
