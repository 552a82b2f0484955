"""Made-up Merchants documents at the live endpoint: each is refused (4xx, a result code,
nothing written) or accepted with 202, and then every accepted job ends: none is left
for the runner to fail on again and again."""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import Running, call_until
from tests.http.test_merchants import submit

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE = st.sampled_from(
    ["\ud800", "a\udfff", "\ud83d", "\x00", "\ufffe", "\u00b2", "9" * 30, "2000", ""]
)
VALUES = st.one_of(
    HOSTILE,
    st.text(max_size=20),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
CODES = st.one_of(st.sampled_from([2000, "2400", 1000, "5999", 6000]), VALUES)
STATES = st.one_of(st.sampled_from(["Failed", "PartiallyFailed", "Successfull"]), VALUES)
# A single job ends by its ErrorCode and ErrorData, a batch by its State.
JOBS = st.one_of(
    st.tuples(
        st.just("/merchants/products"),
        st.fixed_dictionaries(
            {"ErrorCode": CODES, "ErrorData": st.one_of(HOSTILE, VALUES)},
            optional={"\ud800": VALUES, "Name": VALUES},
        ),
    ),
    st.tuples(
        st.just("/merchants/files"),
        st.fixed_dictionaries({"State": STATES}, optional={"\ud800": VALUES, "Name": VALUES}),
    ),
)


def log_length(server: Running) -> int:
    return sum(1 for _ in server.tidings.log())


@FUZZ
@given(job=JOBS)
def test_every_json_document_is_refused_or_ends(
    server: Running, job: tuple[str, dict[str, Any]]
) -> None:
    """JSON, the dialect that can carry any code point (lone surrogates as escapes)."""
    path, fields = job
    before = log_length(server)
    answer = submit(server, path, json.dumps(fields), "application/json")
    assert answer.status_code in (202, 400), answer.text
    if answer.status_code == 400:
        assert log_length(server) == before
        return
    svtrid = answer.json()["Id"]
    call_until(
        lambda: server.tidings.operation(svtrid),
        lambda operation: operation is not None and operation.ended is not None,
        timeout=5,
        what="the job to end",
    )


def test_a_lone_surrogate_in_a_field_is_an_encoding_mismatch(server: Running) -> None:
    before = log_length(server)
    body = '{"ErrorCode": 2000, "ErrorData": "\\ud800"}'
    answer = submit(server, "/merchants/products", body, "application/json")
    assert answer.status_code == 400 and answer.json()["Code"] == 2102, answer.text
    assert log_length(server) == before


def test_a_number_of_thousands_of_digits_is_a_parse_error_in_the_clients_words(
    server: Running,
) -> None:
    before = log_length(server)
    body = '{"ErrorCode": ' + "9" * 5000 + "}"
    answer = submit(server, "/merchants/products", body, "application/json")
    assert answer.status_code == 400 and answer.json()["Code"] == 2000, answer.text
    assert "too many digits" in answer.json()["Text"] and "sys." not in answer.text
    assert log_length(server) == before
