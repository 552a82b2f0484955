"""Dispatch: the delivery process, from claiming a delivery's next attempt to settling
what it got, over every stream it touches. The caller loads the states named below,
calls `claim` or `settle`, and saves what they decided, atomically.

Claiming (`claim`), given the delivery, its account, its endpoint and, on an ordered
account, the delivery of the notification before it (`earlier_id` says which):

- `Idle`, nothing to do: the delivery was never scheduled, or is done (succeeded, gave
  up). One scheduled before deliveries kept their notification cannot be sent: it
  gives up, saying so. Nor is one of a closed account (an operation accepted before
  the close and ended after it, a retry): when its next attempt falls due it gives up,
  "the account is closed"; its notification stays in the log for audit.
- `Held`, with when to look again and the stream whose next move may release it
  sooner: its next attempt is not due yet, or the attempt in flight is another
  process's until its lease runs out; on an ordered account the delivery before it is
  not done (succeeded or given up); its endpoint is paused and this interval's probe
  is not due.
- `Started`: `AttemptStarted`, leased for twice the attempt's timeout (after an
  `AttemptExpired` when it takes over an attempt whose lease ran out), and on a paused
  endpoint this interval's `ProbeClaimed`: the attempt is the probe.

Settling (`settle`), given the delivery, its account, its endpoint and its account's
mailbox, and what the attempt got: the delivery's outcome (`delivery.decide`: success,
a failure tried again later, an answer that ends it at once, the schedule used up),
the outcome counted for the endpoint's health, and its fallback (`fall_back`).

Fallback: an account may choose `fallback: "poll"` on its push channel. When a delivery
of one of its notifications gives up (its schedule used up, 410 Gone, a permanent SMTP
refusal), the notification is queued in the account's mailbox under the id it was
issued, so the client can still fetch it with poll-req (the account's `polls` allows
it). A delivered notification never enters the queue, and one already waiting there is
not queued again (a redelivery that gave up once more).

Requeueing (`requeue`), given the delivery and its account: an operator's redelivery
(or resend of a delivered one) goes by the account's channel as it is now, not as it
was when the delivery was scheduled: its medium, its target for the notification's
outcome, its expected statuses, the account's retry policy. A channel that sends the
notification nowhere refuses it: an account that polls now (queueing it in the mailbox
would queue it again at every redelivery, after the client acked it: the delivery
would record nothing to stop the next one), a URL channel with no URL for the outcome
(only an error URL, and the outcome is a success).

Signing (`signing_secrets`): a push is signed with the account's current secret and,
for `ROTATION_GRACE` after a rotation, with the one before it too, so a receiver can
switch secrets without losing a notification (docs/decisions.md, Delivery).

Each medium has its own settings (`channel_for`): a delivery goes by its account's
channel when that is of the delivery's medium, else by that medium's defaults.
"""

from datetime import datetime, timedelta

from msgspec import Struct
from msgspec.structs import replace

from . import delivery as dlv
from . import endpoint as ept
from . import mailbox as mbx
from .account import AccountState
from .codes import Code
from .decider import DELIVERY, ENDPOINT, fold
from .ending import route
from .rejection import Rejection, reject
from .values import Channel, EmailChannel, Notification, PollChannel, UrlChannel

__all__ = [
    "CLOSED",
    "LEASE_PER_TIMEOUT",
    "ROTATION_GRACE",
    "ClaimAttempt",
    "Held",
    "Idle",
    "Settled",
    "Started",
    "channel_for",
    "claim",
    "earlier_id",
    "endpoint_key",
    "fall_back",
    "lease",
    "requeue",
    "settle",
    "signing_secrets",
    "targets",
]

# A claim holds for this many attempt timeouts: the attempt itself, and as long again to
# record its outcome, so a live claimant is not taken over (docs/decisions.md, Delivery).
LEASE_PER_TIMEOUT = 2
ROTATION_GRACE = timedelta(hours=24)
# Why a delivery of a closed account gave up.
CLOSED = "the account is closed"


class ClaimAttempt(Struct, frozen=True, kw_only=True, tag="ClaimAttempt"):
    """Claim a delivery's next attempt for `claimant` (a process's name)."""

    claimant: str


