"""`GET /openapi.json`: the JSON API's document, generated from its route table and the
very types its handlers decode and encode (`msgspec.json.schema_components`).
"""

import re
from functools import cache
from http import HTTPStatus
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .api import ENDPOINTS
from .api_types import ApiError

__all__ = ["openapi_document", "openapi_route"]

_REF = "#/components/schemas/{name}"
_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ENDPOINTS` (JSON Schema 2020-12 schemas)."""
    types = [ApiError, *(t for e in ENDPOINTS for t in (e.answer, e.body) if t is not None)]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    schema_of = dict(zip(map(id, types), schemas, strict=True))
    error = schema_of[id(ApiError)]
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", endpoint.path)  # starlette's {key:path}
        answers = [(endpoint.status, schema_of[id(endpoint.answer)])]
        responses = {
            str(status): {"description": HTTPStatus(status).phrase, **_json(schema)}
            for status, schema in [*answers, *((status, error) for status in _ERRORS)]
        }
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "operationId": f"{endpoint.method.lower()}{re.sub(r'[^A-Za-z]+', '_', path)}",
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"\{(\w+)\}", path)
            ]
            + [
                {"name": name, "in": "query", "required": False, "schema": {"type": "integer"}}
                for name in endpoint.query
            ],
            "responses": responses,
            "security": [{"bearer": []}],
        }
        if endpoint.body is not None:
            operation["requestBody"] = {"required": True, **_json(schema_of[id(endpoint.body)])}
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tidings JSON API",
            "version": "1",
            "description": "Accounts, operations and audit trails for backends. WAPI itself "
            "is served at POST /wapi/xml and /wapi/json, Merchants-style jobs at "
            "/merchants/products and /merchants/files.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def _serve(_: Request) -> Response:
    return Response(msgspec.json.encode(openapi_document()), media_type="application/json")


def openapi_route() -> Route:
    return Route("/openapi.json", _serve, methods=["GET"])
