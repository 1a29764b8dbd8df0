"""``uniret train`` and ``uniret mine``: training runs and hard-negative mining."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from uniret.cli.args import Formatter, add_config_overrides, add_overwrite, int_at_least
from uniret.cli.selection import add_retriever_selection, open_selected_retriever
from uniret.errors import UniretError

MINED_FILE = "train-examples.jsonl"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a (multi-task) retriever from a TOML/YAML config",
        formatter_class=Formatter,
        description="Train a bi-encoder on the KILT train files of data_dir: task-homogeneous "
        "batches, in-batch + hard negatives (full mode) or a softmax over the frozen corpus "
        "vectors of `index` (query_side mode). Checkpoints every checkpoint_every steps; "
        "--resume continues exactly. --out is a new or empty folder, or an earlier run's "
        "folder with --resume (continue) or --overwrite (start over).",
    )
    p.add_argument("--config", help="TOML or YAML file of the config keys below")
    p.add_argument("--out", required=True, help="model folder (also holds checkpoints and logs)")
    add_config_overrides(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    add_overwrite(p, "model or training folder (start over)")
    p.set_defaults(func=cmd_train)
    _list_config_keys_in_help(p)

    p = sub.add_parser(
        "mine",
        help="mine hard negatives (adversarial confounders) with a retriever",
        description="Retrieve with a trained model (or BM25) over the whole corpus and keep "
        "top-ranked passages from non-gold pages as hard negatives, skipping passages that "
        f"contain a gold answer. Writes OUT/{MINED_FILE} for `train --set examples=`.",
    )
    add_retriever_selection(p, fusion=False)
    p.add_argument("--input", nargs="+", required=True, help="KILT train files")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument(
        "--count", type=int_at_least(1), default=8, help="negatives kept per query (default 8)"
    )
    p.add_argument(
        "--rank-from", type=int_at_least(0), default=0, help="first rank considered (default 0)"
    )
    p.add_argument(
        "--depth", type=int_at_least(1), default=50, help="ranks considered (default 50)"
    )
    p.add_argument("--keep-answer", action="store_true", help="keep passages holding the answer")
    p.add_argument(
        "--margin",
        type=float,
        metavar="M",
        help="also skip passages scoring above the query's best gold passage score minus M "
        "(likely unlabelled positives; e.g. 0: none above the gold; dense indexes only; "
        "default: no margin)",
    )
    p.add_argument(
        "--subject",
        action="store_true",
        help="search a slot-filling query ('subject [SEP] relation') by its subject alone: "
        "negatives about namesakes and the subject's other facts",
    )
    add_overwrite(p, "mined-examples folder")
    p.set_defaults(func=cmd_mine)


def _list_config_keys_in_help(parser: argparse.ArgumentParser) -> None:
    """Append the config keys to ``train --help``; they need torch, so only when asked."""
    plain = parser.format_help

    def format_help() -> str:
        parser.epilog = config_keys_help()
        return plain()

    parser.format_help = format_help  # type: ignore[method-assign]


def config_keys_help() -> str:
    """Every training-config key with its type (or choices) and default, for ``train --help``."""
    import enum
    import typing

    from uniret.config import config_to_dict
    from uniret.training.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    defaults = config_to_dict(TrainConfig(index="INDEX"))
    lines = ["config keys (TOML/YAML file or --set KEY=VALUE; default in brackets):"]
    for name, value in defaults.items():
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            kind = "|".join(str(m.value) for m in hint)
        else:
            kind = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        shown = "" if name == "index" or value == "" else f" [{value!r}]"
        lines.append(f"  {name:20s} {kind}{shown}")
    return "\n".join(lines)


@contextlib.contextmanager
def _training_folder(out: Path, resume: bool, overwrite: bool) -> Iterator[None]:
    """Claim ``out`` for a run; on failure before a checkpoint exists, put everything back."""
    from uniret.outputs import Artifact, claimed

    checkpoint = out / "checkpoint" / "state.json"
    if resume and overwrite:
        raise UniretError("--resume and --overwrite contradict each other; pick one")
    if resume and not checkpoint.is_file():
        raise UniretError(f"{out}: no checkpoint to resume from; drop --resume to start a new run")
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0:  # torchrun: rank 0 owns the folder
        yield
        return
    with claimed(out, Artifact.MODEL, overwrite=overwrite or resume) as existed:
        if existed and not (resume or overwrite):
            what = "a training checkpoint" if checkpoint.is_file() else "a model"
            raise UniretError(
                f"{out} already holds {what}; --resume continues it, --overwrite starts over"
            )
        aside = None
        if existed and overwrite:  # keep the old run until the new one has a checkpoint
            aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            for item in out.iterdir():
                if not item.name.endswith(".lock"):
                    os.replace(item, aside / item.name)
        before = {item.name for item in out.iterdir()}
        try:
            yield
        except BaseException:
            if not checkpoint.is_file():
                for item in out.iterdir():
                    if item.name not in before:
                        shutil.rmtree(item) if item.is_dir() else item.unlink()
                if aside is not None:
                    for item in aside.iterdir():
                        os.replace(item, out / item.name)
                    aside.rmdir()
            elif aside is not None:
                print(f"note: the previous run in {out} is kept at {aside}")
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def cmd_train(args: argparse.Namespace) -> int:
    from uniret.config import build_config, load_mapping, parse_overrides
    from uniret.training.config import TrainConfig
    from uniret.training.trainer import Trainer

    data = load_mapping(args.config) if args.config else {}
    config = build_config(TrainConfig, data, parse_overrides(args.set), args.config or "--set")
    out = Path(args.out)
    with _training_folder(out, args.resume, args.overwrite):
        trainer = Trainer(config, out)
        quiet = args.quiet or trainer.rank != 0
        with tqdm(total=trainer.total_steps, unit=" steps", desc="train", disable=quiet) as bar:

            def report(record: dict) -> None:
                bar.n = record["step"]
                post = {"loss": f"{record['loss']:.4f}", "ex/s": f"{record['examples_per_s']:.1f}"}
                if record.get("dev_rprec") is not None:
                    post["dev"] = f"{100 * record['dev_rprec']:.1f}"
                bar.set_postfix(post)
                bar.refresh()

            result = trainer.run(resume=args.resume, progress=report)
    if trainer.rank == 0:
        print(
            f"trained {result.steps} steps, {result.examples_seen:,} examples in "
            f"{result.seconds:.0f}s ({result.examples_per_second:.1f} examples/s)"
        )
        if result.best is not None:
            print(f"best dev R-precision (subset): {100 * result.best:.1f}")
        print(f"model saved to {out}")
        index = config.index or "INDEX_DIR"
        print(
            "index and evaluate it with:\n  "
            + (
                f"uniret retrieve --index {index} --model {out}"
                if config.mode == "query_side"
                else f"uniret encode --model {out} --passages PASSAGES --out EMB && "
                f"uniret index dense --embeddings EMB --out INDEX && uniret retrieve --index INDEX"
            )
            + f" --input {config.data_dir}/*-dev-kilt.jsonl --out PRED && "
            f"uniret evaluate --gold {config.data_dir} --pred PRED"
        )
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from uniret.io import write_json
    from uniret.outputs import Artifact, check_output, writing
    from uniret.retrieval.base import PassageScorer
    from uniret.training.data import MiningConfig, build_examples, mine_negatives, save_examples

    check_output(args.out, Artifact.MINED, overwrite=args.overwrite)
    if args.rank_from >= args.depth:
        raise UniretError(
            f"argument --rank-from: must be below --depth ({args.depth}), got {args.rank_from}"
        )
    if args.margin is not None and args.margin < 0:
        raise UniretError(f"argument --margin: must be >= 0, got {args.margin:g}")
    bundle, retriever = open_selected_retriever(args)
    if args.margin is not None and not isinstance(retriever, PassageScorer):
        raise UniretError("argument --margin: needs one dense index (it scores the gold passages)")
    examples = build_examples(args.input, retriever.store)
    if not examples:
        raise UniretError(
            "no example of --input has a gold passage in the index's corpus; nothing to mine"
        )
    config = MiningConfig(
        count=args.count,
        rank_from=args.rank_from,
        rank_to=args.depth,
        skip_answer=not args.keep_answer,
        subject_only=args.subject,
        margin=args.margin,
    )
    with tqdm(total=len(examples), unit=" queries", desc="mining", disable=args.quiet) as bar:
        mined = mine_negatives(examples, retriever, config, progress=bar.update)
    with writing(args.out, Artifact.MINED, overwrite=args.overwrite) as tmp:
        tmp.mkdir()
        save_examples(tmp / MINED_FILE, mined)
        write_json(
            tmp / "meta.json",
            {
                "format": "uniret.mined/1",
                "retriever": bundle.name,
                "index": [str(Path(i).resolve()) for i in bundle.indexes],
                "model": bundle.model,
                "inputs": [str(Path(i).resolve()) for i in args.input],
                "mining": dataclasses.asdict(config),
            },
        )
    out = Path(args.out) / MINED_FILE
    with_neg = sum(1 for e in mined if e.negatives)
    print(
        f"{len(mined)} examples, {with_neg} with hard negatives -> {out}\n"
        f"train on them with: uniret train --config FILE --out DIR --set examples={out}"
    )
    return 0
