"""The ASP ask loop with a scripted model: search-first policy, re-asks, time-is-up, summaries, patches."""

from __future__ import annotations

from sleuth.agents.ask.loop import load_ask_variant, run_ask
from sleuth.agents.ask.parse import NO_INFO
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.agents.results import NO_ANSWER
from sleuth.config import Settings
from sleuth.feedback.base import PatchView
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import ScriptedLLM, StaticRetriever

PASSAGES = [
    Passage("p-jaws", "Jaws is a 1975 film directed by Steven Spielberg. It was a box-office hit.", "Jaws"),
    Passage(
        "p-spielberg", "Steven Spielberg was born in Cincinnati, Ohio. He grew up in Arizona.", "Steven Spielberg"
    ),
    Passage("p-tahoe", "Lake Tahoe is a freshwater lake in the Sierra Nevada.", "Lake Tahoe"),
]


def make_deps(llm: ScriptedLLM, patches: list[PatchView] | None = None, **settings: object) -> AgentDeps:
    class Patches:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str | None]] = []

        def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None):
            self.calls.append((query, collection))
            return list(patches or [])

    return AgentDeps(
        llm=llm,
        retriever=StaticRetriever(PASSAGES),
        prompts=load_prompt_set(),
        settings=Settings(**settings),
        patches=Patches(),
        events=EventLog(),
        collection="films",
    )


async def test_two_hop_search_then_answer_cites_the_supporting_passage() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "I need the director.\n<search>Who directed the film Jaws?",
                "<search>Where was Steven Spielberg born?</search>",
                "The director was born in Cincinnati.\n<answer>Cincinnati</answer>",
            ],
            "summarizer": ['{"sentences": [1]}', '{"sentences": [1]}'],
        }
    )
    deps = make_deps(llm)
    result = await run_ask("Where was the director of Jaws born?", deps)

    assert result.answer == "Cincinnati"
    assert [s.query for s in result.search_calls] == [
        "Who directed the film Jaws?",
        "Where was Steven Spielberg born?",
    ]
    assert result.turns == 3
    assert result.finish == "answer"
    assert [c.passage_id for c in result.citations] == ["p-spielberg"]
    assert result.citations[0].quote == "Steven Spielberg was born in Cincinnati, Ohio."
    # The model never writes the information block: stops end its turn at the closing tag.
    assert all("<information>" in c.params.stop for c in llm.calls_for("ask"))
    # The summary is what the model reads next, inside <information>.
    assert (
        "<information>Jaws: Jaws is a 1975 film directed by Steven Spielberg.</information>"
        in llm.calls_for("ask")[1].prompt
    )
    assert result.search_calls[0].hit_ids[0] == "p-jaws"
    assert result.usage["ask"].calls == 3 and result.usage["summarizer"].calls == 2
    assert [t.role for t in result.trajectory][:2] == ["system", "user"]
    assert {e.type for e in result.events} >= {"node_started", "search", "answer", "node_finished"}
    assert result.prompt_set_hash == deps.prompts.hash


async def test_answer_before_search_is_rejected_in_always_mode() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<answer>Paris</answer>",
                "<search>Who directed Jaws?</search>",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert result.answer == "Steven Spielberg"
    assert len(result.search_calls) == 1
    second = llm.calls_for("ask")[1].prompt
    assert "you have not searched" in second
    assert any(e.type == "warning" and "rejected" in e.data["message"] for e in result.events)


async def test_free_variant_accepts_an_answer_without_search() -> None:
    llm = ScriptedLLM(by_agent={"ask": "I know this.\n<answer>Paris</answer>"})
    result = await run_ask("What is the capital of France?", make_deps(llm), variant="free")

    assert result.answer == "Paris"
    assert result.search_calls == []
    assert llm.calls_for("ask")[0].messages[0]["content"] == load_ask_variant("free")
    assert result.variant == "free"


async def test_missing_tags_are_re_asked_then_the_question_itself_is_searched() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "I think it is Spielberg.",
                "Spielberg.",
                "Definitely Spielberg.",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    ask_calls = llm.calls_for("ask")
    assert "Your reply had no tag" in ask_calls[1].prompt
    assert ask_calls[1].params.temperature > 0  # a re-ask at temperature 0 would repeat itself
    # After 1 + 2 tagless replies the loop searches the question itself rather than answer unsearched.
    assert [s.query for s in result.search_calls] == ["Who directed Jaws?"]
    assert result.answer == "Steven Spielberg"


async def test_time_is_up_turn_after_max_turns() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<search>Who directed Jaws?</search>",
                "<search>Jaws director?</search>",
                "<search>Jaws film</search>",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm), max_turns=3)

    assert len(result.search_calls) == 3
    assert result.finish == "time_up"
    assert result.answer == "Steven Spielberg"
    assert llm.calls_for("ask")[-1].messages[-1]["content"] == load_prompt_set()["ask_time_is_up"]
    assert result.turns == 4


