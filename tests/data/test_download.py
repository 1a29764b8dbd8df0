"""KILT download against a real HTTP server on loopback (no internet needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from uniret.cli import main
from uniret.data.download import DownloadError, FileRequest, download, kilt_requests

FILES = {
    "/nq-dev-kilt.jsonl": b'{"id": "1", "input": "q"}\n' * 4000,
    "/nq-train-kilt.jsonl": b'{"id": "2", "input": "r"}\n' * 10,
}


class Handler(BaseHTTPRequestHandler):
    """Serves FILES with Range support; ``cut_after`` drops the connection mid-body once."""

    cut_after: int | None = None
    requests: list[str | None] = []  # noqa: RUF012 - shared log of Range headers

    def do_GET(self) -> None:
        body = FILES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if type(self).cut_after is not None:
            payload = payload[: type(self).cut_after]
            type(self).cut_after = None
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.cut_after = None
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_interrupted_download_resumes_with_range(server: str, tmp_path: Path) -> None:
    request = FileRequest(f"{server}/nq-dev-kilt.jsonl", tmp_path / "nq-dev-kilt.jsonl")
    Handler.cut_after = 1000
    with pytest.raises(DownloadError, match="rerun to resume"):
        download(request)
    assert not request.dest.exists()
    assert (tmp_path / "nq-dev-kilt.jsonl.part").stat().st_size == 1000
    download(request)
    assert request.dest.read_bytes() == FILES["/nq-dev-kilt.jsonl"]
    assert Handler.requests == [None, "bytes=1000-"]
    assert not (tmp_path / "nq-dev-kilt.jsonl.part").exists()


def test_missing_file_is_a_clear_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(FileRequest(f"{server}/nope.jsonl", tmp_path / "nope.jsonl"))
    assert list(tmp_path.iterdir()) == []


def test_cli_downloads_requested_tasks_and_splits(server: str, tmp_path: Path) -> None:
    code = main(
        [
            "-q",
            "data",
            "download",
            "kilt",
            "--tasks",
            "nq",
            "--splits",
            "train,dev",
            "--out",
            str(tmp_path),
            "--base-url",
            server,
        ]
    )
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "nq-dev-kilt.jsonl",
        "nq-train-kilt.jsonl",
    ]
    assert (
        main(
            [
                "-q",
                "data",
                "download",
                "kilt",
                "--tasks",
                "nq",
                "--splits",
                "dev",
                "--out",
                str(tmp_path),
                "--base-url",
                server,
            ]
        )
        == 0
    )  # present: skipped
    assert len(Handler.requests) == 2


def test_unknown_kilt_task() -> None:
    with pytest.raises(DownloadError, match="unknown KILT task 'nope'"):
        kilt_requests(["nope"], ["dev"], "x")
