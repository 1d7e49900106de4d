"""The paired bootstrap on constructed cases: a gain on every question lies above zero, symmetric noise covers
zero, the interval is seeded, and bad input is refused."""

from __future__ import annotations

import pytest

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
