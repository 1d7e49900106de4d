"""The paired bootstrap on constructed cases: a gain on every question lies above zero, symmetric noise covers
zero, the interval is seeded, and bad input is refused; arms paired with the naive floor."""

from __future__ import annotations

import pytest

from sleuth.evals.breakdown import paired_with
from sleuth.evals.stats import paired_bootstrap


def test_a_gain_on_every_question_gives_an_interval_above_zero() -> None:
    seed = [0.0, 0.2, 0.5, 0.1] * 10
    better = [s + d for s, d in zip(seed, [0.1, 0.3, 0.2, 0.5] * 10, strict=True)]
    delta = paired_bootstrap(seed, better)
    assert delta.mean == pytest.approx(0.275)
    assert 0.1 <= delta.low < delta.mean < delta.high <= 0.5
    assert delta.excludes_zero and delta.n == 40


def test_symmetric_noise_covers_zero_and_a_loss_lies_below_it() -> None:
    seed = [0.5] * 60
    noisy = [0.5 + (0.3 if i % 2 else -0.3) for i in range(60)]
    delta = paired_bootstrap(seed, noisy)
    assert delta.mean == pytest.approx(0.0, abs=1e-12)
    assert delta.low < 0 < delta.high and not delta.excludes_zero
    worse = paired_bootstrap(seed, [0.0 if i % 3 else 0.5 for i in range(60)])
    assert worse.high < 0 and worse.excludes_zero


def test_the_interval_is_paired_not_two_independent_means() -> None:
    # Each question's two scores move together: unpaired, the spread across questions would swamp a
    # steady gain of 0.05; paired, the gain is all there is.
    seed = [i / 100 for i in range(100)]
    delta = paired_bootstrap(seed, [s + 0.05 for s in seed])
    assert (delta.low, delta.high) == (pytest.approx(0.05), pytest.approx(0.05))


def test_the_same_seed_gives_the_same_interval_and_identical_systems_give_zero() -> None:
    a, b = [0, 1, 0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 1, 1, 0, 1]
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    same = paired_bootstrap(a, a)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)
    assert "n=8" in paired_bootstrap(a, b).describe() and "95% CI" in paired_bootstrap(a, b).describe()


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="no paired scores"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0], [0.0], confidence=1.5)


def test_questions_needed_is_where_the_same_difference_starts_to_exclude_zero() -> None:
    # 3 answers up by 0.5, 2 down by 0.5, 15 unchanged: a gain of +0.025 that 20 questions cannot show.
    pattern = [0.5] * 3 + [-0.5] * 2 + [0.0] * 15
    small = paired_bootstrap([0.0] * 20, pattern)
    assert not small.excludes_zero and small.sd == pytest.approx(0.2552, abs=1e-4)
    needed = small.questions_needed
    assert needed is not None and 350 < needed < 450
    # The same mix over more questions: about `needed` of them show it, half as many do not.
    repeats = needed // 20 + 1
    assert paired_bootstrap([0.0] * 20 * repeats, pattern * repeats).excludes_zero
    assert not paired_bootstrap([0.0] * 20 * (repeats // 2), pattern * (repeats // 2)).excludes_zero
    assert paired_bootstrap([1.0, 0.0], [0.0, 1.0]).questions_needed is None  # no difference to show
    assert small.to_json()["questions_needed"] == needed


def test_arms_are_paired_with_the_naive_floor_on_the_questions_both_answered() -> None:
    def rec(arm: str, q: str, f1: float) -> dict[str, object]:
        return {"arm": arm, "example_id": q, "f1": f1}

    records = [rec("naive", f"q{i}", 0.0) for i in range(4)]
    records += [rec("grounded", f"q{i}", s) for i, s in enumerate([1.0, 0.0, 0.5])]  # q3 not run
    records += [rec("closed", "q0", 0.0), rec("oracle", "q9", 1.0)]  # oracle shares no question with naive
    paired = paired_with(records)
    assert set(paired) == {"grounded", "closed"}
    grounded = paired["grounded"]
    assert (grounded["n"], grounded["better"], grounded["worse"]) == (3, 2, 0)
    assert grounded["mean"] == pytest.approx(0.5) and not grounded["excludes_zero"]
    assert (paired["closed"]["better"], paired["closed"]["worse"], paired["closed"]["mean"]) == (0, 0, 0.0)
    assert paired_with([rec("grounded", "q0", 1.0)]) == {}  # no floor, nothing to pair with
