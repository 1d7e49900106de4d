"""One entry point for short answers: runs the chosen ask strategy (grounded, or the ASP tag loop)."""

from __future__ import annotations

from sleuth.agents.ask.grounded import run_grounded
from sleuth.agents.ask.loop import run_ask
from sleuth.agents.deps import AgentDeps
from sleuth.agents.results import AskResult
from sleuth.names import STRATEGIES, Strategy, Variant
from sleuth.tracing import spans


async def ask_short(
    question: str, deps: AgentDeps, *, strategy: Strategy | None = None, variant: Variant = "always"
) -> AskResult:
    """Answer in a few words with `strategy` (default: `settings.ask_strategy`, or `asp` when a variant
    other than `always` is asked for, since variants belong to the ASP loop).

    Raises:
        ValueError: an unknown strategy, an empty question, or a variant given to the grounded strategy.
    """
    chosen = strategy or ("asp" if variant != "always" else deps.settings.ask_strategy)
    if chosen not in STRATEGIES:
        raise ValueError(f"unknown ask strategy {chosen!r}; choose one of {', '.join(STRATEGIES)}")
    if chosen == "grounded" and variant != "always":
        raise ValueError(f"variant {variant!r} belongs to the asp strategy; the grounded one always searches")
    attributes = {
        spans.STRATEGY: chosen,
        spans.VARIANT: variant if chosen == "asp" else None,
        spans.COLLECTION: deps.collection,
    }
    with spans.run_span("ask", question, attributes, content=deps.settings.trace_content) as span:
        if chosen == "grounded":
            result = await run_grounded(question, deps)
        else:
            result = await run_ask(question, deps, variant=variant)
        if span.is_recording():
            span.set_attribute(spans.FINISH, result.finish)
            spans.record_text(span, "sleuth.answer", "sleuth.answer", result.answer)
        return result
