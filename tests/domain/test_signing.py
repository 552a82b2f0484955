"""Which secrets sign a push: the current one, and the one before a rotation for 24 hours
after it."""

from datetime import timedelta

from tidings.domain.dispatch import ROTATION_GRACE, signing_secrets

from tests.gwt import T0


def test_a_push_is_signed_with_the_current_secret() -> None:
    assert signing_secrets("new", "", None, T0) == ["new"]


def test_within_24_hours_of_a_rotation_the_previous_secret_signs_too() -> None:
    assert timedelta(hours=24) == ROTATION_GRACE
    just_before = T0 + ROTATION_GRACE - timedelta(microseconds=1)
    assert signing_secrets("new", "old", T0, just_before) == ["new", "old"]


def test_24_hours_after_a_rotation_only_the_current_secret_signs() -> None:
    assert signing_secrets("new", "old", T0, T0 + ROTATION_GRACE) == ["new"]


def test_the_grace_is_an_argument() -> None:
    assert signing_secrets("new", "old", T0, T0, grace=timedelta(0)) == ["new"]
    assert signing_secrets("new", "old", T0, T0, grace=timedelta(seconds=1)) == ["new", "old"]


def test_no_previous_secret_signs_nothing_more_even_right_after_a_rotation() -> None:
    assert signing_secrets("new", "", T0, T0) == ["new"]
