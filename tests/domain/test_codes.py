"""Result codes: one table, every code with its text, success below 2000."""

import pytest
from tidings.domain import Code, Rejection, codes, reject


def _documented_table() -> dict[int, str]:
    """The `| code | text | when |` rows of the codes module docstring."""
    table: dict[int, str] = {}
    for line in (codes.__doc__ or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            table[int(cells[0])] = cells[1]
    return table


@pytest.mark.parametrize("code", list(Code), ids=lambda code: f"{code.value}-{code.name}")
def test_every_code_has_a_text(code: Code) -> None:
    assert isinstance(code.text, str)
    assert code.text.strip() == code.text
    assert code.text


def test_no_two_codes_share_a_text() -> None:
    texts = [code.text for code in Code]
    assert len(set(texts)) == len(texts)


def test_the_documented_table_lists_exactly_the_codes_with_their_texts() -> None:
    assert _documented_table() == {code.value: code.text for code in Code}


@pytest.mark.parametrize("code", list(Code), ids=lambda code: str(code.value))
def test_a_code_is_a_success_exactly_when_it_is_below_2000(code: Code) -> None:
    assert code.is_success == (code.value < 2000)


def test_the_wapi_codes_of_the_poll_queue_have_the_wapi_texts() -> None:
    assert (Code.OK.value, Code.OK.text) == (1000, "OK")
    assert (Code.PENDING.value, Code.PENDING.text) == (1001, "Request pending")
    assert Code.ACKED.value == 1002
    assert (Code.QUEUE_EMPTY.value, Code.QUEUE_EMPTY.text) == (1003, "Empty notifications queue")
    assert Code.POLL_NOT_ALLOWED.value == 2150
    assert Code.NOTIFICATION_NOT_FOUND.value == 2151


def test_1002_is_spelled_acquired_not_wapis_aquired() -> None:
    assert Code.ACKED.text == "Notification acquired"


def test_a_rejection_carries_the_codes_own_text_by_default() -> None:
    assert reject(Code.OBJECT_NOT_FOUND) == Rejection(
        Code.OBJECT_NOT_FOUND, "Object does not exist"
    )


def test_a_rejection_carries_a_more_precise_reason_when_given_one() -> None:
    assert reject(Code.INVALID_PARAMETER, "jitter must be in [-1, 1]") == Rejection(
        Code.INVALID_PARAMETER, "jitter must be in [-1, 1]"
    )


def test_an_empty_detail_is_kept_as_given_not_replaced_by_the_codes_text() -> None:
    # `detail` is replaced only when absent (None); callers never pass "" on purpose.
    assert reject(Code.INVALID_PARAMETER, "").text == ""
