"""Experiment files: expansion over tasks/k/seeds, typed placeholders, checked dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from uniret.errors import InputError
from uniret.experiments.spec import System, expand, load_experiment


def _write(tmp_path: Path, kilt_dir: Path, cells: str) -> Path:
    for dev in kilt_dir.glob("*-dev-kilt.jsonl"):
        (kilt_dir / dev.name.replace("-dev-", "-train-")).write_bytes(dev.read_bytes())
    path = tmp_path / "exp.toml"
    path.write_text(f'[experiment]\nname = "t"\ndata_dir = "{kilt_dir}"\n{cells}')
    return path


def test_expand_fills_placeholders_keeping_types() -> None:
    raw = {
        "name": "fs-{task}-k{k}",
        "for_each": {"task": "$tasks", "k": [16, 64]},
        "train": {"examples_per_task": "{k}", "tasks": ["{task}"]},
    }
    cells = expand(raw, ["grec", "trex"])
    assert [c["name"] for c in cells] == [
        "fs-grec-k16",
        "fs-grec-k64",
        "fs-trex-k16",
        "fs-trex-k64",
    ]
    assert cells[1]["train"] == {"examples_per_task": 64, "tasks": ["grec"]}  # int, not "64"
    assert "for_each" not in cells[0]


def test_load_experiment_expands_every_task(tmp_path: Path, kilt_dir: Path) -> None:
    path = _write(
        tmp_path,
        kilt_dir,
        '[[cell]]\nname = "bm25"\nsystem = "bm25"\ntags = ["baseline"]\n'
        '[[cell]]\nname = "one-{task}"\nfor_each = { task = "$tasks" }\ntrain = {}\n'
        'exclude_tasks = ["{task}"]\n',
    )
    spec = load_experiment(path)
    assert [c.name for c in spec.cells] == ["bm25", "one-cfever", "one-hotpotqa", "one-trex"]
    assert spec.cells[0].system is System.BM25 and not spec.cells[0].trains
    assert spec.cell("one-trex").exclude_tasks == ("trex",) and spec.cell("one-trex").trains
    assert [c.name for c in spec.select(["baseline"])] == ["bm25"]
    assert [c.name for c in spec.select(["one-*"])] == ["one-cfever", "one-hotpotqa", "one-trex"]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ('[[cell]]\nname = "a"\nmystery = 1\n', "unknown keys ['mystery']"),
        ('[[cell]]\nname = "a"\ninit = "b"\ntrain = {}\n', "depends on 'b', which is not defined"),
        ('[[cell]]\nname = "a"\n[[cell]]\nname = "a"\n', "two cells have this name"),
        ('[[cell]]\nname = "a"\nsystem = "sparse"\n', "'sparse' is not a valid System"),
        ('[[cell]]\nname = "a"\nfusion = { method = "rrf" }\n', "fusion settings are for hybrid"),
        (
            '[[cell]]\nname = "a"\nsystem = "hybrid"\nfusion = { weights = [1, 2, 3] }\n',
            "give two, [BM25, dense]",
        ),
        (
            '[[cell]]\nname = "a"\nsystem = "hybrid"\nfusion = { weight = [1, 2] }\n',
            "unknown fusion keys ['weight']",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\nmine_with = "a"\n'
            "mine = { margins = 0.1 }\ntrain = {}\n",
            "unknown mine keys ['margins']",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\nmine_with = "a"\n'
            "mine = { margin = -1 }\ntrain = {}\n",
            "margin must be >= 0",
        ),
        ('[[cell]]\nname = "a"\nmine = { count = 4 }\ntrain = {}\n', "need `mine_with`"),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\naverage = ["a", "a"]\n',
            "`average` names at least two other cells",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\ntrain = {}\n'
            '[[cell]]\nname = "c"\naverage = ["a", "b"]\ntrain = {}\n',
            "a cell trains, averages or names a `model`",
        ),
        ('[[cell]]\nname = "b"\naverage = ["a", "c"]\n', "depends on 'a', which is not defined"),
        (
            '[[cell]]\nname = "a"\nsystem = "bm25"\n'
            '[[cell]]\nname = "b"\nteachers = { trex = "a" }\ntrain = {}\n',
            "teacher of trex, 'a', has no model",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\nteachers = { trex = "a" }\n',
            "`teachers` needs a `train` table",
        ),
        (
            '[[cell]]\nname = "b"\nteachers = { trex = "a" }\ntrain = {}\n'
            '[[cell]]\nname = "a"\ntrain = {}\n',
            "depends on 'a', which comes after it",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n'
            '[[cell]]\nname = "b"\ndistill_from = { trex = "a" }\n',
            "`distill_from` needs a `train` table",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\n'
            'distill_from = { trex = "a" }\ntrain = { distill = "ranked" }\n',
            "give `distill_from` or `train.distill`, not both",
        ),
        (
            '[[cell]]\nname = "a"\ntrain = {}\n[[cell]]\nname = "b"\n'
            'distill_from = { fever = "a" }\ntrain = {}\n',
            "`distill_from` names ['fever'], not tasks of the data",
        ),
    ],
)
def test_bad_experiment_files_name_the_cell(
    tmp_path: Path, kilt_dir: Path, cells: str, message: str
) -> None:
    with pytest.raises(InputError, match="cell") as info:
        load_experiment(_write(tmp_path, kilt_dir, cells))
    assert message in str(info.value)
    assert str(tmp_path / "exp.toml") in str(info.value)


def test_distill_from_every_task_but_the_named_ones(tmp_path: Path, kilt_dir: Path) -> None:
    spec = load_experiment(
        _write(
            tmp_path,
            kilt_dir,
            '[[cell]]\nname = "bm25"\nsystem = "bm25"\n[[cell]]\nname = "t"\ntrain = {}\n'
            '[[cell]]\nname = "s"\ndistill_from = { "*" = "bm25", trex = "t" }\ntrain = {}\n'
            '[[cell]]\nname = "p"\ntrain = {}\n',
        )
    )
    student = spec.cell("s")
    assert student.depends_on == ("bm25", "t")
    assert student.distill_teacher("trex") == "t"
    assert student.distill_teacher("nq") == student.distill_teacher("hotpotqa") == "bm25"
    assert spec.cell("p").distill_teacher("trex") == ""


def test_opt_in_cells_run_only_when_picked(tmp_path: Path, kilt_dir: Path) -> None:
    path = _write(
        tmp_path,
        kilt_dir,
        '[[cell]]\nname = "bm25"\nsystem = "bm25"\n'
        '[[cell]]\nname = "slow"\ntags = ["full"]\ntrain = {}\n',
    )
    path.write_text(path.read_text().replace('name = "t"', 'name = "t"\nopt_in = ["full"]', 1))
    spec = load_experiment(path)
    assert [c.name for c in spec.select([])] == ["bm25"]
    assert [c.name for c in spec.select(["full"])] == ["slow"]


REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED_RECIPES = sorted(
    str(p.relative_to(REPOSITORY))
    for pattern in ("configs/universal-*.toml", "experiments/universal-*.toml")
    for p in REPOSITORY.glob(pattern)
)


def test_every_shipped_recipe_is_checked() -> None:
    assert "configs/universal-kiltmini.toml" in SHIPPED_RECIPES
    assert "experiments/universal-transfer.toml" in SHIPPED_RECIPES


@pytest.mark.parametrize("recipe", [None, *SHIPPED_RECIPES])
def test_shipped_recipes_load_and_every_training_cell_makes_a_valid_config(
    recipe: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from uniret.config import build_config
    from uniret.defaults import DEFAULT_DATA
    from uniret.experiments.runner import train_settings
    from uniret.experiments.spec import quickstart_experiment
    from uniret.training.config import TrainConfig

    if recipe is None or recipe.startswith("configs/"):
        # the default quickstart and the shipped recipes run from any folder (configs/ ships
        # with the package); the experiment files' paths are the repository's
        monkeypatch.chdir(tmp_path)
    else:
        monkeypatch.chdir(REPOSITORY)
    spec = quickstart_experiment(DEFAULT_DATA, recipe=recipe)
    names = [c.name for c in spec.cells]
    assert len(names) == len(set(names)) > 3
    trains = [c for c in spec.cells if c.trains]
    assert trains
    for cell in trains:
        # the runner adds the work folder's indexes
        data = {**train_settings(spec, cell), "index": "base-index", "bm25_index": "bm25-index"}
        config = build_config(TrainConfig, data, {}, cell.name)
        assert config.epochs >= 1 and config.mode in ("full", "query_side")


def test_a_recipe_given_as_an_experiment_file_says_how_to_run_it(tmp_path: Path) -> None:
    from uniret.cli import main

    recipe = REPOSITORY / "configs" / "universal-kiltmini.toml"
    with pytest.raises(InputError, match=r"uniret quickstart --recipe .*universal-kiltmini\.toml"):
        load_experiment(recipe)
    assert main(["experiment", "run", str(recipe), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