class Started(Struct, frozen=True, kw_only=True):
    """The attempt `number` is the claimant's until `lease_until`; the events to save on
    the delivery and on its endpoint."""

    number: int
    lease_until: datetime
    delivery: list[dlv.DeliveryEvent]
    endpoint: list[ept.EndpointEvent]


class Held(Struct, frozen=True, kw_only=True):
    """The delivery may not start now; look again at `until`, or as soon as the stream
    it `waits_on` (category, key: its paused endpoint, or the earlier delivery of an
    ordered account) moves on."""

    until: datetime
    waits_on: tuple[str, str] | None = None


class Idle(Struct, frozen=True, kw_only=True):
    """Nothing left to do; `delivery`: the events to save first (a give-up), if any."""

    delivery: list[dlv.DeliveryEvent] = []


class Settled(Struct, frozen=True, kw_only=True):
    """What an attempt's outcome decided on the delivery, its endpoint and the mailbox."""

    delivery: list[dlv.DeliveryEvent]
    endpoint: list[ept.EndpointEvent]
    mailbox: list[mbx.MailboxEvent]


def channel_for(channel: Channel, scheduled: dlv.DeliveryScheduled) -> UrlChannel | EmailChannel:
    """The settings a delivery goes by (timeouts, ordering, endpoint health, body): the
    account's `channel` when it is of the delivery's medium, else that medium's defaults
    (the account moved to another channel after the delivery was scheduled)."""
    if scheduled.medium == "email":
        return channel if isinstance(channel, EmailChannel) else EmailChannel(scheduled.target)
    return channel if isinstance(channel, UrlChannel) else UrlChannel()


def targets(channel: Channel) -> list[str]:
    """The endpoints a channel pushes to: its URLs (success, then error, each once) or
    its address; none for a poll channel."""
    match channel:
        case UrlChannel(success_url=success, error_url=error):
            return [url for url in dict.fromkeys((success, error)) if url]
        case EmailChannel(address=address):
            return [address]
    return []


def lease(channel: UrlChannel | EmailChannel) -> float:
    """Seconds a claim on an attempt under `channel` holds."""
    return LEASE_PER_TIMEOUT * channel.timeout


def earlier_id(account: AccountState, delivery: dlv.DeliveryState) -> int | None:
    """The notification whose delivery must be done before this one starts: the one
    before it on an ordered URL channel; None when none must."""
    scheduled = delivery.scheduled
    if scheduled is None or scheduled.notification_id < 2:
        return None
    channel = channel_for(account.channel, scheduled)
    if isinstance(channel, UrlChannel) and channel.ordered:
        return scheduled.notification_id - 1
    return None


def endpoint_key(delivery: dlv.DeliveryState) -> str | None:
    """The key of the endpoint stream of the delivery's target; None when never scheduled."""
    scheduled = delivery.scheduled
    return None if scheduled is None else ept.key(scheduled.login, scheduled.target)


def claim(
    delivery: dlv.DeliveryState,
    account: AccountState,
    endpoint: ept.EndpointState,
    earlier: dlv.DeliveryState,
    command: ClaimAttempt,
    now: datetime,
) -> Started | Held | Idle:
    """Decide a claim on the delivery's next attempt (module docstring). `earlier`: the
    state of the delivery `earlier_id` names (the initial state when it names none)."""
    scheduled = delivery.scheduled
    due = dlv.due_at(delivery)
    if scheduled is None or due is None:
        return Idle()
    if scheduled.notification is None:
        gave_up = dlv.decide(delivery, dlv.GiveUp("its notification was not recorded"), now)
        return Idle(delivery=[] if isinstance(gave_up, Rejection) else gave_up)
    start = dlv.StartAttempt(
        claimant=command.claimant, lease=lease(channel_for(account.channel, scheduled))
    )
    started = dlv.decide(delivery, start, now)
    if isinstance(started, Rejection):  # not due, or leased by another
        return Held(until=max(due, now))
    if account.closed:
        gave_up = dlv.decide(delivery, dlv.GiveUp(CLOSED), now)
        return Idle(delivery=[] if isinstance(gave_up, Rejection) else gave_up)
    before = earlier_id(account, delivery)
    if before is not None and dlv.holds_back(earlier):
        until = dlv.due_at(earlier) or now
        waits_on = (DELIVERY.category, dlv.key(scheduled.login, before))
        return Held(until=max(until, now), waits_on=waits_on)
    probe = ept.decide(endpoint, ept.ClaimProbe(), now)
    if isinstance(probe, Rejection):  # paused, and this interval's probe is not due
        waits_on = (ENDPOINT.category, ept.key(scheduled.login, scheduled.target))
        return Held(until=endpoint.next_probe_at or now, waits_on=waits_on)
    attempt = started[-1]
    assert isinstance(attempt, dlv.AttemptStarted) and attempt.lease_until is not None
    return Started(
        number=attempt.number, lease_until=attempt.lease_until, delivery=started, endpoint=probe
    )


