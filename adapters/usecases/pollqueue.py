"""The poll queue: poll-req (the oldest unacked notification) and ack, and the read of an
account's queue."""

from collections.abc import Callable

from tidings.domain import MAILBOX, Code
from tidings.domain import mailbox as mbx

from ..errors import InvalidArgument
from ..store.work import Work
from ..views import Answer, MailboxView, PollAnswer, mailbox_view
from .runtime import (
    RemoteClient,
    Runtime,
    admitted,
    ascii_texts,
    blocking_call,
    existing,
    face_of,
    remote,
    submitted_call,
    text,
)

__all__ = ["PollQueue", "QueueCalls"]


class PollQueue:
    """The poll-queue use cases of one `Tidings` (`QueueCalls` offers them); `poll` and
    `ack` check their arguments and return their command's body."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def poll(
        self, login: str, *, svtrid: str | None = None, client: RemoteClient | None = None
    ) -> Callable[[Work], PollAnswer]:
        """The oldest unacked notification (1000, with the queue count), 1003 when the
        queue is empty, 2150 when the account does not poll. The first poll that returns
        a notification is recorded under `svtrid` (one is minted when none is given).
        `client`: a client over the network, let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended; with a `client`, 2050
        and 2051 as `admit`), `Conflict`, `StorageError`.
        """
        if not ascii_texts(login):  # else `text` says what is wrong
            text("login", login)
        if client is not None:
            remote(client)
        if svtrid is None:  # only once the arguments pass: a refused call mints none
            svtrid = self._runtime.new_svtrid()
        elif not ascii_texts(svtrid):
            text("svtrid", svtrid)
        poll_svtrid = svtrid

        def body(work: Work) -> PollAnswer:
            polls = admitted(work, login, client).polls
            command = mbx.PollNotification(svtrid=poll_svtrid, polls=polls)
            decided = work.decide(MAILBOX, login, command)
            if not isinstance(decided, list):  # not `Rejection`: see `Work.decide`
                return PollAnswer(code=decided.code, text=decided.text, svtrid=poll_svtrid)
            head = mbx.peek(work.state(MAILBOX, login))
            assert head is not None  # the poll was not refused: the queue holds one
            return PollAnswer(
                code=Code.OK,
                text=Code.OK.text,
                svtrid=poll_svtrid,
                notification=head.notification,
                count=head.count,
            )

        return body

    def ack(
        self, login: str, notification_id: int | str, *, client: RemoteClient | None = None
    ) -> Callable[[Work], Answer]:
        """Acknowledge the head of the queue (1002); a repeated ack of the id acked last
        answers 1002 again. Any other id, known or not (a malformed string too), answers
        2151; 2150 when the account does not poll. `client`: a client over the network,
        let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended; with a `client`, 2050
        and 2051 as `admit`), `Conflict`, `StorageError`.
        """
        if not ascii_texts(login):  # else `text` says what is wrong
            text("login", login)
        if client is not None:
            remote(client)
        kind = type(notification_id)
        if (kind is not int and kind is not str) and (  # the plain types pass at once
            not isinstance(notification_id, int | str) or isinstance(notification_id, bool)
        ):
            raise InvalidArgument("notification_id must be an integer or a string")
        ident = str(notification_id)

        def body(work: Work) -> Answer:
            polls = admitted(work, login, client).polls
            command = mbx.AckNotification(notification_id=ident, polls=polls)
            decided = work.decide(MAILBOX, login, command)
            if not isinstance(decided, list):  # not `Rejection`: see `Work.decide`
                return Answer(decided.code, decided.text)
            return Answer(Code.ACKED, Code.ACKED.text)

        return body

    async def mailbox(self, login: str) -> MailboxView:
        """The account's poll queue: count, the oldest's time, the notifications.
        Raises `Rejected` (2303 unknown account), `StorageError`."""
        text("login", login)

        def body(work: Work) -> mbx.MailboxState:
            existing(work, login)
            return work.state(MAILBOX, login)

        return mailbox_view(await self._runtime.run(body))


class QueueCalls:
    """The poll-queue calls of `Tidings`."""

    _queue: PollQueue
    _runtime: Runtime

    @face_of(PollQueue.poll)
    def poll(
        self, login: str, *, svtrid: str | None = None, client: RemoteClient | None = None
    ) -> PollAnswer:
        return self._runtime.execute(self._queue.poll(login, svtrid=svtrid, client=client))

    @face_of(PollQueue.ack)
    def ack(
        self, login: str, notification_id: int | str, *, client: RemoteClient | None = None
    ) -> Answer:
        return self._runtime.execute(self._queue.ack(login, notification_id, client=client))

    poll_async = submitted_call(PollQueue.poll, "_queue")
    ack_async = submitted_call(PollQueue.ack, "_queue")
    mailbox = blocking_call(PollQueue.mailbox, "_queue")
