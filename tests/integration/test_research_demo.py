"""`sleuth research` end to end: embedded Qwen2.5-0.5B, the bundled demo collection, hybrid retrieval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.retrieval.index import open_collection

QUESTION = "If Gallu is a demon Lilu is what?"


@pytest.mark.integration
def test_research_answer_cites_only_retrieved_passages_that_contain_the_quote() -> None:
    env = {
        **os.environ,
        "SLEUTH_MAX_TASKS_PER_ROUND": "2",
        "SLEUTH_SEARCH_K": "3",
        "SLEUTH_READER_BATCH_SIZE": "3",
        "SLEUTH_LLM_TIMEOUT_S": "900",
        "SLEUTH_LLM_REQUEST_TIMEOUT_S": "900",
    }
    sleuth = Path(sys.executable).parent / "sleuth"
    result = subprocess.run(
        [str(sleuth), "research", QUESTION, "--json", "--max-rounds", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    collection = open_collection(Settings(), "demo")
    retrieved = {pid for call in report["search_calls"] for pid in call["hit_ids"]}
    assert report["search_calls"] and report["search_calls"][0]["query"] == QUESTION
    assert report["citations"], report["answer"]
    for citation in report["citations"]:
        assert citation["passage_id"] in retrieved
        passage = collection.get(citation["passage_id"])
        assert passage is not None
        text = " ".join(passage.text.split())
        assert " ".join(citation["quote"].split()).casefold() in text.casefold()
        assert f"[{citation['n']}]" in report["answer"]
    print(
        f"\nanswer ({report['wall_s']:.0f}s): {report['answer']}\ncitations: {report['citations']}"
        f"\ndropped: {report['dropped_sentences']}\nfallback: {report['writer_fallback']}"
        f"\nusage: {json.dumps(report['usage'])}"
    )
