"""Every bad input ends in one line on stderr and exit 2, and no user file is ever lost.

One table: each case runs the real CLI (``main([...])``) on real artifacts built once
(passage store, BM25 index, embeddings and a FAISS index of a tiny model, a query-side
training run with a checkpoint), in a fresh copy of them, next to a file of the user's. After
the command the folder must hold exactly what it held before: same files, same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import PAGES, TASKS, write_jsonl
from uniret.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Path:
    """Real artifacts made through the CLI, once; cases work on copies."""
    root = tmp_path_factory.mktemp("built")
    kilt = root / "kilt"
    kilt.mkdir()
    write_jsonl(kilt / "knowledge.jsonl", PAGES)
    for name, records in TASKS.items():
        write_jsonl(kilt / name, records)
        write_jsonl(kilt / name.replace("-dev-", "-train-"), records)
    steps = [
        ["corpus", "build", "--knowledge", str(kilt / "knowledge.jsonl"), "--out", "passages",
         "--words", "8"],
        ["index", "bm25", "--passages", "passages", "--out", "bm25"],
        ["encode", "--model", tiny_model, "--pooling", "mean", "--passages", "passages",
         "--out", "emb", "--batch-size", "4"],
        ["index", "dense", "--embeddings", "emb", "--out", "dense"],
        ["train", "--out", "run", "--set", "data_dir=kilt", "--set", "index=dense",
         "--set", "epochs=1", "--set", "batch_size=2", "--set", "checkpoint_every=1"],
        ["retrieve", "--index", "bm25", "--input", str(kilt / "trex-dev-kilt.jsonl"),
         "--out", "pred", "--k", "5"],
    ]  # fmt: skip
    cwd = Path.cwd()
    os.chdir(root)
    try:
        for step in steps:
            assert main(["-q", *step]) == 0, step
    finally:
        os.chdir(cwd)
    assert (root / "run" / "checkpoint" / "state.json").is_file()
    return root


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def scramble(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(max(64, path.stat().st_size)))


def user_folder(name: str) -> Callable[[Path], None]:
    """Prepare: a folder of the user's, holding their notes."""

    def make(w: Path) -> None:
        (w / name).mkdir()
        (w / name / "notes.txt").write_text("my notes\n")

    return make


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def make(w: Path) -> None:
        data = text.encode() if isinstance(text, str) else text
        (w / name).parent.mkdir(parents=True, exist_ok=True)
        (w / name).write_bytes(data)

    return make


def nan_vectors(w: Path) -> None:
    shard = next((w / "emb").glob("shard-*-of-*[0-9].npy"))
    vectors = np.load(shard)
    vectors[3, 0] = np.nan
    np.save(shard, vectors)


def no_gold_in_corpus(w: Path) -> None:
    (w / "other").mkdir()
    for name, records in TASKS.items():
        moved = json.loads(json.dumps(records).replace('"wikipedia_id": "1', '"wikipedia_id": "9'))
        write_jsonl(w / "other" / name.replace("-dev-", "-train-"), moved)


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    message: str
    prepare: Callable[[Path], None] | None = None
    cwd: str = "."


KILT = "kilt/knowledge.jsonl"
TREX = "kilt/trex-dev-kilt.jsonl"
NOT_UTF8 = b'{"id": "1", "input": "q"}\n{"id": "2", "input": "\xff"}\n'
TRAIN = ["train", "--out", "run", "--set", "data_dir=kilt", "--set", "index=dense",
         "--set", "epochs=1", "--set", "batch_size=2", "--set", "checkpoint_every=1"]  # fmt: skip

