"""Shared offline fixtures: a tiny, real KILT knowledge source and task files written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Six pages. Paragraph ids index into "text" (text[0] is the title), as in KILT.
PAGES = [
    {
        "wikipedia_id": "10",
        "wikipedia_title": "Marie Curie",
        "text": [
            "Marie Curie",
            "Marie Curie was a Polish and naturalised-French physicist and chemist who conducted "
            "pioneering research on radioactivity.",
            "She was born in Warsaw in 1867 and died in Passy in 1934.",
            "She was the first woman to win a Nobel Prize and the only person to win it in two "
            "scientific fields.",
        ],
    },
    {
        "wikipedia_id": "11",
        "wikipedia_title": "Warsaw",
        "text": [
            "Warsaw",
            "Warsaw is the capital and largest city of Poland, on the Vistula river.",
            "The city has a population of about 1.8 million residents.",
        ],
    },
    {
        "wikipedia_id": "12",
        "wikipedia_title": "Radioactive decay",
        "text": [
            "Radioactive decay",
            "Radioactive decay is the process by which an unstable atomic nucleus loses energy "
            "by radiation.",
        ],
    },
    {
        "wikipedia_id": "13",
        "wikipedia_title": "Global warming",
        "text": [
            "Global warming",
            "Global warming is the long-term rise in the average temperature of the Earth's "
            "climate system.",
            "Sea ice in the Arctic is shrinking, which threatens polar bears.",
        ],
    },
    {
        "wikipedia_id": "14",
        "wikipedia_title": "Vistula",
        "text": ["Vistula", "The Vistula is the longest river in Poland, flowing through Warsaw."],
    },
    {"wikipedia_id": "15", "wikipedia_title": "Empty page", "text": ["Empty page"]},
]

TASKS = {
    "trex-dev-kilt.jsonl": [
        {
            "id": "t1",
            "input": "Marie Curie [SEP] place of birth",
            "output": [
                {
                    "answer": "Warsaw",
                    "provenance": [
                        {
                            "wikipedia_id": "10",
                            "title": "Marie Curie",
                            "start_paragraph_id": 2,
                            "end_paragraph_id": 2,
                        }
                    ],
                }
            ],
        },
        {
            "id": "t2",
            "input": "Vistula [SEP] country",
            "output": [
                {
                    "answer": "Poland",
                    "provenance": [
                        {
                            "wikipedia_id": "14",
                            "title": "Vistula",
                            "start_paragraph_id": 1,
                            "end_paragraph_id": 1,
                        }
                    ],
                }
            ],
        },
    ],
    "hotpotqa-dev-kilt.jsonl": [
        {
            "id": "h1",
            "input": "What river flows through the city where Marie Curie was born?",
            "output": [
                {
                    "answer": "Vistula",
                    "provenance": [
                        {"wikipedia_id": "10", "title": "Marie Curie"},
                        {"wikipedia_id": "14", "title": "Vistula"},
                    ],
                }
            ],
        }
    ],
    "cfever-dev-kilt.jsonl": [
        {
            "id": "c1",
            "input": "Global warming is driving polar bears toward extinction",
            "output": [
                {
                    "answer": "SUPPORTS",
                    "provenance": [
                        {
                            "wikipedia_id": "13",
                            "title": "Global warming",
                            "start_paragraph_id": 2,
                            "end_paragraph_id": 2,
                        }
                    ],
                }
            ],
        }
    ],
}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def cli_corpus_and_bm25(kilt_dir: Path, passages: Path, bm25: Path, *corpus_args: str) -> None:
    """`uniret corpus build` then `uniret index bm25` on the fixture knowledge source."""
    from uniret.cli import main

    knowledge = str(kilt_dir / "knowledge.jsonl")
    assert (
        main(
            [
                "-q",
                "corpus",
                "build",
                "--knowledge",
                knowledge,
                "--out",
                str(passages),
                *corpus_args,
            ]
        )
        == 0
    )
    assert main(["-q", "index", "bm25", "--passages", str(passages), "--out", str(bm25)]) == 0


@pytest.fixture
def kilt_dir(tmp_path: Path) -> Path:
    """A benchmark folder: knowledge.jsonl plus three dev task files."""
    folder = tmp_path / "kilt"
    folder.mkdir()
    write_jsonl(folder / "knowledge.jsonl", PAGES)
    for name, records in TASKS.items():
        write_jsonl(folder / name, records)
    return folder


@pytest.fixture
def store(kilt_dir: Path, tmp_path: Path):
    """A passage store of the fixture pages, 8 words per passage so pages split."""
    from uniret.corpus.chunking import ChunkConfig
    from uniret.corpus.store import PassageStore, build_passage_store

    build_passage_store(kilt_dir / "knowledge.jsonl", tmp_path / "passages", ChunkConfig(words=8))
    return PassageStore(tmp_path / "passages")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random BERT (2 layers, 32-d) and a word-level vocabulary of the fixture text,
    saved as a Hugging Face folder: loadable by path like any hub model."""
    import re

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = set()
    for page in PAGES:
        for text in page["text"]:
            words.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    for records in TASKS.values():
        for record in records:
            words.update(re.findall(r"\w+|[^\w\s]", record["input"].lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,  # deterministic: single and multi-process runs must agree
        attention_probs_dropout_prob=0.0,
    )
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return str(folder)
