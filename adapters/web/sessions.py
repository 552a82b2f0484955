"""Signing in and out of the customer center and the console, and who a request is.

A session is a random id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict),
signed (HMAC) with its holder and expiry; the log keeps only the id's SHA-256, so the
server can end a session for good (sign-out, a password change, a revoked operator).
Account holders sign in under WAPI's rules (the same throttle and access rule);
operators with the token `tidings operator add` gave.
"""

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Code
from tidings.domain.session import holder

from ..http.body import client_ip
from ..http.context import Context
from ..library import Rejected, RemoteClient
from ..metrics import AUTH_FAILURES, THROTTLED
from ..wapi.auth import password_sha1
from .pages import Forbidden, checked_form, csrf_token, page, redirect

__all__ = ["CENTER", "CONSOLE", "LIFETIME", "Area", "SignedIn", "session_routes", "signed_in"]

# How long a session lasts from sign-in.
LIFETIME = timedelta(hours=8)
_PRE = "__Host-pre"


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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, b"session\0" + payload.encode(), hashlib.sha256).hexdigest()


def _cookie_value(key: bytes, name: str, session: str, expires: datetime) -> str:
    payload = f"{name}|{session}|{int(expires.timestamp())}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{_sign(key, payload)}"


def _read_cookie(key: bytes, value: str, now: datetime) -> tuple[str, str] | None:
    encoded, _, signature = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        name, session, expires = payload.split("|")
        expired = int(expires) <= now.timestamp()
    except ValueError:
        return None
    # Bytes: compare_digest raises TypeError for a str outside ASCII.
    if expired or not hmac.compare_digest(
        signature.encode("utf-8", "replace"), _sign(key, payload).encode()
    ):
        return None
    return name, session


async def signed_in(request: Request, context: Context, area: Area) -> SignedIn | None:
    """Who sent `request` in `area`, or None (no session, a bad or expired cookie, or
    a session the log has ended). Sets `request.state.csrf` for the page's forms."""
    key = context.settings.session_key
    raw = request.cookies.get(area.cookie)
    found = _read_cookie(key, raw, context.settings.clock()) if raw else None
    if found is None:
        return None
    name, session = found
    who = SignedIn(name, session, area)
    if not await context.tidings.session_open_async(who.holder, _sha256(session)):
        return None
    request.state.csrf = csrf_token(key, session)
    return who


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def _pre_session(request: Request) -> str:
    # What the sign-in form's CSRF token is bound to: the cookie's, or a new one.
    return request.cookies.get(_PRE) or secrets.token_urlsafe(24)


def _with_pre(request: Request, response: Response, pre: str) -> Response:
    if request.cookies.get(_PRE) != pre:
        _set_cookie(response, _PRE, pre, None)
    return response


def _sign_in_page(
    request: Request, context: Context, area: Area, status: int = 200, **values: str
) -> Response:
    pre = _pre_session(request)
    request.state.csrf = csrf_token(context.settings.session_key, pre)
    answer = page(request, "sign_in.html", status, area=area, who=None, **values)
    return _with_pre(request, answer, pre)


Check = Callable[[Context, dict[str, str], str | None], Awaitable[str]]


class Refusal(Exception):
    """A sign-in refused: `text` for the page, `failed` whether it counts as a guess."""

    def __init__(self, text: str, *, failed: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.failed = failed


async def _account_check(context: Context, form: dict[str, str], ip: str | None) -> str:
    login, password = form.get("login", "").strip(), form.get("password", "")
    given = password_sha1(password)

    def proof(account: object) -> bool:
        stored = getattr(account, "password_sha1", "0" * 40)
        return hmac.compare_digest(stored, given)

    try:
        await context.tidings.admit_async(login, RemoteClient(proof=proof, ip=ip))
    except Rejected as rejected:
        if rejected.code == Code.AUTH_FAILED:
            raise Refusal("Wrong login or password.") from None
        if rejected.code == Code.IP_NOT_ALLOWED:
            raise Refusal("This account may not be used from your address.", failed=False) from None
        if rejected.code == Code.ACCOUNT_SUSPENDED:
            raise Refusal("This account is suspended.", failed=False) from None
        raise
    return login


async def _operator_check(context: Context, form: dict[str, str], _: str | None) -> str:
    name = await context.tidings.operator_by_token_async(form.get("token", "").strip())
    if name is None:
        raise Refusal("Unknown or revoked operator token.")
    return name


def _throttle_key(area: Area, form: dict[str, str]) -> str:
    if area is CENTER:
        return form.get("login", "").strip()
    return "\0operator:" + form.get("token", "").partition(".")[0]


def session_routes(context: Context, area: Area) -> list[Route]:
    """`GET|POST sign-in` and `POST sign-out` of `area` (paths under its mount)."""
    check: Check = _account_check if area is CENTER else _operator_check
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
        ip, who = client_ip(request), _throttle_key(area, form)
        wait = gate.retry_after(who, ip)
        if wait is not None:
            THROTTLED.labels(surface).inc()
            await gate.refused(started)
            text = f"Too many failed sign-ins: try again in {wait} s."
            return _sign_in_page(request, context, area, 429, error=text)
        try:
            name = await check(context, form, ip)
        except Refusal as refusal:
            if refusal.failed:
                AUTH_FAILURES.labels(surface).inc()
                await gate.failed(who, ip, started)
            return _sign_in_page(request, context, area, 401, error=refusal.text)
        session = secrets.token_urlsafe(32)
        expires = context.settings.clock() + LIFETIME
        await context.tidings.start_session_async(
            holder(area.kind, name), _sha256(session), expires
        )
        response = redirect(area.home)
        value = _cookie_value(key, name, session, expires)
        _set_cookie(response, area.cookie, value, int(LIFETIME.total_seconds()))
        return response

    async def sign_out(request: Request) -> Response:
        who = await signed_in(request, context, area)
        if who is not None:
            try:
                await checked_form(request, key, who.session)
            except Forbidden as forbidden:
                return page(request, "error.html", 403, area=area, who=who, error=str(forbidden))
            await context.tidings.end_session_async(who.holder, _sha256(who.session))
        response = redirect(area.sign_in)
        response.delete_cookie(area.cookie, path="/", secure=True, httponly=True, samesite="strict")
        return response

    return [
        Route("/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
    ]
