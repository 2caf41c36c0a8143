"""Whether to set up OpenTelemetry: only with an OTLP endpoint configured and the ``otel`` extra
installed. Without an endpoint nothing of :mod:`staffgraph.observability.otel` (or of
OpenTelemetry, for that matter) is imported from here."""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette

log = logging.getLogger("staffgraph.observability")


def otlp_configured() -> bool:
    """Whether the environment names an OTLP endpoint for traces."""
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def instrument(app: Starlette) -> bool:
    """Set up OpenTelemetry for ``app`` when an OTLP endpoint is configured and the ``otel``
    extra is installed; whether it was. Without an endpoint nothing of it is imported."""
    if not otlp_configured():
        return False
    try:
        from staffgraph.observability import otel
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed "
            "(pip install 'staffgraph[otel]'): no spans are exported"
        )
        return False
    otel.setup(app)
    return True
