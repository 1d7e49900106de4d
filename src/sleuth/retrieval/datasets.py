"""Evaluation data files: the one jsonl reader, BEIR relevance judgements and `DatasetError` every dataset
loader shares (`evals.datasets` builds its QA datasets on them), and the retrieval evaluation sets (the
shared layout's questions.jsonl + corpus.jsonl, and BEIR folders)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sleuth.retrieval.evaluate import Query


class DatasetError(ValueError):
    """A dataset that cannot be read: a missing file, an unknown layout, a malformed line (the message names
    the file and line)."""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a jsonl file.

    Raises:
        DatasetError: the file is missing, not UTF-8, or a line is not a JSON object.
    """
    if not path.exists():
        raise DatasetError(f"no such file: {path}")
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{number}: expected a JSON object")
                yield number, row
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """A BEIR `qrels/<split>.tsv`: query id -> passage id -> relevance score (a header line is skipped)."""
    qrels: dict[str, dict[str, float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] in ("query-id", "query_id"):
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = float(row[2])
            except ValueError:
                raise DatasetError(f"{path}: bad score in row {row}") from None
    return qrels


def load_questions(path: Path) -> list[Query]:
    """`questions.jsonl`: one object a line with `id`, `question` and `gold_passage_ids`."""
    queries = []
    for number, record in read_jsonl(path):
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
    qrels = read_qrels(qrels_path)
    texts = {str(r.get("_id", r.get("id"))): str(r.get("text", "")) for _, r in read_jsonl(queries_path)}
    queries = [Query(qid, texts[qid], judged) for qid, judged in qrels.items() if qid in texts]
    if not queries:
        raise DatasetError(f"no query in {queries_path} has judgements in {qrels_path}")
    return corpus, queries
