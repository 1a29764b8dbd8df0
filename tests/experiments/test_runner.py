"""The experiment runner on the fixture benchmark with a tiny random model: cells run, cache,
invalidate when an input changes, and a cell killed midway reruns cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import uniret.experiments.runner as runner_module
from uniret.experiments.runner import Runner
from uniret.experiments.spec import load_experiment
from uniret.io import read_json

TRAIN = """mode = "query_side"
query_mode = "separate"
epochs = 2
batch_size = 2
lr = 1e-3
scale = 5.0
checkpoint_every = 1000
"""


def _experiment(folder: Path, kilt_dir: Path, tiny_model: str, train: str = TRAIN) -> Path:
    for dev in kilt_dir.glob("*-dev-kilt.jsonl"):
        (kilt_dir / dev.name.replace("-dev-", "-train-")).write_bytes(dev.read_bytes())
    (folder / "train.toml").write_text(train)
    path = folder / "exp.toml"
    path.write_text(
        f"""[experiment]
name = "tiny"
data_dir = "{kilt_dir}"
base_model = "{tiny_model}"
train_config = "{folder / "train.toml"}"
k = 5
bootstrap = 50

[[cell]]
name = "bm25"
system = "bm25"
labels = {{ study = "main", system = "BM25" }}

[[cell]]
name = "base"
labels = {{ study = "main", system = "base" }}

[[cell]]
name = "multitask"
labels = {{ study = "main", system = "multi-task" }}
train = {{}}

