"""`sleuth mcp --fake-llm` as an MCP client launches it: a child process spoken to over stdio by the SDK's own
client, answering from a collection indexed here (hash embedder) and keeping the corrections it is given."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from sleuth.config import Settings
from sleuth.retrieval.index import open_collection
from sleuth.testing import HashEmbedder

SRC = Path(__file__).resolve().parents[2] / "src"

DOCS = [
    {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish."},
    {"id": "heron", "title": "Grey heron", "text": "The grey heron hunts fish in shallow water."},
    {"id": "paris", "title": "Paris", "text": "Paris is the capital of France, on the river Seine."},
]


def _index_zoo(tmp_path: Path) -> None:
    corpus = tmp_path / "zoo.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    with open_collection(Settings(), "zoo", embedder=HashEmbedder()) as collection:
        collection.add([corpus])


def _server() -> StdioServerParameters:
    env = {
        "SLEUTH_HOME": os.environ["SLEUTH_HOME"],
        "SLEUTH_MODELS_DIR": os.environ["SLEUTH_MODELS_DIR"],
        "SLEUTH_MAX_ROUNDS": "1",
        "PYTHONPATH": str(SRC),
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "sleuth.cli", "mcp", "--fake-llm", "--collection", "zoo"], env=env
    )


async def test_stdio_tools_answer_from_the_collection_with_progress_and_keep_corrections(tmp_path: Path) -> None:
    _index_zoo(tmp_path)
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(_server(), read_timeout_seconds=120) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        research = await client.call_tool(
            "research", {"question": "What do sea otters use as tools?"}, progress_callback=on_progress
        )
        added = await client.call_tool(
            "feedback_add",
            {"query": "What do otters eat?", "answer": "shellfish", "evidence": "Otters open shellfish."},
        )
        listed = await client.call_tool("feedback_list", {"limit": 10})

    assert set(tools) == {"research", "ask", "search", "feedback_add", "feedback_list"}
    schema = tools["research"].input_schema
    assert schema["required"] == ["question"] and set(schema["properties"]) == {
        "question",
        "collection",
        "max_rounds",
        "form",
    }
    assert schema["properties"]["form"]["enum"] == ["answer", "report"]
    assert tools["search"].input_schema["properties"]["mode"]["enum"] == ["bm25", "dense", "hybrid"]

    assert not research.is_error, research.content
    report = research.structured_content
    assert report is not None and report["status"] == "answered" and report["collection"] == "zoo"
    cited = {c["passage_id"]: c["quote"] for c in report["citations"]}
    assert cited == {"otter": "Sea otters use rocks as tools to open shellfish."}  # a passage of the collection
    assert "[1]" in report["answer"] and "[1]" in research.content[0].text  # type: ignore[union-attr]
    assert progress and progress[0].startswith("run ") and any(m.startswith("search ") for m in progress)

    assert not added.is_error and added.structured_content is not None
    assert listed.structured_content is not None
    [stored] = listed.structured_content["corrections"]
    assert stored["id"] == added.structured_content["id"]
    assert (stored["query"], stored["answer"], stored["collection"]) == ("What do otters eat?", "shellfish", "zoo")