def settle(
    delivery: dlv.DeliveryState,
    account: AccountState,
    endpoint: ept.EndpointState,
    mailbox: mbx.MailboxState,
    command: dlv.RecordAttempt,
    now: datetime,
) -> Settled | Rejection:
    """Decide what an attempt's outcome does (module docstring). `endpoint`: the state
    `endpoint_key` names. Rejections: the delivery's (2304 no attempt in flight, or the
    one answered was taken over; 2303 never scheduled; 2101 jitter outside [-1, 1])."""
    recorded = dlv.decide(delivery, command, now)
    if isinstance(recorded, Rejection):
        return recorded
    after = fold(DELIVERY, recorded, delivery)
    assert after.scheduled is not None  # recorded: it was scheduled
    channel = channel_for(account.channel, after.scheduled)
    outcome = ept.RecordOutcome(
        ok=after.status == "succeeded",
        pause_after=channel.pause_after,
        probe_every=channel.probe_every,
    )
    health = ept.decide(endpoint, outcome, now)
    if isinstance(health, Rejection):  # settings out of range: a channel refuses them
        return health
    return Settled(
        delivery=recorded, endpoint=health, mailbox=fall_back(account, after, mailbox, now)
    )


def fall_back(
    account: AccountState, delivery: dlv.DeliveryState, mailbox: mbx.MailboxState, now: datetime
) -> list[mbx.MailboxEvent]:
    """The mailbox events a delivery's state calls for: its notification queued when it
    gave up and the account falls back to polling, else none (module docstring)."""
    scheduled = delivery.scheduled
    channel = account.channel
    if (
        delivery.status != "gave_up"
        or scheduled is None
        or scheduled.notification is None
        or isinstance(channel, PollChannel)
        or channel.fallback != "poll"
    ):
        return []
    return _queued(scheduled.notification, mailbox, now)


def _queued(
    notification: Notification, mailbox: mbx.MailboxState, now: datetime
) -> list[mbx.MailboxEvent]:
    """The notification queued in the mailbox, unless it is waiting there already."""
    if any(waiting.id == notification.id for waiting in mailbox.queue):
        return []
    return [mbx.NotificationQueued(notification=notification, at=now)]


def requeue(
    delivery: dlv.DeliveryState,
    account: AccountState,
    command: dlv.RequeueDelivery,
    now: datetime,
) -> list[dlv.DeliveryEvent] | Rejection:
    """Decide a requeue of the delivery (module docstring). Rejections: the delivery's
    (2303 never scheduled, 2304 one that may not be sent again, 2101); 2304 an account
    whose channel sends this notification nowhere (it polls now, or has no URL for the
    outcome). A delivery whose notification is not recorded keeps its route (it cannot
    be sent: it gives up when claimed)."""
    scheduled = delivery.scheduled
    notification = None if scheduled is None else scheduled.notification
    where = None if notification is None else route(account, notification)
    decided = dlv.decide(delivery, replace(command, route=where), now)
    if isinstance(decided, Rejection) or notification is None or where is not None:
        return decided
    if isinstance(account.channel, PollChannel):
        return reject(Code.STATUS_PROHIBITS, "the account polls now: nothing is pushed to it")
    return reject(Code.STATUS_PROHIBITS, "the account's channel sends it nowhere")


def signing_secrets(
    current: str,
    previous: str,
    rotated_at: datetime | None,
    now: datetime,
    grace: timedelta = ROTATION_GRACE,
) -> list[str]:
    """The secrets a push made at `now` is signed with: `current`, and `previous` (the
    secret before the rotation at `rotated_at`; "" when there is none) while less than
    `grace` has passed since that rotation."""
    if previous and rotated_at is not None and now - rotated_at < grace:
        return [current, previous]
    return [current]