[[cell]]
name = "fewshot-{{task}}-k{{k}}"
for_each = {{ task = ["trex"], k = [1] }}
labels = {{ study = "fewshot", task = "{{task}}", start = "multi-task", k = "{{k}}", seed = 0 }}
init = "multitask"
train = {{ tasks = ["{{task}}"], examples_per_task = "{{k}}" }}
eval_tasks = ["{{task}}"]
"""
    )
    return path


FULL = 'mode = "full"\nquery_mode = "shared"\nepochs = 1\nbatch_size = 2\nlr = 1e-3\n'


def _full_experiment(folder: Path, kilt_dir: Path, tiny_model: str, cells: str) -> Path:
    """The experiment file with a full-mode training config and only ``cells``."""
    spec = _experiment(folder, kilt_dir, tiny_model, FULL)
    spec.write_text(spec.read_text().split("[[cell]]")[0] + cells)
    return spec


@pytest.fixture
def experiment(tmp_path: Path, kilt_dir: Path, tiny_model: str) -> Path:
    return _experiment(tmp_path, kilt_dir, tiny_model)


def _events(
    spec_path: Path, work: Path, only: tuple[str, ...] = (), keep_models: bool = False
) -> tuple[list, dict]:
    events: list[tuple[str, str]] = []
    runner = Runner(
        load_experiment(spec_path),
        work,
        lambda kind, info: events.append((kind, info.get("cell", ""))),
        keep_models=keep_models,
    )
    results = runner.run(only)
    return [e for e in events if e[0] in ("start", "cached")], results


def test_run_writes_results_then_reruns_from_cache(experiment: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    events, results = _events(experiment, work)
    assert events == [("start", n) for n in ("bm25", "base", "multitask", "fewshot-trex-k1")]
    assert set(results["cells"]) == {"bm25", "base", "multitask", "fewshot-trex-k1"}
    cell = results["cells"]["multitask"]
    assert set(cell["results"]) == {"cfever", "hotpotqa", "trex"}
    assert cell["train"]["tasks"] == ["cfever", "hotpotqa", "trex"] and cell["train"]["steps"] > 0
    assert len(cell["results"]["trex"]["per_query"]["Rprec"]) == 2  # two trex dev queries
    assert cell["machine"]["cpu_count"] >= 1 and cell["wall_s"] > 0 and cell["commit"]
    assert cell["machine"]["threads"] == torch.get_num_threads()
    assert cell["machine"]["cpu"] == runner_module.cpu_model() != ""
    assert cell["code"] == runner_module.code_digest()  # the source that ran, git or not
    few = results["cells"]["fewshot-trex-k1"]
    assert set(few["results"]) == {"trex"} and few["train"]["config"]["examples_per_task"] == 1
    # only the model another cell starts from is kept; checkpoints are dropped
    assert (work / "cells" / "multitask" / "model" / "query").is_dir()
    assert not (work / "cells" / "fewshot-trex-k1" / "model" / "query").exists()
    assert not list((work / "cells").rglob("checkpoint"))
    assert read_json(work / "results.json")["cells"]["bm25"] == results["cells"]["bm25"]
    # the benchmark's files by digest, so that runs of other clones or machines can be merged
    assert results["data"] == runner_module.data_fingerprint(load_experiment(experiment))
    assert "trex-dev-kilt.jsonl" in results["data"] and "trex-train-kilt.jsonl" in results["data"]
    # a bundle per cell whose retriever can still be opened (the few-shot model was dropped)
    bundles = sorted(p.stem for p in (work / "retrievers").glob("*.json"))
    assert bundles == ["base", "bm25", "multitask"]
    assert read_json(work / "retrievers" / "multitask.json")["model"] == "../cells/multitask/model"

    again, second = _events(experiment, work)
    assert again == [("cached", n) for n in ("bm25", "base", "multitask", "fewshot-trex-k1")]
    assert second["cells"] == results["cells"]


def test_a_missing_training_config_fails_before_any_work(experiment: Path, tmp_path: Path) -> None:
    from uniret.errors import InputError

    text = experiment.read_text().replace("train = {}", 'train = {}\ntrain_config = "nowhere.toml"')
    experiment.write_text(text)
    work = tmp_path / "work"
    with pytest.raises(InputError, match=r"^nowhere\.toml: no such file"):
        Runner(load_experiment(experiment), work).run()
    assert not (work / "shared").exists() and not (work / "cells").exists()


def test_a_cell_whose_dropped_model_is_needed_later_reruns(
    experiment: Path, tmp_path: Path
) -> None:
    """A model no cell built on is dropped; once a new cell of the file starts from it, its
    cell trains again instead of handing the new cell a folder without weights."""
    text = experiment.read_text()
    experiment.write_text(text[: text.index('[[cell]]\nname = "fewshot-')])
    work = tmp_path / "work"
    _events(experiment, work)
    assert not (work / "cells" / "multitask" / "model" / "passage").exists()
    experiment.write_text(text)
    events, results = _events(experiment, work)
    assert events == [
        ("cached", "bm25"),
        ("cached", "base"),
        ("start", "multitask"),
        ("start", "fewshot-trex-k1"),
    ]
    assert set(results["cells"]["fewshot-trex-k1"]["results"]) == {"trex"}


def test_keep_models_keeps_every_model_and_retrains_a_dropped_one(
    experiment: Path, tmp_path: Path
) -> None:
    """With ``keep_models`` a model no cell builds on keeps its weights and its bundle; a cell
    whose weights a default run dropped trains again (to the same results), the rest stay cached."""
    from uniret.retrieval.bundle import RetrieverBundle
    from uniret.retrieval.loader import open_bundle

    work = tmp_path / "work"
    _, first = _events(experiment, work)
    few = work / "cells" / "fewshot-trex-k1"
    assert not (few / "model" / "passage").exists()
    assert not (work / "retrievers" / "fewshot-trex-k1.json").exists()

    events, kept = _events(experiment, work, keep_models=True)
    assert events == [
        ("cached", "bm25"),
        ("cached", "base"),
        ("cached", "multitask"),
        ("start", "fewshot-trex-k1"),
    ]
    assert (few / "model" / "passage").is_dir() and (few / "model" / "query").is_dir()
    assert (
        kept["cells"]["fewshot-trex-k1"]["results"] == first["cells"]["fewshot-trex-k1"]["results"]
    )
    bundle = RetrieverBundle.load(work / "retrievers" / "fewshot-trex-k1.json")
    assert Path(bundle.model).resolve() == (few / "model").resolve()
    hits = open_bundle(bundle).search(["Who wrote Hamlet?"], k=3)
    assert len(hits) == 1 and len(hits[0]) == 3

    # kept models stay kept: a rerun with the flag finds everything cached
    again, _ = _events(experiment, work, keep_models=True)
    assert [kind for kind, _ in again] == ["cached"] * 4


def test_cache_key_changes_when_any_input_changes(
    experiment: Path, tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    def keys() -> dict[str, str]:
        runner = Runner(load_experiment(experiment), tmp_path / "work")
        return {c.name: runner.key(c) for c in runner.spec.cells}

    before = keys()
    assert keys() == before  # deterministic

    # a training hyperparameter: the trained cells and the cell that starts from them
    _experiment(tmp_path, kilt_dir, tiny_model, TRAIN.replace("lr = 1e-3", "lr = 2e-3"))
    changed = keys()
    assert changed["bm25"] == before["bm25"] and changed["base"] == before["base"]
    assert changed["multitask"] != before["multitask"]
    assert changed["fewshot-trex-k1"] != before["fewshot-trex-k1"]
    _experiment(tmp_path, kilt_dir, tiny_model)
    assert keys() == before

    # one byte of one data file: every cell (all read the benchmark)
    dev = kilt_dir / "trex-dev-kilt.jsonl"
    dev.write_text(dev.read_text().replace("place of birth", "place of birth "))
    assert all(keys()[n] != before[n] for n in before)

    # the cell's own settings: its override, or the evaluation cut-off
    dev.write_text(dev.read_text().replace("place of birth ", "place of birth"))
    assert keys() == before
    experiment.write_text(
        experiment.read_text().replace('examples_per_task = "{k}"', "examples_per_task = 2")
    )
    assert keys()["fewshot-trex-k1"] != before["fewshot-trex-k1"]
    assert keys()["multitask"] == before["multitask"]
    experiment.write_text(experiment.read_text().replace("k = 5\n", "k = 3\n"))
    assert keys()["bm25"] != before["bm25"]


def test_cache_key_covers_uniret_code(experiment: Path, tmp_path: Path, monkeypatch) -> None:
    import uniret.experiments.runner as runner_module
    from uniret.experiments.shared import code_digest

    def keys() -> dict[str, str]:
        runner = Runner(load_experiment(experiment), tmp_path / "work")
        return {c.name: runner.key(c) for c in runner.spec.cells}

    before = keys()
    assert len(code_digest()) == 16 and code_digest() == code_digest()
    monkeypatch.setattr(runner_module, "code_digest", lambda: "another-version")
    after = keys()
    assert all(after[n] != before[n] for n in before)  # results of other code are not reused


def test_cell_killed_midway_reruns_cleanly(
    experiment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, clean = _events(experiment, tmp_path / "clean", ("multitask",))

    work = tmp_path / "killed"
    real = runner_module.evaluate_file
    calls = {"n": 0}

    def dies_in_the_second_file(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module, "evaluate_file", dies_in_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        _events(experiment, work, ("multitask",))
    monkeypatch.setattr(runner_module, "evaluate_file", real)

    runner = Runner(load_experiment(experiment), work)
    cell = runner.spec.cell("multitask")
    assert runner.status(cell) == "partial"
    assert not (work / "cells" / "multitask" / "cell.json").exists()

    events, results = _events(experiment, work, ("multitask",))
    assert events == [("start", "multitask")]
    assert runner.status(cell) == "cached"
    got, want = results["cells"]["multitask"], clean["cells"]["multitask"]
    assert got["key"] == want["key"]
    assert got["results"] == want["results"]  # same training, same numbers as an unbroken run


def test_stale_cell_folder_is_wiped(experiment: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _events(experiment, work, ("bm25",))
    leftover = work / "cells" / "bm25" / "pred" / "leftover.jsonl"
    leftover.write_text("{}\n")
    experiment.write_text(experiment.read_text().replace("k = 5\n", "k = 3\n"))
    runner = Runner(load_experiment(experiment), work)
    assert runner.status(runner.spec.cell("bm25")) == "stale"
    events, _ = _events(experiment, work, ("bm25",))
    assert events == [("start", "bm25")] and not leftover.exists()


def test_encode_progress_counts_up_to_the_corpus(experiment: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    def on_event(kind: str, info: dict) -> None:
        if kind == "encode":
            seen.append((info["done"], info["total"]))

    Runner(load_experiment(experiment), tmp_path / "work", on_event).run(("base",))
    assert seen and seen[-1][0] == seen[-1][1] > 0  # the base index: every passage encoded
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_full_cells_share_one_bm25_mining(tmp_path: Path, kilt_dir: Path, tiny_model: str) -> None:
    """Cells mining BM25 negatives the same way read one shared file, each keeping the examples
    of its own tasks; another mining setting gets a file of its own."""
    spec = _full_experiment(
        tmp_path,
        kilt_dir,
        tiny_model,
        """[[cell]]
