"""E-mail push against a real SMTP server (aiosmtpd) on 127.0.0.1."""

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import xmltodict
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from tidings.adapters.library import Tidings
from tidings.adapters.push.mail import MailSender, SmtpServer
from tidings.domain import EmailChannel, Notification, Outcome, RetryPolicy
from tidings.domain.delivery import DeliveryState
from tidings.domain.values import Fallback

from tests.http.conftest import wait_until
from tests.push.conftest import running

FAST = RetryPolicy(schedule=(0.05, 0.05), jitter=0.0)


# What a server refusing at each step answers (`Inbox.refuse`).
REFUSALS = {"mail": 553, "rcpt": 550, "data": 554}


class Inbox:
    """Accepts mail, except: `later@` is refused with 451 the first time, `never@` 550;
    and everything at the step `refuse` names (`REFUSALS`)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tries: dict[str, int] = {}
        self.refuse = ""
        self.said: list[str] = []  # the session's commands from MAIL on

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.said.append("RSET")
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.said.append("QUIT")
        return "221 Bye"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.said.append("MAIL")
        if self.refuse == "mail":
            return "553 5.1.8 sender address refused"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.said.append("RCPT")
        self.tries[address] = self.tries.get(address, 0) + 1
        if address.startswith("never@") or self.refuse == "rcpt":
            return "550 5.1.1 no such mailbox"
        if address.startswith("later@") and self.tries[address] == 1:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.said.append("DATA")
        if self.refuse == "data":
            return "554 5.6.0 message refused"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


def serving(utf8: bool) -> Iterator[tuple[Inbox, SmtpServer]]:
    handler = Inbox()
    with socket.socket() as probe:  # a free port: the controller cannot report one it drew
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=utf8)
    controller.start()
    try:
        yield handler, SmtpServer.from_url(f"smtp://127.0.0.1:{port}", "tidings@tidings.test")
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpServer]]:
    yield from serving(utf8=True)


@pytest.fixture
def ascii_inbox() -> Iterator[tuple[Inbox, SmtpServer]]:
    """A server that offers no SMTPUTF8."""
    yield from serving(utf8=False)


def account(t: Tidings, address: str, fallback: Fallback = "none") -> int:
    """A mailed account, and the id of one notification ended for it."""
    channel = EmailChannel(address, fallback=fallback)
    t.open_account("mailed", "123456", channel=channel, retry_policy=FAST)
    return t.end(t.accept("mailed", "AvrX87Kqk6h3", "ping-async").svtrid, 1000, "OK").id


def fell_back(t: Tidings, smtp: SmtpServer, n: int) -> DeliveryState:
    """Run until notification `n`'s delivery gave up; check it fell back to the poll
    queue, and answer its delivery."""
    with running(t, smtp=smtp):
        wait_until(lambda: t.delivery("mailed", n).status == "gave_up", what="giving up")
    polled = t.poll("mailed")
    assert polled.notification is not None and polled.notification.id == n
    return t.delivery("mailed", n)


def test_a_notification_is_mailed_as_xml_with_a_recognisable_message_id(
    db_url: str, inbox: tuple[Inbox, SmtpServer]
) -> None:
    handler, smtp = inbox
    with Tidings(db_url) as t:
        n = account(t, "ops@client.example")
        svtrid = t.delivery("mailed", n).scheduled.notification.outcome.svtrid  # type: ignore[union-attr]
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status == "succeeded", what="the mail")
        [message] = handler.messages
        assert message["To"] == "ops@client.example"
        assert message["Subject"] == f"ping-async {svtrid}: 1000 OK"
        assert message["Message-ID"] == f"<{n}.mailed.{svtrid}@tidings.test>"
        assert message.get_content_type() == "application/xml"
        assert message.get_content_charset() == "utf-8"
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        notify = xmltodict.parse(payload.decode("utf-8"))["notify"]
        assert (notify["clTRID"], notify["ID"]) == ("AvrX87Kqk6h3", str(n))
        assert t.delivery("mailed", n).attempts[-1].status == 250


def test_a_result_holding_line_breaks_is_mailed_with_a_one_line_subject(
    db_url: str, inbox: tuple[Inbox, SmtpServer]
) -> None:
    handler, smtp = inbox
    with Tidings(db_url) as t:
        t.open_account("mailed", "123456", channel=EmailChannel("ops@client.example"))
        pending = t.accept("mailed", "cl-1", "renew")
        n = t.end(
            pending.svtrid, 1000, "OK\nBcc: evil@client.example\r\nX-Evil: 1\u2028\x00done"
        ).id
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status == "succeeded", what="the mail")
        [message] = handler.messages
        subject = " ".join(str(message["Subject"]).split())  # unfolded: it is a long one
        said = f"renew {pending.svtrid}: 1000 OK Bcc: evil@client.example X-Evil: 1 done"
        assert subject == said
        assert message["Bcc"] is None and message["X-Evil"] is None
        assert handler.tries == {"ops@client.example": 1}


def test_a_4xx_reply_is_tried_again(db_url: str, inbox: tuple[Inbox, SmtpServer]) -> None:
    handler, smtp = inbox
    with Tidings(db_url) as t:
        n = account(t, "later@client.example")
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status == "succeeded", what="the retry")
        first = t.delivery("mailed", n).attempts[0]
        assert first.status == 451
    assert len(handler.messages) == 1


def test_a_5xx_reply_gives_up(db_url: str, inbox: tuple[Inbox, SmtpServer]) -> None:
    handler, smtp = inbox
    with Tidings(db_url) as t:
        n = account(t, "never@client.example")
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status == "gave_up", what="giving up")
        state = t.delivery("mailed", n)
        assert len(state.attempts) == 1
        assert state.gave_up_reason == "the mail server refused it for good (550)"
    assert handler.messages == []


@pytest.mark.parametrize("refused", ["rcpt", "data"])
def test_a_permanent_refusal_of_the_recipient_or_message_gives_up_at_once(
    db_url: str, inbox: tuple[Inbox, SmtpServer], refused: str
) -> None:
    handler, smtp = inbox
    handler.refuse = refused
    with Tidings(db_url) as t:
        state = fell_back(t, smtp, account(t, "ops@client.example", fallback="poll"))
        assert [a.status for a in state.attempts] == [REFUSALS[refused]]
    # worded as a refusal at any other step: the reply, then the step
    said = {"rcpt": "550 5.1.1 no such mailbox (at RCPT TO)",
            "data": "554 5.6.0 message refused (at DATA)"}  # fmt: skip
    assert state.attempts[0].error == said[refused]
    assert handler.messages == []


def test_a_non_ascii_address_to_a_server_without_smtputf8_gives_up_at_once(
    db_url: str, ascii_inbox: tuple[Inbox, SmtpServer]
) -> None:
    handler, smtp = ascii_inbox
    with Tidings(db_url) as t:
        state = fell_back(t, smtp, account(t, "öps@client.example", fallback="poll"))
        assert len(state.attempts) == 1
        reason = "the mail server takes no non-ASCII address (it offers no SMTPUTF8)"
        assert state.gave_up_reason == reason
    assert handler.tries == {} and handler.messages == []


def test_the_smtp_url_gives_starttls_and_login_and_hides_the_password() -> None:
    server = SmtpServer.from_url("smtp://robot%40x:s3cr3t@mail.example:587?starttls=1")
    assert (server.host, server.port, server.start_tls, server.use_tls) == (
        "mail.example",
        587,
        True,
        False,
    )
    assert (server.username, server.password) == ("robot@x", "s3cr3t")
    assert "s3cr3t" not in repr(server)
    assert SmtpServer.from_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError) as refused:
        SmtpServer.from_url("http://u:s3cr3t@mail.example")
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "said"),
    [("smtp://robot:s3cr3t@mail.example?starttls=on", "starttls is 1 or 0, not 'on'"),
     ("smtp://robot:s3cr3t@mail.example?starttls", "starttls is 1 or 0, not ''"),
     ("smtp://mail.example?starttls=1&starttls=0", "starttls is 1 or 0, not '1,0'"),
     ("smtp://robot:s3cr3t@mail.example?start_tls=1", "one setting, starttls, not 'start_tls'"),
     ("smtp://robot:s3cr3t", "must be smtp://host:port"),  # "@host" left out
     ("smtp://mail.example:0", "must be smtp://host:port"),
     ("smtp://mail.example:99999", "must be smtp://host:port")],
)  # fmt: skip
def test_a_mistyped_smtp_url_is_refused_not_read_as_plain_text(url: str, said: str) -> None:
    # STARTTLS mistyped was no STARTTLS: the password went out in clear
    with pytest.raises(ValueError, match=r"^TIDINGS_SMTP_URL") as bad:
        SmtpServer.from_url(url)
    assert said in str(bad.value) and "s3cr3t" not in str(bad.value)
    for yes in ("1", "true", "YES"):
        assert SmtpServer.from_url(f"smtp://mail.example?starttls={yes}").start_tls
    assert not SmtpServer.from_url("smtp://mail.example?starttls=no").start_tls


def test_starttls_over_smtps_is_refused_where_it_is_configured() -> None:
    # TLS from the start cannot say STARTTLS: every attempt would fail
    with pytest.raises(ValueError, match=r"^TIDINGS_SMTP_URL: smtps:// .* starttls=1") as bad:
        SmtpServer.from_url("smtps://u:s3cr3t@mail.example?starttls=1")
    assert "s3cr3t" not in str(bad.value)
    with pytest.raises(ValueError, match="starttls=1"):
        SmtpServer(host="mail.example", port=465, use_tls=True, start_tls=True)


@pytest.mark.parametrize(
    "sender",
    ["ops@exämple.com", "öps@x.example", "a..b@x.example", ".a@x.example", "a@-x.example",
     "a@x..example", "a b@x.example", "a;b@x.example", "a@x_y.example", "a@", "x" * 65 + "@y"],
)  # fmt: skip
def test_a_sender_not_ascii_or_malformed_is_refused_naming_the_variable(sender: str) -> None:
    with pytest.raises(ValueError, match=r"^TIDINGS_SMTP_FROM must be one ASCII e-mail") as bad:
        SmtpServer.from_url("smtp://mail.example", sender)
    assert "\n" not in str(bad.value)
    for good in ("tidings@localhost", "no-reply+ops@mail.client.example"):
        assert SmtpServer.from_url("smtp://mail.example", good).sender == good


def test_an_attempt_our_code_fails_counts_as_failed_and_gives_up(
    db_url: str, inbox: tuple[Inbox, SmtpServer], caplog: pytest.LogCaptureFixture
) -> None:
    handler, smtp = inbox
    # A sender address the e-mail library refuses to write, built past `from_url`'s
    # check (as a backend embedding the library could): building the message raises.
    broken = SmtpServer(host="127.0.0.1", port=smtp.port, sender="tidings@x\nBcc: s3cr3t@x")
    with Tidings(db_url) as t:
        n = account(t, "ops@client.example")
        with running(t, smtp=broken):
            wait_until(lambda: t.delivery("mailed", n).status == "gave_up", what="giving up")
        state = t.delivery("mailed", n)
        assert len(state.attempts) == 1 + len(FAST.schedule)
        assert all(a.error == "ValueError in tidings" for a in state.attempts)
        assert all(a.duration_ms is not None and a.duration_ms > 0 for a in state.attempts)
    assert handler.tries == {}
    assert "s3cr3t" not in caplog.text and "Traceback" not in caplog.text


class Password:
    """An authenticator that refuses every AUTH of the first session (535: the operator's
    wrong password) and, with `fixed`, accepts those of the later ones (fixed since)."""

    def __init__(self, *, fixed: bool) -> None:
        self.fixed = fixed
        self.first: object = None

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:  # fmt: skip
        self.first = self.first or session
        return AuthResult(success=self.fixed and session is not self.first, handled=False)


@pytest.fixture
def guarded() -> Iterator[tuple[Inbox, Password, int]]:
    """A server that asks for a password over plain SMTP (loopback only), refusing the
    first session's; `fixed` is False until the test says."""
    handler, password = Inbox(), Password(fixed=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=password,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        yield handler, password, port
    finally:
        controller.stop()


@pytest.mark.parametrize("fixed", [True, False], ids=["fixed", "never fixed"])
def test_a_refusal_at_auth_is_the_servers_setup_retried_on_the_schedule(
    db_url: str, guarded: tuple[Inbox, Password, int], fixed: bool
) -> None:
    handler, password, port = guarded
    password.fixed = fixed
    smtp = SmtpServer.from_url(f"smtp://robot:wrong@127.0.0.1:{port}", "tidings@tidings.test")
    with Tidings(db_url) as t:
        n = account(t, "ops@client.example")
        done = ("succeeded", "gave_up")
        with running(t, smtp=smtp):
            wait_until(lambda: t.delivery("mailed", n).status in done, what="an ending")
        state = t.delivery("mailed", n)
    first = state.attempts[0]
    assert first.status == 535 and first.error is not None and first.error.endswith("(at AUTH)")
    if fixed:  # the next attempt after the fix passes
        assert state.status == "succeeded" and len(state.attempts) == 2
        assert len(handler.messages) == 1
    else:  # only the schedule gives it up
        assert state.status == "gave_up" and len(state.attempts) == 1 + len(FAST.schedule)
        assert state.gave_up_reason.startswith("retry schedule used up; last: 535")
        assert handler.messages == []


def test_tidings_own_sender_refused_at_mail_from_is_retried_on_the_schedule(
    db_url: str, inbox: tuple[Inbox, SmtpServer]
) -> None:
    # 553 at MAIL FROM: the operator's TIDINGS_SMTP_FROM, not the client's address
    handler, smtp = inbox
    handler.refuse = "mail"
    with Tidings(db_url) as t:
        state = fell_back(t, smtp, account(t, "ops@client.example", fallback="poll"))
    assert [a.status for a in state.attempts] == [553] * (1 + len(FAST.schedule))
    assert state.gave_up_reason.startswith("retry schedule used up; last: 553")
    assert state.gave_up_reason.endswith("(at MAIL FROM)")
    assert handler.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_that_requires_authentication_is_retried_on_the_schedule(
    db_url: str,
) -> None:
    # 530 (RFC 4954): the operator gave no credentials; the next attempt after the fix
    # passes, so only the schedule gives it up
    handler = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_required=True,
                            auth_require_tls=False, authenticator=Password(fixed=True))  # fmt: skip
    controller.start()
    try:
        smtp = SmtpServer.from_url(f"smtp://127.0.0.1:{port}", "tidings@tidings.test")
        with Tidings(db_url) as t:
            state = fell_back(t, smtp, account(t, "ops@client.example", fallback="poll"))
    finally:
        controller.stop()
    assert [a.status for a in state.attempts] == [530] * (1 + len(FAST.schedule))
    assert all(a.error and a.error.endswith("(at MAIL FROM)") for a in state.attempts)


@pytest.mark.parametrize(
    ("refused", "said"),
    [("", ["MAIL", "RCPT", "DATA", "QUIT"]),
     ("mail", ["MAIL", "RSET", "QUIT"]),
     ("rcpt", ["MAIL", "RCPT", "RSET", "QUIT"]),
     ("data", ["MAIL", "RCPT", "DATA", "RSET", "QUIT"])],
)  # fmt: skip
def test_a_refused_transaction_is_reset_before_quit(
    inbox: tuple[Inbox, SmtpServer], refused: str, said: list[str]
) -> None:
    # RFC 5321 4.1.1.5: RSET ends the refused transaction; one accepted needs none
    handler, smtp = inbox
    handler.refuse = refused
    outcome = Outcome(code=1000, result="OK", timestamp=datetime.now(UTC), cltrid="c-1",
                      svtrid="1.2.3", command="ping-async")  # fmt: skip
    notification = Notification(id=1, outcome=outcome)
    sent = MailSender(smtp).send("mailed", notification, "ops@client.example", timeout=5)
    reply = asyncio.run(sent)
    assert reply.status == REFUSALS.get(refused, 250), reply
    assert handler.said == said
