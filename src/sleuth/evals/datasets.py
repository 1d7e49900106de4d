"""Eval datasets: load questions (shared-data, BEIR or plain jsonl layout), slice and shuffle them.

Layouts recognised by `load_dataset(path)`:
- shared data (`/work/shared/data/<set>`): a folder with `questions.jsonl` (`id`, `question`, `answers`,
  `gold_passage_ids`, optional `reference_answer`, `rubric`) and `corpus.jsonl` (`id`, `title`, `text`).
- BEIR: a folder with `queries.jsonl` (`_id`, `text`), `corpus.jsonl` (`_id`, `title`, `text`) and
  `qrels/<split>.tsv` (query-id, corpus-id, score); gold passages are the qrels with score > 0.
- plain jsonl: one file, one question a line (`question`/`query`, `answers`/`answer`/`golden_answers`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.retrieval.base import Passage
from sleuth.retrieval.datasets import DatasetError, read_jsonl, read_qrels


@dataclass(frozen=True)
class RubricItem:
    """One thing a good long-form answer covers (ScholarQA-CS 'ingredient')."""

    criterion: str
    important: bool = True
    """Most-important items weigh 2x nice-to-have ones."""


@dataclass
class QAExample:
    """One eval question with what it is scored against."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold_passage_ids: list[str] = field(default_factory=list)
    reference_answer: str = ""
    rubric: list[RubricItem] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    """Questions plus, when the layout has one, the corpus file they are answered from."""

    name: str
    examples: list[QAExample]
    corpus_path: Path | None = None
    layout: str = "shared"

    def passages(self) -> Iterator[Passage]:
        """The corpus passages (empty when the dataset has no corpus)."""
        if self.corpus_path is None:
            return iter(())
        return iter_corpus(self.corpus_path)

    def passage_map(self, ids: set[str] | None = None) -> dict[str, Passage]:
        """id -> passage, restricted to `ids` when given (keeps memory small for the oracle arm)."""
        return {p.id: p for p in self.passages() if ids is None or p.id in ids}


def iter_corpus(path: Path) -> Iterator[Passage]:
    """Passages of a `corpus.jsonl` (shared-data `id` or BEIR `_id`)."""
    for number, row in read_jsonl(path):
        pid = row.get("id", row.get("_id"))
        if pid is None or "text" not in row:
            raise DatasetError(f"{path}:{number}: a corpus line needs 'id' (or '_id') and 'text'")
        meta = {
            k: v
            for k, v in row.items()
            if k not in {"id", "_id", "title", "text", "source"} and isinstance(v, str | int | float | bool)
        }
        yield Passage(
            str(pid), str(row["text"]), str(row.get("title", "")), str(row.get("source", path.name)), meta
        )


def _answers(row: dict[str, Any]) -> list[str]:
    for key in ("answers", "answer", "golden_answers", "gold_answers"):
        value = row.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        return [str(v) for v in values if str(v).strip()]
    return []


def _rubric(row: dict[str, Any]) -> list[RubricItem]:
    items: list[RubricItem] = []
    for raw in row.get("rubric") or []:
        if isinstance(raw, str):
            items.append(RubricItem(raw))
        elif isinstance(raw, dict) and raw.get("criterion"):
            importance = str(raw.get("importance", "most_important")).lower()
            items.append(RubricItem(str(raw["criterion"]), important=not importance.startswith("nice")))
    # ScholarQA-CS style: {"ingredients": {"most_important": [...], "nice_to_have": [...]}}
    ingredients = row.get("ingredients") or {}
    for key, important in (("most_important", True), ("nice_to_have", False)):
        for raw in ingredients.get(key, []) if isinstance(ingredients, dict) else []:
            text = raw.get("criterion") or raw.get("name") if isinstance(raw, dict) else raw
            if text:
                items.append(RubricItem(str(text), important))
    return items


def _example(row: dict[str, Any], path: Path, number: int) -> QAExample:
    question = row.get("question", row.get("query", row.get("text")))
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{path}:{number}: a question line needs a non-empty 'question'")
    known = {
        "id",
        "_id",
        "question",
        "query",
        "text",
        "answers",
        "answer",
        "golden_answers",
        "gold_answers",
        "gold_passage_ids",
        "reference_answer",
        "rubric",
        "ingredients",
    }
    return QAExample(
        id=str(row.get("id", row.get("_id", f"line{number}"))),
        question=question.strip(),
        answers=_answers(row),
        gold_passage_ids=[str(x) for x in row.get("gold_passage_ids") or []],
        reference_answer=str(row.get("reference_answer") or ""),
        rubric=_rubric(row),
        meta={k: v for k, v in row.items() if k not in known},
    )


def _beir_gold(directory: Path, split: str) -> dict[str, list[str]]:
    qrels = directory / "qrels" / f"{split}.tsv"
    if not qrels.exists():
        candidates = sorted((directory / "qrels").glob("*.tsv"))
        if not candidates:
            raise DatasetError(f"{directory}: BEIR layout without qrels/*.tsv")
        qrels = candidates[0]
    judged = read_qrels(qrels).items()
    return {qid: ids for qid, scores in judged if (ids := [pid for pid, score in scores.items() if score > 0])}


def load_dataset(
    path: str | Path,
    *,
    limit: int | None = None,
    offset: int = 0,
    seed: int | None = None,
    split: str = "test",
) -> Dataset:
    """Load a dataset in any supported layout and take a slice of it.

    Args:
        path: a dataset folder or a jsonl file.
        limit: keep at most this many questions (after offset).
        offset: skip this many questions first.
        seed: shuffle with this seed before slicing (None keeps file order, so slices are stable).
        split: BEIR qrels split to read.

    Raises:
        DatasetError: the path is missing, of no known layout, or holds a malformed line.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file or folder")
    corpus: Path | None = None
    if path.is_file():
        layout, rows_path = "jsonl", path
    elif (path / "questions.jsonl").exists():
        layout, rows_path = "shared", path / "questions.jsonl"
    elif (path / "queries.jsonl").exists():
        layout, rows_path = "beir", path / "queries.jsonl"
    else:
        raise DatasetError(
            f"{path}: expected questions.jsonl (shared layout), queries.jsonl + qrels/ (BEIR) or a .jsonl file"
        )
    if path.is_dir() and (path / "corpus.jsonl").exists():
        corpus = path / "corpus.jsonl"
    examples = [_example(row, rows_path, number) for number, row in read_jsonl(rows_path)]
    if layout == "beir":
        gold = _beir_gold(path, split)
        examples = [e for e in examples if e.id in gold]
        for example in examples:
            example.gold_passage_ids = gold[example.id]
    if not examples:
        raise DatasetError(f"{rows_path}: no questions")
    examples = slice_examples(examples, limit=limit, offset=offset, seed=seed)
    name = path.stem if path.is_file() else path.name
    return Dataset(name=name, examples=examples, corpus_path=corpus, layout=layout)


def slice_examples(
    examples: list[QAExample], *, limit: int | None = None, offset: int = 0, seed: int | None = None
) -> list[QAExample]:
    """Shuffle (when `seed` is set, reproducibly) then take `examples[offset:offset + limit]`."""
    if offset < 0 or (limit is not None and limit < 0):
        raise DatasetError("offset and limit must not be negative")
    ordered = list(examples)
    if seed is not None:
        random.Random(seed).shuffle(ordered)
    end = None if limit is None else offset + limit
    return ordered[offset:end]
