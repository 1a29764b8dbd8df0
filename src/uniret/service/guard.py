"""The ASGI layer in front of every endpoint: API key, body size cap, request metrics."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uniret.service.config import ServiceConfig
from uniret.service.metrics import ServiceMetrics

OPEN_PATHS = frozenset({"/", "/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
"""Paths served without the API key: liveness, the page and the API docs (no corpus data)."""


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request carries: ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""
    for name, value in headers:
        if name == b"x-api-key":
            return value
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return None


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """A whole JSON response."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="uniret"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class Guard:
    """Refuses requests without the API key (401) or with a body over the cap (413), and
    records each request's route, status and latency."""

    def __init__(self, app: ASGIApp, config: ServiceConfig, metrics: ServiceMetrics) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics
        self.key = config.api_key.encode() if config.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, sending)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(label, status, time.perf_counter() - started)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        if self.key is not None and scope["path"] not in OPEN_PATHS:
            given = presented_key(headers)
            if given is None or not hmac.compare_digest(given, self.key):
                await send_json(send, 401, {"error": "missing or wrong API key"})
                return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        cap = self.config.max_body_bytes
        too_large = {"error": f"request body over the limit of {cap} bytes"}
        for name, value in headers:
            if name == b"content-length" and not value.isdigit():
                await send_json(send, 400, {"error": "malformed Content-Length header"})
                return
            if name == b"content-length" and int(value) > cap:
                await send_json(send, 413, too_large)
                return
        body = bytearray()  # read whole (bodies are small JSON), counting as it comes
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > cap:
                await send_json(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)
