"""Every subcommand explains itself: a description, and the default of every option."""

from __future__ import annotations

import argparse

import pytest

from uniret.cli import build_parser, main


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, (*path, name))
            return found
    return [(path, parser)]


LEAVES = _subcommands(build_parser())
NO_DEFAULT = (None, False, [], (), argparse.SUPPRESS)


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_help_shows_description_and_defaults(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys
) -> None:
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: uniret {' '.join(path)}")
    assert parser.description, f"uniret {' '.join(path)} has no description"
    for action in parser._actions:
        if not action.option_strings or action.required or action.default in NO_DEFAULT:
            continue
        assert "default" in (action.help or ""), f"{path} {action.option_strings[0]}"


def test_train_help_lists_the_config_keys(capsys) -> None:
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "config keys" in text
    for line in ("lr", "batch_size", "mode", "checkpoint_every"):
        assert f"\n  {line} " in text
    assert "2e-05" in text and "'query_side'" in text


def test_leaves_cover_every_command() -> None:
    names = {" ".join(p) for p, _ in LEAVES}
    assert {"corpus build", "index bm25", "index dense", "index map", "encode", "retrieve",
            "train", "mine", "evaluate", "data download kilt", "quickstart", "experiment run",
            "experiment report", "experiment merge", "experiment compare",
            "serve"} == names  # fmt: skip
