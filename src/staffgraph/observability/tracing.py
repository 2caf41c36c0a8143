"""W3C trace context: ``traceparent`` in, the request's trace id in every log line, and a
``traceparent`` out naming this server's span.

A valid inbound ``traceparent`` (https://www.w3.org/TR/trace-context/) continues its trace;
anything else starts a new one. With OpenTelemetry set up
(:mod:`staffgraph.observability.otel`) its server span is the one named, so that logs, the
response header and the exported spans agree; without it, span ids are made here and nothing
of OpenTelemetry is imported.
"""

from __future__ import annotations

import contextvars
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from staffgraph.http.headers import request_header_values

#: the trace of the request being served by this task, added to every record logged meanwhile
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "staffgraph_trace_id", default=None
)

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """The fields of a ``traceparent`` header (version 00)."""

    trace_id: str
    parent_id: str
    flags: str

    @property
    def header(self) -> str:
        """The header value."""
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The parsed header, or None when it breaks the specification's rules.

    Lowercase hex only; version ``ff`` and all-zero ids are invalid; version 00 has exactly four
    fields, while a later version may carry more after a dash (its first four are kept).
    """
    if value is None:
        return None
    match = _TRACEPARENT.match(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, parent_id, flags)


def new_trace_id() -> str:
    """16 random bytes, never all zero; from the ``random`` module, as OpenTelemetry's SDK
    makes them (see :func:`staffgraph.http.headers.new_request_id`)."""
    while (trace_id := f"{random.getrandbits(128):032x}") == _ZERO_TRACE:
        pass  # pragma: no cover
    return trace_id


def new_span_id() -> str:
    """8 random bytes, never all zero."""
    while (span_id := f"{random.getrandbits(64):016x}") == _ZERO_SPAN:
        pass  # pragma: no cover
    return span_id


#: set by the OpenTelemetry setup: the server span of the current request, as a TraceParent
current_span: Callable[[], TraceParent | None] | None = None
#: set by the OpenTelemetry setup: record a denied field as a span
on_denial: Callable[[str, str], None] | None = None


def denial_span(field: str, rule: str) -> None:
    """A span for a denied field, when OpenTelemetry is set up; else nothing."""
    if on_denial is not None:
        on_denial(field, rule)


def trace_parent_for(scope: Scope) -> TraceParent:
    """This server's span of the request: OpenTelemetry's server span when it is set up, else
    a new span continuing a valid inbound ``traceparent`` (or starting a new trace).

    :class:`staffgraph.http.edge.Edge` sets :data:`trace_id_var` and the scope state's
    ``trace_id`` from it, and answers with its ``traceparent``.
    """
    own = current_span() if current_span is not None else None
    if own is not None:
        return own
    # more than one traceparent header: the specification says to start anew
    values = request_header_values(scope, b"traceparent")
    inbound = parse_traceparent(values[0]) if len(values) == 1 else None
    trace_id = inbound.trace_id if inbound else new_trace_id()
    return TraceParent(trace_id, new_span_id(), inbound.flags if inbound else "00")
