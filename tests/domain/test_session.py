"""Sessions: started with an expiry, ended one by one or all at once; open only until
they expire; the state keeps only those still open."""

from datetime import timedelta

from tidings.domain import SESSION, Code
from tidings.domain.session import (
    LONGEST,
    EndSession,
    EndSessions,
    SessionEnded,
    SessionsEnded,
    SessionStarted,
    StartSession,
    holder,
    is_open,
)

from tests.gwt import T0, spec

session = spec(SESSION)
A, B = "a" * 64, "b" * 64
HOUR = timedelta(hours=1)
STARTED_A = SessionStarted(session_sha256=A, expires_at=T0 + HOUR, at=T0)
STARTED_B = SessionStarted(session_sha256=B, expires_at=T0 + HOUR, at=T0)


def test_a_session_starts_and_is_open_until_it_expires() -> None:
    when = session.given().when(StartSession(session_sha256=A, expires_at=T0 + HOUR))
    when.then(STARTED_A)
    assert is_open(when.state, A, T0 + HOUR / 2)
    assert not is_open(when.state, A, T0 + HOUR)
    assert not is_open(when.state, B, T0)


def test_an_expiry_is_in_the_future_and_not_too_far() -> None:
    for until in (T0, T0 - HOUR, T0 + LONGEST + HOUR):
        session.given().when(StartSession(session_sha256=A, expires_at=until)).then_rejected(
            Code.INVALID_PARAMETER
        )
    session.given().when(StartSession(session_sha256="x", expires_at=T0 + HOUR)).then_rejected(
        Code.INVALID_PARAMETER
    )


def test_signing_out_ends_one_session() -> None:
    when = session.given(STARTED_A, STARTED_B).when(EndSession(A))
    when.then(SessionEnded(session_sha256=A, at=T0))
    assert not is_open(when.state, A, T0) and is_open(when.state, B, T0)


def test_ending_a_session_that_is_not_open_changes_nothing() -> None:
    session.given().when(EndSession(A)).then_nothing()
    session.given(STARTED_A).when(EndSession(A), T0 + 2 * HOUR).then_nothing()


def test_ending_all_sessions_closes_every_one() -> None:
    when = session.given(STARTED_A, STARTED_B).when(EndSessions("password changed"))
    when.then(SessionsEnded(reason="password changed", at=T0))
    assert when.state.open == ()
    session.given().when(EndSessions("again")).then_nothing()


def test_expired_sessions_leave_the_state_as_the_stream_moves_on() -> None:
    later = T0 + 2 * HOUR
    when = session.given(STARTED_A).when(
        StartSession(session_sha256=B, expires_at=later + HOUR), later
    )
    assert [digest for digest, _ in when.state.open] == [B]


def test_holders_of_the_center_and_the_console_are_apart() -> None:
    assert holder("account", "alice") != holder("operator", "alice")
