"""The service over real indexes, through real HTTP on a loopback port."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import TASKS
from tests.serve.conftest import Artifacts, Running
from uniret.retrieval.predict import iter_predictions
from uniret.tasks.kilt import parse_example
from uniret.tasks.registry import get_task


def ids(hits: list) -> list[int]:
    return [h["passage_id"] if isinstance(h, dict) else h.passage_id for h in hits]


def test_health_and_info(hybrid: Running) -> None:
    assert httpx.get(f"{hybrid.url}/health").json() == {"status": "ok"}
    info = httpx.get(f"{hybrid.url}/info").json()
    store = hybrid.retriever.store
    assert info["indexes"] == ["bm25", "dense"] and info["components"] == ["bm25", "dense"]
    assert info["corpus"] == {
        "hash": store.corpus_hash,
        "passages": len(store),
        "pages": len(store.page_ranges),
    }
    assert info["model"] and "trex" in info["tasks"]
    assert {"uniret", "python", "fastapi", "uvicorn"} <= set(info["versions"])
    assert info["limits"]["max_batch"] == 64 and info["limits"]["api_key"] is False


def test_docs_are_served(hybrid: Running) -> None:
    assert httpx.get(f"{hybrid.url}/docs").status_code == 200
    paths = httpx.get(f"{hybrid.url}/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/kilt", "/v1/passages/{passage_id}", "/health"} <= set(paths)


def test_get_search_matches_the_retriever(hybrid: Running) -> None:
    body = httpx.get(f"{hybrid.url}/v1/search", params={"q": "Warsaw river", "k": 5}).json()
    assert body["query"] == "Warsaw river"
    expected = hybrid.retriever.search(["Warsaw river"], 5)[0]
    assert ids(body["hits"]) == ids(expected)
    first = body["hits"][0]
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    assert set(first) == {
        "rank", "score", "passage_id", "wikipedia_id", "title", "text", "components"
    }  # fmt: skip
    passage = hybrid.retriever.store.get(first["passage_id"])
    assert (first["title"], first["text"], first["wikipedia_id"]) == (
        passage.title,
        passage.text,
        passage.wikipedia_id,
    )
    # each component's own rank of the hit (1-based; None when outside its list)
    _, components = hybrid.retriever.search_components(["Warsaw river"], 5)
    bm25_rank = ids(components[0][0]).index(first["passage_id"]) + 1
    assert first["components"]["bm25"] == bm25_rank


def test_task_formats_the_query(hybrid: Running) -> None:
    query = "Marie Curie [SEP] place of birth"
    body = httpx.get(f"{hybrid.url}/v1/search", params={"q": query, "k": 4, "task": "trex"}).json()
    assert ids(body["hits"]) == ids(hybrid.retriever.search([query], 4, task="trex")[0])


def test_post_search(hybrid: Running) -> None:
    queries = ["Marie Curie", "polar bears", "Vistula river"]
    body = httpx.post(
        f"{hybrid.url}/v1/search", json={"queries": queries, "k": 3, "task": "hotpotqa"}
    ).json()
    assert [r["query"] for r in body["results"]] == queries
    expected = hybrid.retriever.search(queries, 3, task="hotpotqa")
    assert [ids(r["hits"]) for r in body["results"]] == [ids(e) for e in expected]


def test_kilt_predictions_match_retrieve(hybrid: Running) -> None:
    records = TASKS["trex-dev-kilt.jsonl"]
    response = httpx.post(
        f"{hybrid.url}/v1/kilt", json={"records": records, "task": "trex", "k": 3}
    )
    assert response.status_code == 200
    examples = [parse_example(r, "x", i) for i, r in enumerate(records, 1)]
    expected = list(iter_predictions(hybrid.retriever, examples, get_task("trex"), 3))
    assert response.json()["predictions"] == json.loads(json.dumps(expected))


def test_passages_and_pages(hybrid: Running) -> None:
    store = hybrid.retriever.store
    first, count = store.page_ranges["10"]
    assert count >= 2
    body = httpx.get(f"{hybrid.url}/v1/passages/{first + 1}").json()
    assert body["passage_id"] == first + 1 and body["wikipedia_id"] == "10"
    assert body["text"] == store.get(first + 1).text
    assert body["page"] == {
        "passages": count,
        "position": 2,
        "previous": first,
        "next": first + 2 if count > 2 else None,
    }
    page = httpx.get(f"{hybrid.url}/v1/pages/10").json()
    assert page["title"] == "Marie Curie"
    assert [p["passage_id"] for p in page["passages"]] == list(range(first, first + count))


def test_page_is_served(hybrid: Running) -> None:
    response = httpx.get(hybrid.url + "/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "innerHTML" not in response.text and "http" not in response.text.split("<script>")[1]


BAD = [
    # (method, path, keyword arguments, status, part of the error)
    ("GET", "/v1/search", {}, 422, "q is missing"),
    ("GET", "/v1/search", {"params": {"q": "   "}}, 422, "q is missing"),
    ("GET", "/v1/search", {"params": {"q": "x", "k": 0}}, 422, "k must be in 1..1000"),
    ("GET", "/v1/search", {"params": {"q": "x", "k": 1001}}, 422, "k must be in 1..1000"),
    ("GET", "/v1/search", {"params": {"q": "x", "k": "ten"}}, 422, "k"),
    ("GET", "/v1/search", {"params": {"q": "x" * 201}}, 422, "the limit is 200"),
    ("GET", "/v1/search", {"params": {"q": "x", "task": "nope"}}, 422, "unknown task 'nope'"),
    ("POST", "/v1/search", {"json": {"queries": ["a"] * 9}}, 422, "the limit is 8"),
    ("POST", "/v1/search", {"json": {"queries": []}}, 422, "queries is empty"),
    ("POST", "/v1/search", {"json": {"queries": ["a", ""]}}, 422, "queries[1] is missing"),
    ("POST", "/v1/search", {"json": {"queries": "a"}}, 422, "queries"),
    ("POST", "/v1/search", {"json": {"queries": ["a"], "x": 1}}, 422, "x"),
    ("POST", "/v1/search", {"json": {"queries": ["a"], "k": -3}}, 422, "k must be"),
    ("POST", "/v1/search", {"json": {"queries": ["a"], "task": "nope"}}, 422, "unknown task"),
    ("POST", "/v1/search", {"json": {"queries": ["a" * 5000]}}, 413, "body over the limit"),
    ("POST", "/v1/search", {"content": b'{"queries": ["a"', "headers": {}}, 400, "malformed"),
    ("POST", "/v1/search", {"content": b"[1, 2]"}, 422, "valid dictionary"),
    ("POST", "/v1/kilt", {"json": {"records": [{"id": "a"}], "task": "trex"}}, 422, "'input'"),
    ("POST", "/v1/kilt", {"json": {"records": [{"id": "a", "input": "b"}]}}, 422, "task"),
    ("POST", "/v1/kilt", {"json": {"records": [], "task": "trex"}}, 422, "records is empty"),
    ("POST", "/v1/kilt", {"json": {"records": [{"id": 1, "input": "b"}], "task": "x"}}, 422, "x"),
    ("GET", "/v1/passages/100000", {}, 404, "no passage 100000"),
    ("GET", "/v1/passages/-1", {}, 404, "no passage -1"),
    ("GET", "/v1/passages/abc", {}, 422, "passage_id"),
    ("GET", "/v1/pages/nope", {}, 404, "no page"),
    ("GET", "/v1/pages/..%2F..%2Fetc%2Fpasswd", {}, 404, "Not Found"),
    ("GET", "/no/such/endpoint", {}, 404, "Not Found"),
    ("DELETE", "/v1/search", {}, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "error"), BAD)
def test_bad_requests_get_a_json_4xx(
    hybrid: Running, method: str, path: str, kwargs: dict, status: int, error: str
) -> None:
    if "content" in kwargs:
        kwargs = {**kwargs, "headers": {"content-type": "application/json"}}
    response = httpx.request(method, hybrid.url + path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert error in response.json()["error"]


def test_streamed_body_over_the_cap_is_refused(hybrid: Running) -> None:
    def chunks():  # no Content-Length: the cap is enforced while reading
        yield b'{"queries": ["'
        for _ in range(100):
            yield b"x" * 100
        yield b'"]}'

    response = httpx.post(
        f"{hybrid.url}/v1/search", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_api_key(keyed: Running) -> None:
    url = keyed.url
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/").status_code == 200
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cret"}):
        response = httpx.get(f"{url}/v1/search", params={"q": "Warsaw"}, headers=headers)
        assert response.status_code == 401 and response.json()["error"]
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.post(f"{url}/v1/search", json={"queries": ["a"]}).status_code == 401
    ok = {"X-API-Key": "s3cret-key"}
    assert httpx.get(f"{url}/v1/search", params={"q": "Warsaw"}, headers=ok).status_code == 200
    bearer = {"Authorization": "Bearer s3cret-key"}
    assert httpx.get(f"{url}/info", headers=bearer).json()["limits"]["api_key"] is True
    assert "s3cret" not in httpx.get(f"{url}/info", headers=bearer).text


def batch_counts(url: str) -> tuple[float, float]:
    """(number of batches, number of batches of exactly one query) from /metrics."""
    text = httpx.get(f"{url}/metrics").text
    total = float(re.search(r"^uniret_batch_size_count (\S+)$", text, re.M).group(1))
    single = float(re.search(r'^uniret_batch_size_bucket\{le="1\.0"\} (\S+)$', text, re.M).group(1))
    return total, single


def test_concurrent_clients_are_coalesced(hybrid: Running) -> None:
    before = batch_counts(hybrid.url)
    queries = [f"{w} river city" for w in ("Warsaw", "Vistula", "Poland", "Curie")] * 12

    def one(query: str) -> tuple[int, str, list[int]]:
        with httpx.Client() as client:
            r = client.get(f"{hybrid.url}/v1/search", params={"q": query, "k": 3})
            return r.status_code, r.json()["query"], ids(r.json()["hits"])

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, queries))
    assert [r[0] for r in results] == [200] * len(queries)
    assert [r[1] for r in results] == queries  # each client gets its own query's answer
    hits = hybrid.retriever.search(queries[:4], 3)
    expected = {q: ids(h) for q, h in zip(queries[:4], hits, strict=True)}
    assert all(r[2] == expected[r[1]] for r in results)
    after = batch_counts(hybrid.url)
    batches, singles = after[0] - before[0], after[1] - before[1]
    assert batches < len(queries) and batches > singles  # some batch held several queries


def test_metrics(hybrid: Running) -> None:
    httpx.get(f"{hybrid.url}/v1/search", params={"q": "Warsaw"})
    httpx.get(f"{hybrid.url}/v1/search", params={"k": 3})
    text = httpx.get(f"{hybrid.url}/metrics").text
    assert 'uniret_requests_total{route="/v1/search",status="200"}' in text
    assert 'uniret_requests_total{route="/v1/search",status="422"}' in text
    assert 'uniret_request_latency_seconds_bucket{le="0.005",route="/v1/search"}' in text
    assert "uniret_batch_size_bucket" in text and 'uniret_queries_total{task="none"}' in text


def test_store_passages_are_not_paths(hybrid: Running, artifacts: Artifacts) -> None:
    # nothing a client sends is opened as a file: a path as page id or query is only a string
    target = str(artifacts.passages / "meta.json")
    assert httpx.get(f"{hybrid.url}/v1/pages/{target}").status_code == 404
    body = httpx.get(f"{hybrid.url}/v1/search", params={"q": target}).json()
    assert all("corpus_hash" not in h["text"] for h in body["hits"])
