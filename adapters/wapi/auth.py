"""WAPI authentication: the hourly token (the allow-list is the domain's `allowlist`).

The token is `sha1(login + sha1(password) + HH)` in hex, HH the hour (00-23) in
Europe/Prague, WAPI's own clock. A client whose clock or request straddles the turn of
the hour would fail for no fault of its own, so the previous hour's token is accepted for
the first `GRACE` after it; "previous hour" is the Prague hour of `now - GRACE`, which is
also right across the daylight-saving changes.

Example (WAPI's check value): login `tester`, password `123456`, hour 11 gives
`ac28237e80e68efa3bfd07f42dca3d41c5986e01`.
"""

import hashlib
import hmac
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tidings.domain.account import AccountState

__all__ = ["GRACE", "PRAGUE", "auth_token", "password_sha1", "token_matches"]

PRAGUE = ZoneInfo("Europe/Prague")
GRACE = timedelta(minutes=5)
_GRACE_MINUTES = GRACE.seconds // 60
_HOUR = timedelta(hours=1)
# Compared against when the login is unknown, so an unknown login costs the same work
# as a wrong token and the answer's timing does not tell whether a login exists.
_NO_PASSWORD = "0" * 40
# The hours as tokens spell them.
_HOURS = [f"{hour:02d}" for hour in range(24)]
# The tokens last expected, by login, password digest and hour: a client sends the same
# token all hour, and each is a sha1 to compute. Known and unknown logins are kept
# alike (an unknown one under `_NO_PASSWORD`): a check costs a sha1 the first time in an
# hour and a lookup after that, whether the login exists. Its time can tell that the
# login was checked this hour, as the state cache already tells (more plainly) that it
# was read.
# Emptied whole when full (any thread may check: one dict operation at a time). A login
# longer than any account's (`domain.values.login_problem`: 64) is never kept.
_EXPECTED: dict[tuple[str, str, int], bytes] = {}
_MOST_EXPECTED = 4096
_LONGEST_LOGIN = 64


def password_sha1(password: str) -> str:
    """`sha1(password)` in hex (UTF-8; a lone surrogate becomes "?"), as accounts store it."""
    return hashlib.sha1(password.encode("utf-8", "replace")).hexdigest()


def auth_token(login: str, password_digest: str, hour: int) -> str:
    """The WAPI token for `login` at `hour` (0-23, Prague), from `sha1(password)` in hex."""
    return hashlib.sha1((login + password_digest + _HOURS[hour]).encode("utf-8")).hexdigest()


def _hours(now: datetime) -> tuple[datetime, datetime, tuple[int, ...]]:
    """The Prague hours a token may be of at `now`, and the UTC instants they hold
    from and until (Prague's offset changes only at a whole hour)."""
    local = now.astimezone(PRAGUE)
    start = now - timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    if local.minute < _GRACE_MINUTES:
        earlier = (now - GRACE).astimezone(PRAGUE).hour
        hours = (local.hour,) if earlier == local.hour else (local.hour, earlier)
        return start, start + GRACE, hours
    return start + GRACE, start + _HOUR, (local.hour,)


# The hours of the instants last asked about: one tuple, replaced whole (any thread may
# ask), so the zone's conversions run once a `GRACE` or an hour, not at every check.
_known = _hours(datetime(2000, 1, 1, tzinfo=PRAGUE))


def token_matches(account: AccountState | None, login: str, token: str, now: datetime) -> bool:
    """Whether `token` authenticates `login` at `now` (aware); an unknown login costs
    the same work (constant-time comparisons)."""
    global _known
    known = account is not None and account.opened and account.login == login
    digest = account.password_sha1 if known and account is not None else _NO_PASSWORD
    window = _known
    if not window[0] <= now < window[1]:
        window = _known = _hours(now)
    given = token.strip().lower().encode("ascii", "replace")
    matched = False
    for hour in window[2]:
        expected = _EXPECTED.get((login, digest, hour))
        if expected is None:
            expected = auth_token(login, digest, hour).encode()
            if len(login) <= _LONGEST_LOGIN:
                if len(_EXPECTED) >= _MOST_EXPECTED:
                    _EXPECTED.clear()
                _EXPECTED[login, digest, hour] = expected
        matched |= hmac.compare_digest(expected, given)
    return matched and known
