"""One password rule on every path: empty and whitespace-only passwords are refused by
the library (and so by the shell and the JSON API, which go through it)."""

import pytest
from tidings.adapters.library import Rejected, Tidings
from tidings.domain import Code
from tidings.domain.values import password_problem


@pytest.mark.parametrize("password", ["", " ", "\t\n", "\u3000"])
def test_empty_and_blank_passwords_are_refused(password: str, sqlite_url: str) -> None:
    assert password_problem(password) is not None
    with Tidings(sqlite_url) as tidings:
        with pytest.raises(Rejected) as refused:
            tidings.open_account("tester", password)
        assert refused.value.code == Code.INVALID_PARAMETER
        assert tidings.account("tester") is None
        tidings.open_account("tester", "s3cret")
        with pytest.raises(Rejected):
            tidings.change_password("tester", password)


def test_a_password_with_spaces_inside_is_fine() -> None:
    assert password_problem(" correct horse ") is None
