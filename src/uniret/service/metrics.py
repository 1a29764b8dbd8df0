"""Prometheus metrics of one service instance (its own registry: two apps never share counts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class ServiceMetrics:
    """Requests by endpoint and status, request latency, and the size of each search batch."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "uniret_requests",
            "HTTP requests by route and status code",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "uniret_request_latency_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "uniret_batch_size",
            "queries per retriever call (one encoder forward for a dense index)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queries = Counter(
            "uniret_queries", "queries searched, by task", ["task"], registry=self.registry
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
