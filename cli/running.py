"""What `tidings serve` and `tidings worker` check alike before they start: the log's
level and layout, the delays of the operations they end, and the settings they read from
the environment. A bad value is one line on stderr and exit 2, before anything is
opened."""

from tidings.adapters.http.context import session_key_from_env
from tidings.adapters.ledger.keys import BadKey
from tidings.adapters.ledger.signer import signer_for
from tidings.adapters.logs import FORMS
from tidings.adapters.push.mail import SmtpServer
from tidings.adapters.push.transport import AddressGuard
from tidings.adapters.store.secrets import SecretsKey

from .output import usage

__all__ = [
    "LEVELS",
    "MOST_COUNT",
    "MOST_SECONDS",
    "at_least",
    "check_environment",
    "check_running",
]

LEVELS = ("debug", "info", "warning", "error")


# The largest value a count or a time option may take: past it a count no longer fits the
# system's C int (the listen backlog), and a delay or timeout no longer makes a time a
# date can hold (an ending due in 30,000 years stopped the server).
MOST_COUNT = 2**31 - 1
MOST_SECONDS = 86_400.0


def at_least(value: float, least: float, option: str, most: float = MOST_SECONDS) -> None:
    """Exit 2 unless `value` is at least `least` and at most `most` (NaN and infinity
    are refused too)."""
    if not value >= least:
        raise usage(f"{option} must be at least {least:g}, not {value:g}")
    if not value <= most:
        raise usage(f"{option} must be at most {most:g}, not {value:g}")


def check_running(log_level: str, log_format: str, ping_delay: float, job_delay: float) -> None:
    """Exit 2 on a log level or layout that does not exist, or a delay that is negative
    or longer than a day."""
    if log_level.lower() not in LEVELS:
        raise usage(f"--log-level must be one of {', '.join(LEVELS)}, not {log_level!r}")
    if log_format not in FORMS:
        raise usage(f"--log-format must be one of {', '.join(FORMS)}, not {log_format!r}")
    at_least(ping_delay, 0, "--ping-delay")
    at_least(job_delay, 0, "--job-delay")


def check_environment() -> None:
    """Exit 2 on a setting of the environment the server or worker would refuse once
    started: TIDINGS_SMTP_URL, TIDINGS_PUSH_ALLOW, TIDINGS_SESSION_KEY, and the key files
    TIDINGS_SIGNING_KEY (with TIDINGS_CHECKPOINT_*) and TIDINGS_SECRETS_KEY name. The
    messages name a file, never a key or a password."""
    try:
        SmtpServer.from_env()
        AddressGuard()
        session_key_from_env()
        signer_for()
        SecretsKey.from_env()
    except (ValueError, BadKey) as error:
        raise usage(str(error)) from None
