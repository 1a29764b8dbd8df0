"""The kiltmini benchmark shipped in the package: complete, and BM25 on it reproduces the
reference figures of its README (within 1.5 points)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from uniret.defaults import DEFAULT_DATA
from uniret.experiments.report import main_systems
from uniret.experiments.runner import Runner
from uniret.experiments.shared import find_knowledge
from uniret.experiments.spec import quickstart_experiment
from uniret.io import open_binary
from uniret.tasks.kilt import find_task_files

KILTMINI = Path(DEFAULT_DATA)
TASKS = ["cfever", "grec", "hotpotqa", "trex", "wikiqa"]
# page-level dev R-precision given in the kiltmini README (checked with the KILT evaluator)
REFERENCE_BM25 = {"cfever": 41.5, "grec": 93.1, "hotpotqa": 69.1, "trex": 75.8, "wikiqa": 62.6}
# an unpacked copy of the same benchmark, where a checkout has one beside it
UNPACKED = Path(__file__).resolve().parents[2] / "shared" / "data" / "kiltmini"


def test_shipped_copy_has_every_train_and_dev_file_and_its_readme() -> None:
    assert (KILTMINI / "README.md").is_file()
    assert find_knowledge(KILTMINI).name == "knowledge.jsonl.gz"
    for split in ("train", "dev"):
        assert [f.task for f in find_task_files(KILTMINI, split)] == TASKS
    assert not find_task_files(KILTMINI, "test")  # test splits are held back


@pytest.mark.skipif(not UNPACKED.is_dir(), reason="no unpacked kiltmini beside the checkout")
def test_shipped_copy_decompresses_to_the_benchmark_files() -> None:
    for packed in sorted(KILTMINI.glob("*.gz")):
        with open_binary(packed) as handle:
            ours = hashlib.sha256(handle.read()).hexdigest()
        theirs = hashlib.sha256((UNPACKED / packed.name.removesuffix(".gz")).read_bytes())
        assert ours == theirs.hexdigest(), packed.name


def test_bm25_matches_reference_figures(tmp_path: Path) -> None:
    results = Runner(quickstart_experiment(KILTMINI, systems=1), tmp_path).run()
    got = {t: 100 * r["metrics"]["Rprec"] for t, r in main_systems(results)["BM25"].items()}
    assert set(got) == set(REFERENCE_BM25)
    for task, reference in REFERENCE_BM25.items():
        assert abs(got[task] - reference) <= 1.5, (task, got[task], reference)


# page-level dev R-precision of the quickstart's systems, as published in the README
README_MACRO = {
    "BM25": 68.6,
    "base (zero-shot)": 70.2,
    "BM25 + base": 78.8,
    "multi-task (query side)": 74.2,
    "BM25 + multi-task": 79.2,
}


@pytest.mark.slow
def test_quickstart_reproduces_the_published_figures(tmp_path: Path) -> None:
    """The whole main job on kiltmini (about 25 minutes on 2 CPU cores: `pytest -m slow`)."""
    from uniret.evaluation.tables import macro_mean

    results = Runner(quickstart_experiment(KILTMINI), tmp_path).run()
    for system, published in README_MACRO.items():
        tasks = main_systems(results)[system]
        got = 100 * (macro_mean(r["metrics"]["Rprec"] for r in tasks.values()) or 0.0)
        assert abs(got - published) <= 0.15, (system, got, published)
