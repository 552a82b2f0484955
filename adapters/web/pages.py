"""What every page shares: the templates (Jinja2, autoescaped), CSRF tokens, the
stylesheet, and `GET /docs`, the JSON API's reference rendered from its OpenAPI document."""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..http.api import openapi_document
from ..http.body import is_text
from ..visible import controls_shown

__all__ = [
    "Forbidden",
    "age",
    "checked_form",
    "csrf_token",
    "docs",
    "matches",
    "page",
    "redirect",
    "stylesheet",
]

_CSRF_FIELD = "csrf"
# Form bodies are small: a few settings at most.
_MAX_FORM = 64 * 1024


def age(then: datetime | None, now: datetime) -> str:
    """How long ago `then` was, for a person: "42 s", "3 min", "5 h", "2 d"."""
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _visible(value: object) -> object:
    """Each control character of a text (but tab and line breaks) shown as `\\xNN`,
    before it is escaped (HTML already made, a macro's, is left as it is)."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return controls_shown(value, "\t\n\r")
    return value


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("tidings.adapters.web", "templates"),
    autoescape=True,
    finalize=_visible,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _shown(value: object) -> str:
    if isinstance(value, bool):  # "yes" and "no", as the shell says them, not Python's
        return "yes" if value else "no"
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(str(item) for item in sorted(value, key=str)) or "-"
    return "-" if value is None else str(value)


_TEMPLATES.filters.update(when=_when, shown=_shown)


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The page `template` rendered with `values`; `request.state.csrf` (set by the
    session check) is the token its forms carry."""
    csrf = getattr(request.state, "csrf", "")
    body = _TEMPLATES.get_template(template).render(request=request, csrf=csrf, **values)
    return HTMLResponse(body, status)


_CSS = resources.files("tidings.adapters.web").joinpath("static/tidings.css").read_bytes()


async def stylesheet(_: Request) -> Response:
    return Response(_CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


def redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def csrf_token(key: bytes, bound_to: str) -> str:
    """The CSRF token every form posted within `bound_to` carries (an HMAC of a session id,
    or on sign-in of the pre-session cookie's value)."""
    return hmac.new(key, b"csrf\0" + bound_to.encode(), hashlib.sha256).hexdigest()


def matches(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, compared in constant time (any text given)."""
    # Bytes: compare_digest raises TypeError for a str outside ASCII.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class Forbidden(Exception):
    """A post refused before any of it is used: without the right CSRF token, with a
    field that is not Unicode text, or past the form's limits (64 fields of 64 KiB).
    Answered 403 with the error page, nothing done."""


async def checked_form(request: Request, key: bytes, bound_to: str) -> Mapping[str, str]:
    """The posted form, once its CSRF token matches `bound_to`'s and every field is
    Unicode text; raises `Forbidden` otherwise."""
    try:
        form = await request.form(max_files=0, max_fields=64, max_part_size=_MAX_FORM)
    except HTTPException as refused:  # past the limits: a field over 64 KiB, 65 fields
        raise Forbidden(f"the form is refused: {refused.detail}") from None
    given = form.get(_CSRF_FIELD)
    if not isinstance(given, str) or not bound_to or not matches(given, csrf_token(key, bound_to)):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page")
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    if not is_text(*fields, *fields.values()):
        raise Forbidden("the form holds text that is not Unicode: send it as UTF-8")
    return fields


def _type(schema: Any) -> str:
    """A schema's type as a person reads it: `string`, `integer[]`, `Account`, ..."""
    if not isinstance(schema, dict):  # JSON Schema's `true` / `false`
        return "any" if schema else "nothing"
    match schema:
        case {"$ref": ref}:
            return str(ref).rsplit("/", 1)[-1]
        case {"anyOf": options} | {"oneOf": options}:
            return " | ".join(map(_type, options))
        case {"type": "array", "prefixItems": items}:
            return "[" + ", ".join(map(_type, items)) + "]"
        case {"type": "array"}:
            return _type(schema.get("items", {})) + "[]"
        case {"enum": values}:
            return " | ".join(map(repr, values))
        case {"type": list(kinds)}:
            return " | ".join(map(str, kinds))
    return str(schema.get("type", "any"))


def _fields(schema: dict[str, Any]) -> list[tuple[str, str, bool, str]]:
    """(name, type, required, description) of each field of an object's schema."""
    required = set(schema.get("required", ()))
    return [
        (name, _type(sub), name in required, str(sub.get("description", "")))
        for name, sub in schema.get("properties", {}).items()
    ]


async def docs(request: Request) -> Response:
    """`GET /docs`: every route with its summary, parameters, body and answers, then
    every schema with its fields."""
    document = openapi_document()
    routes = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            answers = [
                (
                    status,
                    answer["description"],
                    _type(answer.get("content", {}).get("application/json", {}).get("schema", {})),
                )
                for status, answer in operation["responses"].items()
            ]
            routes.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "anchor": operation["operationId"],
                    "parameters": [(p["name"], p["in"]) for p in operation.get("parameters", [])],
                    "body": _type(body["schema"]) if body else None,
                    "answers": answers,
                }
            )
    schemas = [
        (name, str(schema.get("description", "")), _fields(schema))
        for name, schema in sorted(document["components"]["schemas"].items())
    ]
    return page(
        request,
        "docs.html",
        area=None,
        who=None,
        info=document["info"],
        routes=routes,
        schemas=schemas,
    )
