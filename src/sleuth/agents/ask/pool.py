"""The passages a grounded run has read, and how a reading prompt lists them."""

from __future__ import annotations

from sleuth.retrieval.base import Passage
from sleuth.text import inline_text

PASSAGE_CHARS = 900
"""Characters of each passage shown: whole for most Wikipedia paragraphs, bounded for long chunks."""


class Pool:
    """The passages read so far, in the order found (new ones appended, so prompt prefixes repeat)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.passages: list[Passage] = []

    def add(self, passages: list[Passage], take: int) -> int:
        """Append up to `take` passages not yet pooled (while room is left); returns how many were new."""
        ids = {p.id for p in self.passages}
        added = 0
        for passage in passages:
            if added == take or len(self.passages) >= self.limit:
                break
            if passage.id not in ids and passage.text.strip():
                self.passages.append(passage)
                ids.add(passage.id)
                added += 1
        return added


def listing(passages: list[Passage]) -> str:
    """The numbered passages of a reading prompt."""
    blocks = []
    for n, p in enumerate(passages, 1):
        # Passage text is data: one line each, so it can neither start an item nor end the corrections.
        blocks.append(f"[{n}] {inline_text(p.title, 200)}\n{inline_text(p.text, PASSAGE_CHARS)}")
    return "\n\n".join(blocks)
