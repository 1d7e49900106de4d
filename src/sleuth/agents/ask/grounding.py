"""Pure text checks of the grounded ask strategy: is an answer in the passages, which searches come next.

No LLM and no I/O here, so the rules that keep a small model honest are tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sleuth.agents.ask.parse import best_sentence, supports
from sleuth.agents.support import answer_words, content_words
from sleuth.retrieval.base import Passage
from sleuth.text import split_sentences

YES_NO = frozenset({"yes", "no"})
_YES_NO_START = re.compile(
    r"^\s*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.IGNORECASE
)
# "Which band was formed first, The Exies or Circus Diablo?" -> the two names after the last comma.
_EITHER_OR = re.compile(r",\s*([^,?]+?)\s+or\s+([^,?]+?)\s*\??\s*$", re.IGNORECASE)
# "Are Christopher Nolan and Sathish Kalathil both film directors?" -> the two names before "both".
_BOTH = re.compile(
    r"^\s*(?:are|were|is|was|do|does|did|have|has)\s+(?:the\s+)?(.+?)\s+and\s+(?:the\s+)?(.+?)\s+both\b",
    re.IGNORECASE,
)
# "Which came first the forming of X or the birth of Y?": the two names after the comparing word, no comma.
_AFTER_COMPARING = re.compile(
    r"\b(?:first|earlier|later|older|oldest|younger|youngest|larger|bigger|smaller|longer|shorter|taller|"
    r"higher|lower)\b\s*(?:,\s*)?(.+?)\s+or\s+(.+?)\s*\??\s*$",
    re.IGNORECASE,
)
# "Between Iain Banks and Irwin Shaw, which writer ...?"
_BETWEEN = re.compile(r"^\s*between\s+(.+?)\s+and\s+(.+?)\s*,", re.IGNORECASE)
# "Little Caesars and Pizza Hut were founded in the 1950s. Which was the first to serve pizza?": the names
# open the statement, the asking sentence names neither.
_PAIR_STATED = re.compile(r"^\s*(.+?)\s+and\s+(.+?)\s+(?:were|are|was|is|have|had|both)\b", re.IGNORECASE)
# "Are Marian Gold and Jung Eun-ji members of the same band?": no "both" ends the second name, so it is the
# run of capitalised words (with name particles: "Géza von Cziffra") before the rest of the question.
_NAME = r"[A-Z0-9][\w.'-]*(?:\s+(?:(?:von|van|de|der|da|di|du|la|le|of|the)\s+)?[A-Z0-9][\w.'-]*)*"
_SAME_PAIR = re.compile(
    rf"^\s*(?i:are|were|is|was|do|does|did)\s+(?:the\s+)?(.+?)\s+and\s+(?:the\s+)?({_NAME})\s+[^?]*\bsame\b"
)
_WHICH = re.compile(r"^\s*(?:which|who)\b", re.IGNORECASE)
# "the birth of Robert Young" names Robert Young: a lower-case noun and "of" before a capitalised name.
_EVENT_OF = re.compile(r"^(?:the\s+)?[a-z]+\s+of\s+(?=[A-Z])")
_WORDS = re.compile(r"\w+", re.UNICODE)
_ASKS_NUMBER = re.compile(
    r"\b(when|year|decade|century|date|how (?:many|much|old|long|far|tall|big|large)|what age|population|"
    r"number|percent(?:age)?|rank|score|code)\b",
    re.IGNORECASE,
)
_OPTIONS = re.compile(r"\b(?:or|and)\b", re.IGNORECASE)
_NUMERIC = re.compile(r"^[\d\s.,:/%-]+(?:s|st|nd|rd|th|bc|ad|bce|ce)?$", re.IGNORECASE)
_COMPARES = re.compile(
    r"\b(first|earlier|earliest|later|latest|older|oldest|younger|youngest|more|most|less|fewer|larger|"
    r"largest|bigger|biggest|smaller|smallest|longer|longest|shorter|shortest|higher|highest|lower|lowest|"
    r"taller|tallest|both|either|neither|same|which one)\b",
    re.IGNORECASE,
)


def is_yes_no(answer: str) -> bool:
    return " ".join(_WORDS.findall(answer.lower())) in YES_NO


_DATE_WORDS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "bc",
        "ad",
        "bce",
        "ce",
        "early",
        "late",
        "mid",
        "of",
        "the",
    ]
)


def is_number(answer: str) -> bool:
    """A number, year or date ("1997", "1350-1600 CE", "May 19, 2008"): no name a next hop starts from."""
    words = _WORDS.findall(answer.lower())
    return any(w[0].isdigit() for w in words) and all(w[0].isdigit() or w in _DATE_WORDS for w in words)


def asking(question: str) -> str:
    """The sentence that asks: the last one ("A and B were founded within a year of each other. Which was
    first?" asks for a name, though its first sentence says "year")."""
    parts = split_sentences(question)
    return parts[-1] if parts else question


def asks_yes_no(question: str) -> bool:
    """A question whose asking sentence starts like "Is/Are/Did ...": its answer is yes or no.

    The asking sentence is the last one: "X has an OBE. Does Y have one?" is a yes/no question too.
    """
    return bool(question.strip()) and bool(_YES_NO_START.match(asking(question)))


def grounding_passage(answer: str, passages: Sequence[Passage], *, slack: int = 0) -> Passage | None:
    """The first passage whose title or text holds the answer's content words, or None (a guess).

    Words are compared by `answer_words` (case-folded, 5-letter stems, stop words dropped, numbers as digits),
    so "directors" meets "director" and "2" meets "two". Answers of three or more content words may miss `slack` of them.
    A yes/no answer has nothing to find and is never grounded here: the caller decides about it.
    """
    wanted = answer_words(answer)
    if not wanted or is_yes_no(answer):
        return None
    allowed = slack if len(wanted) >= 3 else 0
    for passage in passages:
        have = answer_words(f"{passage.title} {passage.text}")
        if len(wanted - have) <= allowed:
            return passage
    return None


def fits_question(question: str, answer: str) -> bool:
    """Whether the answer has the shape the question asks for (a cheap check of a small model's reading).

    A bare number or year answers only a question about a number, a date or a quantity; an answer that
    repeats a name the question already gives answers only a comparison between named options. Such
    answers are what a 0.5B reader writes when it picks the wrong line of the right passage.
    """
    text = answer.strip()
    if not text:
        return False
    if is_yes_no(text):
        return asks_yes_no(question)
    if _NUMERIC.match(text) and not _ASKS_NUMBER.search(asking(question)):
        return False
    key = query_key(text)
    repeats = bool(key) and f" {key} " in f" {query_key(question)} "
    # A comparing word alone is no comparison: "Who was the first president of Damerjog's country?" is not
    # answered "Damerjog". The question must also set options side by side ("A or B", "A and B").
    picks = compared_names(question) or (_COMPARES.search(question) and _OPTIONS.search(question))
    return not repeats or bool(picks)


_ASKED_TYPE = re.compile(r"\b(?:which|what)\s+((?:[\w'-]+\s*)+)", re.IGNORECASE)
_ARTICLE = frozenset({"a", "an", "the"})


def trim_answer(question: str, answer: str) -> str:
    """The answer without the answer type the question names ("which Bollywood actress?" answered
    "Bollywood actress Antara Mali" is "Antara Mali"): a small reader often copies that noun along.

    Only the words right after "which"/"what" up to the first stop word count as the type, and the cut
    is made only when a name is left ("University of Oklahoma" stays whole: "of Oklahoma" is no name).
    """
    match = _ASKED_TYPE.search(question)
    if match is None:
        return answer
    kind: list[str] = []
    for word in match.group(1).lower().split():
        if not content_words(word):
            break
        kind.append(word)
    words = answer.split()
    cut = 1 if words and words[0].lower() in _ARTICLE else 0
    start = cut
    while cut < len(words) and words[cut].lower().strip(",.;:") in kind:
        cut += 1
    rest = words[cut:]
    if cut == start or not rest or not content_words(rest[0]):
        return answer
    return " ".join(rest)


def supporting_quotes(answer: str, passages: Sequence[Passage], limit: int = 3) -> list[tuple[Passage, str]]:
    """Passages whose text contains the answer, each with the sentence that contains it."""
    found: list[tuple[Passage, str]] = []
    for passage in passages:
        sentence = supports(passage, answer)
        if sentence:
            found.append((passage, sentence))
        if len(found) == limit:
            break
    return found


def side_passages(question: str, passages: Sequence[Passage]) -> list[Passage | None]:
    """For a comparison, each side's passage titled by it (None where no passage is); else [].

    The passage titled by the name alone wins over a longer title holding it ("Science News", not the
    first-ranked "Science News for Students"), then the first one whose title holds the name's words.
    """
    found: list[Passage | None] = []
    for name in compared_names(question):
        titled = titled_by(name, passages)
        exact = [p for p in titled if content_words(p.title) == content_words(name)]
        found.append(next(iter(exact or titled), None))
    return found


def titled_by(name: str, passages: Sequence[Passage]) -> list[Passage]:
    """The passages whose title holds the name's content words (the passages about it), once each, in order."""
    wanted = content_words(name)
    titled = [p for p in passages if wanted and wanted <= content_words(p.title)]
    return [p for n, p in enumerate(titled) if p.id not in {q.id for q in titled[:n]}]


def side_quotes(question: str, passages: Sequence[Passage]) -> list[tuple[Passage, str]]:
    """For a comparison, each side's passage (its title names the side, else its text does) with the
    sentence sharing most words with the question: the facts the comparison rests on, quoted."""
    quotes: list[tuple[Passage, str]] = []
    for name, titled in zip(compared_names(question), side_passages(question, passages), strict=True):
        wanted = content_words(name)
        passage = titled or next((p for p in passages if wanted and wanted <= content_words(p.text)), None)
        if passage is not None:
            quotes.append((passage, _deciding_sentence(passage.text, question)))
    return quotes


def _deciding_sentence(text: str, question: str) -> str:
    """The sentence of a side's passage a comparison rests on: the one sharing most words with the
    question; for a comparison by time, the best of those that give a year ("has been published since
    1922", not the passage's opening description)."""
    if _EARLIER.search(question) or _LATER.search(question):
        dated = " ".join(s for s in split_sentences(text) if _YEAR.search(s))
        if dated:
            return best_sentence(dated, question)
    return best_sentence(text, question)


_EARLIER = re.compile(r"\b(first|earlier|earliest|older|oldest|sooner)\b", re.IGNORECASE)
_LATER = re.compile(r"\b(later|latest|last|younger|youngest|newer|newest|more recent(?:ly)?)\b", re.IGNORECASE)
_DEATH = re.compile(r"\b(die|died|dies|death|dead)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


def decide_by_year(question: str, quotes: Sequence[tuple[Passage, str]]) -> str | None:
    """The side a "which came first / who is older" question picks, from the years its quotes give.

    A small model reads "formed in 1997" and "formed in 2006" correctly but often names the wrong band
    as the first; comparing two numbers is code's job. Decides only when the question compares exactly two
    names by time, each side's quote holds a year, and the years differ; otherwise None.
    """
    names = compared_names(question)
    earlier, later = bool(_EARLIER.search(question)), bool(_LATER.search(question))
    if len(names) != 2 or earlier == later or len(quotes) != 2 or _DEATH.search(question):
        return None  # a life's first year is its birth: "who died first" needs the other one
    years = [_YEAR.findall(sentence) for _, sentence in quotes]
    if not all(years) or years[0][0] == years[1][0]:
        return None
    first, second = int(years[0][0]), int(years[1][0])
    pick = 0 if (first < second) == earlier else 1
    return names[pick]


def compared_names(question: str) -> list[str]:
    """The two names a comparison question sets side by side: "..., A or B?", "Are A and B both ...?",
    "Which came first A or B?", "Between A and B, which ...?", "Are A and B in the same X?", and "A and B
    were ... . Which was first?"."""
    match = (
        _EITHER_OR.search(question)
        or _BOTH.search(question)
        or _BETWEEN.search(question)
        or _named(_SAME_PAIR.search(question))
    )
    sentences = split_sentences(question) or [question]
    asks_which = bool(_WHICH.match(sentences[-1]))
    if match is None and asks_which:
        match = _named(_AFTER_COMPARING.search(sentences[-1]))
    if match is None and asks_which and len(sentences) > 1 and _COMPARES.search(sentences[-1]):
        match = _named(_PAIR_STATED.search(sentences[0]))
    if match is None:
        return []
    found = [_EVENT_OF.sub("", name.strip(" \"'")) for name in match.groups()]
    return [name for name in found if name]


def _named(match: re.Match[str] | None) -> re.Match[str] | None:
    """A match of a pattern without a comma to anchor it counts only if both parts hold a capitalised
    word ("more than 20 novels or plays" compares nothing)."""
    if match is None or not all(re.search(r"\b[A-Z0-9]", part) for part in match.groups()):
        return None
    return match


def query_key(text: str) -> str:
    """A query reduced to its words, so a repeat in other case or punctuation is seen as a repeat."""
    return " ".join(_WORDS.findall(text.lower()))


def follow_up_queries(
    question: str, answer: str, next_search: str, asked: Sequence[str], *, limit: int = 3
) -> list[str]:
    """The searches to run after a reading, none a repeat of `asked`.

    In order: the fact the model named as missing; each name of a comparison on its own (a question
    about two things needs evidence on both); the question together with the draft answer, which finds
    the second hop of a bridge question (the passage about the entity the first hop found).
    """
    candidates = [next_search.strip()]
    candidates += compared_names(question)
    if answer.strip() and not is_yes_no(answer):
        candidates.append(f"{answer.strip()} {question}")
    seen = {query_key(q) for q in asked}
    chosen: list[str] = []
    for query in candidates:
        key = query_key(query)
        if key and key not in seen and len(key) > 2:
            seen.add(key)
            chosen.append(" ".join(query.split()))
        if len(chosen) == limit:
            break
    return chosen
