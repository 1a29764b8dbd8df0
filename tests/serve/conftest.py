"""Real indexes of the fixture corpus (BM25 and a tiny dense model) and real servers on free
loopback ports, shared by the service tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PAGES, write_jsonl
from uniret.retrieval.base import Retriever

# a page whose title and text hold markup: the page must show it as text
MARKUP_PAGE = {
    "wikipedia_id": "16",
    "wikipedia_title": "Markup <b>bold</b>",
    "text": [
        "Markup <b>bold</b>",
        "Warsaw markup test <script>window.pwned = 1</script> and <img src=x onerror=alert(1)>.",
    ],
}


@dataclass(frozen=True)
class Artifacts:
    passages: Path
    bm25: Path
    dense: Path


@dataclass
class Running:
    """A uvicorn server in a thread; ``url`` is its base address."""

    url: str
    retriever: Retriever
    server: object
    thread: threading.Thread


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Artifacts:
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import PassageStore, build_passage_store
    from uniret.index.bm25 import build_bm25_index
    from uniret.index.dense import build_dense_index
    from uniret.index.encode import EncodeConfig, encode_shard
    from uniret.models.biencoder import BiEncoder

    root = tmp_path_factory.mktemp("serve")
    knowledge = write_jsonl(root / "knowledge.jsonl", [*PAGES, MARKUP_PAGE])
    build_passage_store(knowledge, root / "passages", ChunkConfig(words=8))
    store = PassageStore(root / "passages")
    build_bm25_index(store, root / "bm25")
    model = BiEncoder.from_pretrained(tiny_model, pooling="mean", normalize=True)
    model.save(root / "model")
    encode_shard(model, str(root / "model"), store, root / "emb", config=EncodeConfig(batch_size=8))
    build_dense_index(root / "emb", root / "dense")
    return Artifacts(root / "passages", root / "bm25", root / "dense")


def start_server(indexes: list[Path], **config: object) -> Running:
    """Open the retriever, start the app on a free loopback port, wait until it answers."""
    import uvicorn

    from uniret.retrieval.bundle import RetrieverBundle
    from uniret.retrieval.loader import open_bundle
    from uniret.service import ServiceConfig, ServiceInfo, create_app
    from uniret.service.server import bind

    bundle = RetrieverBundle(name="+".join(p.name for p in indexes), indexes=tuple(indexes))
    retriever = open_bundle(bundle)
    app = create_app(retriever, ServiceInfo.from_bundle(bundle), ServiceConfig(**config))
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return Running(f"http://127.0.0.1:{port}", retriever, server, thread)


def stop_server(running: Running) -> None:
    running.server.should_exit = True  # type: ignore[attr-defined]
    running.thread.join(timeout=30)


# small caps, so each refusal is cheap to provoke
LIMITS = {"max_query_chars": 200, "max_queries": 8, "max_body_bytes": 4096, "max_wait_ms": 20.0}


@pytest.fixture(scope="session")
def hybrid(artifacts: Artifacts) -> Iterator[Running]:
    """BM25 + dense (weighted fusion) behind the service."""
    running = start_server([artifacts.bm25, artifacts.dense], **LIMITS)
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def keyed(artifacts: Artifacts) -> Iterator[Running]:
    """BM25 behind the service, with an API key."""
    running = start_server([artifacts.bm25], api_key="s3cret-key")
    yield running
    stop_server(running)
