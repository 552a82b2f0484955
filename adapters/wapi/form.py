"""The WAPI request document inside an HTTP body: form field `request`, or the raw body.

The field's value is returned as the exact bytes the client sent, so the caller judges
its encoding (starlette's form parser would hide a 2102 behind replacement characters).
"""

from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from tidings.domain import Code

__all__ = ["FormError", "request_document"]

FIELD = b"request"
# A raw document starts with one of these (after blanks): XML markup or a JSON object.
_RAW_STARTS = (b"<", b"{", b"[")


class FormError(Exception):
    """No usable document; `code` is the WAPI code to answer."""

    def __init__(self, code: Code) -> None:
        super().__init__(code.text)
        self.code = code


def _urlencoded_fields(body: bytes) -> list[tuple[bytes, bytes]]:
    # latin-1 maps every byte to one character and back, so the values keep their bytes.
    pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class _Parts:
    def __init__(self) -> None:
        self.fields: list[tuple[bytes, bytes]] = []
        self._header_name = b""
        self._header_value = b""
        self._name = b""
        self._data = bytearray()
        self.ended = False

    def on_end(self) -> None:
        self.ended = True

    def on_part_begin(self) -> None:
        self._name, self._data = b"", bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            self._name = options.get(b"name", b"")
        self._header_name, self._header_value = b"", b""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def on_part_end(self) -> None:
        self.fields.append((self._name, bytes(self._data)))


def _multipart_fields(body: bytes, boundary: bytes) -> list[tuple[bytes, bytes]]:
    parts = _Parts()
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": parts.on_part_begin,
                "on_header_field": parts.on_header_field,
                "on_header_value": parts.on_header_value,
                "on_header_end": parts.on_header_end,
                "on_part_data": parts.on_part_data,
                "on_part_end": parts.on_part_end,
                "on_end": parts.on_end,
            },
        )
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as error:
        raise FormError(Code.PARSE_ERROR) from error
    if not parts.ended:  # truncated: the closing boundary never came
        raise FormError(Code.PARSE_ERROR)
    return parts.fields


def request_document(body: bytes, content_type: str) -> bytes:
    """The value of a form body's single `request` field, else the body itself.
    FormError: 2009 empty or no `request`, 2004 two of them, 2000 a broken multipart."""
    # A type without "form" in it is neither form type: no need to parse it.
    mime, options = (
        parse_options_header(content_type) if "form" in content_type.lower() else (b"", {})
    )
    if mime == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise FormError(Code.PARSE_ERROR)
        fields = _multipart_fields(body, boundary)
    elif mime == b"application/x-www-form-urlencoded" and not body.lstrip().startswith(_RAW_STARTS):
        fields = _urlencoded_fields(body)
    else:
        if not body or body.isspace():  # blanks only: `strip` without a copy of the body
            raise FormError(Code.EMPTY_REQUEST)
        return body
    documents = [value for name, value in fields if name == FIELD]
    if len(documents) > 1:
        raise FormError(Code.DUPLICATE_ELEMENT)
    if not documents or not documents[0].strip():
        raise FormError(Code.EMPTY_REQUEST)
    return documents[0]
