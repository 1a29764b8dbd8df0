"""Probe (as run, before `passage_adapter` existed; superseded by it): the query-side stage
with a trainable residual map on the frozen passage vectors.

p' = normalize(p + W2 gelu(W1 p)), W2 starts at zero (identity map). Trained jointly with the
query tower through the corpus softmax; then the index's vectors are mapped once and written
as a new flat index. Usage: probe.py ROUND1_CELL_DIR OUT HIDDEN ADAPTER_LR SEED
"""

import json
import os
import shutil
import sys
from pathlib import Path

import faiss
import numpy as np
import torch
from torch import nn

import uniret.training.trainer as T
from uniret.cli import main as cli
from uniret.training.loss import CorpusSoftmaxLoss

cell, out, hidden, alr, seed = (
    Path(sys.argv[1]),
    Path(sys.argv[2]),
    int(sys.argv[3]),
    float(sys.argv[4]),
    sys.argv[5],
)
DATA = os.environ.get("DATA", "src/uniret/data/kiltmini")
out.mkdir(parents=True, exist_ok=True)


class Adapter(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        nn.init.zeros_(self.down.weight)
        nn.init.zeros_(self.down.bias)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(p + self.down(nn.functional.gelu(self.up(p))), dim=-1)


torch.manual_seed(1234)
adapter = Adapter(384, hidden)
base_forward = CorpusSoftmaxLoss.forward


def forward(self, queries, batch, epoch, step):
    frozen = self.corpus
    self.corpus = adapter(frozen)
    try:
        return base_forward(self, queries, batch, epoch, step)
    finally:
        self.corpus = frozen


CorpusSoftmaxLoss.forward = forward
base_opt = T.make_optimizer


def make_optimizer(params, config, device):
    opt = base_opt(params, config, device)
    opt.add_param_group({"params": list(adapter.parameters()), "lr": alr, "weight_decay": 0.0})
    return opt


T.make_optimizer = make_optimizer
model = out / "model"
cfg = cell.parent / cell.name.replace("-round1", "") / "model" / "train_config.toml"
if not (model / "uniret_biencoder.json").exists():
    rc = cli(
        [
            "train",
            "--config",
            str(cfg),
            "--set",
            f"data_dir={DATA}",
            "--set",
            f"seed={seed}",
            "--out",
            str(model),
        ]
    )
    assert rc == 0, rc
    torch.save(adapter.state_dict(), out / "adapter.pt")
adapter.load_state_dict(torch.load(out / "adapter.pt"))
src = cell / "index"
index = faiss.read_index(str(src / "index.faiss"))
vectors = index.reconstruct_n(0, index.ntotal)
with torch.no_grad():
    mapped = adapter(torch.from_numpy(vectors)).numpy()
moved = np.einsum("ij,ij->i", vectors, mapped)
print(f"cosine(original, mapped): mean {moved.mean():.4f} min {moved.min():.4f}")
dst = out / "index"
dst.mkdir(exist_ok=True)
flat = faiss.IndexFlatIP(384)
flat.add(mapped)
faiss.write_index(flat, str(dst / "index.faiss"))
shutil.copy(src / "ids.npy", dst / "ids.npy")
meta = json.loads((src / "meta.json").read_text())
meta["passages"]["path"] = str(cell.parent.parent / "shared" / "passages")
meta["passages"]["relative_path"] = os.path.relpath(meta["passages"]["path"], dst)
(dst / "meta.json").write_text(json.dumps(meta, indent=1))
inputs = [f"{DATA}/{t}-dev-kilt.jsonl.gz" for t in ("cfever", "grec", "hotpotqa", "trex", "wikiqa")]
if not (out / "pred").exists():
    rc = cli(
        [
            "retrieve",
            "--index",
            str(dst),
            "--model",
            str(model),
            "--backend",
            "openvino",
            "--int8",
            "--input",
            *inputs,
            "--out",
            str(out / "pred"),
        ]
    )
    assert rc == 0, rc
rc = cli(["evaluate", "--gold", DATA, "--pred", str(out / "pred"), "--json", str(out / "dev.json")])
