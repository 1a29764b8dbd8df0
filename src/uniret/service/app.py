"""The FastAPI app: search, KILT predictions, passages and pages, health, info and metrics.

Every bad request is a 4xx with a JSON body ``{"error": message}``; no endpoint reads a path
a client sends (``/v1/passages/{id}`` and ``/v1/pages/{wikipedia_id}`` are lookups in the
passage store).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from uniret import __version__
from uniret.errors import InputError
from uniret.retrieval.base import Retriever
from uniret.retrieval.bundle import RetrieverBundle
from uniret.retrieval.hybrid import HybridRetriever
from uniret.retrieval.predict import hits_to_provenance, prediction_record
from uniret.service.batcher import MicroBatcher, Ranked
from uniret.service.config import ServiceConfig
from uniret.service.guard import Guard
from uniret.service.metrics import ServiceMetrics
from uniret.tasks.kilt import parse_example
from uniret.tasks.registry import known_tasks

VERSIONED = ("fastapi", "uvicorn", "faiss-cpu", "torch", "transformers", "bm25s", "openvino")


class ApiError(Exception):
    """A request the service refuses: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ServiceInfo:
    """What the service runs: the retriever's name, its query model, its indexes' kinds."""

    name: str
    model: str | None
    kinds: tuple[str, ...]

    @classmethod
    def from_bundle(cls, bundle: RetrieverBundle) -> ServiceInfo:
        """Read the kinds (and, unless the bundle names one, the query model) from the
        indexes' meta.json."""
        from uniret.index.meta import read_index_meta

        metas = [read_index_meta(i) for i in bundle.indexes]
        pairs = zip(bundle.indexes, metas, strict=True)
        recorded = (m.encoder.model_source(i) for i, m in pairs if m.encoder)
        model = bundle.model or next(recorded, None)
        return cls(bundle.name, model, tuple(m.kind for m in metas))


class SearchBody(BaseModel):
    """``POST /v1/search``: several queries of one task."""

    model_config = ConfigDict(extra="forbid")
    queries: list[str]
    k: int = 10
    task: str | None = None


class KiltBody(BaseModel):
    """``POST /v1/kilt``: KILT records of one task (``id`` and ``input`` are read)."""

    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]]
    task: str
    k: int = 100


def component_names(retriever: Retriever, kinds: Sequence[str]) -> list[str]:
    """Unique labels of a hybrid's components (``bm25``, ``dense``, ``dense-2`` ...)."""
    if not isinstance(retriever, HybridRetriever):
        return []
    labels = list(kinds) if len(kinds) == len(retriever.retrievers) else []
    if not labels:
        labels = [type(r).__name__.removesuffix("Retriever").lower() for r in retriever.retrievers]
    names: list[str] = []
    for label in labels:
        name, n = label, 1
        while name in names:
            n += 1
            name = f"{label}-{n}"
        names.append(name)
    return names


