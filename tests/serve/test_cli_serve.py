"""``uniret serve`` as a process: startup line, refusals, and SIGTERM finishing a request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.serve.conftest import Artifacts
from uniret.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_serve_needs_a_retriever(capsys) -> None:
    assert main(["serve"]) == 2
    assert "--index" in capsys.readouterr().err


def test_port_in_use_is_one_line_error(artifacts: Artifacts, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--index", str(artifacts.bm25), "--port", str(port)]) == 2
    assert f"can't listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_sigterm_finishes_the_request_in_flight_and_exits_0(artifacts: Artifacts) -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("UNIRET_API_KEY", None)
    command = [sys.executable, "-m", "uniret.cli", "-q", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--index", str(artifacts.bm25)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "serving bm25 on http://127.0.0.1:" in line, proc.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        body = json.dumps({"queries": ["Warsaw river"], "k": 2}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            # the request is in flight: the server has read its headers and the app waits for
            # the body (it asks for it with "100 Continue"; a fixed sleep raced a busy machine)
            conn.sendall(
                b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            interim = b""
            while b"\r\n\r\n" not in interim:
                chunk = conn.recv(1)
                assert chunk, interim
                interim += chunk
            assert interim.startswith(b"HTTP/1.1 100"), interim
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None  # still answering it
            conn.sendall(body)
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        head, _, payload = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), response
        assert json.loads(payload)["results"][0]["query"] == "Warsaw river"
        assert proc.wait(timeout=30) == 0
        assert "stopped" in proc.stdout.read()
        with socket.socket() as probe:  # nothing listens there any more
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_listening_socket_is_tcp_with_nodelay() -> None:
    """asyncio turns Nagle off only on connections whose socket names IPPROTO_TCP: without it
    every keep-alive response waited ~40 ms for the client's delayed ACK."""
    from uniret.service.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()