async def test_settings_limit_turns_and_no_answer_is_a_clear_fallback() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<search>Who directed Jaws?</search>",
                "<search>Jaws director?</search>",
                "<search>Jaws film crew?</search>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm, ask_max_turns=2))

    assert len(result.search_calls) == 2
    assert result.answer == NO_ANSWER
    assert result.finish == "fallback"
    assert result.citations == []


async def test_summariser_finding_nothing_says_so_and_is_not_cited() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed Jaws?</search>", "<answer>unknown</answer>"],
            "summarizer": '{"sentences": []}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert result.search_calls[0].summary == NO_INFO
    assert f"<information>{NO_INFO}</information>" in llm.calls_for("ask")[1].prompt
    assert result.citations == []


async def test_search_without_hits_skips_the_summariser() -> None:
    llm = ScriptedLLM(by_agent={"ask": ["<search>zzzz qqqq?</search>", "<answer>none</answer>"]})
    result = await run_ask("zzzz?", make_deps(llm))

    assert result.search_calls[0].hit_ids == []
    assert result.search_calls[0].summary == NO_INFO
    assert llm.calls_for("summarizer") == []


async def test_search_uses_settings_k() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Jaws Spielberg Tahoe</search>", "<answer>x</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("q?", make_deps(llm, search_k=2))

    assert result.search_calls[0].k == 2
    assert len(result.search_calls[0].hit_ids) == 2


async def test_closed_variant_never_searches() -> None:
    llm = ScriptedLLM(
        by_agent={"ask": ["<search>Who directed Jaws?</search>", "<answer>Steven Spielberg</answer>"]}
    )
    deps = make_deps(llm, patches=[PatchView("p1", "Who directed Jaws?", "Someone", "evidence", 0.9)])
    result = await run_ask("Who directed Jaws?", deps, variant="closed")

    assert result.search_calls == []
    assert deps.retriever.queries == []
    assert llm.calls_for("summarizer") == []
    assert result.answer == "Steven Spielberg"
    assert result.patches_used == []


async def test_patches_are_shown_as_quoted_user_corrections() -> None:
    patch = PatchView("p1", "Who directed Jaws?", "Steven Spielberg", "Jaws was directed by Spielberg.", 0.8)
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed Jaws?</search>", "<answer>Steven Spielberg</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    deps = make_deps(llm, patches=[patch])
    result = await run_ask("Who directed Jaws?", deps)

    first = llm.calls_for("ask")[0].messages[1]["content"]
    assert "BEGIN USER CORRECTIONS" in first and '"Steven Spielberg"' in first
    assert first.index("END USER CORRECTIONS") < first.index("Question: Who directed Jaws?")
    assert result.patches_used == ["p1"]
    assert deps.patches.calls == [("Who directed Jaws?", "films")]
    # A correction does not exempt the agent from searching.
    assert len(result.search_calls) == 1


async def test_a_repeated_query_is_not_searched_again() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<search>Who directed Jaws?</search>",
                "<search>who directed  jaws</search>",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    deps = make_deps(llm)
    result = await run_ask("Who directed Jaws?", deps)

    assert len(result.search_calls) == 1 and len(deps.retriever.queries) == 1
    assert "You already searched for that" in llm.calls_for("ask")[2].prompt
    assert result.answer == "Steven Spielberg"


async def test_closed_book_plain_sentence_is_kept_as_an_untagged_answer() -> None:
    llm = ScriptedLLM(by_agent={"ask": "Steven Spielberg directed Jaws. He is famous."})
    result = await run_ask("Who directed Jaws?", make_deps(llm), variant="closed")

    assert result.answer == "Steven Spielberg directed Jaws."
    assert result.finish == "untagged"
    assert len(llm.calls_for("ask")) == 3  # the reply and two re-asks, then its own words are kept
    assert "Write <answer>" in llm.calls_for("ask")[0].messages[-1]["content"]  # format said last


async def test_an_answer_that_only_says_nothing_was_found_sends_the_model_searching_again() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<search>Who directed Jaws?</search>",
                "<answer>No helpful information found.</answer>",
                "<search>Who was the director of the 1975 film Jaws?</search>",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": ['{"sentences": []}', '{"sentences": [1]}'],
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert "That is not an answer" in llm.calls_for("ask")[2].prompt
    assert len(result.search_calls) == 2
    assert result.answer == "Steven Spielberg"


