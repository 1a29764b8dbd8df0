"""Task registry: what each KILT task is and how its inputs become retrieval queries."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from uniret.errors import UniretError

ENT_START = "[START_ENT]"
ENT_END = "[END_ENT]"
SEP = "[SEP]"


class InputKind(enum.StrEnum):
    """How a task's ``input`` field is shaped."""

    QUESTION = "question"
    """A natural-language question, used as is."""
    CLAIM = "claim"
    """A claim to verify, used as is."""
    SLOT = "slot"
    """``subject [SEP] relation`` (slot filling); ``[SEP]`` becomes the query separator."""
    ENTITY = "entity"
    """Text with one mention inside ``[START_ENT] ... [END_ENT]`` (entity linking)."""
    DIALOGUE = "dialogue"
    """Turns separated by newlines; the last turns that fit are kept."""


@dataclass(frozen=True)
class TaskSpec:
    """One registered task."""

    name: str
    category: str
    kind: InputKind


@dataclass(frozen=True)
class QueryFormat:
    """Options of query formatting.

    ``sep``: what replaces ``[SEP]`` in slot-filling inputs (a tokenizer's own separator,
    or a space for BM25). ``entity_markers``: keep or strip ``[START_ENT]``/``[END_ENT]``.
    ``entity_window``: words kept on each side of the mention (0 keeps all).
    ``dialogue_max_words``: the last dialogue turns are kept while they fit in this many words.
    """

    sep: str = " [SEP] "
    entity_markers: bool = True
    entity_window: int = 0
    dialogue_max_words: int = 128


_TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> None:
    """Add or replace a task in the registry."""
    _TASKS[spec.name] = spec


for _spec in (
    # KILT
    TaskSpec("nq", "open-domain QA", InputKind.QUESTION),
    TaskSpec("hotpotqa", "multi-hop open-domain QA", InputKind.QUESTION),
    TaskSpec("triviaqa", "open-domain QA", InputKind.QUESTION),
    TaskSpec("eli5", "long-form QA", InputKind.QUESTION),
    TaskSpec("fever", "fact checking", InputKind.CLAIM),
    TaskSpec("aidayago2", "entity linking", InputKind.ENTITY),
    TaskSpec("wned", "entity linking", InputKind.ENTITY),
    TaskSpec("cweb", "entity linking", InputKind.ENTITY),
    TaskSpec("trex", "slot filling", InputKind.SLOT),
    TaskSpec("structured_zeroshot", "slot filling", InputKind.SLOT),
    TaskSpec("zsre", "slot filling", InputKind.SLOT),
    TaskSpec("wow", "dialogue", InputKind.DIALOGUE),
    # kiltmini additions
    TaskSpec("grec", "slot filling", InputKind.SLOT),
    TaskSpec("cfever", "fact checking", InputKind.CLAIM),
    TaskSpec("wikiqa", "open-domain QA", InputKind.QUESTION),
    TaskSpec("musique", "multi-hop open-domain QA", InputKind.QUESTION),
    TaskSpec("dbpedia", "entity retrieval", InputKind.QUESTION),
):
    register_task(_spec)


class UnknownTaskError(UniretError, KeyError):
    """A task name the registry does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; raises UnknownTaskError listing the known ones."""
    try:
        return _TASKS[name]
    except KeyError:
        known = ", ".join(known_tasks())
        raise UnknownTaskError(
            f"unknown task {name!r}; known tasks: {known}. "
            "Name the file <task>-<split>-kilt.jsonl after a known task, pass --task, "
            "or register it with uniret.tasks.registry.register_task"
        ) from None


def known_tasks() -> list[str]:
    """Names of every registered task."""
    return sorted(_TASKS)


_SPACES = re.compile(r"\s+")


def format_queries(
    inputs: Sequence[str], task: str | None, fmt: QueryFormat = QueryFormat()
) -> list[str]:
    """Format raw ``inputs`` of ``task`` (free text when None: whitespace normalised only).

    Formatting is idempotent, so an already formatted query (as training files store them)
    formats to the same string as its raw input."""
    if task is None:
        return [_SPACES.sub(" ", x).strip() for x in inputs]
    spec = get_task(task)
    return [format_query(x, spec, fmt) for x in inputs]


def format_query(text: str, spec: TaskSpec, fmt: QueryFormat = QueryFormat()) -> str:
    """Turn a KILT ``input`` into the query string a retriever sees."""
    if spec.kind is InputKind.SLOT:
        parts = [p.strip() for p in text.split(SEP)]
        return fmt.sep.join(p for p in parts if p)
    if spec.kind is InputKind.ENTITY:
        return _format_entity(text, fmt)
    if spec.kind is InputKind.DIALOGUE:
        return _format_dialogue(text, fmt.dialogue_max_words)
    return _SPACES.sub(" ", text).strip()


def _format_entity(text: str, fmt: QueryFormat) -> str:
    if fmt.entity_window > 0 and ENT_START in text and ENT_END in text:
        before, rest = text.split(ENT_START, 1)
        mention, after = rest.split(ENT_END, 1)
        left = before.split()[-fmt.entity_window :]
        right = after.split()[: fmt.entity_window]
        text = " ".join([*left, ENT_START, mention.strip(), ENT_END, *right])
    if not fmt.entity_markers:
        text = text.replace(ENT_START, " ").replace(ENT_END, " ")
    return _SPACES.sub(" ", text).strip()


def _format_dialogue(text: str, max_words: int) -> str:
    turns = [t.strip() for t in text.split("\n") if t.strip()]
    kept: list[str] = []
    used = 0
    for turn in reversed(turns):
        n = len(turn.split())
        if kept and used + n > max_words:
            break
        kept.append(turn)
        used += n
    kept.reverse()
    if kept and len(kept[0].split()) > max_words:  # a single over-long last turn: keep its end
        kept[0] = " ".join(kept[0].split()[-max_words:])
    return " ".join(kept)
