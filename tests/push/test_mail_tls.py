"""E-mail as an operator configures it: `TIDINGS_SMTP_URL` as smtps:// (TLS from the
start) or smtp://...?starttls=1, `TIDINGS_SMTP_FROM`, and a `Date` on every message;
against real aiosmtpd servers on 127.0.0.1 with a certificate made for the test."""

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tidings.adapters.library import Tidings
from tidings.adapters.push.mail import MailSender, SmtpServer
from tidings.domain import Notification


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["smtps", "starttls"])
def tls_inbox(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[_Inbox, str]]:
    """An SMTP server speaking TLS one way or the other, and the TIDINGS_SMTP_URL for it;
    the test's certificate is trusted through SSL_CERT_FILE, as an operator would."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    inbox, port = _Inbox(), _free_port()
    if request.param == "smtps":
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
        url = f"smtps://127.0.0.1:{port}"
    else:
        controller = Controller(
            inbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
        )
        url = f"smtp://127.0.0.1:{port}?starttls=1"
    controller.start()
    try:
        yield inbox, url
    finally:
        controller.stop()


def _notification(db: str) -> Notification:
    with Tidings(db) as t:
        t.open_account("mailed", "123456")
        return t.end(t.accept("mailed", "AvrX87Kqk6h3", "ping-async").svtrid, 1000, "OK")


def test_mail_goes_over_tls_from_the_configured_sender_with_a_date(
    sqlite_url: str, tls_inbox: tuple[_Inbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, url = tls_inbox
    monkeypatch.setenv("TIDINGS_SMTP_URL", url)
    monkeypatch.setenv("TIDINGS_SMTP_FROM", "notices@tidings.test")
    server = SmtpServer.from_env()
    assert server is not None and server.sender == "notices@tidings.test"
    notification = _notification(sqlite_url)
    sender = MailSender(server)
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    reply = anyio.run(lambda: sender.send("mailed", notification, "ops@client.example", timeout=10))
    assert reply.status == 250, reply.error
    [message] = inbox.messages
    assert message["From"] == "notices@tidings.test"
    sent = parsedate_to_datetime(message["Date"])
    assert before <= sent <= datetime.datetime.now(datetime.UTC)
    assert message["Message-ID"].endswith("@tidings.test>")


def test_a_certificate_the_system_does_not_trust_fails_the_attempt(
    sqlite_url: str, tls_inbox: tuple[_Inbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, url = tls_inbox
    monkeypatch.delenv("SSL_CERT_FILE")
    notification = _notification(sqlite_url)
    sender = MailSender(SmtpServer.from_url(url))
    reply = anyio.run(lambda: sender.send("mailed", notification, "ops@client.example", timeout=10))
    assert reply.status is None and "certificate" in (reply.error or "").lower()
    assert inbox.messages == []
