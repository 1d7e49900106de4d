"""The official seam: put fakes in place of the model, the retriever and the embedder sleuth would build from
settings, wherever it builds them (`Sleuth.open`, `sleuth.llm.connect`, the CLI commands, the eval jobs,
the patch store), without patching private names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sleuth.llm.base import ChatModel, model_override
from sleuth.retrieval.base import Embedder, Lookup, Retriever, embedder_override, retriever_override


@contextmanager
def override(
    *,
    llm: ChatModel | None = None,
    retriever: Retriever | None = None,
    lookup: Lookup | None = None,
    embedder: Embedder | None = None,
) -> Iterator[None]:
    """Use these parts instead of the configured ones inside the block (pydantic-ai's `Agent.override`).

    Args:
        llm: the model every `connect` / `open_model` yields, whatever URL is asked for (a judge or
            teacher model too); no server is started.
        retriever: what every collection and eval corpus is searched with; nothing is opened or indexed.
        lookup: passage id -> passage for citation checks; default: the retriever's `get`, when it has one
            (`StaticRetriever` does).
        embedder: what `load_embedder` returns (the collections' and the patch store's embedder).

    Example:
        with override(llm=ScriptedLLM(["<answer>Paris</answer>"]), retriever=StaticRetriever(passages)):
            CliRunner().invoke(app, ["ask", "Capital of France?"])
    """
    with ExitStack() as stack:
        if llm is not None:
            stack.enter_context(model_override.use(llm))
        if retriever is not None:
            stack.enter_context(retriever_override.use((retriever, lookup or getattr(retriever, "get", None))))
        if embedder is not None:
            stack.enter_context(embedder_override.use(embedder))
        yield
