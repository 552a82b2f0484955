"""`tidings account ...`: open, list, show and configure accounts."""

import sys
from dataclasses import dataclass
from typing import Annotated, Literal

import typer
from tidings.adapters import AccountView
from tidings.domain import Channel, Code, EmailChannel, PollChannel, RetryPolicy, UrlChannel
from tidings.domain.values import BodyFormat, Fallback, login_problem, password_problem

from .options import Db, Operator, acting, examples, open_tidings
from .output import Json, emit, fail, table, usage, user_errors

__all__ = ["account_app"]

account_app = typer.Typer(
    help="Open, list, show, configure and close accounts.",
    epilog=examples("tidings account add shop --password-stdin < password.txt",
                    "tidings account show shop --json"),
    no_args_is_help=True,
)  # fmt: skip

Login = Annotated[str, typer.Argument(metavar="LOGIN", help="The account's login (its WAPI user).")]


def _read_password(from_stdin: bool) -> str:
    """The password: a hidden prompt, typed twice, at a terminal; else standard input
    with --password-stdin, so it never shows in the process list or the history."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise usage("give the password on standard input with --password-stdin")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _channel_text(channel: Channel) -> str:
    match channel:
        case PollChannel():
            return "poll"
        case UrlChannel():
            urls = [f"success {channel.success_url}"] if channel.success_url else []
            urls += [f"error {channel.error_url}"] if channel.error_url else []
            statuses = ",".join(map(str, sorted(channel.expected_status)))
            extra = "; ordered" if channel.ordered else ""
            extra += f"; fallback {channel.fallback}" if channel.fallback != "none" else ""
            return f"url ({channel.body_format}): {'; '.join(urls)}; expects {statuses}{extra}"
        case EmailChannel(address=address, fallback=fallback):
            return f"email: {address}" + (f"; fallback {fallback}" if fallback != "none" else "")


def _rows(view: AccountView) -> list[tuple[str, str]]:
    schedule = ", ".join(f"{s:g}" for s in view.retry_policy.schedule)
    return [
        ("login", view.login),
        ("channel", _channel_text(view.channel)),
        ("retry schedule (s)", f"{schedule} (jitter {view.retry_policy.jitter:g})"),
        ("allowed IPs", ", ".join(view.allowed_ips) or "any"),
        ("suspended", _yes(view.suspended, view.suspended_reason)),
        ("closed", _yes(view.closed, view.closed_reason)),
    ]


def _yes(state: bool, reason: str) -> str:
    """ "no", "yes", or "yes: REASON" when one was given."""
    return ("yes: " + reason if reason else "yes") if state else "no"


def _state(view: AccountView) -> str:
    return "closed" if view.closed else "suspended" if view.suspended else ""


def _show(view: AccountView, as_json: bool) -> None:
    emit(view, as_json, lambda: table(None, ("", view.login), _rows(view)[1:]))


@account_app.command(
    "add", epilog=examples("echo 's3cret' | tidings account add tester --password-stdin")
)
def account_add_command(
    login: Login,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Open a polling account. At a terminal the password is asked twice, hidden;
    otherwise it comes from standard input with --password-stdin. Prints the signing
    secret its pushed notifications will carry (shown now and at rotation only)."""
    password = _read_password(password_stdin)
    # Refused before the database is opened: a refused account creates no database.
    if problem := login_problem(login) or password_problem(password):
        raise usage(f"{int(Code.INVALID_PARAMETER)} {problem}")
    # An operator is one of an existing database's: none is created to refuse it.
    with user_errors(), open_tidings(db, must_exist=operator is not None) as tidings:
        secret = tidings.open_account(login, password, by=acting(operator, "open")).signing_secret
    opened = {"login": login, "signing_secret": secret}
    emit(opened, as_json, lambda: f"opened account {login}\nsigning secret: {secret}")


