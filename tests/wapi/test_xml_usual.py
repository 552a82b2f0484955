"""The usual XML request read without a parser (`xml_request.usual_fields`) reads as
expat reads it: over many generated documents, usual ones and each changed in a few
places (markup, references, CDATA, blanks XML does not take, other spellings, orders,
prologues, encodings, cut short), whenever the pattern takes a document,
`read_request` reads the same fields from it."""

from hypothesis import given, settings
from hypothesis import strategies as st
from tidings.adapters.wapi.request import Dialect, WapiRequest, parse_request
from tidings.adapters.wapi.xml_request import read_request, usual_fields

_PLAIN = st.text(st.sampled_from(list("aZ09 .-_:;/=?!#\"'")), min_size=1, max_size=70)
# What each kind of piece of a usual document may be changed into.
_CHANGED = {
    "text": st.one_of(
        st.text(st.sampled_from(list("aZ09 <>&]\t\r\n\x0b\x7f\x00é\u2028")), max_size=8),
        st.sampled_from(["", "&amp;", "&#65;", "<![CDATA[x]]>", "<!-- c -->", "<?p d?>", "]]>"]),
    ),
    "blank": st.text(st.sampled_from(list(" \t\r\n\x0c\x0b\xa0x")), max_size=3),
    "outside": st.sampled_from(
        [" ", "\n", "\r\n", "\ufeff", "\x0c", '<?xml version="1.0"?>', "<!---->", "<?p?>", "x"]
    ),
}
_NAMES = ["user", "auth", "command", "clTRID"]


@st.composite
def _documents(draw: st.DrawFn) -> bytes:
    names = _NAMES if draw(st.booleans()) else _NAMES[:3]
    pieces: list[tuple[str, str]] = [("outside", ""), ("tag", "<request>")]
    for name in names:
        pieces.append(("blank", draw(st.sampled_from(["", " ", "\n ", "\r\n\t"]))))
        shown = draw(st.sampled_from([name] * 12 + [name.upper(), name.title()]))
        pieces += [("tag", f"<{shown}>"), ("text", draw(_PLAIN)), ("tag", f"</{shown}>")]
    pieces += [("blank", "\n"), ("tag", "</request>"), ("outside", "")]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(pieces) - 1))
        kind = pieces[at][0]
        if kind != "tag":
            pieces[at] = (kind, draw(_CHANGED[kind]))
    if draw(st.integers(0, 9)) == 0:  # two fields swapped
        pieces[3:6], pieces[7:10] = pieces[7:10], pieces[3:6]
    text = "".join(piece for _, piece in pieces)
    document = text.encode(draw(st.sampled_from(["utf-8"] * 9 + ["utf-16"])))
    if draw(st.integers(0, 19)):
        return document
    return document[: draw(st.integers(0, len(document)))]


@settings(max_examples=1000, deadline=None)
@given(_documents())
def test_what_the_pattern_takes_expat_reads_alike(document: bytes) -> None:
    fields = usual_fields(document)
    if fields:
        members = read_request(document.decode("utf-8"))
        expected = {name: fields[name.lower()] for name in _NAMES if name.lower() in fields}
        if "clTRID" in expected:
            expected["clTRID"] = expected["clTRID"] or None  # expat: no text, None
        assert members == expected


def test_the_usual_request_is_taken_by_the_pattern() -> None:
    head = "<request>\n <user>tester</user>\n <auth>0a1b</auth>\n <command>poll-req</command>\n"
    for clid, cltrid in ((" <clTRID>c-1</clTRID>\n", "c-1"), ("<clTRID></clTRID>", ""), ("", None)):
        document = f"{head}{clid}</request>\n".encode()
        assert usual_fields(document)
        request = parse_request(Dialect.XML, document, "text/xml")
        assert request == WapiRequest(user="tester", auth="0a1b", command="poll-req", cltrid=cltrid)
