"""A composed question split at its innermost description of a named thing, answered inside out.

"What is the area code for Cincinnati in the state where the Atwater Congregational Church is?" holds a
question inside it: "What is the state where the Atwater Congregational Church is?". Shown both passages a
small reader often answers from a distractor (an area code of New Mexico); asked the inner question first it
copies "Ohio", and "What is the area code for Cincinnati in Ohio?" is a one-hop question. Multi-hop sets
(MuSiQue) compose questions exactly this way, from relations between named things (the country of, the
director of, X's birthplace, the city where X was born), so the innermost such description is found in
code and replaced by its answer, again and again, until none is left.

The description's head must be a relation noun (`RELATIONS`: country, director, spouse, ...) and it must
name a capitalised thing: "the continent with the lowest average temperature" names nothing, so such a
question is read whole, as before. Pure functions: no model, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERSON_HEADS = """director author writer performer performers singer producer composer creator founder owner
spouse wife husband father mother parent sibling brother sister child son daughter president leader member
actor actress artist person manufacturer developer designer architect"""
_THING_HEADS = """country state city town village county region province district continent territory area
location place birthplace island nation capital municipality team club band group association organization
organisation university school college institution league party network label publisher employer church
company language religion mater"""
_PEOPLE = frozenset(_PERSON_HEADS.split())
RELATIONS = _PEOPLE | frozenset(_THING_HEADS.split())
"""Heads of a description that names a thing by a relation (MuSiQue composes its questions from such
Wikidata relations). A head outside this list is no description: the question is read whole."""
_MODIFIERS = r"(?:(?:main|birth|home|current|original|parent|record|native|alma|lead|founding)\s+)?"
_HEAD = rf"{_MODIFIERS}(?P<noun>[a-z]+)(?:\s+of\s+(?:birth|citizenship|origin|death))?"
# A capitalised name, with the small words names hold ("Journal of Psychotherapy Integration", "Songs I
# Wrote with Amy", "Johnnycake, West Virginia"); it ends on a capitalised word or a number, never on a
# possessive "'s", and never before another capitalised word (no "Hello" out of "Hello Love's").
_WORD = r"[A-Z0-9](?:[\w.-]|['’](?!s\b))*"
_JOIN = r"(?:,?\s+(?:(?:of|the|and|de|du|la|le|von|van|der|with|und|for|a|an|in|on|to|y)\s+)*)"
_NAME = rf"(?:the\s+)?{_WORD}(?:{_JOIN}{_WORD})*(?!\w)(?!{_JOIN}[A-Z0-9])"
_VERB = (
    r"(?:located|situated|based|born|found|from|fought|formed|held|headquartered|set|buried|died|played|"
    r"lived|worked|studied|released|premiered|made|published|took\s+place|occur|occurs|[a-z]+ed)"
)
# What closes a relative description after its name: "was born", "is located in", "played for", "is part
# of", or a bare "is" that ends the clause ("the state where the Atwater Congregational Church is?").
_CLOSE = (
    rf"(?:(?:\s+(?:is|was|are|were))?\s+{_VERB}(?:\s+(?:in|of|from|for|at|on))?(?=[\s,?.;]|$)"
    r"|\s+(?:is|was|are|were)\s+(?:a\s+)?(?:part|citizen|member|native)(?:\s+of)?(?=[\s,?.;]|$)"
    r"|\s+(?:is|was|are|were)(?=\s*[,?.;]|\s*$))"
)
_PLACES = r"(?!(?:city|town|village|state|county|province|district|region|island|municipality|territory)\s+of\s)"
"""A place noun before "of" and a name is an apposition ("the village of Clonbrook"), not a relation."""
_GAP = r"(?!of\s)(?:[a-z]+\s+)"
_FORMS = [
    # "Damerjog's country", "Big Eye's main director", "Gisvi's city of birth"
    re.compile(rf"(?=(?P<all>(?P<name>{_NAME})['’]s\s+(?P<head>{_HEAD})\b))"),
    # "the director of Jump for Glory", "the place of birth of David Morse"
    re.compile(rf"(?=(?P<all>\bthe\s+{_PLACES}(?P<head>{_HEAD})\s+of\s+(?P<name>{_NAME})(?!['’]s)))"),
    # "the state where the Atwater Congregational Church is", "the association which published Journal of ..."
    re.compile(
        rf"(?=(?P<all>\bthe\s+(?P<head>{_HEAD})\s+(?:where|in\s+which|which|that|who|whose)\s+"
        rf"{_GAP}{{0,4}}?(?P<name>{_NAME})(?!['’]s)(?:{_CLOSE})?))"
    ),
    # "the country containing Nugegoda", "the state directly west of North Dakota"
    re.compile(rf"(?=(?P<all>\bthe\s+(?P<head>{_HEAD})\s+{_GAP}{{1,4}}?(?P<name>{_NAME})(?!['’]s)(?:{_CLOSE})?))"),
    # "the country Signmark is from", "the city Kevin Durant played for": no relative word, so the
    # clause must close with its verb ("the director Puneet Sira" is an apposition, no description).
    re.compile(rf"(?=(?P<all>\bthe\s+(?P<head>{_HEAD})\s+(?P<name>{_NAME})(?!['’]s){_CLOSE}))"),
]
_DEMONYM = re.compile(r"^[A-Z][a-z]+(?:ish|ese|ian|an|ch|ic)$")
""""the daughter of the English nobleman": a nationality before a noun is no name."""


@dataclass(frozen=True)
class Inner:
    """The innermost description of a composed question: the phrase, the name it rests on, its head."""

    phrase: str
    """"the state where the Atwater Congregational Church is": replaced by its answer."""
    name: str
    """"the Atwater Congregational Church": the inner answer must differ from it."""
    head: str
    """"state": the relation asked."""

    def question(self) -> str:
        """The inner question: "What is the state where ...?", "Who is the director of Jump for Glory?"."""
        noun = self.head.split()[-1]
        asks = "Who" if noun in _PEOPLE else "What"
        verb = "are" if noun.endswith("s") and not noun.endswith("ss") else "is"
        return f"{asks} {verb} {self.phrase}?"


def innermost(question: str) -> Inner | None:
    """The description in `question` that starts last (the innermost of nested ones: "the country where
    [the city where X was born] is located"), or None when it holds none or is nothing but one."""
    found: dict[tuple[int, int, int], tuple[int, Inner]] = {}
    for number, form in enumerate(_FORMS):
        for match in form.finditer(question):
            name, phrase = match.group("name"), match.group("all").strip(" ,")
            if match.group("noun") not in RELATIONS or not _is_name(name) or _adjective(question, match):
                continue
            # Matches are tried at every start, so "Kenji's birthplace" comes with "Akinoshu Kenji's
            # birthplace": of those with one head and one end, the longest is the description.
            start, end = match.start("all"), match.start("all") + len(phrase)
            key = (number, match.start("head"), end)
            if key not in found or found[key][0] > start:
                found[key] = (start, Inner(phrase, name, match.group("head")))
    spans = [(start, end, inner) for (_, _, end), (start, inner) in found.items()]
    # A description holding another is an outer one: the innermost is answered first.
    inside = [c for c in spans if not any(c[:2] != o[:2] and c[0] <= o[0] and o[1] <= c[1] for o in spans)]
    if not inside:
        return None
    inner = max(inside, key=lambda span: span[0])[2]
    # "What is the capital of France?" asks for the description itself: one hop, nothing to chain.
    if re.match(rf"\s*(?:what|who|which)\s+(?:is|was|are|were)\s+{re.escape(inner.phrase)}", question, re.I):
        return None
    rest = question.replace(inner.phrase, " ")
    return inner if re.search(r"[A-Za-z]{3,}", _strip_asking(rest)) else None


def substitute(question: str, inner: Inner, answer: str) -> str:
    """The question with its innermost description replaced by the description's answer."""
    return " ".join(question.replace(inner.phrase, answer.strip(), 1).split())


def _adjective(question: str, match: re.Match[str]) -> bool:
    """Whether the name is a nationality qualifying the noun after it ("the English nobleman")."""
    after = question[match.end("name") :].split()
    return bool(_DEMONYM.match(match.group("name").removeprefix("the "))) and bool(after) and after[0].islower()


def _is_name(name: str) -> bool:
    """A capitalised name that is no question word: "What" or "When" opening a question names nothing."""
    first = name.removeprefix("the ").split()[0]
    return first.lower() not in {"what", "which", "who", "when", "where", "how", "in", "the", "i"}


def _strip_asking(text: str) -> str:
    """`text` without its question words, to see whether anything is asked beside the description."""
    return re.sub(r"\b(?:what|who|which|when|where|is|was|are|were|the|of|did|does)\b", " ", text, flags=re.I)
