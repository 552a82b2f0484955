"""The e-mail sender: one notification as one message, with aiosmtplib, through
`TIDINGS_SMTP_URL` (`smtp://[user:password@]host[:port][?starttls=1]`, or `smtps://`)
from `TIDINGS_SMTP_FROM` (default `tidings@localhost`). The body is the `<notify>` XML;
the `Message-ID` is derived from the notification, so a retry's copies are one message.
An SMTP reply code is the attempt's status, with the step that got it
(`Reply.refused_at`): what it means is the domain's call."""

import os
import re
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from traceback import walk_tb
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from tidings.domain import Notification

from .payload import render_notify
from .views import ANSWER_KEPT, Reply

__all__ = ["FROM_ENV", "SMTP_ENV", "MailSender", "SmtpServer", "message_for"]

SMTP_ENV = "TIDINGS_SMTP_URL"
FROM_ENV = "TIDINGS_SMTP_FROM"
# The sender is one bare address: it can neither break the From header nor add one.
_SENDER = re.compile(r'[^\s\x00-\x1f\x7f<>,"()@]+@[^\s\x00-\x1f\x7f<>,"()@]+')
# The step a reply answered, by the innermost method of aiosmtplib's client on the
# traceback: a garbled reply, or a refused STARTTLS, has no exception of its own.
_STEPS = {"_create_connection": "greeting", "ehlo": "EHLO", "helo": "EHLO",
          "starttls": "STARTTLS", "login": "AUTH", "mail": "MAIL FROM", "rcpt": "RCPT TO",
          "data": "DATA"}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SmtpServer:
    """Where mail goes; the password never shows in a repr (a log, a traceback)."""

    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "tidings@localhost"

    @classmethod
    def from_url(cls, url: str, sender: str = "tidings@localhost") -> "SmtpServer":
        """Raises ValueError (without the password) for a URL that is not smtp(s)://,
        or a sender that is not one bare e-mail address."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"{SMTP_ENV} must be smtp://host:port or smtps://host:port")
        if not _SENDER.fullmatch(sender):
            raise ValueError(f"{FROM_ENV} must be one e-mail address, such as tidings@localhost")
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            use_tls=parts.scheme == "smtps",
            start_tls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
        )

    @classmethod
    def from_env(cls) -> "SmtpServer | None":
        url = os.environ.get(SMTP_ENV)
        if not url:
            return None
        return cls.from_url(url, os.environ.get(FROM_ENV, "tidings@localhost"))


# A header is one line: in the subject, each run of line breaks and controls a result
# holds is a space (the e-mail library would refuse the header, and the delivery).
_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def message_for(
    login: str, notification: Notification, sender: str, to: str, log_index: int | None = None
) -> EmailMessage:
    """The message of one notification (the same one gives the same Message-ID);
    `log_index`, its leaf in the log's Merkle tree, goes in `Tidings-Log-Index`."""
    outcome = notification.outcome
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    subject = f"{outcome.command} {outcome.svtrid}: {outcome.code} {outcome.result}"
    message["Subject"] = _ONE_LINE.sub(" ", subject).strip()
    message["Date"] = formatdate(usegmt=True)  # when it is sent (RFC 5322 requires one)
    domain = sender.rpartition("@")[2] or "tidings"
    message["Message-ID"] = f"<{notification.id}.{login}.{outcome.svtrid}@{domain}>"
    if log_index is not None:
        message["Tidings-Log-Index"] = str(log_index)
    # Set as text, so its lines stay lines, then labelled as what it is.
    message.set_content(render_notify(notification).decode("utf-8"), subtype="xml")
    message.replace_header("Content-Type", "application/xml; charset=utf-8")
    return message


class MailSender:
    """Sends notifications through one SMTP server (None: every attempt fails, saying so)."""

    def __init__(self, server: SmtpServer | None) -> None:
        self._server = server

    async def send(
        self,
        login: str,
        notification: Notification,
        to: str,
        *,
        timeout: float,
        log_index: int | None = None,
    ) -> Reply:
        started = time.monotonic()

        def took() -> float:
            return round((time.monotonic() - started) * 1000, 3)

        server = self._server
        if server is None:
            return Reply(status=None, error=f"{SMTP_ENV} is not set", duration_ms=took())
        message = message_for(login, notification, server.sender, to, log_index)
        try:
            responses, reply = await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                username=server.username,
                password=server.password,
                timeout=timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            code, text = next(iter(refused.recipients)).code, str(refused)
            return Reply(
                status=code, error=text[:ANSWER_KEPT], duration_ms=took(), refused_at="RCPT TO"
            )
        except aiosmtplib.SMTPResponseException as error:
            calls = [frame.f_code.co_name for frame, _ in walk_tb(error.__traceback__)]
            step = next((_STEPS[c] for c in reversed(calls) if c in _STEPS), "")
            text = f"{error.code} {error.message} (at {step})"[:ANSWER_KEPT]
            return Reply(status=error.code, error=text, duration_ms=took(), refused_at=step)
        except aiosmtplib.SMTPNotSupported as error:
            lacks = "SMTPUTF8" if "SMTPUTF8" in error.message else ""
            text = f"SMTPNotSupported: {error.message}"[:ANSWER_KEPT]
            return Reply(status=None, error=text, duration_ms=took(), lacks=lacks)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Reply(status=None, error=f"{type(error).__name__}: {error}", duration_ms=took())
        for code, text in responses.values():  # a refused recipient of several
            return Reply(status=code, error=text, duration_ms=took(), refused_at="RCPT TO")
        return Reply(status=250, duration_ms=took(), answer=reply[:ANSWER_KEPT])