name = "all"
train = {}

[[cell]]
name = "trex"
train = { tasks = ["trex"] }

[[cell]]
name = "skip"
train = { mine_skip = 2 }
""",
    )
    work = tmp_path / "work"
    _, results = _events(spec, work)
    mined = sorted((work / "shared" / "bm25-negatives").glob("*.jsonl"))
    assert len(mined) == 2
    cells = results["cells"]
    assert cells["trex"]["train"]["tasks"] == ["trex"]
    from uniret.training.data import load_examples

    every = load_examples(mined[0])
    assert {e.task for e in every} == set(cells["all"]["train"]["tasks"]) != {"trex"}
    trained = {n: read_json(work / "cells" / n / "model" / "train_log.json") for n in cells}
    assert trained["trex"]["examples_seen"] < trained["all"]["examples_seen"]
    assert not list((work / "cells").glob("*/model/train-examples.jsonl"))


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs openvino")
def test_full_cells_reencode_on_the_experiments_backend(
    tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    """A cell that re-encodes the corpus with its own model does so on the experiment's backend,
    like the base index."""
    spec = _experiment(tmp_path, kilt_dir, tiny_model, FULL)
    head = spec.read_text().split("[[cell]]")[0].replace("k = 5\n", 'k = 5\nbackend = "openvino"\n')
    spec.write_text(head + '[[cell]]\nname = "full"\ntrain = {}\n')
    work = tmp_path / "work"
    _events(spec, work)
    for index in (work / "shared" / "index-base", work / "cells" / "full" / "index"):
        assert read_json(index / "meta.json")["encoder"]["backend"] == "openvino"


def test_an_average_cell_soups_trained_models_and_others_build_on_it(
    tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    """Two full-mode seeds averaged weight by weight into a model with its own index, which a
    query-side cell then trains from and searches."""
    import torch

    from uniret.models.biencoder import BiEncoder
    from uniret.retrieval.bundle import RetrieverBundle

    spec = _full_experiment(
        tmp_path,
        kilt_dir,
        tiny_model,
        """[[cell]]
