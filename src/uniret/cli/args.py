"""Argument types and helpers shared by the commands: every bad value is a one-line error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from uniret.errors import UniretError

if TYPE_CHECKING:
    from uniret.models.backends import BackendConfig

T = TypeVar("T")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``uniret encode: error: ... (see --help)``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps hand-wrapped epilogs (the config-key list of ``train --help``)."""


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def float_in(low: float, high: float = float("inf")) -> Callable[[str], float]:
    """An argparse type: a number in ``[low, high]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            bound = f"in [{low:g}, {high:g}]" if high != float("inf") else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value:g}")
        return value

    return parse


def csv_positive_ints(text: str) -> tuple[int, ...]:
    """``"1,5,10"`` -> ``(1, 5, 10)``; empty lists and values < 1 are refused."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated integers >= 1, got nothing")
    return tuple(int_at_least(1)(x) for x in items)


def csv_floats(text: str) -> tuple[float, ...]:
    """``"0.3,0.7"`` -> ``(0.3, 0.7)``: non-negative numbers."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated numbers, got nothing")
    return tuple(float_in(0.0)(x) for x in items)


def csv_names(text: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``; an empty list is refused."""
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated names, got nothing")
    return items


def add_overwrite(parser: argparse.ArgumentParser, kind: str) -> None:
    """``--overwrite``: replace an existing artifact of this command's own kind."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace an existing {kind} at --out (anything else there is never touched)",
    )


def add_config_overrides(parser: argparse.ArgumentParser, what: str = "config") -> None:
    """``--set KEY=VALUE`` (repeatable): override a key of a training config."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a {what} key (repeatable), e.g. --set lr=1e-5 --set tasks=trex,grec",
    )


def add_keep_models(parser: argparse.ArgumentParser) -> None:
    """``--keep-models``: keep the weights of every model an experiment's cells make."""
    parser.add_argument(
        "--keep-models",
        action="store_true",
        help="keep the weights (and a retriever bundle) of every trained model; by default a "
        "model no other cell builds on is dropped once evaluated, its record kept (a cell "
        "whose weights an earlier run dropped trains again with this flag)",
    )


def add_backend(parser: argparse.ArgumentParser, what: str, *, auto: bool = False) -> None:
    """``--backend torch|openvino``, ``--int8`` and ``--bf16``: what runs the encoder for
    ``what``; with ``auto``, the default is ``auto``: OpenVINO when installed, else PyTorch."""
    parser.add_argument(
        "--backend",
        default="auto" if auto else "torch",
        choices=["auto", "torch", "openvino"] if auto else ["torch", "openvino"],
        help=f"what runs the encoder for {what}: PyTorch, or OpenVINO on the CPU (about 2x "
        "faster; exported once and cached)"
        + (" (default auto: OpenVINO if installed, else PyTorch)" if auto else " (default torch)"),
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="OpenVINO with int8 weights and activations, calibrated on a sample of passages",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="PyTorch under bf16 autocast (for GPUs; CPUs without bf16 instructions are slower)",
    )


def backend_config(args: argparse.Namespace) -> BackendConfig:
    """The BackendConfig of :func:`add_backend`'s flags."""
    import importlib.util

    from uniret.models.backends import BackendConfig

    name = args.backend
    if name == "auto":
        name = "openvino" if importlib.util.find_spec("openvino") is not None else "torch"
    if args.bf16 and args.backend == "auto":
        name = "torch"
    return make(BackendConfig, name=name, int8=args.int8, bf16=args.bf16)


def make(cls: Callable[..., T], **kwargs: Any) -> T:
    """Build a config object; its validation errors become one-line CLI errors."""
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UniretError(str(exc)) from None


def device(name: str | None) -> str:
    """The torch device to use: ``name``, else cuda when present, else the CPU with one thread
    per core this process may run on (``OMP_NUM_THREADS``, when set, decides instead)."""
    import torch

    if name:
        return name
    if torch.cuda.is_available():
        return "cuda"
    from uniret.models.backends import omp_threads

    if omp_threads() is None:
        torch.set_num_threads(usable_cores())
    return "cpu"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask; ``os.cpu_count`` elsewhere)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def quiet_libraries() -> None:
    """Silence the progress bars of transformers and huggingface_hub (``-q``)."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
