"""Accounts: opening, settings, password, signing secret, suspension, and the reads of
them; `admit` lets a client over the network in. A call that changes an account takes
`by`, the operator it is recorded as in the change's transaction (2303 when `by` is not
an active operator: nothing is done)."""

import base64
import functools
import logging
import secrets

from tidings.domain import (
    ACCOUNT,
    SESSION,
    Channel,
    Code,
    EmailChannel,
    PollChannel,
    RetryPolicy,
    UrlChannel,
)
from tidings.domain import account as acc
from tidings.domain import operator as opr
from tidings.domain import session as ses
from tidings.domain.delivery import DeliveryScheduled
from tidings.domain.values import password_problem

from ..errors import InvalidArgument, Rejected, StorageError
from ..logs import event
from ..push.transport import AddressGuard, Refused
from ..push.views import delivery_fields
from ..store.outage import storage_errors
from ..store.secrets import SECRETS_KEY_ENV, Secrets, SecretsLocked
from ..store.work import Work
from ..views import AccountPage, AccountView, OpenedAccount, account_view
from ..wapi.auth import password_sha1
from .operators import record
from .runtime import (
    LAST_POSITION,
    RemoteClient,
    Runtime,
    admitted,
    awaited_call,
    blocking_call,
    existing,
    instance,
    text,
    texts,
    unicode,
)

__all__ = ["AccountCalls", "Accounts", "SigningSecrets"]

_log = logging.getLogger("tidings.push")
_CHANNELS = (PollChannel, UrlChannel, EmailChannel)
Actor = opr.Actor | None


class SigningSecrets:
    """The signing secrets of pushed notifications, by id, kept beside the log
    (`store.secrets`). Without the key of sealed secrets nothing is pushed to a URL: one
    `signing_secrets_locked` warning a process, one `delivery_not_signed` a delivery."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._secrets = Secrets(runtime.store)
        self.locked: set[str] = set()  # ids of secrets found sealed without their key
        self._told: set[tuple[str, int]] = set()

    def keep(self, secret: str) -> str:
        """Keep `secret`; returns its id. Raises `StorageError`."""
        secret_id = acc.secret_id(secret)
        with self._runtime.reading():
            self._secrets.keep(secret_id, secret)
        return secret_id

    def forget(self, secret_id: str) -> None:
        """Drop a secret no event names (its command was refused). Raises `StorageError`."""
        with storage_errors():
            self._secrets.forget(secret_id)

    def for_push(self, account: acc.AccountState) -> tuple[str, str] | None:
        """The account's current and previous secrets ("" for none), or None when they
        are sealed and this process has not got their key. Raises `StorageError`."""
        ids = (account.secret_id, account.previous_secret_id)
        if self.locked.intersection(ids):
            return None
        try:
            with storage_errors():
                found = [self._secrets.find(i) if i else "" for i in ids]
        except SecretsLocked as locked:
            if not self.locked:
                reason = f"{locked}; polls are served, pushes to URLs wait for the key"
                event(_log, logging.WARNING, "signing_secrets_locked", reason=reason)
            self.locked.update(i for i in ids if i)
            return None
        if found[0] is None or found[1] is None:
            raise StorageError(f"the signing secret of account {account.login!r} is missing")
        return found[0], found[1]

    def tell_unsigned(self, scheduled: DeliveryScheduled) -> None:
        """Log, once per delivery, that it waits because its secret is sealed."""
        told = (scheduled.login, scheduled.notification_id)
        if told in self._told:
            return
        self._told.add(told)
        fields = delivery_fields(scheduled)
        reason = f"its signing secret is sealed and {SECRETS_KEY_ENV} is not set"
        event(_log, logging.WARNING, "delivery_not_signed", **fields, reason=reason)

    def close(self) -> None:
        with storage_errors():
            self._secrets.close()


def _digest(password: str) -> str:
    """The digest an account keeps; `Rejected` (2101) for a password the core refuses."""
    if problem := password_problem(text("password", password)):
        raise Rejected(Code.INVALID_PARAMETER, problem)
    return password_sha1(password)


def _new_secret() -> str:
    """Standard Webhooks: "whsec_" and the key in standard base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