name = "a"
train = { seed = 1 }

[[cell]]
name = "b"
train = { seed = 2 }

[[cell]]
name = "soup"
average = ["a", "b"]

[[cell]]
name = "stage"
init = "soup"
train = { mode = "query_side", query_mode = "separate", epochs = 1 }

[[cell]]
name = "fused"
system = "hybrid"
model = "stage"
""",
    )
    work = tmp_path / "work"
    _, results = _events(spec, work)
    assert set(results["cells"]) == {"a", "b", "soup", "stage", "fused"}
    cells = work / "cells"
    towers = {
        n: BiEncoder.from_pretrained(str(cells / n / "model")).passage_encoder.state_dict()
        for n in ("a", "b", "soup")
    }
    moved = 0
    for key, value in towers["soup"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (towers["a"][key] + towers["b"][key]) / 2)
            moved += not torch.equal(towers["a"][key], towers["b"][key])
    assert moved > 0  # the seeds trained apart, so the average is a third model
    assert (cells / "soup" / "index").is_dir()
    stage = RetrieverBundle.load(work / "retrievers" / "stage.json")
    assert [Path(i).resolve() for i in stage.indexes] == [(cells / "soup" / "index").resolve()]
    assert "train" not in results["cells"]["soup"]
    assert results["cells"]["stage"]["train"]["config"]["mode"] == "query_side"
    # a rerun finds every cell cached
    events, _ = _events(spec, work)
    assert [kind for kind, _ in events] == ["cached"] * 5


def test_a_cell_taught_by_task_specific_cells(
    tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    """`teachers` hands each named cell's model to the training of its task, keeps the
    teachers' weights, and keys the taught cell on its teachers."""
    from uniret.config import load_mapping
    from uniret.models.biencoder import BiEncoder

    cells = """[[cell]]
name = "alone-{task}"
for_each = { task = ["trex", "hotpotqa"] }
train = { tasks = ["{task}"], seed = 1 }
eval_tasks = ["{task}"]

[[cell]]
name = "taught"
teachers = { trex = "alone-trex", hotpotqa = "alone-hotpotqa" }
train = { teacher_weight = 5.0 }

[[cell]]
name = "free"
train = { teacher_weight = 5.0 }
"""
    spec = _full_experiment(tmp_path, kilt_dir, tiny_model, cells)
    work = tmp_path / "work"
    _, results = _events(spec, work)
    models = work / "cells"
    config = load_mapping(models / "taught" / "model" / "train_config.toml")
    assert config["teachers"] == {
        "trex": str(models / "alone-trex" / "model"),
        "hotpotqa": str(models / "alone-hotpotqa" / "model"),
    }
    assert (models / "alone-trex" / "model" / "passage").is_dir()  # kept: a cell builds on it
    assert "teachers" not in results["cells"]["taught"]["train"]["config"]  # paths of this run
    weights = {
        n: BiEncoder.from_pretrained(str(models / n / "model")).passage_encoder.state_dict()
        for n in ("taught", "free")
    }
    assert any(not torch.equal(weights["taught"][k], weights["free"][k]) for k in weights["free"])
    runner = Runner(load_experiment(spec), work)
    before = runner.key(runner.spec.cell("taught"))
    spec.write_text(spec.read_text().replace("seed = 1", "seed = 2"))
    after = Runner(load_experiment(spec), work)
    assert after.key(after.spec.cell("taught")) != before
    assert after.key(after.spec.cell("free")) == runner.key(runner.spec.cell("free"))


