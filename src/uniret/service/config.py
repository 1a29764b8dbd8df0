"""Limits and options of the search service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceConfig:
    """How the service batches queries and what it refuses.

    ``max_batch`` queries (or ``max_wait_ms`` after the first one arrives, whichever comes
    first) are encoded in one forward; ``max_batch=1`` runs one forward per request.
    Requests beyond the caps get a 4xx: ``max_k`` passages per query, ``max_query_chars`` per
    query, ``max_queries`` per POST, ``max_body_bytes`` per body. ``api_key`` (when set) is
    required on every endpoint but ``/health``, the page and the docs; ``cors_origins`` allows
    browser calls from those origins (none by default).
    """

    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_k: int = 1000
    max_query_chars: int = 2000
    max_queries: int = 256
    max_body_bytes: int = 1 << 20
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_k", "max_query_chars", "max_queries", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must not be empty")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