class Accounts:
    """The account use cases of one `Tidings` (`AccountCalls` offers them)."""

    def __init__(self, runtime: Runtime, secrets: SigningSecrets):
        self._runtime = runtime
        self._secrets = secrets

    @functools.cached_property
    def guard(self) -> AddressGuard:
        return AddressGuard()  # TIDINGS_PUSH_ALLOW read once

    def _checked_channel(self, channel: Channel) -> Channel:
        """Refuse (2101) a URL channel to a non-public address (`push.transport`)."""
        unicode("channel", instance("channel", channel, _CHANNELS))
        urls = (channel.success_url, channel.error_url) if isinstance(channel, UrlChannel) else ()
        for url in (url for url in urls if url is not None):
            try:
                self.guard.check_url(url)
            except (Refused, ValueError) as refused:
                raise Rejected(Code.INVALID_PARAMETER, f"push URL refused: {refused}") from None
        return channel

    async def open_account(
        self,
        login: str,
        password: str,
        *,
        channel: Channel = PollChannel(),
        retry_policy: RetryPolicy = RetryPolicy(),
        allowed_ips: tuple[str, ...] = (),
        by: Actor = None,
    ) -> OpenedAccount:
        """Open an account; only `sha1(password)` is stored. The answer carries the
        signing secret of its pushed notifications: shown here, and at `rotate_secret`.
        `by`: the operator it is recorded as opened by, in the same transaction.

        Raises `Rejected` (2302 the login exists, 2101 invalid settings, a password
        empty or only whitespace or a push URL to a non-public address among them),
        `Conflict`, `StorageError`.
        """
        command = acc.OpenAccount(
            login=text("login", login),
            password_sha1=_digest(password),
            signing_secret=_new_secret(),
            channel=self._checked_channel(channel),
            retry_policy=instance("retry_policy", retry_policy, RetryPolicy),
            allowed_ips=texts("allowed_ips", allowed_ips),
        )
        state = await self._with_secret(login, command, command.signing_secret, by)
        fields = {name: getattr(state, name) for name in AccountView.__struct_fields__}
        return OpenedAccount(**fields, signing_secret=command.signing_secret)

    async def _with_secret(
        self, login: str, command: acc.OpenAccount | acc.RotateSecret, secret: str, by: Actor
    ) -> acc.AccountState:
        """Run a command naming a new signing secret, kept first (dropped if refused)."""
        secret_id = self._secrets.keep(secret)
        try:
            return await self._run(login, command, by=by)
        except Rejected:
            self._secrets.forget(secret_id)
            raise

    async def _run(
        self, login: str, *commands: acc.AccountCommand, by: Actor, detail: str = "", ends: str = ""
    ) -> acc.AccountState:
        """Run `commands` on the account as `by`'s action, all or none; with `ends` (why),
        its web sessions end too."""
        text("login", login)

        def body(work: Work) -> acc.AccountState:
            for command in commands:
                work.must(ACCOUNT, login, command)
            if ends:
                work.decide(SESSION, ses.holder("account", login), ses.EndSessions(ends))
            record(work, by, login, detail)
            return existing(work, login)

        return await self._runtime.run(body)

    async def configure(
        self,
        login: str,
        *,
        channel: Channel | None = None,
        retry_policy: RetryPolicy | None = None,
        allowed_ips: tuple[str, ...] | None = None,
        by: Actor = None,
    ) -> AccountView:
        """Change any of an account's settings at once: all of them or, when one is
        refused, none. Raises `Rejected` (2303 unknown account, 2101 invalid setting, a
        push URL to a non-public address among them, or none given), `Conflict`,
        `StorageError`.
        """
        commands: list[acc.AccountCommand] = []
        if channel is not None:
            commands.append(acc.ConfigureChannel(self._checked_channel(channel)))
        if retry_policy is not None:
            instance("retry_policy", retry_policy, RetryPolicy)
            commands.append(acc.SetRetryPolicy(retry_policy))
        if allowed_ips is not None:
            commands.append(acc.SetIpAllowList(texts("allowed_ips", allowed_ips)))
        if not commands:  # else `by` would be recorded as acting, and nothing done
            raise InvalidArgument("nothing to change: give channel, retry_policy or allowed_ips")
        return account_view(await self._run(login, *commands, by=by))

    async def change_password(self, login: str, password: str, *, by: Actor = None) -> AccountView:
        """Set a new password (only its sha1 is stored); the account's web sessions end
        with it. Raises `Rejected` (2303 unknown account, 2101 a password empty or only
        whitespace), `Conflict`, `StorageError`."""
        change = acc.ChangePassword(_digest(password))
        return account_view(await self._run(login, change, by=by, ends="password changed"))

    async def rotate_secret(self, login: str, *, by: Actor = None) -> str:
        """A new signing secret for pushed notifications; returns it. Raises `Rejected`
        (2303 unknown account), `Conflict`, `StorageError`."""
        secret = _new_secret()
        await self._with_secret(text("login", login), acc.RotateSecret(secret), secret, by)
        return secret

    async def suspend(self, login: str, reason: str, *, by: Actor = None) -> AccountView:
        """Suspend an account: its client commands answer 2053 until `resume`, and its
        web sessions end. Raises `Rejected` (2303 unknown account, 2304 suspended
        already or closed), `Conflict`, `StorageError`."""
        command = acc.SuspendAccount(text("reason", reason))
        suspended = await self._run(login, command, by=by, detail=reason, ends="suspended")
        return account_view(suspended)

    async def resume(self, login: str, *, by: Actor = None) -> AccountView:
        """Lift a suspension. Raises `Rejected` (2303 unknown account, 2304 not
        suspended or closed), `Conflict`, `StorageError`."""
        return account_view(await self._run(login, acc.ResumeAccount(), by=by))

    async def close_account(self, login: str, reason: str = "", *, by: Actor = None) -> AccountView:
        """Close an account for good: its client commands answer as if it did not exist
        (2303 here, 2050 over the network), its settings can no longer change (2304),
        its web sessions end and its login is not opened again (2302); its stream,
        queue and trail stay for audit. Raises `Rejected` (2303 unknown account, 2304
        closed already), `InvalidArgument`, `Conflict`, `StorageError`."""
        command = acc.CloseAccount(text("reason", reason))
        closed = await self._run(login, command, by=by, detail=reason, ends="closed")
        return account_view(closed)

    async def account(self, login: str) -> AccountView | None:
        """The account's settings and status, or None when it was never opened. Raises
        `StorageError`."""
        text("login", login)
        state = await self._runtime.run(lambda work: work.state(ACCOUNT, login))
        return account_view(state) if state.opened else None

    async def accounts(self, *, after: int = 0, limit: int = 100) -> AccountPage:
        """A page of accounts in the order they were opened: up to `limit` (1-1000) of
        those opened after `after` (0, or the `next` of the page before). Raises
        `InvalidArgument` (a limit or cursor out of range), `StorageError`."""
        if not isinstance(limit, int) or not isinstance(after, int):
            raise InvalidArgument("limit and after must be integers")
        if not 1 <= limit <= 1000 or not 0 <= after < LAST_POSITION:
            raise InvalidArgument("limit is 1-1000 and after is 0 or more")
        openings = self._runtime.entries("AccountOpened", after, limit)
        states = await self._runtime.states(ACCOUNT, [entry.event.login for entry in openings])
        last = openings[-1].position if len(openings) == limit else None
        return AccountPage(accounts=[account_view(state) for state in states], next=last)

    async def admit(self, login: str, client: RemoteClient) -> None:
        """Whether a client over the network may run a command on `login` (see
        `RemoteClient`); the commands that take a `client` check it themselves, in their
        own unit of work. Raises `Rejected` (2050 authentication failure, 2051 address
        not allowed, 2053 suspended), `StorageError`."""
        text("login", login)
        instance("client", client, RemoteClient)
        await self._runtime.run(lambda work: admitted(work, login, client))