def test_a_cell_distilled_from_other_cells_rankings(
    tmp_path: Path, kilt_dir: Path, tiny_model: str
) -> None:
    """`distill_from` ranks each named task's train queries with its teacher cell's retriever
    as evaluated (a trained model; a BM25 + base fusion), top `distill_depth`, and trains on
    those rankings; other tasks get none, the rankings' folder stays out of the record and is
    tidied once trained on, and the cell is keyed on its teachers."""
    from uniret.config import load_mapping
    from uniret.evaluation.evaluate import read_predictions
    from uniret.models.biencoder import BiEncoder
    from uniret.retrieval.bundle import RetrieverBundle
    from uniret.retrieval.loader import open_bundle
    from uniret.tasks.kilt import find_task_files, read_examples

    cells = """[[cell]]
name = "alone-trex"
train = { tasks = ["trex"], seed = 1 }
eval_tasks = ["trex"]

[[cell]]
name = "fused"
system = "hybrid"

[[cell]]
name = "distilled"
distill_from = { trex = "alone-trex", hotpotqa = "fused" }
train = { distill_depth = 4, distill_weight = 5.0 }

[[cell]]
name = "plain"
train = { distill_depth = 4, distill_weight = 5.0 }
"""
    spec = _full_experiment(tmp_path, kilt_dir, tiny_model, cells)
    work = tmp_path / "work"
    _, results = _events(spec, work)
    cell = work / "cells" / "distilled"
    teacher = cell / "teacher"
    assert not teacher.exists()  # tidied once trained on; made again here to be read
    runner = Runner(load_experiment(spec), work)
    runner._teacher_rankings(runner.spec.cell("distilled"), runner.shared())
    assert sorted(p.name for p in teacher.iterdir()) == [
        "hotpotqa-train-kilt.jsonl",
        "trex-train-kilt.jsonl",
    ]
    for task, source in (("trex", "alone-trex"), ("hotpotqa", "fused")):
        ranked = read_predictions(teacher / f"{task}-train-kilt.jsonl")
        queries = read_examples(kilt_dir / f"{task}-train-kilt.jsonl")
        bundle = RetrieverBundle.load(work / "retrievers" / f"{source}.json")
        expected = open_bundle(bundle).search([q.input for q in queries], 4, task=task)
        for query, hits in zip(queries, expected, strict=True):
            provenance = ranked[query.id][1]
            assert [p["passage_id"] for p in provenance] == [int(h.passage_id) for h in hits]
    config = load_mapping(cell / "model" / "train_config.toml")
    assert config["distill"] == str(teacher)
    assert "distill" not in results["cells"]["distilled"]["train"]["config"]  # a path of this run
    weights = {
        n: BiEncoder.from_pretrained(str(work / "cells" / n / "model")).passage_encoder.state_dict()
        for n in ("distilled", "plain")
    }
    assert any(
        not torch.equal(weights["distilled"][k], weights["plain"][k]) for k in weights["plain"]
    )
    events, _ = _events(spec, work)
    assert [kind for kind, _ in events] == ["cached"] * 4
    spec.write_text(spec.read_text().replace("seed = 1", "seed = 2"))
    after = Runner(load_experiment(spec), work)
    assert after.key(after.spec.cell("distilled")) != runner.key(runner.spec.cell("distilled"))
    assert after.key(after.spec.cell("plain")) == runner.key(runner.spec.cell("plain"))
    # "*": every task the cell trains on, here all but the one left out
    loo = '[[cell]]\nname = "loo"\nexclude_tasks = ["trex"]\ndistill_from = { "*" = "fused" }\n'
    spec.write_text(spec.read_text() + loo + "train = { distill_depth = 4 }\n")
    zero_shot = Runner(load_experiment(spec), work)
    zero_shot._teacher_rankings(zero_shot.spec.cell("loo"), zero_shot.shared())
    trained = sorted(f.name for f in find_task_files(kilt_dir, "train") if f.task != "trex")
    assert len(trained) >= 2
    assert sorted(p.name for p in (work / "cells" / "loo" / "teacher").iterdir()) == trained


