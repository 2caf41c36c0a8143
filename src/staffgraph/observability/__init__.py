"""What the API tells the people who run it: Prometheus metrics, W3C trace context and, with
the ``otel`` extra, OpenTelemetry spans."""
