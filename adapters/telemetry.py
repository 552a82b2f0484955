"""Traces over OpenTelemetry, when the `otel` extra is installed and the standard `OTEL_*`
variables ask for an exporter (`OTEL_TRACES_EXPORTER` `otlp` or `console`, or an
`OTEL_EXPORTER_OTLP_*ENDPOINT`; not `OTEL_SDK_DISABLED`); otherwise every call here
returns at its first check. Spans: `request` (HTTP), `command` (one of the group commit,
a child of its request), `commit` (a batch, linked to its commands), `attempt` (a push);
an ending and every attempt link to the request that accepted the operation, whichever
process runs them (`carried`, kept in the log). No password, token or URL in a span."""

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import Token
from typing import Any

from .logs import REQUEST_ID

__all__ = [
    "ON",
    "attempt",
    "carried",
    "close_request",
    "command",
    "commit",
    "flush",
    "inject",
    "link",
    "note",
    "parent",
    "request",
    "unmet",
]


def _exporters() -> list[str]:
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        named = "otlp"
    return [name for name in (n.strip() for n in named.split(",")) if name in ("otlp", "console")]


_EXPORTERS = _exporters()
ON = False
if _EXPORTERS:
    try:
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        ON = True
    except ImportError:  # the otel extra is not installed: nothing is traced
        pass

_OFF: AbstractContextManager[None] = nullcontext()
_made = threading.Lock()
_tracers: list["trace.Tracer"] = []
_providers: list["TracerProvider"] = []
_batch = threading.local()  # the span contexts of the commands of the batch being saved


def _tracer() -> "trace.Tracer":
    """This process's tracer, made at its first use (after any fork)."""
    if not _tracers:
        with _made:
            if not _tracers:
                named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "tidings"}
                provider = TracerProvider(resource=Resource.create(named))
                for name in _EXPORTERS:
                    exporter: SpanExporter = (
                        OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()
                    )
                    provider.add_span_processor(BatchSpanProcessor(exporter))
                _providers.append(provider)
                _tracers.append(provider.get_tracer("tidings"))
    return _tracers[0]


def unmet() -> str | None:
    """Why the tracing `OTEL_*` asks for is off (the extra is missing), or None."""
    if _EXPORTERS and not ON:
        return "OTEL_* asks for traces but the otel extra is not installed: nothing is traced"
    return None


def flush() -> None:
    """Export the spans still waiting (blocks; at a server's stop)."""
    for provider in _providers:
        provider.force_flush()


def _attributes(fields: Mapping[str, object]) -> dict[str, str | int]:
    return {
        f"tidings.{key}": value if isinstance(value, int) else str(value)
        for key, value in fields.items()
        if value is not None
    }


def carried() -> dict[str, str] | None:
    """What an accepted operation keeps of its request: its id and, while tracing, its
    span's `traceparent`; None when there is neither."""
    kept: dict[str, str] = {}
    if ON:
        TraceContextTextMapPropagator().inject(kept)
    request = REQUEST_ID.get()
    if request is not None:
        kept["request_id"] = request
    return kept or None


def _linked(kept: Mapping[str, str] | None) -> "trace.SpanContext | None":
    if not kept or "traceparent" not in kept:
        return None
    found = trace.get_current_span(TraceContextTextMapPropagator().extract(kept))
    context = found.get_span_context()
    return context if context.is_valid else None


def link(kept: Mapping[str, str] | None) -> None:
    """Link the current span to the request that `carried` `kept`."""
    if ON and (linked := _linked(kept)) is not None:
        trace.get_current_span().add_link(linked)


def note(**fields: object) -> None:
    """Set `tidings.<name>` attributes on the current span (None values left out)."""
    if ON:
        trace.get_current_span().set_attributes(_attributes(fields))


def inject(headers: dict[str, str]) -> None:
    """Add the current span's `traceparent` (and `tracestate`) to outgoing `headers`."""
    if ON:
        TraceContextTextMapPropagator().inject(headers)


Request = tuple["trace.Span", "Token[otel_context.Context]"]


def request(scope: Mapping[str, Any]) -> Request | None:
    """Start the current span of an ASGI HTTP request, a child of the caller's
    `traceparent`; end it with `close_request`. None when not tracing."""
    if not ON:
        return None
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name in (b"traceparent", b"tracestate")
    }
    caller = TraceContextTextMapPropagator().extract(headers)
    span = _tracer().start_span(
        scope["method"],
        context=caller,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
    )
    return span, otel_context.attach(trace.set_span_in_context(span, caller))


def close_request(
    traced: Request | None, scope: Mapping[str, Any], fields: Mapping[str, object]
) -> None:
    """End the span `request` started, named for its route, with the access line's
    `fields`."""
    if traced is None:
        return
    span, token = traced
    route = getattr(scope.get("route"), "path", None) or scope["path"]
    span.update_name(f"{scope['method']} {route}")
    span.set_attribute("http.route", route)
    status = fields.get("status")
    if isinstance(status, int):
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.StatusCode.ERROR)
    span.set_attributes(_attributes({k: v for k, v in fields.items() if k != "status"}))
    otel_context.detach(token)
    span.end()


def parent() -> "otel_context.Context | None":
    """The context a command is queued from, None when not tracing."""
    return otel_context.get_current() if ON else None


def _name(body: Callable[..., object]) -> str:
    """The use case a body belongs to: `Operations.accept.<locals>.body` -> `accept`."""
    parts = getattr(body, "__qualname__", "command").split(".")
    return parts[-3] if len(parts) >= 3 and parts[-2] == "<locals>" else parts[-1]


def command(
    body: Callable[..., object], queued_from: "otel_context.Context | None"
) -> AbstractContextManager[object]:
    """The span of one command's body, a child of the context it was queued from."""
    if queued_from is None:
        return _OFF
    span = _tracer().start_span(f"tidings {_name(body)}", context=queued_from)
    links = getattr(_batch, "links", None)
    if links is not None:
        links.append(span.get_span_context())
    return trace.use_span(span, end_on_exit=True)


@contextmanager
def _commit(commands: int) -> Iterator[None]:
    links: list[trace.SpanContext] = []
    _batch.links = links
    # A root: the leader may be a request's thread, whose span this batch is not part of.
    with _tracer().start_as_current_span(
        "tidings commit", context=otel_context.Context(), attributes={"tidings.commands": commands}
    ) as span:
        try:
            yield
        finally:
            _batch.links = None
            for linked in links:
                span.add_link(linked)


def commit(commands: int) -> AbstractContextManager[None]:
    """The span of one batch of `commands` commands, linked to their spans."""
    return _commit(commands) if ON else _OFF


def attempt(kept: Mapping[str, str] | None, **fields: object) -> AbstractContextManager[object]:
    """The span of one delivery attempt, linked to the request that accepted the
    operation (`kept`: what it `carried`)."""
    if not ON:
        return _OFF
    linked = _linked(kept)
    return _tracer().start_as_current_span(
        "tidings attempt",
        context=otel_context.Context(),
        kind=trace.SpanKind.CLIENT,
        links=[trace.Link(linked)] if linked is not None else None,
        attributes=_attributes(fields),
    )
