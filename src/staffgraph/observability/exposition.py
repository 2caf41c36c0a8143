"""``GET /metrics``: the Prometheus text format, for the holder of ``METRICS_TOKEN`` only.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``serve --workers N``), whichever worker answers reads
every worker's files through prometheus-client's ``MultiProcessCollector``; the live-gauge
files of workers that have died are dropped first, so that their open subscriptions stop
counting. The availability gauges are measured at each scrape.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from staffgraph.http.responses import graphql_error_response
from staffgraph.observability import metrics
from staffgraph.observability.multiprocess import ENV

log = logging.getLogger("staffgraph.observability")

PATH = "/metrics"
CHECK_TIMEOUT_SECONDS = 2.0
_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def authorized(headers: Headers, token: str) -> bool | None:
    """None without an ``Authorization`` header, else whether it is ``Bearer <token>``."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, given = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def answer(scope: Scope, receive: Receive, send: Send, token: str) -> bool:
    """Answer a request for ``/metrics`` carrying an ``Authorization`` header: 401 or the
    metrics. False, answering nothing, when it carries none (the app's 404 follows)."""
    allowed = authorized(Headers(scope=scope), token)
    if allowed is None:
        return False
    if not allowed:
        response: Response = graphql_error_response(
            401,
            "UNAUTHENTICATED",
            "Authentication required",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            reason="invalid_token",
        )
    else:
        await measure_services(scope.get("app"))
        body = await asyncio.to_thread(render)
        response = Response(body, media_type=CONTENT_TYPE_LATEST)
    await response(scope, receive, send)
    return True


async def measure_services(app: Any) -> None:
    """Set ``staffgraph_service_up`` for the database and, when configured, Redis."""
    from tortoise import connections

    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await connections.get("default").execute_query("SELECT 1")
        database_up = 1
    except Exception:  # the gauge says it; the reason goes to the log
        log.warning("metrics: database did not answer", exc_info=True)
        database_up = 0
    metrics.SERVICE_UP.labels(service="database").set(database_up)
    services = getattr(getattr(app, "state", None), "services", None)
    if services is not None:
        redis_up = await services.redis_ready()
        if redis_up is not None:
            metrics.SERVICE_UP.labels(service="redis").set(1 if redis_up else 0)


def render() -> bytes:
    """The text format of every metric, over all workers in multiprocess mode."""
    directory = os.environ.get(ENV)
    if not directory:
        return generate_latest(REGISTRY)
    forget_dead_workers(Path(directory))
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_dead_workers(directory: Path) -> None:
    """Drop the live-gauge values of worker processes that no longer run."""
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(path.name)
        if match and not _alive(int(match.group(1))):
            prometheus_multiprocess.mark_process_dead(int(match.group(1)), str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
