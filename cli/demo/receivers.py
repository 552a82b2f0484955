"""Where the demo's pushed notifications arrive: an HTTP receiver that checks each one's
Standard Webhooks signature, and an SMTP sink (aiosmtpd)."""

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .servers import free_port

__all__ = ["Arrival", "UrlReceiver", "smtp_sink"]


@dataclass(frozen=True)
class Arrival:
    """One pushed notification as it arrived: by `url` (with `verified`: its signature
    checked against the account's secret) or by `email`. `body` is the document it
    carries (a WAPI form's `request` field decoded)."""

    channel: str
    login: str
    content_type: str
    body: str
    verified: bool | None = None


class UrlReceiver:
    """A client's script: `POST /hook/{login}` answers 200 and records what came."""

    def __init__(self, arrivals: "queue.Queue[Arrival]") -> None:
        self.secrets: dict[str, str] = {}  # login -> signing secret, to verify with
        self._arrivals = arrivals
        self.app = Starlette(routes=[Route("/hook/{login}", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        login = request.path_params["login"]
        body = (await request.body()).decode("utf-8", "replace")
        secret = self.secrets.get(login)
        verified = False
        if secret is not None:
            try:
                Webhook(secret).verify(body, dict(request.headers), json_parse=False)
                verified = True
            except WebhookVerificationError:
                verified = False
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body).get("request", [body])[0]
        self._arrivals.put(Arrival("url", login, content_type, body, verified))
        return Response(status_code=200)


class _Sink:
    def __init__(self, arrivals: "queue.Queue[Arrival]") -> None:
        self._arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message: Message = message_from_bytes(envelope.content)
        payload = message.get_payload(decode=True)
        body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        for rcpt in envelope.rcpt_tos:
            login = rcpt.split("@", 1)[0]
            self._arrivals.put(Arrival("email", login, message.get_content_type(), body))
        return "250 OK"


@contextmanager
def smtp_sink(arrivals: "queue.Queue[Arrival]") -> Iterator[str]:
    """An SMTP server on 127.0.0.1 that keeps every message; yields `host:port`."""
    controller = Controller(_Sink(arrivals), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()
