"""Micro-batching: concurrent searches coalesced into one retriever call (one encoder forward).

Requests wait in a queue; a collector takes the first one, then whatever else arrives within
``max_wait_ms`` or until ``max_batch`` queries are gathered, groups them by task and runs each
group as one ``search`` in a single worker thread, so the event loop never blocks and the encoder
sees one batch at a time. While a batch runs, new requests queue up and form the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from uniret.retrieval.base import Retriever
from uniret.retrieval.hybrid import HybridRetriever
from uniret.types import Hit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranked:
    """One query's hits, and (hybrids only) each component retriever's own ranking."""

    hits: list[Hit]
    components: list[list[Hit]] | None = None


@dataclass
class _Pending:
    queries: list[str]
    k: int
    task: str | None
    future: asyncio.Future[list[Ranked]]


def search_ranked(
    retriever: Retriever, queries: Sequence[str], k: int, task: str | None
) -> list[Ranked]:
    """One retriever call for ``queries``; a hybrid also returns its components' rankings."""
    if isinstance(retriever, HybridRetriever):
        fused, components = retriever.search_components(queries, k, task)
        return [Ranked(fused[q], [c[q] for c in components]) for q in range(len(queries))]
    return [Ranked(hits) for hits in retriever.search(queries, k, task)]


class MicroBatcher:
    """Coalesces concurrent searches; ``start`` and ``stop`` run inside the event loop."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        max_batch: int = 64,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int, str | None], None] | None = None,
    ) -> None:
        self.retriever = retriever
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._collector: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Start the collector and the worker thread."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uniret-search")
        self._collector = asyncio.create_task(self._collect(), name="uniret-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the collector and the worker thread."""
        if self._queue is not None:
            while not self._queue.empty():
                await asyncio.sleep(self.max_wait or 0.001)
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._collector = self._executor = self._queue = None

    async def search(self, queries: Sequence[str], k: int, task: str | None) -> list[Ranked]:
        """Top-``k`` results per query, searched together with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("the batcher is not running")
        if not queries:
            return []
        future: asyncio.Future[list[Ranked]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(list(queries), k, task, future))
        return await future

    async def _collect(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch, count = [first], len(first.queries)
            deadline = loop.time() + self.max_wait
            while count < self.max_batch:
                try:
                    left = deadline - loop.time()
                    if left > 0:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    else:
                        item = self._queue.get_nowait()
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                batch.append(item)
                count += len(item.queries)
            groups: dict[str | None, list[_Pending]] = {}
            for item in batch:
                groups.setdefault(item.task, []).append(item)
            for task, items in groups.items():
                await self._run(task, items)

    async def _run(self, task: str | None, items: list[_Pending]) -> None:
        queries = [q for item in items for q in item.queries]
        k = max(item.k for item in items)
        loop = asyncio.get_running_loop()
        try:
            ranked = await loop.run_in_executor(
                self._executor, search_ranked, self.retriever, queries, k, task
            )
        except Exception as exc:  # handed to each waiting request, which reports it
            logger.exception("search of %d queries failed", len(queries))
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(queries), task)
        start = 0
        for item in items:
            part = ranked[start : start + len(item.queries)]
            start += len(item.queries)
            if item.future.done():  # the client went away
                continue
            item.future.set_result([Ranked(r.hits[: item.k], r.components) for r in part])