CASES = [
    # ---- data loss
    Case("out-is-cwd", ["corpus", "build", "--knowledge", KILT, "--out", "."],
         "refusing to write there (it is the current folder)"),
    Case("out-is-parent", ["corpus", "build", "--knowledge", "../kilt/knowledge.jsonl",
                           "--out", ".."], "it contains the current folder", cwd="pred"),
    Case("out-is-root", ["index", "bm25", "--passages", "passages", "--out", "/"],
         "it is the file-system root"),
    Case("out-is-home", ["corpus", "build", "--knowledge", KILT, "--out", str(Path.home())],
         "it is the home folder"),
    Case("corpus-into-user-folder", ["corpus", "build", "--knowledge", KILT, "--out", "mine"],
         "mine already exists and it is not written by uniret", user_folder("mine")),
    Case("bm25-into-user-folder", ["index", "bm25", "--passages", "passages", "--out", "mine"],
         "it is not written by uniret", user_folder("mine")),
    Case("dense-into-user-folder", ["index", "dense", "--embeddings", "emb", "--out", "mine"],
         "it is not written by uniret", user_folder("mine")),
    Case("dense-over-bm25-index", ["index", "dense", "--embeddings", "emb", "--out", "bm25"],
         "it holds a uniret BM25 index"),
    Case("corpus-over-store-needs-overwrite",
         ["corpus", "build", "--knowledge", KILT, "--out", "passages"],
         "passages already holds a passage store; pass --overwrite"),
    Case("encode-into-user-folder", ["encode", "--passages", "passages", "--out", "mine"],
         "it is not written by uniret", user_folder("mine")),
    Case("retrieve-into-user-folder", ["retrieve", "--index", "bm25", "--input", TREX,
                                       "--out", "mine"], "not written by uniret",
         user_folder("mine")),
    Case("retrieve-existing-prediction-needs-overwrite",
         ["retrieve", "--index", "bm25", "--input", TREX, "--out", "pred"],
         "trex-dev-kilt.jsonl already exists (1 of the 1 outputs do); pass --overwrite"),
    Case("train-into-user-folder", [*TRAIN[:2], "mine", *TRAIN[3:]], "not written by uniret",
         user_folder("mine")),
    Case("train-over-run-needs-resume-or-overwrite", TRAIN,
         "already holds a training checkpoint; --resume continues it, --overwrite starts over"),
    Case("mine-into-user-folder", ["mine", "--index", "bm25", "--input", TREX, "--out", "mine"],
         "not written by uniret", user_folder("mine")),
    Case("metrics-over-user-file", ["evaluate", "--gold", "kilt", "--pred", "pred",
                                    "--json", "notes.json"], "notes.json already exists and it "
         "is not written by uniret", write("notes.json", '{"mine": 1}')),
    Case("retrieve-k-negative", ["retrieve", "--index", "bm25", "--input", TREX, "--out", "p2",
                                 "--k", "-3"], "argument --k: must be >= 1, got -3"),
    Case("retrieve-k-zero", ["retrieve", "--index", "bm25", "--input", TREX, "--out", "p2",
                             "--k", "0"], "argument --k: must be >= 1, got 0"),
    Case("weights-count", ["retrieve", "--index", "bm25", "--index", "dense", "--fusion",
                           "weighted", "--weights", "1", "--input", TREX, "--out", "p2"],
         "argument --weights: 1 weights for 2 --index"),
    Case("later-input-bad", ["retrieve", "--index", "bm25", "--input", TREX, "bad/hotpotqa-dev-"
                             "kilt.jsonl", "--out", "p2"], "hotpotqa-dev-kilt.jsonl, line 1: "
         "field 'input': missing", write("bad/hotpotqa-dev-kilt.jsonl", '{"id": "x"}\n')),
    Case("two-inputs-same-name", ["retrieve", "--index", "bm25", "--input", TREX,
                                  "pred/trex-dev-kilt.jsonl", "--out", "p2"],
         "argument --input: two files are named trex-dev-kilt.jsonl"),
    # ---- paths
    Case("knowledge-is-folder", ["corpus", "build", "--knowledge", "kilt", "--out", "p2"],
         "kilt: is a folder, expected a file"),
    Case("knowledge-missing", ["corpus", "build", "--knowledge", "nope.jsonl", "--out", "p2"],
         "nope.jsonl: No such file or directory"),
    Case("out-is-file", ["corpus", "build", "--knowledge", KILT, "--out", "notes.txt"],
         "notes.txt is an existing file, not a folder", write("notes.txt", "x")),
    Case("out-under-a-file", ["retrieve", "--index", "bm25", "--input", TREX, "--out",
                              "notes.txt/pred"], "cannot write in notes.txt",
         write("notes.txt", "x")),
    Case("json-is-folder", ["evaluate", "--gold", "kilt", "--pred", "pred", "--json", "kilt"],
         "kilt is a folder; give a file name"),
    # ---- encodings
    Case("task-not-utf8", ["retrieve", "--index", "bm25", "--input", "bad/trex-dev-kilt.jsonl",
                           "--out", "p2"], "trex-dev-kilt.jsonl, line 2: not UTF-8 text",
         write("bad/trex-dev-kilt.jsonl", NOT_UTF8)),
    Case("gold-not-utf8", ["evaluate", "--gold", "bad/trex-dev-kilt.jsonl", "--pred",
                           "pred/trex-dev-kilt.jsonl"], "line 1: not UTF-8 text",
         write("bad/trex-dev-kilt.jsonl", b"\xfe\xff\n")),
    # ---- arguments out of range
    Case("ks-zero", ["evaluate", "--gold", "kilt", "--pred", "pred", "--ks", "0"],
         "argument --ks: must be >= 1, got 0"),
    Case("ks-empty", ["evaluate", "--gold", "kilt", "--pred", "pred", "--ks", ""],
         "argument --ks: expected comma-separated integers >= 1, got nothing"),
    Case("rank-keys-empty", ["evaluate", "--gold", "kilt", "--pred", "pred", "--rank-keys", ""],
         "argument --rank-keys: expected comma-separated names, got nothing"),
    Case("words-zero", ["corpus", "build", "--knowledge", KILT, "--out", "p2", "--words", "0"],
         "argument --words: must be >= 1, got 0"),
    Case("batch-size-zero", ["encode", "--passages", "passages", "--out", "p2",
                             "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    Case("shard-out-of-range", ["encode", "--passages", "passages", "--out", "p2", "--shard",
                                "3", "--num-shards", "2"], "argument --shard: must be < "
         "--num-shards (2), got 3"),
    # ---- models and training runs
    Case("model-missing", ["encode", "--model", "./no/such/model", "--passages", "passages",
                           "--out", "p2"], "model './no/such/model': no such folder"),
    Case("query-model-missing", ["retrieve", "--index", "dense", "--model", "./nomodel",
                                 "--input", TREX, "--out", "p2"],
         "model './nomodel': no such folder"),
    Case("resume-other-config", [*TRAIN, "--resume", "--set", "lr=0.5"],
         "the checkpoint was made with another config (differs in lr)"),
    Case("train-on-bm25-index", [*TRAIN[:2], "r2", *TRAIN[3:6], "index=bm25", *TRAIN[7:]],
         "bm25 is a bm25 index, not a dense one"),
    Case("resume-without-checkpoint", [*TRAIN[:2], "r2", *TRAIN[3:], "--resume"],
         "r2: no checkpoint to resume from; drop --resume"),
    Case("unknown-set-key", [*TRAIN[:2], "r2", *TRAIN[3:], "--set", "nosuch=1"],
         "--set: field 'nosuch': unknown key"),
    Case("no-gold-in-corpus", [*TRAIN[:2], "r2", *TRAIN[3:4], "data_dir=other", *TRAIN[5:]],
         "no training example has a gold passage in the corpus", no_gold_in_corpus),
    # ---- damaged artifacts
    Case("shard-truncated", ["index", "dense", "--embeddings", "emb", "--out", "d2"],
         "embeddings emb is damaged",
         lambda w: truncate(next((w / "emb").glob("shard-*-of-*[0-9].npy")))),
    Case("shard-random", ["index", "dense", "--embeddings", "emb", "--out", "d2"],
         "embeddings emb is damaged",
         lambda w: scramble(next((w / "emb").glob("shard-*-of-*[0-9].npy")))),
    Case("shard-ids-random", ["index", "dense", "--embeddings", "emb", "--out", "d2"],
         "embeddings emb is damaged", lambda w: scramble(next((w / "emb").glob("*.ids.npy")))),
    Case("shard-json-broken", ["index", "dense", "--embeddings", "emb", "--out", "d2"],
         "embeddings emb is damaged", lambda w: truncate(next((w / "emb").glob("*[0-9].json")))),
    Case("faiss-truncated", ["retrieve", "--index", "dense", "--input", TREX, "--out", "p2"],
         "index dense is damaged", lambda w: truncate(w / "dense" / "index.faiss")),
    Case("faiss-empty", ["retrieve", "--index", "dense", "--input", TREX, "--out", "p2"],
         "index dense is damaged", write("dense/index.faiss", b"")),
    Case("faiss-missing", ["retrieve", "--index", "dense", "--input", TREX, "--out", "p2"],
         "index dense is damaged", lambda w: (w / "dense" / "index.faiss").unlink()),
    Case("meta-broken", ["retrieve", "--index", "dense", "--input", TREX, "--out", "p2"],
         "index dense is damaged", write("dense/meta.json", '{"format": "uniret.ind')),
    Case("bm25-truncated", ["retrieve", "--index", "bm25", "--input", TREX, "--out", "p2"],
         "index bm25 is damaged",
         lambda w: truncate(next((w / "bm25" / "bm25s").glob("*.npy")), 0.3)),
    Case("passages-truncated", ["index", "bm25", "--passages", "passages", "--out", "b2"],
         "passage store passages is damaged",
         lambda w: truncate(w / "passages" / "passages.arrow")),
    # ---- silent wrong results
    Case("knowledge-empty", ["corpus", "build", "--knowledge", "empty.jsonl", "--out", "p2"],
         "empty.jsonl: no pages: the knowledge source is empty", write("empty.jsonl", "\n")),
    Case("knowledge-duplicate-id", ["corpus", "build", "--knowledge", "dup.jsonl", "--out", "p2"],
         "dup.jsonl, line 3: field 'wikipedia_id': duplicate id (first on line 1)",
         write("dup.jsonl", "".join(json.dumps(p) + "\n" for p in [PAGES[0], PAGES[1], PAGES[0]]))),
    Case("knowledge-blank-id", ["corpus", "build", "--knowledge", "blank.jsonl", "--out", "p2"],
         "blank.jsonl, line 1: field 'wikipedia_id': blank",
         write("blank.jsonl", json.dumps({**PAGES[0], "wikipedia_id": " "}) + "\n")),
    Case("gold-duplicate-id", ["evaluate", "--gold", "dup/trex-dev-kilt.jsonl", "--pred",
                               "pred/trex-dev-kilt.jsonl"], "line 2: field 'id': duplicate id",
         write("dup/trex-dev-kilt.jsonl", 2 * (json.dumps(TASKS[TREX[5:]][0]) + "\n"))),
    Case("rank-key-unknown", ["evaluate", "--gold", "kilt", "--pred", "pred", "--rank-keys",
                              "nosuchkey"], "field '--rank-keys': no gold provenance has all "
         "of nosuchkey"),
    Case("nan-vectors", ["index", "dense", "--embeddings", "emb", "--out", "d2"],
         "emb: vectors hold NaN or infinity (first: passage", nan_vectors),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    case: Case, built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    work = tmp_path / "w"
    shutil.copytree(built, work)
    (work / "notes.txt").write_text("the user's own file\n")
    if case.prepare is not None:
        case.prepare(work)
    before = snapshot(tmp_path)
    monkeypatch.chdir(work / case.cwd)
    capsys.readouterr()
    code = main(["-q", *case.argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert case.message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert snapshot(tmp_path) == before  # nothing created, deleted or changed


def test_verbose_shows_the_traceback(built: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uniret.cli", "-v", "corpus", "build", "--knowledge",
         str(built / "kilt"), "--out", str(tmp_path / "p")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_overwrite_replaces_only_the_same_kind(built: Path, tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "w"
    shutil.copytree(built, work)
    monkeypatch.chdir(work)
    old = (work / "bm25" / "meta.json").read_text()
    assert main(["-q", "index", "bm25", "--passages", "passages", "--out", "bm25",
                 "--overwrite", "--k1", "1.2"]) == 0  # fmt: skip
    assert json.loads((work / "bm25" / "meta.json").read_text())["bm25"]["k1"] == 1.2
    assert (work / "bm25" / "meta.json").read_text() != old
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temp or lock left
    assert main(["-q", "retrieve", "--index", "bm25", "--input", "kilt/cfever-dev-kilt.jsonl",
                 "--out", "pred", "--k", "3"]) == 0  # fmt: skip
    meta = json.loads((work / "pred" / "meta.json").read_text())
    assert sorted(meta["files"]) == ["cfever-dev-kilt.jsonl", "trex-dev-kilt.jsonl"]
    assert main(["-q", *TRAIN, "--overwrite"]) == 0
    assert (work / "run" / "uniret_biencoder.json").is_file()
    assert not list(work.glob(".run.*"))  # the previous run, kept aside, is gone at the end


def test_resume_removes_a_checkpoint_write_cut_short(built: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(built, work)
    stale = work / "run" / ".checkpoint.k9x2.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    mine = work / "run" / "my-notes.txt"
    mine.write_text("kept\n")
    os.chdir(work)
    try:
        assert main(["-q", *TRAIN, "--resume"]) == 0
    finally:
        os.chdir(REPO)
    assert not stale.exists() and mine.read_text() == "kept\n"


def test_concurrent_writers_one_wins_others_get_a_clear_error(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "passages"
    argv = [sys.executable, "-m", "uniret.cli", "-q", "corpus", "build", "--knowledge",
            str(built / "kilt" / "knowledge.jsonl"), "--out", str(out)]  # fmt: skip
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert sum(code == 0 for code, _ in results) == 1, results
    for code, err in results:
        if code:
            assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
            assert "being written by another uniret process" in err or "--overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passages"]  # no temp or lock left
    assert json.loads((out / "meta.json").read_text())["pages"] == len(PAGES)


def test_quiet_silences_library_progress_bars(built: Path, tiny_model: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uniret.cli", "-q", "encode", "--model", tiny_model, "--passages",
         str(built / "passages"), "--out", str(tmp_path / "emb")],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert "Loading weights" not in result.stderr and "%|" not in result.stderr


def test_skip_invalid_skips_a_non_utf8_line(built: Path, tmp_path: Path) -> None:
    bad = tmp_path / "trex-dev-kilt.jsonl"
    bad.write_bytes(b'{"id": "1", "input": "Warsaw"}\n{"id": "2", "input": "\xff"}\n')
    out = tmp_path / "pred"
    argv = ["-q", "retrieve", "--index", str(built / "bm25"), "--input", str(bad), "--out",
            str(out), "--skip-invalid"]  # fmt: skip
    assert main(argv) == 0
    assert [json.loads(x)["id"] for x in (out / bad.name).read_text().splitlines()] == ["1"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
@pytest.mark.parametrize("command", ["corpus", "retrieve", "evaluate"])
def test_unwritable_output_is_one_line(
    command: str, built: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.chdir(built)
    argv = {
        "corpus": ["corpus", "build", "--knowledge", KILT, "--out", str(locked / "p")],
        "retrieve": ["retrieve", "--index", "bm25", "--input", TREX, "--out", str(locked / "p")],
        "evaluate": ["evaluate", "--gold", "kilt", "--pred", "pred", "--json", str(locked / "m")],
    }[command]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {locked}: Permission denied" in err and len(err.splitlines()) == 1
    assert not any(locked.iterdir())