def create_app(
    retriever: Retriever, info: ServiceInfo, config: ServiceConfig = ServiceConfig()
) -> FastAPI:
    """The service over ``retriever``; its batcher starts and stops with the app."""
    metrics = ServiceMetrics()
    store = retriever.store
    components = component_names(retriever, info.kinds)
    batcher = MicroBatcher(
        retriever,
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        on_batch=lambda n, task: (
            metrics.batch_size.observe(n),
            metrics.queries.labels(task=task or "none").inc(n),
        ),
    )
    page = resources.files("uniret.service").joinpath("static/index.html").read_text("utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="uniret search",
        version=__version__,
        description="Dense, BM25 and hybrid retrieval over a KILT passage corpus.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.batcher = batcher

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"error": "malformed JSON body"}, status_code=400)
        first = errors[0] if errors else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "")
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        return JSONResponse({"error": message or "invalid request", "details": details}, 422)

    def check_k(k: int) -> int:
        if not 1 <= k <= config.max_k:
            raise ApiError(422, f"k must be in 1..{config.max_k}, got {k}")
        return min(k, len(store))

    def check_count(count: int, what: str) -> None:
        if not count:
            raise ApiError(422, f"{what} is empty")
        if count > config.max_queries:
            raise ApiError(422, f"{count} {what}; the limit is {config.max_queries} per request")

    def check_task(task: str | None) -> str | None:
        if task is None or task == "":
            return None
        if task not in known_tasks():
            raise ApiError(422, f"unknown task {task!r}; known tasks: {', '.join(known_tasks())}")
        return task

    def check_query(query: str | None, what: str = "q") -> str:
        if query is None or not query.strip():
            raise ApiError(422, f"{what} is missing or empty")
        if len(query) > config.max_query_chars:
            limit = config.max_query_chars
            raise ApiError(422, f"{what} is {len(query)} characters long; the limit is {limit}")
        return query

    def render(query: str, ranked: Ranked) -> dict[str, Any]:
        passages = store.get_many([h.passage_id for h in ranked.hits])
        ranks: list[dict[int, int]] = [
            {h.passage_id: r for r, h in enumerate(c, start=1)} for c in ranked.components or []
        ]
        hits = []
        for rank, (hit, p) in enumerate(zip(ranked.hits, passages, strict=True), start=1):
            entry: dict[str, Any] = {
                "rank": rank,
                "score": round(float(hit.score), 6),
                "passage_id": p.id,
                "wikipedia_id": p.wikipedia_id,
                "title": p.title,
                "text": p.text,
            }
            if ranks:
                entry["components"] = {
                    name: where.get(p.id) for name, where in zip(components, ranks, strict=True)
                }
            hits.append(entry)
        return {"query": query, "hits": hits}

    async def search(queries: list[str], k: int, task: str | None) -> list[dict[str, Any]]:
        ranked = await batcher.search(queries, k, task)
        return await run_in_threadpool(
            lambda: [render(q, r) for q, r in zip(queries, ranked, strict=True)]
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health", summary="Liveness: always open, even with an API key")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info", summary="The retriever, its corpus, limits and library versions")
    async def service_info() -> dict[str, Any]:
        versions = {"uniret": __version__, "python": platform.python_version()}
        for dist in VERSIONED:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                versions[dist] = importlib.metadata.version(dist)
        return {
            "name": info.name,
            "model": info.model,
            "indexes": list(info.kinds),
            "components": components,
            "corpus": {
                "hash": store.corpus_hash,
                "passages": len(store),
                "pages": len(store.page_ranges),
            },
            "tasks": known_tasks(),
            "limits": asdict(config) | {"api_key": config.api_key is not None},
            "versions": versions,
        }

    @app.get("/v1/search", summary="Search one query")
    async def search_one(q: str | None = None, k: int = 10, task: str | None = None) -> Any:
        query, k, task = check_query(q), check_k(k), check_task(task)
        return (await search([query], k, task))[0]

    @app.post("/v1/search", summary="Search several queries of one task")
    async def search_many(body: SearchBody) -> dict[str, Any]:
        check_count(len(body.queries), "queries")
        queries = [check_query(q, f"queries[{i}]") for i, q in enumerate(body.queries)]
        k, task = check_k(body.k), check_task(body.task)
        return {"results": await search(queries, k, task)}

    @app.post("/v1/kilt", summary="KILT records in, KILT predictions out (as `uniret retrieve`)")
    async def kilt(body: KiltBody) -> dict[str, Any]:
        check_count(len(body.records), "records")
        task = check_task(body.task)
        k = check_k(body.k)
        try:
            examples = [parse_example(r, "request", i) for i, r in enumerate(body.records, 1)]
        except InputError as exc:
            raise ApiError(422, f"record {exc.line}: field '{exc.field}': {exc.message}") from None
        for example in examples:
            check_query(example.input, f"record {example.id!r} input")
        ranked = await batcher.search([e.input for e in examples], k, task)
        provenance = await run_in_threadpool(
            hits_to_provenance, retriever, [r.hits for r in ranked]
        )
        return {
            "predictions": [
                prediction_record(e, p) for e, p in zip(examples, provenance, strict=True)
            ]
        }

    def passage_json(passage_id: int) -> dict[str, Any]:
        p = store.get(passage_id)
        first, count = store.page_ranges.get(p.wikipedia_id, (p.id, 1))
        return {
            "passage_id": p.id,
            "wikipedia_id": p.wikipedia_id,
            "title": p.title,
            "text": p.text,
            "start_paragraph": p.start_paragraph,
            "end_paragraph": p.end_paragraph,
            "page": {
                "passages": count,
                "position": p.id - first + 1,
                "previous": p.id - 1 if p.id > first else None,
                "next": p.id + 1 if p.id + 1 < first + count else None,
            },
        }

    @app.get("/v1/passages/{passage_id}", summary="One passage, with its neighbours on its page")
    async def passage(passage_id: int) -> dict[str, Any]:
        if not 0 <= passage_id < len(store):
            raise ApiError(404, f"no passage {passage_id} (ids are 0..{len(store) - 1})")
        return await run_in_threadpool(passage_json, passage_id)

    @app.get("/v1/pages/{wikipedia_id}", summary="Every passage of one page, in page order")
    async def page_passages(wikipedia_id: str) -> dict[str, Any]:
        if wikipedia_id not in store.page_ranges:
            raise ApiError(404, f"no page with wikipedia_id {wikipedia_id!r}")
        passages = await run_in_threadpool(store.passages_of_page, wikipedia_id)
        return {
            "wikipedia_id": wikipedia_id,
            "title": passages[0].title if passages else "",
            "passages": [{"passage_id": p.id, "title": p.title, "text": p.text} for p in passages],
        }

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(Guard, config=config, metrics=metrics)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key"],
        )
    return app