async def test_the_reminder_and_follow_up_cue_come_from_the_prompt_set_and_are_said_last() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed the film Jaws?</search>", "<answer>Steven Spielberg</answer>"],
            "summarizer": ['{"sentences": [1]}'],
        }
    )
    deps = make_deps(llm)
    deps.prompts = deps.prompts.with_prompts({"ask_reminder": "CUE-FIRST", "ask_followup": "CUE-NEXT"})
    result = await run_ask("Who directed Jaws?", deps)

    first, second = llm.calls_for("ask")
    assert first.messages[-1]["content"].endswith("\n\nCUE-FIRST")
    assert second.messages[-1]["content"].endswith("</information>\n\nCUE-NEXT")
    assert result.prompt_set_hash == deps.prompts.hash  # the cues are part of the recorded set


async def test_an_empty_follow_up_cue_leaves_the_information_alone_and_variants_keep_their_reminder() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed the film Jaws?</search>", "<answer>Steven Spielberg</answer>"] * 2,
            "summarizer": ['{"sentences": [1]}'] * 2,
        }
    )
    deps = make_deps(llm)
    deps.prompts = deps.prompts.with_prompts({"ask_reminder": "CUE-FIRST", "ask_followup": "  "})
    await run_ask("Who directed Jaws?", deps)
    assert llm.calls_for("ask")[1].messages[-1]["content"].endswith("</information>")

    await run_ask("Who directed Jaws?", deps, variant="free")
    free_first = llm.calls_for("ask")[2].messages[-1]["content"]
    assert "CUE-FIRST" not in free_first and free_first.endswith("</search>.")


GUESS = "I think the answer is probably 42."


async def test_an_untagged_guess_found_in_no_passage_is_refused_not_answered() -> None:
    llm = ScriptedLLM(by_agent={"ask": GUESS, "summarizer": '{"sentences": [1]}'})
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert result.search_calls  # it did search: the guess was read, checked and found in no passage
    assert (result.answer, result.finish, result.citations) == (NO_ANSWER, "refused", [])
    assert any(e.type == "warning" and "refused" in e.data["message"] for e in result.events)
    assert result.events[-2].type == "answer" and result.events[-2].data["finish"] == "refused"


async def test_a_tagged_answer_found_in_no_passage_is_refused() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed Jaws?</search>", "<answer>Alfred Hitchcock</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert (result.answer, result.finish, result.citations) == (NO_ANSWER, "refused", [])


async def test_an_empty_reply_is_no_answer_not_an_empty_one() -> None:
    llm = ScriptedLLM(by_agent={"ask": "", "summarizer": '{"sentences": [1]}'})
    result = await run_ask("Who directed Jaws?", make_deps(llm))

    assert result.answer == NO_ANSWER and result.finish in ("fallback", "refused") and result.citations == []


async def test_an_answer_only_a_corrections_evidence_holds_is_kept_an_evidence_free_one_refused() -> None:
    reply = {
        "ask": ["<search>Who directed Jaws?</search>", "<answer>Joe Alves</answer>"],
        "summarizer": '{"sentences": [1]}',
    }
    backed = PatchView("p1", "Who directed Jaws?", "Joe Alves", "Joe Alves directed Jaws 3-D.", 0.9)
    kept = await run_ask("Who directed Jaws?", make_deps(ScriptedLLM(by_agent=dict(reply)), patches=[backed]))
    assert (kept.answer, kept.finish) == ("Joe Alves", "answer")

    bare = PatchView("p2", "Who directed Jaws?", "Joe Alves", "", 0.9, flags=("no-evidence",))
    refused = await run_ask("Who directed Jaws?", make_deps(ScriptedLLM(by_agent=dict(reply)), patches=[bare]))
    assert (refused.answer, refused.finish) == (NO_ANSWER, "refused")


async def test_yes_to_a_yes_no_question_is_not_refused_and_comparison_variants_keep_their_answers() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Is Jaws a film?</search>", "<answer>yes</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    assert (await run_ask("Is Jaws a film?", make_deps(llm))).finish == "answer"
    # Free and closed book measure what the model knows unsearched: their answers are not refused.
    closed = ScriptedLLM(by_agent={"ask": "<answer>Alfred Hitchcock</answer>"})
    assert (await run_ask("Who directed Jaws?", make_deps(closed), variant="closed")).finish == "answer"


async def test_the_loops_nudges_come_from_the_prompt_set_so_an_optimizer_can_tune_them() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [
                "<answer>Steven Spielberg</answer>",
                "<search>Who directed Jaws?</search>",
                "<answer>Steven Spielberg</answer>",
            ],
            "summarizer": '{"sentences": [1]}',
        }
    )
    deps = make_deps(llm)
    deps.prompts = deps.prompts.with_prompts({"ask_nudge_search_first": "SEARCH FIRST, PLEASE."})
    result = await run_ask("Who directed Jaws?", deps)
    # The answer given before any search is refused with the prompt set's own text.
    assert llm.calls_for("ask")[1].messages[-1]["content"] == "SEARCH FIRST, PLEASE."
    assert result.answer == "Steven Spielberg" and result.searches == 1
