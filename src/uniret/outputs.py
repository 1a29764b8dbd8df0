"""Safe command outputs: uniret never deletes or replaces anything it did not write itself.

Every output path is checked before any work starts:

* ``/``, the home folder, the current folder and its parents are never outputs;
* a path that does not exist, or an empty folder, is free;
* an existing path must be an artifact of the same kind written by uniret (recognised by its
  marker, e.g. the ``format`` field of its ``meta.json``); it is replaced only with
  ``overwrite`` (``--overwrite``); anything else is refused with an :class:`OutputError`.

The artifact is then written to a temporary sibling under a lock (``.NAME.lock``, an ``flock``
released by the kernel when a process dies), and renamed onto the output only when complete.
A failed or interrupted write leaves the file system as it was: the temporary sibling and any
parent folder created for it are removed.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from uniret.errors import UniretError
from uniret.io import replace_path

LOCK_SUFFIX = ".lock"


class OutputError(UniretError):
    """An output path that uniret refuses to write, or that another process is writing."""


class Artifact(enum.StrEnum):
    """Kinds of output uniret writes; each is recognised by its own marker."""

    PASSAGES = "passage store"
    """Folder with ``meta.json`` of format ``uniret.passages/1``."""
    BM25_INDEX = "BM25 index"
    """Folder with ``meta.json`` of format ``uniret.index/1``, kind ``bm25``."""
    DENSE_INDEX = "dense index"
    """Folder with ``meta.json`` of format ``uniret.index/1``, kind ``dense``."""
    EMBEDDINGS = "embeddings folder"
    """Folder holding only ``shard-*`` files of ``uniret encode``."""
    PREDICTIONS = "predictions folder"
    """Folder with ``meta.json`` of format ``uniret.predictions/1``."""
    MINED = "mined-examples folder"
    """Folder with ``meta.json`` of format ``uniret.mined/1``."""
    MODEL = "model or training folder"
    """Folder with ``uniret_biencoder.json``, ``train_config.toml`` or ``checkpoint/``."""
    METRICS = "metrics file"
    """JSON file whose ``format`` is ``uniret.metrics/1``."""
    WORK = "work folder"
    """Folder with ``uniret-work.json`` (quickstart and experiment caches)."""


FORMATS = {
    "uniret.passages/1": Artifact.PASSAGES,
    "uniret.predictions/1": Artifact.PREDICTIONS,
    "uniret.mined/1": Artifact.MINED,
    "uniret.metrics/1": Artifact.METRICS,
}
WORK_MARKER = "uniret-work.json"
_MODEL_MARKERS = ("uniret_biencoder.json", "train_config.toml", "checkpoint/state.json")


def _small_json(path: Path) -> dict:
    """A small JSON object file's content, or ``{}`` (too big, unreadable, not an object)."""
    try:
        if path.stat().st_size > 1 << 20:
            return {}
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def artifact_kind(path: str | Path) -> Artifact | None:
    """The kind of uniret artifact at ``path``, or None if it is not one (or does not exist)."""
    p = Path(path)
    if p.is_file():
        return FORMATS.get(str(_small_json(p).get("format"))) if p.suffix == ".json" else None
    if not p.is_dir():
        return None
    meta = _small_json(p / "meta.json")
    if meta.get("format") == "uniret.index/1":
        kinds = {"bm25": Artifact.BM25_INDEX, "dense": Artifact.DENSE_INDEX}
        return kinds.get(str(meta.get("kind")))
    fmt = meta.get("format")
    if isinstance(fmt, str) and fmt in FORMATS:
        return FORMATS[fmt]
    if (
        (p / WORK_MARKER).is_file()
        or (p / "cells").is_dir()
        or (p / "passages" / "meta.json").is_file()
    ):
        return Artifact.WORK  # (folders of earlier versions carry no marker)
    if any((p / marker).is_file() for marker in _MODEL_MARKERS):
        return Artifact.MODEL
    names = [c.name for c in p.iterdir()]
    if names and all(n.startswith(("shard-", ".shard-")) for n in names):
        return Artifact.EMBEDDINGS
    return None


def forbidden_reason(path: str | Path) -> str | None:
    """Why ``path`` can never be an output (root, home, the current folder or a parent of it)."""
    target = Path(path).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if target == Path(target.anchor):
        return "it is the file-system root"
    if target == Path.home().resolve():
        return "it is the home folder"
    if target == cwd:
        return "it is the current folder"
    if target in cwd.parents:
        return "it contains the current folder"
    return None


