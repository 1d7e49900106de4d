"""Answer metrics: exact match, token F1, cover match, gold-passage recall (on `text.normalize_answer`).

All functions are pure and take the maximum over the gold answers, as the public QA literature does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sleuth.text import normalize_answer


def _golds(golds: str | Sequence[str]) -> list[str]:
    # A bare string is one gold answer, not a list of characters.
    return [golds] if isinstance(golds, str) else list(golds)


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _golds(golds)))


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    # HotpotQA's rule: yes/no/noanswer only match exactly (a long answer containing "yes" is not F1 > 0).
    special = {"yes", "no", "noanswer"}
    if (" ".join(pred_tokens) in special or " ".join(gold_tokens) in special) and pred_tokens != gold_tokens:
        return 0.0
    # No tokens on either side is no overlap, so 0 even when both are empty: the official SQuAD v1.1 and
    # HotpotQA scripts score it so (exact_match still counts "" == "" as a match, as they do).
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: str | Sequence[str]) -> float:
    """Token-level F1 over the multiset of normalised tokens, maximum over the gold answers."""
    return max((_token_f1(prediction, g) for g in _golds(golds)), default=0.0)


def cover_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when some normalised gold answer appears in the normalised prediction as whole words.

    Whole words so that gold "1" is not found inside "10"; an empty gold never matches.
    """
    pred = f" {normalize_answer(prediction)} "
    for gold in _golds(golds):
        norm = normalize_answer(gold)
        if norm and f" {norm} " in pred:
            return 1.0
    return 0.0


def gold_recall(retrieved_ids: Iterable[str], gold_ids: Iterable[str]) -> float | None:
    """Share of the gold passages found among the retrieved ids; None when there are no gold ids."""
    gold = set(gold_ids)
    if not gold:
        return None
    return len(gold & set(retrieved_ids)) / len(gold)


def answer_scores(prediction: str, golds: str | Sequence[str]) -> dict[str, float]:
    """EM, F1 and cover match of one prediction, as a dict keyed `em`, `f1`, `cover`."""
    return {
        "em": exact_match(prediction, golds),
        "f1": f1_score(prediction, golds),
        "cover": cover_match(prediction, golds),
    }
