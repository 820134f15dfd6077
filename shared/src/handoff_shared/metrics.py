"""Prometheus metrics every service has, and the ways a service serves them.

Each service is its own process (or processes), so Prometheus's own `job` and `instance` labels
tell them apart; the metrics carry no service label. Intake's uvicorn workers share one page
through the client's multiprocess mode: `serve_from_workers` sets it up before they start.
"""

from __future__ import annotations

import os
import tempfile

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
    start_http_server,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

EVENTS_PUBLISHED = Counter(
    "handoff_events_published", "Events the outbox relay put on Kafka", ["topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "handoff_events_consumed",
    "Events taken from Kafka, by what became of them: processed, duplicate (already processed, "
    "skipped) or dead_lettered",
    ["topic", "outcome"],
)
# Read from the database every few seconds; every worker reads the same table, so the most
# recent reading is the value.
OUTBOX_PENDING = Gauge(
    "handoff_outbox_pending_events",
    "Events committed but not yet on Kafka",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "handoff_outbox_oldest_event_age_seconds",
    "How long the oldest event not yet on Kafka has waited (0 when none waits)",
    multiprocess_mode="mostrecent",
)


def exposition() -> tuple[bytes, str]:
    """The metrics page: this process's metrics, or all workers' in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        # The client leaves this constructor unannotated; it only registers itself.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def add_metrics_route(app: FastAPI) -> None:
    """`GET /metrics` on a service's HTTP app, for Prometheus to scrape."""

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, media_type = exposition()
        return Response(body, media_type=media_type)


def serve_from_workers() -> None:
    """Let worker processes started after this share one metrics page (a fresh directory for
    their values, named in the environment they inherit)."""
    os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="handoff-metrics-")


def serve_on_port(port: int) -> None:
    """Serve the metrics page on its own port, for a service without an HTTP app."""
    start_http_server(port)
