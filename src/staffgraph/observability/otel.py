"""OpenTelemetry for staffgraph (the ``otel`` extra): imported only when an OTLP endpoint is
configured (:func:`staffgraph.observability.tracing.instrument`).

- the ASGI instrumentation's server span around every request, outermost, so that
  ``traceparent`` (its propagator's) continues the caller's trace;
- an operation span (``query Name``) around each GraphQL operation, from a schema extension;
- a client span per database call: Tortoise has no query hooks, so the execute methods of its
  SQLite and asyncpg clients are wrapped (only the statement's verb is recorded, never its text
  or parameters);
- a span for each guarded field that denies, named after the field, with the rule.

Spans go over OTLP (HTTP/protobuf; the exporter reads the ``OTEL_EXPORTER_OTLP_*`` variables).
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from strawberry.extensions import SchemaExtension

from staffgraph.observability import tracing

_tracer: trace.Tracer | None = None
_in_database_span: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "staffgraph_in_database_span", default=False
)
_DATABASE_METHODS = (
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
)


def setup(app: Starlette, processor: SpanProcessor | None = None) -> TracerProvider:
    """Instrument ``app``; spans go to ``processor`` (by default a batch OTLP exporter, and the
    provider becomes the global one)."""
    global _tracer
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "staffgraph"}
    provider = TracerProvider(resource=Resource.create(attributes))
    if processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer("staffgraph")
    # outermost: the server span exists before the trace context and the access log run
    app.add_middleware(
        OpenTelemetryMiddleware, tracer_provider=provider, exclude_spans=["receive", "send"]
    )
    for route in app.routes:
        schema = getattr(getattr(route, "endpoint", None), "schema", None)
        if schema is not None and OperationSpan not in schema.extensions:
            schema.extensions = [*schema.extensions, OperationSpan]
    _instrument_database()
    tracing.current_span = _current_span
    tracing.on_denial = _denial
    return provider


def teardown() -> None:
    """Stop recording spans (for tests: the hooks are process-wide)."""
    global _tracer
    _tracer = None
    tracing.current_span = None
    tracing.on_denial = None


def _current_span() -> tracing.TraceParent | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return tracing.TraceParent(
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        format(int(context.trace_flags), "02x"),
    )


def _denial(field: str, rule: str) -> None:
    if _tracer is not None:
        attributes: dict[str, str | bool] = {
            "staffgraph.field": field,
            "staffgraph.rule": rule,
            "staffgraph.denied": True,
        }
        _tracer.start_span(f"denied {field}", attributes=attributes).end()


class OperationSpan(SchemaExtension):
    """A span around one GraphQL operation, named ``<type> <operation name>``."""

    def on_operation(self) -> Iterator[None]:
        if _tracer is None:
            yield
            return
        with _tracer.start_as_current_span("graphql.operation") as span:
            yield
            ctx = self.execution_context
            try:
                kind, name = ctx.operation_type.value, ctx.operation_name or "-"
            except Exception:  # a document that did not parse has neither
                kind, name = "unknown", "-"
            span.update_name(f"{kind} {name}")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("graphql.operation.name", name)


def _instrument_database() -> None:
    from tortoise.backends.sqlite import client as sqlite

    from staffgraph.sqlite_client import ImmediateSqliteClient

    clients: list[tuple[type, str]] = [
        (ImmediateSqliteClient, "sqlite"),  # its reads may not reach SqliteClient's methods
        (sqlite.SqliteClient, "sqlite"),
        (sqlite.SqliteTransactionWrapper, "sqlite"),
    ]
    try:
        from tortoise.backends.asyncpg import client as asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass
    else:
        clients += [
            (asyncpg.AsyncpgDBClient, "postgresql"),
            (asyncpg.TransactionWrapper, "postgresql"),
        ]
    for cls, system in clients:
        for name in _DATABASE_METHODS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_staffgraph_traced", False):
                setattr(cls, name, _traced(method, system))


def _traced(method: Callable[..., Awaitable[Any]], system: str) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def traced(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if _tracer is None or _in_database_span.get():
            return await method(self, query, *args, **kwargs)
        verb = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
        verb = verb if verb.isalpha() and len(verb) <= 20 else "SQL"
        token = _in_database_span.set(True)
        try:
            with _tracer.start_as_current_span(
                f"db {verb}",
                kind=trace.SpanKind.CLIENT,
                attributes={"db.system": system, "db.operation": verb},
            ):
                return await method(self, query, *args, **kwargs)
        finally:
            _in_database_span.reset(token)

    traced._staffgraph_traced = True  # type: ignore[attr-defined]
    return traced
