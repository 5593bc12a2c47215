"""Prometheus metrics on a port of their own (``LEVIER_METRICS_PORT``), never on the public one.

The API's request metrics (Litestar's Prometheus middleware) and the process metrics go to
prometheus_client's registry; a small HTTP server in a daemon thread serves them. Kubernetes
scrapes the pod's metrics port, which no Service or Ingress routes to from outside.
"""

from __future__ import annotations

import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from backend.config import Settings


def start_metrics_server(
    settings: Settings, *, multiprocess_dir: Path | None = None
) -> tuple[WSGIServer, threading.Thread] | None:
    """Serve ``/metrics`` on ``metrics_host:metrics_port`` (nothing when no port is set).

    ``multiprocess_dir``: the folder where several API processes write their metrics
    (prometheus_client's multiprocess mode); this process then serves their sum.
    """
    if settings.metrics_port is None:
        return None
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