def test_a_cell_with_a_passage_adapter_searches_its_own_mapped_index(
    experiment: Path, tmp_path: Path
) -> None:
    """The adapter's cell maps the index it trained over into its own; a stage built on it
    trains over and searches that mapped index, keeping the map."""
    from uniret.index.dense import DenseIndex
    from uniret.models.biencoder import BiEncoder
    from uniret.retrieval.bundle import RetrieverBundle

    text = experiment.read_text().split('[[cell]]\nname = "fewshot')[0]
    experiment.write_text(
        text
        + """[[cell]]
name = "adapted"
init = "multitask"
train = { passage_adapter = 8, adapter_lr = 1e-2 }

[[cell]]
name = "on-adapted"
init = "adapted"
train = { epochs = 1 }
"""
    )
    work = tmp_path / "work"
    _, results = _events(experiment, work, keep_models=True)
    cells = work / "cells"
    own = cells / "adapted" / "index"
    assert DenseIndex.open(own).encoder.model == str(cells / "adapted" / "model")
    base = DenseIndex.open(work / "shared" / "index-base").vectors()
    model = BiEncoder.from_pretrained(str(cells / "adapted" / "model"))
    assert model.passage_adapter is not None
    torch.testing.assert_close(
        torch.from_numpy(DenseIndex.open(own).vectors()),
        torch.from_numpy(model.passage_adapter.map(base)),
    )
    for name in ("adapted", "on-adapted"):
        bundle = RetrieverBundle.load(work / "retrievers" / f"{name}.json")
        assert [Path(i).resolve() for i in bundle.indexes] == [own.resolve()]
    assert not (cells / "on-adapted" / "index").exists()
    later = BiEncoder.from_pretrained(str(cells / "on-adapted" / "model"))
    assert later.passage_adapter is not None and later.config.passage_adapter == 8
    for key, value in model.passage_adapter.state_dict().items():  # kept as it was, frozen
        assert torch.equal(later.passage_adapter.state_dict()[key], value)
    assert set(results["cells"]) >= {"adapted", "on-adapted"}
