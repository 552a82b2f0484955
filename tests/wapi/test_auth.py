"""WAPI's hourly token."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from tidings.adapters.wapi.auth import (
    GRACE,
    PRAGUE,
    auth_token,
    password_sha1,
    token_matches,
)
from tidings.domain.account import AccountState

TESTER = AccountState(opened=True, login="tester", password_sha1=password_sha1("123456"))


def prague(hour: int, minute: int, day: int = 15, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PRAGUE).astimezone(UTC)


def test_wapi_check_value() -> None:
    assert auth_token("tester", password_sha1("123456"), 11) == (
        "ac28237e80e68efa3bfd07f42dca3d41c5986e01"
    )


def test_token_of_the_current_prague_hour() -> None:
    token = auth_token("tester", TESTER.password_sha1, 11)
    assert token_matches(TESTER, "tester", token, prague(11, 30))
    assert token_matches(TESTER, "tester", token.upper(), prague(11, 30))
    assert not token_matches(TESTER, "tester", token, prague(10, 30))
    assert not token_matches(TESTER, "tester", token, prague(12, 30))


@pytest.mark.parametrize(
    ("minute", "second", "accepted"),
    [(0, 0, True), (4, 59, True), (5, 0, False), (30, 0, False)],
)
def test_previous_hour_for_the_first_five_minutes(minute: int, second: int, accepted: bool) -> None:
    previous = auth_token("tester", TESTER.password_sha1, 11)
    now = prague(12, minute) + timedelta(seconds=second)
    assert token_matches(TESTER, "tester", previous, now) is accepted
    assert token_matches(TESTER, "tester", auth_token("tester", TESTER.password_sha1, 12), now)


def test_prague_hour_not_utc() -> None:
    utc_noon = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)  # 14:30 in Prague (summer time)
    assert token_matches(TESTER, "tester", auth_token("tester", TESTER.password_sha1, 14), utc_noon)
    assert not token_matches(
        TESTER, "tester", auth_token("tester", TESTER.password_sha1, 12), utc_noon
    )


def test_across_the_autumn_clock_change() -> None:
    # 2026-10-25 03:00 CEST becomes 02:00 CET: the hour "02" comes twice.
    second_two = datetime(2026, 10, 25, 1, 2, tzinfo=UTC)  # 02:02 CET
    assert second_two.astimezone(PRAGUE).hour == 2
    # Five minutes earlier is 02:57 CEST: also hour 02, so only "02" is accepted.
    assert token_matches(
        TESTER, "tester", auth_token("tester", TESTER.password_sha1, 2), second_two
    )
    assert not token_matches(
        TESTER, "tester", auth_token("tester", TESTER.password_sha1, 1), second_two
    )


def test_wrong_token_wrong_login_unknown_login() -> None:
    now = prague(11, 30)
    token = auth_token("tester", TESTER.password_sha1, 11)
    assert not token_matches(TESTER, "tester", "0" * 40, now)
    assert not token_matches(TESTER, "other", token, now)
    assert not token_matches(None, "tester", token, now)
    assert not token_matches(AccountState(), "tester", token, now)
    assert not token_matches(TESTER, "tester", "\u010d" * 40, now)


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize(
    "day", [datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC)]
)
def test_the_hours_accepted_are_those_of_now_and_of_the_grace_before(
    day: datetime, shuffled: bool
) -> None:
    # given: every minute (and a microsecond before and after it) of a day the clocks
    # change, in order or not (the check keeps the hours of the instants asked last)
    tokens = {hour: auth_token("tester", TESTER.password_sha1, hour) for hour in range(24)}
    instants = [
        day + timedelta(minutes=minute, microseconds=shift)
        for minute in range(24 * 60)
        for shift in (-1, 0, 1)
    ]
    if shuffled:
        random.Random(25).shuffle(instants)
    for now in instants:
        # then: exactly the Prague hours of now and of five minutes earlier
        wanted = {now.astimezone(PRAGUE).hour, (now - GRACE).astimezone(PRAGUE).hour}
        accepted = {h for h, token in tokens.items() if token_matches(TESTER, "tester", token, now)}
        assert accepted == wanted, now


def test_a_token_asked_about_again_is_judged_on_the_password_of_now() -> None:
    # given: a token checked once (and so kept), then the password changed
    now = prague(11, 30)
    old = auth_token("tester", TESTER.password_sha1, 11)
    assert token_matches(TESTER, "tester", old, now)
    changed = AccountState(opened=True, login="tester", password_sha1=password_sha1("654321"))
    # then: the old token fails and the new one passes, asked about in any order, many
    # times over (past however many tokens are kept), for known and unknown logins alike
    new = auth_token("tester", changed.password_sha1, 11)
    for round_ in range(3):
        assert not token_matches(changed, "tester", old, now)
        assert token_matches(changed, "tester", new, now)
        assert token_matches(TESTER, "tester", old, now)
        for n in range(3000):
            login = f"u{round_}.{n}"
            assert not token_matches(None, login, auth_token(login, "0" * 40, 11), now)


def test_a_login_longer_than_any_account_is_judged_too() -> None:
    now = prague(11, 30)
    login = "x" * 5000
    account = AccountState(opened=True, login=login, password_sha1=TESTER.password_sha1)
    token = auth_token(login, TESTER.password_sha1, 11)
    for _ in range(2):
        assert token_matches(account, login, token, now)
        assert not token_matches(None, login, token, now)