def check_output(
    path: str | Path, kind: Artifact, *, overwrite: bool = False, reuse: bool = False
) -> bool:
    """Raise :class:`OutputError` unless ``path`` may receive a ``kind``; return whether a
    ``kind`` is already there.

    ``reuse``: an existing ``kind`` is accepted as is (caches, resumable runs); otherwise it
    needs ``overwrite``.
    """
    p = Path(path)
    why = forbidden_reason(p)
    if why:
        raise OutputError(f"{p}: refusing to write there ({why}); name a new folder")
    is_file = kind is Artifact.METRICS
    if not p.exists() and not p.is_symlink():
        return False
    if is_file and p.is_dir():
        raise OutputError(f"{p} is a folder; give a file name for the {kind}")
    if not is_file and not p.is_dir():
        raise OutputError(f"{p} is an existing file, not a folder; choose another output")
    if not is_file and not any(p.iterdir()):
        return False
    found = artifact_kind(p)
    if found is not kind:
        what = f"it holds a uniret {found}" if found else "it is not written by uniret"
        raise OutputError(
            f"{p} already exists and {what}; choose another output (nothing was changed)"
        )
    if not (overwrite or reuse):
        raise OutputError(f"{p} already holds a {kind}; pass --overwrite to replace it")
    return True


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; return them, deepest first."""
    created = []
    parent = path.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for folder in reversed(created):
        try:
            folder.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror}") from None
    return created


def remove_created(folders: list[Path]) -> None:
    """Remove folders this process created, deepest first, if they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def lock(target: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``target`` for the block; fail at once if another process
    holds it. The lock dies with its process; the file is removed on release."""
    path = target.parent / f".{target.name}{LOCK_SUFFIX}"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write in {target.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 256).decode("utf-8", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputError(
                    f"{target} is being written by another uniret process ({holder or 'unknown'});"
                    " wait for it to finish"
                ) from None
            raise
        try:  # the file may have been released and unlinked between open and flock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


@contextlib.contextmanager
def writing(
    path: str | Path,
    kind: Artifact,
    *,
    overwrite: bool = False,
    adding: Sequence[str] | None = None,
) -> Iterator[Path]:
    """Check ``path`` (see :func:`check_output`), lock it and yield a temporary sibling to write
    the whole ``kind`` into; on success it replaces ``path``, on failure it disappears.

    ``adding``: the output is a folder of files and these are the names this write adds. An
    existing ``kind`` folder is kept: the staged files (a folder, created here) are moved into
    it, and a name already there is replaced only with ``overwrite``.
    """
    target = Path(path)

    def check() -> None:
        if adding is None:
            check_output(target, kind, overwrite=overwrite)
            return
        check_output(target, kind, reuse=True)
        clash = [n for n in adding if (target / n).exists()]
        if clash and not overwrite:
            raise OutputError(
                f"{target / clash[0]} already exists ({len(clash)} of the {len(adding)} outputs "
                "do); pass --overwrite to replace them"
            )

    check()
    created = _make_parents(target)
    done = False
    try:
        with lock(target):
            check()  # another process may have won
            try:
                tmp = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
                )
            except OSError as exc:
                raise OutputError(f"cannot write in {target.parent}: {exc.strerror}") from None
            if adding is None:
                tmp.rmdir()  # the caller makes a file or a folder
            try:
                yield tmp
                if adding is not None and target.is_dir() and any(target.iterdir()):
                    for item in sorted(tmp.iterdir()):
                        os.replace(item, target / item.name)
                else:
                    replace_path(tmp, target)
                done = True
            finally:
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                elif tmp.exists():
                    tmp.unlink()
    finally:
        if not done:
            remove_created(created)


@contextlib.contextmanager
def claimed(
    path: str | Path, kind: Artifact, *, overwrite: bool = False, part: str | None = None
) -> Iterator[bool]:
    """Lock a folder that a job fills in place (resumable runs) and yield whether it held a
    ``kind`` already. ``part`` locks only ``path/part`` (e.g. one shard: several processes
    fill one folder). On failure, folders this call created are removed if still empty."""
    target = Path(path)
    existed = check_output(target, kind, overwrite=overwrite, reuse=True)
    created = _make_parents(target)
    if not target.exists():
        with contextlib.suppress(FileExistsError):
            target.mkdir()
            created.insert(0, target)
    ok = False
    try:
        with lock(target / part if part else target):
            if part is None:
                check_output(target, kind, overwrite=overwrite, reuse=True)
            yield existed
            ok = True
    finally:
        if not ok:
            remove_created(created)


@contextlib.contextmanager
def work_folder(path: str | Path) -> Iterator[Path]:
    """Claim a cache folder of many steps (quickstart, experiments) for the block: it must be
    new, empty or a work folder; it is marked with ``uniret-work.json``. A failure that leaves
    nothing but the marker leaves nothing at all."""
    target = Path(path)
    with claimed(target, Artifact.WORK):
        marker = target / WORK_MARKER
        made = not marker.exists()
        if made:
            marker.write_text(json.dumps({"format": "uniret.work/1"}) + "\n", encoding="utf-8")
        try:
            yield target
        except BaseException:
            if made and [c.name for c in target.iterdir() if not c.name.endswith(LOCK_SUFFIX)] == [
                WORK_MARKER
            ]:
                marker.unlink()
            raise
