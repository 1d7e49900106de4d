"""`sleuth.testing.override`: the official seam that puts fakes where sleuth builds the model, the retriever and
the embedder from settings, so tests need no private names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from sleuth.api import Sleuth
from sleuth.config import Settings
from sleuth.evals.corpus import open_retrievers
from sleuth.evals.datasets import load_dataset
from sleuth.feedback.api import open_patch_store
from sleuth.llm import connect
from sleuth.llm.clients import open_model
from sleuth.retrieval.base import Passage
from sleuth.retrieval.embedders import load_embedder
from sleuth.testing import HashEmbedder, ScriptedLLM, StaticRetriever, override

JAWS = Passage("p-jaws", "Jaws is a 1975 film directed by Steven Spielberg.", "Jaws")


async def test_every_model_factory_yields_the_stand_in_and_starts_nothing() -> None:
    fake = ScriptedLLM(["hi"])
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1")  # nothing listens there
    with override(llm=fake):
        async with connect(settings) as configured, open_model(settings, "http://judge:1/v1", "judge") as judge:
            assert configured is fake and judge is fake
        async with Sleuth.open(settings) as sleuth:
            assert sleuth.llm is fake
    async with open_model(settings, "http://judge:1/v1", "judge") as real:
        assert real is not fake  # the block ended: the real client is built again (and never called here)


async def test_the_retriever_stands_in_for_every_collection_with_its_lookup() -> None:
    retriever = StaticRetriever([JAWS])
    with override(retriever=retriever):
        searched, lookup = Sleuth(Settings()).retriever("no-such-collection")
        assert searched is retriever and lookup is not None and lookup("p-jaws") == JAWS
    other = StaticRetriever([])
    with override(retriever=other, lookup={}.get):
        assert Sleuth(Settings()).retriever("demo")[1]("p-jaws") is None


def test_an_eval_corpus_is_not_indexed_under_a_stand_in(tmp_path: Path) -> None:
    (tmp_path / "questions.jsonl").write_text(json.dumps({"id": "q", "question": "Who?", "answers": ["x"]}) + "\n")
    retriever = StaticRetriever([JAWS])
    with override(retriever=retriever):
        modes = open_retrievers(Settings(), load_dataset(tmp_path))  # no corpus: would raise without it
        assert modes("bm25") is retriever and modes("hybrid") is retriever
    assert not Settings().indexes_dir.exists()


def test_the_embedder_stands_in_for_collections_and_the_patch_store() -> None:
    embedder = HashEmbedder(dim=32)
    with override(embedder=embedder):
        assert load_embedder(Settings()) is embedder
        store = open_patch_store(Settings())
        try:
            assert store.embedder.dim == 32  # the lazy embedder built the stand-in
        finally:
            store.close()


def test_the_cli_runs_on_the_stand_ins_and_indexes_no_demo() -> None:
    from sleuth.cli import app

    llm = ScriptedLLM(by_schema={"Reading": {"answer": "Steven Spielberg", "next_search": ""}})
    with override(llm=llm, retriever=StaticRetriever([JAWS])):
        result = CliRunner().invoke(app, ["ask", "Who directed Jaws?", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "Steven Spielberg" and llm.calls
    assert not (Settings().indexes_dir / "demo").exists()


async def test_stand_ins_are_local_to_their_block_and_task() -> None:
    first, second = ScriptedLLM(["1"]), ScriptedLLM(["2"])

    async def model_seen(llm: ScriptedLLM) -> ScriptedLLM:
        with override(llm=llm):
            await asyncio.sleep(0.01)  # both blocks are open at once
            async with connect(Settings()) as seen:
                return seen  # type: ignore[return-value]

    assert await asyncio.gather(model_seen(first), model_seen(second)) == [first, second]
    with override(llm=first):
        with override(llm=second):
            async with connect(Settings()) as inner:
                assert inner is second
        async with connect(Settings()) as outer:
            assert outer is first
