"""The Prometheus metrics of the API (API.md §6), and one function per thing that is counted.

Every name starts ``staffgraph_``; every label value is bounded (see
:mod:`staffgraph.observability.labels`). Under ``serve --workers N`` prometheus-client's
multiprocess mode is on (:mod:`staffgraph.observability.multiprocess`): gauges then say how
the workers' values combine.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from staffgraph.observability import labels, tracing

REQUEST_DURATION = Histogram(
    "staffgraph_request_duration_seconds",
    "Time to answer an HTTP request, by GraphQL operation name and type "
    "(type `http` for requests that are not GraphQL operations).",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESPONSES = Counter(
    "staffgraph_responses",
    "HTTP responses by status and by each error code they carry (`none`: no error).",
    ["status", "code"],
)
DENIALS = Counter(
    "staffgraph_denials",
    "FORBIDDEN answers of guarded fields and mutations, by field and rule.",
    ["field", "rule"],
)
SIGNINS = Counter(
    "staffgraph_signins",
    "Password sign-ins by outcome: success, failure, rate_limited.",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "staffgraph_rate_limited",
    "Refusals by a rate limit: `request` (RATE_LIMIT, HTTP 429) or `signin`.",
    ["limit"],
)
REVOCATIONS = Counter("staffgraph_revocations", "Sessions revoked (sign-out, reuse, admin).")
SUBSCRIPTIONS_OPEN = Gauge(
    "staffgraph_subscriptions_open",
    "GraphQL subscriptions being served, over all workers.",
    multiprocess_mode="livesum",
)
SERVICE_UP = Gauge(
    "staffgraph_service_up",
    "Whether a service answered when the metrics were last scraped (1) or not (0); "
    "redis appears only when configured.",
    ["service"],
    multiprocess_mode="mostrecent",
)

SIGNIN_OUTCOMES = frozenset({"success", "failure", "rate_limited"})
OPERATION_TYPES = frozenset({"query", "mutation", "subscription", "mixed", "unknown"})


def signin(outcome: str) -> None:
    """Count one password sign-in: ``success``, ``failure`` or ``rate_limited``."""
    SIGNINS.labels(outcome=outcome if outcome in SIGNIN_OUTCOMES else labels.OTHER).inc()
    if outcome == "rate_limited":
        RATE_LIMITED.labels(limit="signin").inc()


def request_refused() -> None:
    """Count one request refused with 429 by the request rate limit."""
    RATE_LIMITED.labels(limit="request").inc()


def denial(field: str, rule: str) -> None:
    """Count one FORBIDDEN denial of ``field`` by ``rule`` (schema names, never values)."""
    DENIALS.labels(field=labels.field_names(field), rule=labels.rule_labels(rule)).inc()
    tracing.denial_span(field, rule)


def revocations(count: int) -> None:
    """Count ``count`` revoked sessions."""
    if count > 0:
        REVOCATIONS.inc(count)


def subscription_opened() -> None:
    """One more subscription is being served."""
    SUBSCRIPTIONS_OPEN.inc()


def subscription_closed() -> None:
    """One subscription less."""
    SUBSCRIPTIONS_OPEN.dec()


#: the series of every request, by what their labels are made from: ``labels()`` validates and
#: looks its values up under a lock each time, a few percent of a cheap request. Bounded: the
#: inputs of operation names are the clients' (their labels are bounded anyway).
_responses: dict[tuple[int, str | None], Any] = {}
_durations: dict[tuple[str | None, str | None], Any] = {}
MAX_REMEMBERED_SERIES = 1024


def response(status: int, codes: set[str]) -> None:
    """Count one answered request, once per distinct error code it carries (``none``: no
    error)."""
    for code in codes or (None,):
        series = _responses.get((status, code))
        if series is None:
            label = "none" if code is None else labels.error_codes(code)
            series = RESPONSES.labels(status=str(status), code=label)
            if len(_responses) < MAX_REMEMBERED_SERIES:
                _responses[(status, code)] = series
        series.inc()


def request_duration(operation: str | None, kind: str | None, seconds: float) -> None:
    """The time one request took, by its operation name and type (``http``: no operation)."""
    series = _durations.get((operation, kind))
    if series is None:
        series = REQUEST_DURATION.labels(
            operation=labels.operation_label(operation) if kind else "",
            type=kind if kind in OPERATION_TYPES else "http" if kind is None else labels.OTHER,
        )
        if len(_durations) < MAX_REMEMBERED_SERIES:
            _durations[(operation, kind)] = series
    series.observe(seconds)
