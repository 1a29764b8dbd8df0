"""Run the app with uvicorn on an already bound socket; SIGTERM and ^C finish in-flight
requests, then stop."""

from __future__ import annotations

import signal
import socket
import threading

from fastapi import FastAPI


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on connections whose socket says IPPROTO_TCP;
    # without it a keep-alive response waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(
    app: FastAPI, sock: socket.socket, *, grace_s: float = 30.0, log_level: str = "info"
) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT; requests already received are
    answered (for up to ``grace_s`` seconds) before the process stops."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=grace_s,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    if threading.current_thread() is not threading.main_thread():
        server.run(sockets=[sock])
        return
    # uvicorn re-raises the signal that stopped it once it is done; a SIGTERM that it already
    # handled (requests answered, lifespan closed) then ends the command normally, not by death
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
