"""Prometheus metrics: request counts by route/status, latency histograms, characters scored.

One registry per app (tests run several apps in one process). With several uvicorn workers,
``PROMETHEUS_MULTIPROC_DIR`` is set by ``huashu serve`` and ``/metrics`` aggregates all workers.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("huashu_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("huashu_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.chars = Counter("huashu_chars_scored", "Characters of submitted text scored", registry=r)
        self.documents = Counter("huashu_documents_scored", "Documents scored", ["endpoint"], registry=r)
        self.spans = Counter("huashu_spans_found", "Device spans returned", ["label"], registry=r)
        self.rejected = Counter("huashu_rejected", "Requests rejected by the limits", ["reason"], registry=r)
        self.inflight = Gauge("huashu_inflight_requests", "Requests admitted (waiting or scoring)",
                              registry=r, multiprocess_mode="livesum")

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def record_result(self, endpoint: str, n_chars: int, result: dict[str, Any]) -> None:
        self.documents.labels(endpoint).inc()
        self.chars.inc(n_chars)
        for span in result.get("spans", ()):
            self.spans.labels(span["label"]).inc()


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP response by the matched route template (never the
    raw path, so unknown URLs cannot blow up label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(path, method, str(status["code"])).inc()
            self.metrics.latency.labels(path, method).observe(time.perf_counter() - start)
