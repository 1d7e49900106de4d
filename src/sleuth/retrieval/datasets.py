"""Retrieval evaluation sets: the shared layout (questions.jsonl + corpus.jsonl) and BEIR folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sleuth.retrieval.evaluate import Query


class DatasetError(ValueError):
    """An evaluation file is missing or not in the expected layout."""


def load_questions(path: Path) -> list[Query]:
    """`questions.jsonl`: one object a line with `id`, `question` and `gold_passage_ids`."""
    queries = []
    for number, record in _jsonl(path):
        try:
            queries.append(
                Query(
                    str(record["id"]),
                    str(record["question"]),
                    {str(pid): 1.0 for pid in record["gold_passage_ids"]},
                )
            )
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{path}:{number}: expected id, question and gold_passage_ids ({exc})") from exc
    return queries


def load_beir(folder: Path, split: str = "test") -> tuple[Path, list[Query]]:
    """A BEIR folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
    `qrels/<split>.tsv` (query-id, corpus-id, score; header line).

    Returns:
        (the corpus path, the queries that have judgements in the split).
    """
    corpus, queries_path, qrels_path = (
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        folder / "qrels" / f"{split}.tsv",
    )
    for needed in (corpus, queries_path, qrels_path):
        if not needed.exists():
            raise DatasetError(f"not a BEIR folder: {needed} is missing")
    qrels: dict[str, dict[str, float]] = {}
    with qrels_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] in ("query-id", "query_id"):
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = float(row[2])
            except ValueError as exc:
                raise DatasetError(f"{qrels_path}: bad score in row {row}") from exc
    texts = {str(r.get("_id", r.get("id"))): str(r.get("text", "")) for _, r in _jsonl(queries_path)}
    queries = [Query(qid, texts[qid], judged) for qid, judged in qrels.items() if qid in texts]
    if not queries:
        raise DatasetError(f"no query in {queries_path} has judgements in {qrels_path}")
    return corpus, queries


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.exists():
        raise DatasetError(f"no such file: {path}")
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    out.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
    return out
