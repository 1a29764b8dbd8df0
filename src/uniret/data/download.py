"""Download the official KILT task files and knowledge source: resumable, size-checked, atomic."""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from uniret.errors import UniretError

logger = logging.getLogger(__name__)

KILT_BASE_URL = "http://dl.fbaipublicfiles.com/KILT"
KNOWLEDGE_FILE = "kilt_knowledgesource.json"

# task -> split -> file name, as KILT publishes them.
KILT_FILES: dict[str, dict[str, str]] = {
    task: {split: f"{task}-{split}-kilt.jsonl" for split in splits}
    for task, splits in {
        "nq": ("train", "dev"),
        "hotpotqa": ("train", "dev"),
        "eli5": ("train", "dev"),
        "fever": ("train", "dev"),
        "aidayago2": ("train", "dev"),
        "wned": ("dev",),
        "cweb": ("dev",),
        "trex": ("train", "dev"),
        "structured_zeroshot": ("train", "dev"),
        "wow": ("train", "dev"),
    }.items()
}
KILT_FILES["triviaqa"] = {
    "train": "triviaqa-train_id-kilt.jsonl",
    "dev": "triviaqa-dev_id-kilt.jsonl",
}
for _task, _files in KILT_FILES.items():
    _files["test"] = f"{_task}-test_without_answers-kilt.jsonl"


class DownloadError(UniretError):
    """A download failed or arrived with the wrong size."""


@dataclass(frozen=True)
class FileRequest:
    """One file to fetch: where from, where to."""

    url: str
    dest: Path


def kilt_requests(
    tasks: Sequence[str],
    splits: Sequence[str],
    out_dir: str | Path,
    *,
    knowledge: bool = False,
    base_url: str = KILT_BASE_URL,
) -> list[FileRequest]:
    """The files to fetch for these tasks and splits (unknown names raise, listing known ones)."""
    out = Path(out_dir)
    requests = []
    for task in tasks:
        if task not in KILT_FILES:
            raise DownloadError(
                f"unknown KILT task {task!r}; known: {', '.join(sorted(KILT_FILES))}"
            )
        for split in splits:
            name = KILT_FILES[task].get(split)
            if name is None:
                logger.warning("KILT publishes no %s split for %s; skipped", split, task)
                continue
            requests.append(FileRequest(f"{base_url.rstrip('/')}/{name}", out / name))
    if knowledge:
        requests.append(
            FileRequest(f"{base_url.rstrip('/')}/{KNOWLEDGE_FILE}", out / KNOWLEDGE_FILE)
        )
    return requests


def download(
    request: FileRequest,
    *,
    chunk_bytes: int = 1 << 20,
    timeout: float = 60.0,
    on_bytes: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Fetch ``request.url`` to ``request.dest``.

    Bytes go to ``dest + '.part'``; a rerun continues it with an HTTP Range request (starting
    over if the server ignores ranges). The file is renamed into place only once its size
    matches the server's Content-Length. ``on_bytes(n, total)`` reports progress.
    """
    dest = request.dest
    if dest.exists():
        logger.info("%s already present", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(request.url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the part file is already complete
            response = None
        else:
            raise DownloadError(f"{request.url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{request.url}: {exc}") from None
    total: int | None = None
    if response is not None:
        with response:
            resumed = response.status == 206
            if have and not resumed:
                logger.info("%s: server ignored the range request; starting over", request.url)
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            if on_bytes is not None:
                on_bytes(have, total)
            with open(part, "ab" if resumed else "wb") as handle:
                try:
                    while block := response.read(chunk_bytes):
                        handle.write(block)
                        if on_bytes is not None:
                            on_bytes(len(block), total)
                except (http.client.IncompleteRead, OSError) as exc:
                    got = handle.tell()
                    raise DownloadError(
                        f"{request.url}: connection lost after {got} bytes ({exc!r}); "
                        f"rerun to resume from {part}"
                    ) from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(
            f"{request.url}: got {size} of {total} bytes; rerun to resume from {part}"
        )
    os.replace(part, dest)
    logger.info("downloaded %s (%d bytes)", dest, size)
    return dest