@account_app.command("list", epilog=examples("tidings account list --json"))
def account_list_command(
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Every account, in the order they were opened."""
    views: list[AccountView] = []
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        after: int | None = 0
        while after is not None:
            page = tidings.accounts(after=after, limit=1000)
            views += page.accounts
            after = page.next
    rows = [(v.login, _channel_text(v.channel), _state(v)) for v in views]
    emit(views, as_json, lambda: table(None, ("login", "channel", "state"), rows))


@account_app.command(
    "show",
    short_help="One account's settings, never a secret.",
    epilog=examples("tidings account show tester"),
)
def account_show_command(login: Login, db: Db = "tidings.db", as_json: Json = False) -> None:
    """One account's settings (never its password digest or signing secret)."""
    with user_errors(), open_tidings(db, read_only=True) as tidings:
        view = tidings.account(login)
    if view is None:
        raise fail(f"no account {login!r}")
    _show(view, as_json)


ChannelKind = Literal["poll", "url", "email"]


@dataclass(frozen=True)
class _ChannelOptions:
    """What `account set` was told about the channel."""

    success_url: str | None
    error_url: str | None
    expected: list[int]
    body_format: BodyFormat | None
    email: str | None
    fallback: Fallback | None
    ordered: bool | None


def _channel(kind: ChannelKind | None, given: _ChannelOptions) -> Channel | None:
    url_only = given.success_url or given.error_url or given.expected or given.body_format
    if kind != "url" and (url_only or given.ordered is not None):
        raise usage("--success-url, --error-url, --expect, --body-format and --ordered go "
                    "with --channel url")  # fmt: skip
    if kind != "email" and given.email:
        raise usage("--email goes with --channel email")
    if kind not in ("url", "email") and given.fallback:
        raise usage("--fallback goes with --channel url or email")
    fallback: Fallback = given.fallback or "none"
    match kind:
        case None:
            return None
        case "poll":
            return PollChannel()
        case "url":
            return UrlChannel(
                success_url=given.success_url,
                error_url=given.error_url,
                expected_status=frozenset(given.expected or (200,)),
                body_format=given.body_format or "wapi-form",
                fallback=fallback,
                ordered=bool(given.ordered),
            )
        case "email":
            if not given.email:
                raise usage("--channel email needs --email ADDRESS")
            return EmailChannel(given.email, fallback=fallback)


def _schedule(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise usage(f"--retry-schedule is seconds separated by commas, not {text!r}") from None


@account_app.command(
    "set",
    short_help="Change the delivery method, retries or allow-list.",
    epilog=examples(
        "tidings account set tester --channel url --success-url https://shop.example/wapi "
        "--expect 200 --expect 204 --retry-schedule 5,60,600",
        "tidings account set tester --allow 192.0.2.0/24",
    ),
)
def account_set_command(
    login: Login,
    channel: Annotated[
        ChannelKind | None, typer.Option(help="How notifications leave: poll, url or email.")
    ] = None,
    success_url: Annotated[
        str | None, typer.Option(help="url: where success outcomes are POSTed.")
    ] = None,
    error_url: Annotated[
        str | None, typer.Option(help="url: where error outcomes go (default: success URL).")
    ] = None,
    expect: Annotated[
        list[int] | None,
        typer.Option(
            metavar="STATUS", help="url: an HTTP status that means delivered (repeat; default 200)."
        ),
    ] = None,
    body_format: Annotated[
        BodyFormat | None, typer.Option(help="url: wapi-form (default) or jobresult.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="email: the address.")] = None,
    fallback: Annotated[
        Fallback | None,
        typer.Option(help="url, email: poll puts a notification that gave up in the poll queue."),
    ] = None,
    ordered: Annotated[
        bool | None,
        typer.Option("--ordered/--unordered", help="url: one delivery at a time, in id order."),
    ] = None,
    retry_schedule: Annotated[
        str | None,
        typer.Option(help="Seconds to wait after the 1st, 2nd, ... failed push: 5,300,1800."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            metavar="IP|CIDR", help="An IP address or CIDR network WAPI is used from (repeat)."
        ),
    ] = None,
    allow_any: Annotated[
        bool, typer.Option("--allow-any", help="Clear the IP allow-list.")
    ] = False,
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Change an account's delivery channel (URLs, statuses, body format, e-mail,
    fallback, ordering), push retry schedule or IP allow-list; every change given is
    made, or (one refused) none."""
    given = _ChannelOptions(success_url, error_url, expect or [], body_format, email, fallback,
                            ordered)  # fmt: skip
    new_channel = _channel(channel, given)
    if allow and allow_any:
        raise usage("--allow and --allow-any exclude each other")
    ips = tuple(allow) if allow else (() if allow_any else None)
    schedule = None if retry_schedule is None else _schedule(retry_schedule)
    if new_channel is None and schedule is None and ips is None:
        raise usage("nothing to change: give --channel, --retry-schedule or --allow")
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        current = tidings.account(login)
        if current is None:
            raise fail(f"no account {login!r}")
        policy = None
        if schedule is not None:
            policy = RetryPolicy(
                schedule=schedule,
                jitter=current.retry_policy.jitter,
                retry_after_min=current.retry_policy.retry_after_min,
                retry_after_max=current.retry_policy.retry_after_max,
            )
        by = acting(operator, "set")
        view = tidings.configure(
            login, channel=new_channel, retry_policy=policy, allowed_ips=ips, by=by
        )
    _show(view, as_json)


@account_app.command(
    "password",
    short_help="Change the password.",
    epilog=examples("tidings account password tester --password-stdin < new.txt"),
)
def account_password_command(
    login: Login,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from standard input."
    ),
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Change an account's password (its WAPI and Merchants token); asked twice, hidden,
    at a terminal, else from standard input with --password-stdin. The old one stops
    working at once."""
    password = _read_password(password_stdin)
    if problem := password_problem(password):
        raise usage(f"{int(Code.INVALID_PARAMETER)} {problem}")
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        view = tidings.change_password(login, password, by=acting(operator, "password"))
    _show(view, as_json)


@account_app.command(
    "test", short_help="Send a test notification.", epilog=examples("tidings account test shop")
)
def account_test_command(
    login: Login, operator: Operator = None, db: Db = "tidings.db", as_json: Json = False
) -> None:
    """Send the account a test notification through its delivery method (its poll queue,
    its URL or its e-mail address), as an operation that ends at once with 1000; a
    worker or server pushes it like any other."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        sent = tidings.send_test(login, by=acting(operator, "test"))
    emit(sent, as_json, lambda: f"test notification {sent.id} sent to {login}")


@account_app.command(
    "rotate-secret",
    short_help="A new signing secret, shown once.",
    epilog=examples("tidings account rotate-secret tester"),
)
def account_rotate_secret_command(
    login: Login, operator: Operator = None, db: Db = "tidings.db", as_json: Json = False
) -> None:
    """Give the account a new signing secret for its pushed notifications, and print it
    (the only time it is shown)."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        secret = tidings.rotate_secret(login, by=acting(operator, "rotate-secret"))
    emit({"login": login, "signing_secret": secret}, as_json, lambda: secret)


@account_app.command(
    "suspend",
    short_help="Refuse every request until resumed.",
    epilog=examples("tidings account suspend tester --reason unpaid"),
)
def account_suspend_command(
    login: Login,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit log.")] = "",
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Refuse the account's every request (WAPI answers 2053) until it is resumed."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        view = tidings.suspend(login, reason, by=acting(operator, "suspend"))
    _show(view, as_json)


@account_app.command(
    "close",
    short_help="Close for good; queue and trail are kept.",
    epilog=examples("tidings account close tester --reason 'contract ended'"),
)
def account_close_command(
    login: Login,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit log.")] = "",
    operator: Operator = None,
    db: Db = "tidings.db",
    as_json: Json = False,
) -> None:
    """Close the account for good: its clients are refused as if it did not exist, its
    settings no longer change, its login is not reused; its queue and trail are kept."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        view = tidings.close_account(login, reason, by=acting(operator, "close"))
    _show(view, as_json)


@account_app.command("resume", epilog=examples("tidings account resume tester"))
def account_resume_command(
    login: Login, operator: Operator = None, db: Db = "tidings.db", as_json: Json = False
) -> None:
    """Lift a suspension."""
    with user_errors(), open_tidings(db, must_exist=True) as tidings:
        view = tidings.resume(login, by=acting(operator, "resume"))
    _show(view, as_json)
