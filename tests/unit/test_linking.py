"""Linked contexts: a leading hit pulls up the hit its text names (a bridge question's second hop)."""

from __future__ import annotations

from sleuth.agents.ask.grounded import run_grounded
from sleuth.agents.ask.linking import linked_context, names, title_key
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.config import Settings
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Filter, Hit, Passage
from sleuth.testing import ScriptedLLM


def passage(pid: str, title: str, text: str) -> Passage:
    return Passage(pid, text, title)


ALU = passage("alu", "Alû", "Alû is a demon of Akkadian mythology, like the gallu and the Lilu.")
LILU = passage("lilu", "Lilu (mythology)", "A lilu is a masculine Akkadian word for a spirit.")
DEMONS = [passage(f"d{n}", f"Demon list {n}", f"Gallu demons appear in text {n}.") for n in range(4)]


def ids(passages: list[Passage]) -> list[str]:
    return [p.id for p in passages]


def test_title_key_drops_the_disambiguation_and_case() -> None:
    assert title_key("Lilu (mythology)") == "lilu"
    assert title_key("The Exies") == "the exies"


def test_a_named_hit_is_pulled_up_beside_the_lead_over_better_ranked_distractors() -> None:
    hits = [ALU, *DEMONS, LILU]  # the second hop ranks last: it shares no word with the question

    shown = linked_context("If Gallu is a demon Lilu is what?", hits, 3)

    assert ids(shown) == ["alu", "d0", "lilu"]
    assert ids(linked_context("If Gallu is a demon Lilu is what?", hits, 3, lead=1)) == ["alu", "lilu", "d0"]


def test_without_links_the_hits_keep_their_rank_and_size_is_a_bound() -> None:
    hits = [*DEMONS, LILU]
    assert ids(linked_context("Who were the gallu?", hits, 3)) == ["d0", "d1", "d2"]
    assert ids(linked_context("Who were the gallu?", hits, 10)) == ids(hits)
    assert linked_context("Who were the gallu?", hits, 0) == []


def test_a_comparison_shows_each_side_first_and_follows_no_link() -> None:
    exies = passage("ex", "The Exies", "The Exies formed in 1997; they toured with Circus Diablo.")
    filler = passage("f", "Rock music", "Rock music is a genre.")
    diablo = passage("cd", "Circus Diablo", "Circus Diablo formed in 2006.")
    other = passage("o", "Pop music", "Pop music is a genre.")
    hits = [exies, filler, other, diablo]
    question = "Which band was formed first, The Exies or Circus Diablo?"

    assert ids(linked_context(question, hits, 3)) == ["ex", "cd", "f"]
    assert ids(linked_context(question, [filler, other, diablo, exies], 2)) == ["ex", "cd"]
    assert ids(linked_context("Which band toured with The Exies?", hits, 3)) == ["ex", "f", "cd"]


def test_short_titles_own_title_and_partial_words_are_not_links() -> None:
    text = passage("t", "Stephen King", "It is a novel by Stephen King; its sequel was Misery-like.")
    assert not names(text, passage("it", "It", "It is a 1986 novel."))  # too short to be a link
    assert not names(text, passage("sk2", "Stephen King (author)", "Another chunk."))  # its own title
    assert not names(text, passage("mis", "Miser", "A miser hoards."))  # "Miser" is not the word "Misery"
    assert names(text, passage("mis2", "Misery", "Misery is a novel."))


class RankedRetriever:
    """Returns its passages in a fixed rank order for the first query, nothing new afterwards."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.calls: list[tuple[str, int]] = []

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        self.calls.append((query, k))
        return [Hit(p, 1.0 - i / 100) for i, p in enumerate(self.passages[:k])]


async def test_the_first_reading_shows_the_linked_second_hop_and_searches_deep_enough_to_find_it() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "a spirit", "next_search": ""}]})
    retriever = RankedRetriever([ALU, *DEMONS, LILU])
    deps = AgentDeps(
        llm=llm,
        retriever=retriever,
        prompts=load_prompt_set(),
        settings=Settings(ask_read_size=3, ask_max_reads=1),
        events=EventLog(),
    )

    result = await run_grounded("If Gallu is a demon Lilu is what?", deps)

    assert retriever.calls[0] == ("If Gallu is a demon Lilu is what?", deps.settings.ask_link_depth)
    prompt = llm.calls[0].prompt
    assert LILU.text in prompt and ALU.text in prompt and DEMONS[1].text not in prompt
    assert result.answer == "a spirit"
    assert [c.passage_id for c in result.citations] == ["lilu"]
