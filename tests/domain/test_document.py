"""What a notification may carry: data keys that are XML names, no deeper than 32 levels;
an init request whose JSON body nests no deeper either."""

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.domain import OPERATION, Code, InitRequest
from tidings.domain.document import (
    DEPTH,
    MAX_DEPTH,
    DepthKind,
    data_problem,
    init_request_problem,
    too_deep,
)
from tidings.domain.operation import AcceptOperation

from tests.gwt import spec


def nested(levels: int) -> dict[str, Any]:
    """`data` of exactly `levels` levels of objects."""
    data: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        data = {"level": data}
    return data


@pytest.mark.parametrize(
    "data",
    [None, {}, {"id": 1, "_x": "y", "a.b-c_d": [1, {"e": None}]}, nested(MAX_DEPTH)],
    ids=["none", "empty", "names", "32-levels"],
)
def test_data_of_xml_names_and_at_most_32_levels_is_fine(data: dict[str, Any] | None) -> None:
    assert data_problem(data) is None


@pytest.mark.parametrize("key", ["", "1st", "a b", "a<b", "ü", "-x", ".x"])
def test_a_key_that_is_not_an_xml_name_is_a_problem(key: str) -> None:
    assert data_problem({"ok": [{key: 1}]}) == (
        f"data keys must be XML names ([A-Za-z_][A-Za-z0-9._-]*), not {key!r}"
    )


@given(st.text(max_size=8).filter(lambda key: not re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", key)))
def test_no_key_but_an_xml_name_is_ever_accepted(key: str) -> None:
    # What renders a notification writes its keys as they are: it relies on this.
    assert data_problem({key: 1}) is not None
    assert data_problem({"ok": {"list": [{key: None}]}}) is not None


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner.filter(lambda item: not isinstance(item, list)), max_size=3)
        | st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9._-]*", fullmatch=True), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_every_value_json_carries_is_fine_as_data(value: Any) -> None:
    # given what a JSON document holds (Unicode text, 64-bit whole numbers, finite
    # numbers, true, false, null, lists and objects), at any place in data: no problem
    # (but a list directly in a list, below)
    assert data_problem({"v": value}) is None


@pytest.mark.parametrize("inner", [[3, 4], [], (1,)])
def test_a_list_directly_in_a_list_is_a_problem(inner: Any) -> None:
    # XML writes a list as repeated elements: an inner list would go out as Python's text
    problem = "a data list may not hold a list: XML writes a list as repeated elements"
    assert data_problem({"v": [1, inner]}) == problem
    assert data_problem({"ok": {"v": [{"w": [inner]}]}}) == problem
    assert data_problem({"v": [{"w": inner}]}) is None  # an object between them


def test_data_deeper_than_32_levels_is_a_problem_however_deep() -> None:
    assert data_problem(nested(MAX_DEPTH + 1)) == "data nests deeper than 32 levels"
    assert data_problem(nested(5_000)) == "data nests deeper than 32 levels"  # no recursion


def test_lists_count_as_levels() -> None:
    data: Any = 1
    for _ in range(MAX_DEPTH):
        data = [data]
    assert data_problem({"list": data}) == "data nests deeper than 32 levels"


def request(body: str, content_type: str = "application/json") -> InitRequest:
    return InitRequest(method="POST", uri="/x", content_type=content_type, client_ip="", body=body)


def test_an_init_request_s_json_body_nests_at_most_32_levels() -> None:
    assert init_request_problem(request("[" * 32 + "]" * 32)) is None
    assert init_request_problem(request("[" * 33 + "]" * 33)) == (
        "the init request's body nests deeper than 32 levels"
    )


def test_brackets_inside_json_strings_do_not_count() -> None:
    assert init_request_problem(request('{"a": "' + "[" * 100 + '\\"[["}')) is None


def test_a_body_that_is_not_json_is_carried_as_text() -> None:
    assert init_request_problem(request("[" * 100, "application/xml")) is None
    assert init_request_problem(None) is None


def test_accepting_with_an_init_request_nesting_too_deep_is_2101() -> None:
    accept = AcceptOperation(
        svtrid="sv",
        cltrid="cl",
        command="c",
        login="tester",
        init_request=request("{" * 40),
    )
    spec(OPERATION).given().when(accept).then_rejected(
        Code.INVALID_PARAMETER, "the init request's body nests deeper than 32 levels"
    )


# --- the one depth rule -----------------------------------------------------------------
def test_each_kind_of_document_has_one_limit() -> None:
    assert dict(DEPTH) == {"request": 12, "data": 32, "body": 64}


@pytest.mark.parametrize("kind", ["request", "data", "body"])
def test_json_text_and_a_decoded_tree_are_judged_alike(kind: DepthKind) -> None:
    limit = DEPTH[kind]
    for depth, deep in ((limit, False), (limit + 1, True)):
        text = '{"a": ' * depth + '"[{"' + "}" * depth
        tree: Any = "[{"
        for _ in range(depth):
            tree = {"a": tree}
        assert too_deep(text, kind) is deep
        assert too_deep(text.encode(), kind) is deep
        assert too_deep(tree, kind) is deep


def test_a_server_s_own_limit_replaces_the_kind_s() -> None:
    assert too_deep("[[[]]]", "body", limit=2)
    assert not too_deep("[[[]]]", "body", limit=3)


def test_no_depth_makes_the_rule_recurse() -> None:
    tree: Any = 1
    for _ in range(100_000):
        tree = [tree]
    assert too_deep(tree, "data")
    assert too_deep(b"[" * 100_000, "data")
