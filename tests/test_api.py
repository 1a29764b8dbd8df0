"""The public API is importable from the package root, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import uniret


@pytest.mark.parametrize("name", [n for n in uniret.__all__ if n != "__version__"])
def test_root_reexports_the_public_api(name: str) -> None:
    obj = getattr(uniret, name)
    module = __import__(uniret._API[name], fromlist=[name])
    assert obj is getattr(module, name)
    assert name in dir(uniret)


def test_all_lists_exactly_the_api() -> None:
    assert set(uniret.__all__) == {*uniret._API, "__version__"}


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        uniret.nope  # noqa: B018


def test_import_uniret_loads_neither_torch_nor_faiss() -> None:
    code = "import sys, uniret; print(sorted(m for m in ('torch', 'faiss') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