class AccountCalls:
    """The account calls of `Tidings`."""

    _accounts: Accounts

    @property
    def guard(self) -> AddressGuard:
        """The address guard, with the networks of TIDINGS_PUSH_ALLOW read once."""
        return self._accounts.guard

    open_account = blocking_call(Accounts.open_account, "_accounts")
    configure = blocking_call(Accounts.configure, "_accounts")

    def configure_channel(self, login: str, channel: Channel, *, by: Actor = None) -> AccountView:
        """Set how the account is told: the poll queue, a URL or e-mail. Raises what
        `configure` raises."""
        return self.configure(login, channel=channel, by=by)

    def set_retry_policy(self, login: str, policy: RetryPolicy, *, by: Actor = None) -> AccountView:
        """Set how pushed notifications are retried. Raises what `configure` raises."""
        return self.configure(login, retry_policy=policy, by=by)

    def set_allowed_ips(self, login: str, ips: tuple[str, ...], *, by: Actor = None) -> AccountView:
        """Set the addresses (or CIDR networks) clients may call from; empty: any.
        Raises what `configure` raises."""
        return self.configure(login, allowed_ips=ips, by=by)

    change_password = blocking_call(Accounts.change_password, "_accounts")
    rotate_secret = blocking_call(Accounts.rotate_secret, "_accounts")
    suspend = blocking_call(Accounts.suspend, "_accounts")
    resume = blocking_call(Accounts.resume, "_accounts")
    close_account = blocking_call(Accounts.close_account, "_accounts")
    account = blocking_call(Accounts.account, "_accounts")
    accounts = blocking_call(Accounts.accounts, "_accounts")
    admit = blocking_call(Accounts.admit, "_accounts")
    admit_async = awaited_call(Accounts.admit, "_accounts")
