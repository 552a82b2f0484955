"""`GET /docs`: the JSON API's reference, a page rendered on the server from the same
OpenAPI document `/openapi.json` serves (`http.openapi`): every route with its summary,
parameters, body and answers, then every schema with its fields."""

from dataclasses import dataclass
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..http.openapi import openapi_document
from .pages import page

__all__ = ["docs_route"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


def _type(schema: Any) -> str:
    """A schema's type as a person reads it: `string`, `integer[]`, `Account`, ..."""
    if not isinstance(schema, dict):  # JSON Schema's `true` / `false`
        return "any" if schema else "nothing"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(option) for option in schema[key])
    kind = schema.get("type", "any")
    if kind == "array" and "prefixItems" in schema:
        return "[" + ", ".join(_type(item) for item in schema["prefixItems"]) + "]"
    if kind == "array":
        return _type(schema.get("items", {})) + "[]"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    if isinstance(kind, list):
        return " | ".join(map(str, kind))
    return str(kind)


def _fields(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", ()))
    return [
        Field(name, _type(sub), name in required, str(sub.get("description", "")))
        for name, sub in schema.get("properties", {}).items()
    ]


def _reference() -> dict[str, Any]:
    document = openapi_document()
    routes = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            answers = [
                (status, answer["description"],
                 _type(answer.get("content", {}).get("application/json", {}).get("schema", {})))
                for status, answer in operation["responses"].items()
            ]  # fmt: skip
            routes.append({
                "method": method.upper(), "path": path, "summary": operation["summary"],
                "anchor": operation["operationId"],
                "parameters": [(p["name"], p["in"]) for p in operation.get("parameters", [])],
                "body": _type(body["schema"]) if body else None, "answers": answers,
            })  # fmt: skip
    schemas = [
        (name, str(schema.get("description", "")), _fields(schema))
        for name, schema in sorted(document["components"]["schemas"].items())
    ]
    return {"info": document["info"], "routes": routes, "schemas": schemas}


async def _serve(request: Request) -> Response:
    return page(request, "docs.html", area=None, who=None, **_reference())


def docs_route(middleware: list[Middleware]) -> Route:
    return Route("/docs", _serve, methods=["GET"], middleware=middleware)
