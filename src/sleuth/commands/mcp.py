"""`sleuth mcp`: the MCP tools (research, ask, search, feedback) over stdio, for an MCP client to launch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import typer

from sleuth.commands.common import fail, settings

if TYPE_CHECKING:
    from sleuth.config import Settings
    from sleuth.mcp.tools import ToolDeps


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


def mcp(
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="The tools' default collection (default: SLEUTH_COLLECTION, demo)."
    ),
    fake_llm: bool = typer.Option(
        False,
        "--fake-llm",
        help="No model at all: the built-in grounded fake model answers and a hash embedder stands in for the "
        "embedding model (tests and demos). Use a scratch SLEUTH_HOME: what it indexes gets hash vectors.",
    ),
) -> None:
    """Serve research, ask, search and feedback as MCP tools over stdio: an MCP client starts this command
    and talks to it on stdin/stdout. Over HTTP the same tools are at /mcp of `sleuth serve`, behind its API
    tokens."""
    from sleuth.mcp.tools import build_mcp_server

    current = settings()
    server = build_mcp_server(lambda: _open_deps(current, collection), version=_version())
    with ExitStack() as stack:
        if fake_llm:
            from sleuth.testing import HashEmbedder, grounded_llm, override

            stack.enter_context(override(llm=grounded_llm(), embedder=HashEmbedder()))
        try:
            server.run("stdio")
        except BaseExceptionGroup as group:  # the SDK's task groups wrap what the lifespan raised
            fail(_startup_error(group))
        except KeyboardInterrupt:
            pass


@asynccontextmanager
async def _open_deps(current: Settings, collection: str | None) -> AsyncIterator[ToolDeps]:
    """The configured model (a URL or the embedded one), the patch store and the facade, open while the
    server runs. Inside the SDK's stdio claim: anything printed on the way goes to stderr, not the wire."""
    from sleuth.api import Sleuth
    from sleuth.feedback import open_patch_store
    from sleuth.llm import connect
    from sleuth.mcp.tools import ToolDeps

    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(connect(current))
        patches = open_patch_store(current)
        stack.callback(patches.close)
        sleuth = Sleuth(current, llm=llm, patches=patches, collection=collection)
        stack.callback(sleuth.close)
        yield ToolDeps(sleuth=sleuth, patches=patches)


def _startup_error(group: BaseExceptionGroup) -> str:
    """What to tell the user when the server could not start (the model or its weights, usually)."""
    from sleuth.llm.base import LLMError
    from sleuth.llm.weights import ModelWeightsError

    known = group.subgroup((LLMError, ModelWeightsError, OSError))
    if known is None:
        raise group
    leaf: BaseException = known
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return str(leaf)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sleuth")
    except PackageNotFoundError:
        return "0"
