"""The e-mail sender: one notification as one message, with aiosmtplib, through
`TIDINGS_SMTP_URL` (`smtp://[user:password@]host[:port][?starttls=1]`, or `smtps://`)
from `TIDINGS_SMTP_FROM` (default `tidings@localhost`). The body is the `<notify>` XML;
the `Message-ID` is derived from the notification, so a retry's copies are one message.
An SMTP reply code is the attempt's status, with the step that got it
(`Reply.refused_at`): what it means is the domain's call."""

import os
import re
import time
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.email import flatten_message
from tidings.domain import Notification
from tidings.domain.values import is_sender

from .payload import render_notify
from .transport import since
from .views import ANSWER_KEPT, Reply

__all__ = ["FROM_ENV", "SMTP_ENV", "MailSender", "SmtpServer", "message_for"]

SMTP_ENV = "TIDINGS_SMTP_URL"
FROM_ENV = "TIDINGS_SMTP_FROM"
# How `?starttls=` may be said.
_SWITCH = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
# What an attempt to a non-ASCII address says of a server without SMTPUTF8 (RFC 6531).
_NO_SMTPUTF8 = (
    "SMTPNotSupported: An address containing non-ASCII characters was provided, but "
    "SMTPUTF8 is not supported by this server"
)


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

    def __post_init__(self) -> None:
        # Over TLS from the start, STARTTLS cannot be said: every attempt would fail.
        if self.use_tls and self.start_tls:
            raise ValueError(
                f"{SMTP_ENV}: smtps:// is TLS from the start; starttls=1 goes with smtp:// only"
            )

    @classmethod
    def from_url(cls, url: str, sender: str = "tidings@localhost") -> "SmtpServer":
        """Raises ValueError (without the password) for a URL that is not smtp(s)://
        with a host and a port 1-65535, one with a setting other than `starttls=1`
        (`true`, `yes`; `0`, `false`, `no`) or asking STARTTLS of smtps://, or a sender
        that is not one bare e-mail address."""
        shape = f"{SMTP_ENV} must be smtp://host:port or smtps://host:port"
        # urllib's own words are not said: they show a bad port, which is the password
        # where "@host" was left out (smtp://user:s3cret).
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # a port not a number or past 65535, a "[" not closed
            raise ValueError(shape) from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == 0:
            raise ValueError(shape)
        if not is_sender(sender):
            raise ValueError(
                f"{FROM_ENV} must be one ASCII e-mail address, such as tidings@localhost,"
                f" not {sender!r}"
            )
        # A setting mistyped must not fall back to plain text (a password sent in clear).
        query = parse_qs(parts.query, keep_blank_values=True)
        starttls = query.pop("starttls", ["0"])
        if query:  # named, not shown: a value could be a secret
            raise ValueError(f"{SMTP_ENV} takes one setting, starttls, not {min(query)!r}")
        if len(starttls) != 1 or starttls[0].lower() not in _SWITCH:
            raise ValueError(f"{SMTP_ENV}: starttls is 1 or 0, not {','.join(starttls)!r}")
        return cls(
            host=parts.hostname,
            port=port or (465 if parts.scheme == "smtps" else 25),
            use_tls=parts.scheme == "smtps",
            start_tls=_SWITCH[starttls[0].lower()],
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
        server = self._server
        if server is None:
            return Reply(status=None, error=f"{SMTP_ENV} is not set", duration_ms=since(started))
        message = message_for(login, notification, server.sender, to, log_index)
        # STARTTLS is said below, step by step (start_tls=False: not on connecting).
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.use_tls,
            start_tls=False,
            timeout=timeout,
        )
        # The session is driven step by step, so that a refusal (or a garbled reply,
        # which has no exception of its own) is known by the step under way.
        step = "greeting"
        try:
            async with client:  # connects (the greeting); says QUIT at the end
                step = "EHLO"
                await _hello(client)
                if server.start_tls:
                    step = "STARTTLS"
                    await client.starttls()
                    step = "EHLO"  # again: nothing said before TLS counts (RFC 3207 4.2)
                    await _hello(client)
                if server.username is not None:
                    step = "AUTH"
                    await client.login(server.username, server.password or "")
                utf8 = not (server.sender + to).isascii()
                if utf8 and not client.supports_extension("smtputf8"):
                    took = since(started)
                    return Reply(
                        status=None, error=_NO_SMTPUTF8, duration_ms=took, lacks="SMTPUTF8"
                    )
                options = ["SMTPUTF8"] if utf8 else []
                eight_bit = client.supports_extension("8bitmime")
                options += ["BODY=8BITMIME"] if eight_bit else []
                flat = flatten_message(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")
                if client.supports_extension("size"):  # RFC 1870: the bytes DATA sends
                    options.insert(0, f"size={len(flat)}")
                encoding = "utf-8" if utf8 else "ascii"
                try:
                    step = "MAIL FROM"
                    await client.mail(server.sender, options=options, encoding=encoding)
                    step = "RCPT TO"
                    await client.rcpt(to, encoding=encoding)
                    step = "DATA"
                    answer = (await client.data(flat)).message
                except aiosmtplib.SMTPResponseException:
                    await _reset(client)
                    raise
        except aiosmtplib.SMTPResponseException as error:
            text = f"{error.code} {error.message} (at {step})"[:ANSWER_KEPT]
            took = since(started)
            return Reply(status=error.code, error=text, duration_ms=took, refused_at=step)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            text = f"{type(error).__name__}: {error}"
            return Reply(status=None, error=text, duration_ms=since(started))
        return Reply(status=250, duration_ms=since(started), answer=answer[:ANSWER_KEPT])


async def _hello(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO where the server refuses EHLO (as aiosmtplib falls back itself)."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET: the refused transaction ends before QUIT (RFC 5321 4.1.1.5), as aiosmtplib's
    own `sendmail` ends one. What it gets is not the attempt's answer: a server gone, or
    refusing RSET too, changes nothing."""
    with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        if client.is_connected:
            await client.rset()
