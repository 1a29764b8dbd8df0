from __future__ import annotations

from pathlib import Path

import pytest

from uniret.config import (
    SHIPPED_CONFIGS,
    build_config,
    config_to_dict,
    load_mapping,
    parse_overrides,
    resolve_config,
    to_toml,
)
from uniret.errors import InputError
from uniret.models.biencoder import QueryMode
from uniret.training.config import TrainConfig, TrainMode
from uniret.training.sampler import TaskSampling


def test_toml_file_plus_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('index = "idx"\nepochs = 3\ntasks = ["trex"]\ntask_weights = { trex = 2.0 }\n')
    over = parse_overrides(
        ["lr=1e-4", "tasks=trex,grec", "sampling=temperature", "query_mode=per_task"]
    )
    config = build_config(TrainConfig, load_mapping(cfg), over, str(cfg))
    assert config.epochs == 3 and config.lr == 1e-4 and config.tasks == ("trex", "grec")
    assert config.sampling is TaskSampling.TEMPERATURE and config.query_mode is QueryMode.PER_TASK
    assert config.task_weights == {"trex": 2.0} and config.mode is TrainMode.QUERY_SIDE
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config_to_dict(config)))  # the resolved config reloads to the same
    assert build_config(TrainConfig, load_mapping(again), {}, str(again)) == config


def test_shipped_configs_are_found_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = SHIPPED_CONFIGS / "multitask-kiltmini.toml"
    assert resolve_config("configs/multitask-kiltmini.toml") == shipped
    assert resolve_config("universal-kiltmini.toml") == SHIPPED_CONFIGS / "universal-kiltmini.toml"
    assert load_mapping("configs/multitask-kiltmini.toml")["mode"] == "query_side"
    # a file of that path here comes first: the user's own configs/ folder
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "multitask-kiltmini.toml").write_text("epochs = 7\n")
    assert load_mapping("configs/multitask-kiltmini.toml") == {"epochs": 7}
    # only configs/<name> or a bare name falls back; a missing file is named
    with pytest.raises(InputError, match=r"^configs/nope\.toml: no such file"):
        load_mapping("configs/nope.toml")
    with pytest.raises(InputError, match=r"^mine/multitask-kiltmini\.toml: no such file"):
        load_mapping("mine/multitask-kiltmini.toml")
    with pytest.raises(InputError, match=r"^configs: is a folder, expected a file"):
        load_mapping("configs")


def test_yaml_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("index: idx\nbatch_size: 8\n")
    assert build_config(TrainConfig, load_mapping(cfg), {}, str(cfg)).batch_size == 8


def test_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'epochz': unknown key"):
        build_config(TrainConfig, {"index": "i"}, {"epochz": "2"}, "x.toml")
    with pytest.raises(InputError, match="'epochs': cannot read 'two'"):
        build_config(TrainConfig, {"index": "i"}, {"epochs": "two"}, "x.toml")
    with pytest.raises(InputError, match="needs `index`"):
        build_config(TrainConfig, {}, {}, "x.toml")
    with pytest.raises(InputError, match="expected key=value"):
        parse_overrides(["lr"])
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(InputError, match="cannot parse"):
        load_mapping(bad)
