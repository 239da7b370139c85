"""NAB scoring on cases small enough to compute by hand (NAB's sweeper rules; null 0, perfect 100)."""

from __future__ import annotations

import math
import random

import pytest

from models.evaluation.nab import (
    PROFILES,
    REWARD_LOW_FN,
    REWARD_LOW_FP,
    STANDARD,
    Labelled,
    Profile,
    Window,
    probation_length,
    row_weights,
    scaled_sigmoid,
    score_corpus,
    score_file,
    sweep,
)

# 20 rows: rows 0..2 are probationary (floor(0.15 * 20) = 3), one window over rows 10..14.
ONE = Labelled("one.csv", 20, (Window(10, 14),))


def flags(*rows: int, length: int = 20) -> list[float]:
    return [1.0 if row in rows else 0.0 for row in range(length)]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_the_scaled_sigmoid_is_nabs() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(2 * sigmoid(5) - 1) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == scaled_sigmoid(10.0) == -1.0


def test_the_probationary_period_is_15_percent_capped_at_750_rows() -> None:
    assert probation_length(20) == 3
    assert probation_length(4032) == 604
    assert probation_length(5000) == 750
    assert probation_length(7267) == 750
    assert probation_length(0) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_null_scores_0_and_perfect_scores_100(profile: Profile) -> None:
    assert score_file(ONE, flags(), 0.5, profile).score == 0.0
    assert score_file(ONE, flags(10), 0.5, profile).score == pytest.approx(100.0)
    assert score_corpus([ONE], [flags(10)], profile).score == pytest.approx(100.0)


def test_a_detection_inside_the_window_earns_the_sigmoid_of_its_position() -> None:
    # Row 12: position -(14 - 12 + 1) / 5 = -0.6, weight S(-0.6) / S(-1) = 0.905148 / 0.986614.
    outcome = score_file(ONE, flags(12), 0.5, STANDARD)
    weight = (2 * sigmoid(3.0) - 1) / (2 * sigmoid(5.0) - 1)
    assert weight == pytest.approx(0.917429, abs=1e-6)
    assert outcome.raw == pytest.approx(weight)
    assert outcome.null == -1.0
    assert outcome.perfect == pytest.approx(1.0)
    assert outcome.score == pytest.approx(100 * (weight + 1) / 2)
    assert outcome.delays == (2,)


def test_only_the_first_detection_in_a_window_counts() -> None:
    every = score_file(ONE, flags(10, 11, 12, 13, 14), 0.5, STANDARD)
    assert every.raw == pytest.approx(1.0)
    assert (every.detected, every.true_rows, every.false_rows) == (1, 5, 0)
    late = score_file(ONE, flags(12, 13), 0.5, STANDARD)
    assert late.raw == pytest.approx(score_file(ONE, flags(12), 0.5, STANDARD).raw)


def test_a_false_positive_before_any_window_costs_the_whole_weight_under_each_profile() -> None:
    # Row 5 is before the window: -A_FP; row 10 earns A_TP.
    assert score_file(ONE, flags(5, 10), 0.5, STANDARD).score == pytest.approx(100 * (1 - 0.11 + 1) / 2)
    assert score_file(ONE, flags(5, 10), 0.5, REWARD_LOW_FP).score == pytest.approx(100 * (1 - 0.22 + 1) / 2)
    # reward_low_FN: null is -2, perfect 1.
    assert score_file(ONE, flags(5, 10), 0.5, REWARD_LOW_FN).score == pytest.approx(100 * (1 - 0.11 + 2) / 3)
    assert score_file(ONE, flags(5), 0.5, REWARD_LOW_FN).raw == pytest.approx(-2.11)


def test_a_false_positive_after_a_window_costs_more_the_further_it_is() -> None:
    # Row 16: (16 - 14) / (5 - 1) = 0.5 window lengths past the end: A_FP * S(0.5) = -0.11 * 0.848284.
    near = score_file(ONE, flags(10, 16), 0.5, STANDARD)
    assert near.raw == pytest.approx(1 - 0.11 * (1 - 2 * sigmoid(-2.5)))
    assert near.raw == pytest.approx(1 - 0.11 * 0.848284, abs=1e-6)
    far = score_file(ONE, flags(10, 19), 0.5, STANDARD)
    assert far.raw < near.raw
    assert far.false_rows == near.false_rows == 1


def test_detections_in_the_probationary_period_are_ignored() -> None:
    outcome = score_file(ONE, flags(0, 1, 2, 10), 0.5, STANDARD)
    assert outcome.raw == pytest.approx(1.0)
    assert outcome.false_rows == 0


def test_a_window_inside_the_probationary_period_does_not_count() -> None:
    early = Labelled("early.csv", 20, (Window(0, 2), Window(10, 14)))
    outcome = score_file(early, flags(), 0.5, STANDARD)
    assert (outcome.windows, outcome.null) == (1, -1.0)
    # Rows after the early window are past it: a detection at row 4 is (4 - 2) / 2 = 1 length past.
    assert row_weights(early).value[1] == pytest.approx(scaled_sigmoid(1.0))


def test_one_threshold_for_all_files_maximises_the_total() -> None:
    a = Labelled("a.csv", 20, (Window(10, 14),))
    b = Labelled("b.csv", 20, (Window(10, 14),))
    scores_a = [0.0] * 20
    scores_a[10] = 0.8
    scores_b = [0.0] * 20
    scores_b[5], scores_b[10] = 0.5, 0.4
    # Thresholds: 1.1 -> -2 (null); 0.8 -> a found: 0; 0.5 -> b's false positive: -0.11;
    # 0.4 -> b found too: 1.89; 0.0 -> every other row a false positive.
    pairs = sweep([a, b], [scores_a, scores_b], STANDARD)
    assert [t for t, _ in pairs] == [1.1, 0.8, 0.5, 0.4, 0.0]
    assert [round(total, 6) for _, total in pairs[:4]] == [-2.0, 0.0, -0.11, 1.89]
    result = score_corpus([a, b], [scores_a, scores_b], STANDARD)
    assert result.threshold == 0.4
    assert result.score == pytest.approx(100 * (1.89 + 2) / 4)
    assert [round(f.score, 6) for f in result.files] == [100.0, pytest.approx(100 * 1.89 / 2)]


def test_the_sweep_agrees_with_scoring_each_file_at_every_threshold() -> None:
    rng = random.Random(3)
    corpus = [
        Labelled("x.csv", 60, (Window(20, 25), Window(40, 44))),
        Labelled("y.csv", 45, (Window(30, 39),)),
        Labelled("z.csv", 30, ()),
    ]
    scores = [[round(rng.random(), 2) for _ in range(labelled.length)] for labelled in corpus]
    for profile in PROFILES:
        for threshold, total in sweep(corpus, scores, profile):
            pairs = zip(corpus, scores, strict=True)
            by_file = sum(
                score_file(labelled, file_scores, threshold, profile).raw for labelled, file_scores in pairs
            )
            assert total == pytest.approx(by_file), (profile.name, threshold)


def test_scores_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="19 scores for 20 rows"):
        score_file(ONE, [0.0] * 19, 0.5, STANDARD)
