"""The XML request reader reads what defusedxml and xmltodict read, one after the other,
as the reader did before: the same members, the same refusals, over many generated
documents (namespaces, attributes, comments, CDATA, entities, DTDs, nesting, breakage)."""

from typing import Any, get_args

import defusedxml.ElementTree as SafeET
import pytest
import xmltodict
from defusedxml.common import DefusedXmlException
from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.adapters.wapi.request import Dialect, WapiError, parse_request
from tidings.adapters.wapi.xml_request import (
    MAX_DEPTH,
    MAX_NODES,
    Reason,
    XmlRefused,
    read_request,
)
from tidings.domain import Code

_FIELDS = ("user", "auth", "command", "cltrid", "data", "test")


def _simplify(node: Any) -> Any:
    if isinstance(node, list):
        return [_simplify(item) for item in node]
    if not isinstance(node, dict):
        return node
    children = {k: _simplify(v) for k, v in node.items() if not k.startswith(("@", "#"))}
    if children:
        return children
    return node.get("#text")


def _old(text: str) -> Any:
    """The reader as it was: defusedxml's tree for the checks, xmltodict's for the members."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeET.ParseError, ValueError):
        return "parse"
    stack, nodes = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            return "complex"
        stack.extend((child, depth + 1) for child in node)
    if root.tag != "request":
        return "parse"
    names = [child.tag.lower() for child in root if child.tag.lower() in _FIELDS]
    if len(names) != len(set(names)):
        return "duplicate"
    tree = xmltodict.parse(text, strip_whitespace=False, disable_entities=True)
    return ("members", _simplify(tree["request"]))


def _new(text: str) -> Any:
    try:
        return ("members", read_request(text))
    except XmlRefused as refused:
        return refused.reason


_NAMES = st.sampled_from(
    ["user", "User", "auth", "command", "clTRID", "data", "test", "id", "ID", "p:id", "p:user", "x"]
)
_TEXT = st.sampled_from(
    ["", " ", "\n ", "tester", "a&amp;b", "&lt;x&gt;", "&#x41;&#66;", "<![CDATA[<raw>&]]>",
     "<!-- note -->", "<?pi data?>", "&undefined;", "é ü", "1286957874.1271.15706"]
)  # fmt: skip
_ATTRIBUTES = st.sampled_from(
    ["", ' a="1"', ' xmlns="urn:x"', ' xmlns:p="urn:p"', ' xmlns=""', ' p:a="2"', " a='&amp;'"]
)


@st.composite
def _element(draw: st.DrawFn, depth: int) -> str:
    name = draw(_NAMES)
    attributes = draw(_ATTRIBUTES)
    if depth <= 0 or draw(st.booleans()):
        return f"<{name}{attributes}>{draw(_TEXT)}</{name}>"
    children = draw(st.lists(_element(depth - 1), max_size=4))
    between = draw(_TEXT)
    return f"<{name}{attributes}>{between.join(children)}</{name}>"


@st.composite
def _documents(draw: st.DrawFn) -> str:
    depth = draw(st.integers(0, MAX_DEPTH + 2))
    children = draw(st.lists(_element(depth), max_size=6))
    root = draw(st.sampled_from(["request"] * 8 + ["Request", "p:request"]))
    attributes = draw(_ATTRIBUTES)
    inside = "\n ".join(children)
    document = f"<{root}{attributes}>\n {inside}\n</{root}>"
    prologue = draw(
        st.sampled_from(
            ["", "", "", '<?xml version="1.0" encoding="UTF-8"?>\n', "<!DOCTYPE request>",
             '<!DOCTYPE r [<!ENTITY e "x">]>', "<!-- before -->", " \n"]
        )
    )  # fmt: skip
    document = prologue + document + draw(st.sampled_from(["", "", "", "\n", "<junk/>", "text"]))
    if draw(st.integers(0, 9)):
        return document
    return document[: draw(st.integers(0, len(document)))]


def _deep(levels: int) -> str:
    return "<request>" + "<data>" * levels + "x" + "</data>" * levels + "</request>"


@settings(max_examples=500, deadline=None)
@given(_documents())
def test_reads_every_document_as_defusedxml_and_xmltodict_did(document: str) -> None:
    assert _new(document) == _old(document)


def test_reads_the_edges_of_the_bounds_as_before() -> None:
    wide = "<request>" + "<x/>" * MAX_NODES + "</request>"
    for document in (_deep(MAX_DEPTH - 1), _deep(MAX_DEPTH), wide, wide[:-3], _deep(50)[:-2]):
        assert _new(document) == _old(document)
    assert _new(_deep(MAX_DEPTH)) == "complex"
    assert _new(wide) == "complex"


def test_every_reason_to_refuse_has_its_own_code() -> None:
    # One document refused for each reason, and the code a WAPI client is answered.
    head = "<request><user>u</user><auth>a</auth><command>ping</command>"
    refused = {
        "parse": (head, Code.PARSE_ERROR),
        "complex": (_deep(MAX_DEPTH), Code.TOO_COMPLEX),
        "duplicate": (head + "<User>v</User></request>", Code.DUPLICATE_ELEMENT),
    }
    assert set(refused) == set(get_args(Reason))
    for reason, (document, code) in refused.items():
        assert _new(document) == reason
        with pytest.raises(WapiError) as answered:
            parse_request(Dialect.XML, document.encode(), "text/xml")
        assert answered.value.code is code
