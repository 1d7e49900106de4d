"""Which retrieved passages a reading shows: the best hits, and the hits they name (a bridge's second hop).

A 0.5B reader given the two gold passages of a multi-hop question scores about twice what it scores among
five ranked hits, and most of the gap is the second hop: the passage about the entity the first passage
names (the director of the film, the band of the singer), which shares few words with the question and so
ranks low. Wikipedia-style corpora (HotpotQA was built by following such links) name that entity by its
passage title, so code can follow the link: among the question's own hits, the one whose title a leading
hit's text names is pulled up beside it. Measured on multihop_dev (hybrid search, questions 1-100 of seed
0): every gold passage among the three shown for 44% of the questions, against 26% for the top three hits
and 33% for BM25's top five; on 20 other questions a 0.5B reader scored F1 0.31 on the three linked
passages against 0.20 on BM25's top five (docs/architecture.md).

Pure functions: no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from sleuth.agents.ask.grounding import compared_names, side_passages
from sleuth.agents.support import content_words
from sleuth.retrieval.base import Passage

LEAD = 2
"""Best hits a linked context starts from: each may pull up one passage its text names."""
MIN_TITLE_CHARS = 4
"""A title shorter than this ("It", "Us") is named by chance in too many texts to be a link."""

_WORD = re.compile(r"\w+", re.UNICODE)
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")


def title_key(title: str) -> str:
    """A title as the words a text would name it by: lower case, without its "(disambiguation)" suffix.

    "Lilu (mythology)" is named "Lilu" in the texts that link to it.
    """
    return " ".join(_WORD.findall(_QUALIFIER.sub("", title).lower()))


def names(passage: Passage, other: Passage) -> bool:
    """Whether `passage`'s text names `other` by its title (whole words, case-folded)."""
    key = title_key(other.title)
    if len(key) < MIN_TITLE_CHARS or not content_words(key) or key == title_key(passage.title):
        return False
    return f" {key} " in _spoken(passage.text)


@lru_cache(maxsize=256)
def _spoken(text: str) -> str:
    """A text as space-separated lower-case words; cached, since a leading hit is matched against every hit."""
    return f" {' '.join(_WORD.findall(text.lower()))} "


def linked_context(question: str, hits: Sequence[Passage], size: int, *, lead: int = LEAD) -> list[Passage]:
    """The `size` passages a reading shows, from one search's hits in rank order.

    First the `lead` best hits, then for each of them the best-ranked other hit its text names (the second
    hop of a bridge question), then the remaining hits by rank. A comparison ("..., A or B?") names both of
    its sides in the question itself: there each side's best hit titled by it leads, then the hits by rank
    (a linked passage would only push a side out).
    """
    if size <= 0:
        return []
    chosen: list[Passage] = []

    def take(passage: Passage) -> None:
        if len(chosen) < size and all(p.id != passage.id for p in chosen):
            chosen.append(passage)

    if compared_names(question):
        for titled in side_passages(question, hits):
            if titled is not None:
                take(titled)
        for hit in hits:
            take(hit)
        return chosen

    leaders = list(hits[:lead])
    for leader in leaders:
        take(leader)
    for leader in leaders:
        named = next((h for h in hits[lead:] if names(leader, h) and h.id not in {p.id for p in chosen}), None)
        if named is not None:
            take(named)
    for hit in hits:
        take(hit)
    return chosen
