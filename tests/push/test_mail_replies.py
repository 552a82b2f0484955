"""What the mail adapter reports of a reply that is no SMTP reply (a garbled line, an
over-long one: aiosmtplib's code -1) at each step of the conversation, and of a refusal
at each setup step, from a hand-written SMTP server on 127.0.0.1 that answers that one
step so."""

import asyncio
from asyncio import StreamReader as Reader
from asyncio import StreamWriter as Writer
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from tidings.adapters.push.mail import MailSender, SmtpServer
from tidings.adapters.push.views import Reply
from tidings.domain import Notification, Outcome

STEPS = ["greeting", "EHLO", "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA"]
BAD = {"garbled": b"no reply at all\r\n", "over-long": b"250 " + b"x" * 9000 + b"\r\n"}
VERBS = {b"EHLO": "EHLO", b"HELO": "EHLO", b"STAR": "STARTTLS", b"AUTH": "AUTH",
         b"MAIL": "MAIL FROM", b"RCPT": "RCPT TO", b"DATA": "DATA"}  # fmt: skip
GOOD = {"greeting": b"220 ready\r\n", "EHLO": b"250-hi\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n",
        "STARTTLS": b"220 go ahead\r\n", "AUTH": b"235 ok\r\n", "MAIL FROM": b"250 ok\r\n",
        "RCPT TO": b"250 ok\r\n", "DATA": b"354 go on\r\n"}  # fmt: skip


def _conversation(bad_at: str, bad: bytes) -> Callable[[Reader, Writer], Awaitable[None]]:
    """A server that answers step `bad_at` with `bad`, every other as one that accepts."""

    async def serve(reader: Reader, writer: Writer) -> None:
        def say(step: str) -> None:
            writer.write(bad if step == bad_at else GOOD[step])

        say("greeting")
        while line := await reader.readline():
            step = VERBS.get(line[:4].upper())
            if step is None:  # QUIT, RSET: the conversation ends here
                writer.write(b"221 bye\r\n")
                break
            say(step)
            if step == "DATA" != bad_at:  # the message follows a 354
                while await reader.readline() not in (b".\r\n", b""):
                    pass
                writer.write(b"250 queued\r\n")
            await writer.drain()
        writer.close()

    return serve


async def _send(step: str, bad: bytes) -> Reply:
    server = await asyncio.start_server(_conversation(step, bad), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        smtp = SmtpServer(host="127.0.0.1", port=port, start_tls=step == "STARTTLS",
                          username="robot" if step == "AUTH" else None, password="pw")  # fmt: skip
        outcome = Outcome(code=1000, result="OK", timestamp=datetime.now(UTC), cltrid="c-1",
                          svtrid="1.2.3", command="ping-async")  # fmt: skip
        notification = Notification(id=1, outcome=outcome)
        return await MailSender(smtp).send("mailed", notification, "ops@x.example", timeout=5)


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("step", STEPS)
def test_a_reply_that_is_no_smtp_reply_is_labelled_by_its_step(step: str, kind: str) -> None:
    reply = asyncio.run(_send(step, BAD[kind]))
    assert reply.status == -1 and reply.refused_at == step
    assert reply.error is not None and reply.error.endswith(f"(at {step})"), reply.error


@pytest.mark.parametrize("step", STEPS[:5])
def test_a_refusal_at_a_setup_step_is_labelled_by_its_step(step: str) -> None:
    # EHLO refused, the client says HELO, refused too
    reply = asyncio.run(_send(step, b"554 5.7.0 not now\r\n"))
    assert (reply.status, reply.refused_at) == (554, step)
    assert reply.error == f"554 5.7.0 not now (at {step})"
