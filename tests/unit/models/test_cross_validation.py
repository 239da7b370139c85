"""Leave-one-group-out cross-validation (models/evaluation/cross_validation.py) on small synthetic groups, no
services.

The detector here reads its anomaly score off the file (each value is its own score), so each file's
scores, and what any threshold makes of them, are known in advance.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from models.detectors.detector import VALUE, Features, SensorDetector
from models.evaluation.benchmark import Series
from models.evaluation.cross_validation import Setting, best_threshold, cross_validate, file_steps, table
from models.evaluation.nab import PROFILES, STANDARD, Window, score_corpus, score_file, sweep
from models.postprocessing.unchanged import Unchanged

START = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 200
WINDOW = Window(150, 169)


class ValueIsScore:
    """A model whose raw score is the value itself."""

    def score_one(self, x: Features) -> float:
        return float(x[VALUE])

    def learn_one(self, x: Features) -> None:
        """Nothing to learn."""

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        return 0.0, 1.0


def read_off(scale: float = 1.0) -> SensorDetector:
    """A detector scoring each value times ``scale``, from the first row."""

    class Scaled(ValueIsScore):
        def score_one(self, x: Features) -> float:
            return scale * float(x[VALUE])

    return SensorDetector("read_off", 1, Scaled(), Unchanged(), threshold=0.5, warmup=0)


def series(name: str, hit: float, noise: float = 0.0, noise_rows: int = 0) -> Series:
    """A file whose window's first row scores ``hit``; ``noise_rows`` rows before it score ``noise``."""
    values = [0.0] * ROWS
    values[WINDOW.start] = hit
    for row in range(40, 40 + noise_rows):
        values[row] = noise
    stamps = tuple(START + timedelta(minutes=row) for row in range(ROWS))
    return Series(name, stamps, tuple(values), (WINDOW,))


def corpus() -> list[Series]:
    """Groups a and b: hits at 0.8 and noise at 0.3; group c: hits at 0.5 and no noise."""
    return [
        series("a/one.csv", 0.8, noise=0.3, noise_rows=30),
        series("a/two.csv", 0.8, noise=0.3, noise_rows=30),
        series("b/one.csv", 0.8, noise=0.3, noise_rows=30),
        series("c/one.csv", 0.5),
        series("c/two.csv", 0.5),
    ]


def test_each_fold_chooses_its_threshold_without_its_own_group() -> None:
    data = corpus()
    result = cross_validate("read_off", (Setting("plain", read_off),), data)
    folds = {fold.group: fold for fold in result.standard.folds}
    assert list(folds) == ["a", "b", "c"]
    # Chosen on a and b alone, the threshold is their hits' 0.8: c's hits at 0.5 are all missed.
    assert folds["c"].trained_on == ("a", "b")
    assert folds["c"].threshold == 0.8
    assert [outcome.detected for outcome in folds["c"].files] == [0, 0]
    assert folds["c"].score == 0.0
    # With c among the groups chosen on, 0.5 catches every window and stays above the noise.
    assert folds["a"].threshold == 0.5 and folds["b"].threshold == 0.5
    assert result.standard.in_sample.threshold == 0.5
    assert result.standard.in_sample.score == pytest.approx(100.0, abs=0.2)
    # The held-out files are scored exactly as NAB scores a file at the fold's threshold.
    expected = [score_file(series.labelled, series.values, 0.8, STANDARD) for series in data[3:]]
    assert list(folds["c"].files) == expected
    assert result.standard.held_out < result.standard.in_sample.score


def swapped() -> SensorDetector:
    """A detector scoring 0.3 as 0.8 and 0.8 as 0.3, any other value as itself."""

    class Swapped(ValueIsScore):
        def score_one(self, x: Features) -> float:
            value = float(x[VALUE])
            return {0.3: 0.8, 0.8: 0.3}.get(value, value)

    return SensorDetector("swapped", 1, Swapped(), Unchanged(), threshold=0.5, warmup=0)


def test_each_fold_chooses_the_setting_best_on_the_other_groups() -> None:
    # Groups a and b suit "plain" (hits 0.8 over noise 0.5), group c suits "swapped" (hits 0.3 under
    # noise 0.6; swapped, 0.8 over it): held out, c is scored with "plain" at 0.8, chosen on a and b,
    # which misses its hits; a is scored with "swapped", chosen on b's one file and c's two.
    settings = (Setting("plain", read_off), Setting("swapped", swapped))
    data = [
        series("a/one.csv", 0.8, noise=0.5, noise_rows=10),
        series("a/two.csv", 0.8, noise=0.5, noise_rows=10),
        series("b/one.csv", 0.8, noise=0.5, noise_rows=10),
        series("c/one.csv", 0.3, noise=0.6, noise_rows=10),
        series("c/two.csv", 0.3, noise=0.6, noise_rows=10),
    ]
    result = cross_validate("read_off", settings, data)
    for profile in result.profiles:
        folds = {fold.group: fold for fold in profile.folds}
        assert folds["c"].setting == "plain" and folds["c"].threshold == 0.8
        assert folds["a"].setting == "swapped" and folds["a"].threshold == 0.8
    assert result.standard.in_sample.setting == "plain"
    folds = {fold.group: fold for fold in result.standard.folds}
    assert [(outcome.detected, outcome.false_rows) for outcome in folds["c"].files] == [(0, 0), (0, 0)]
    assert folds["c"].score == 0.0 and folds["a"].score == 0.0
    assert result.standard.held_out < result.standard.in_sample.score


def test_a_setting_worse_on_the_training_groups_is_not_chosen() -> None:
    # "noisy" raises the noise to 0.9 in every file: worse on every group, it is never chosen.
    def noisy() -> SensorDetector:
        class Noisy(ValueIsScore):
            def score_one(self, x: Features) -> float:
                value = float(x[VALUE])
                return 0.9 if value == 0.3 else value

        return SensorDetector("noisy", 1, Noisy(), Unchanged(), threshold=0.5, warmup=0)

    result = cross_validate("read_off", (Setting("noisy", noisy), Setting("plain", read_off)), corpus())
    assert {fold.setting for fold in result.standard.folds} == {"plain"}
    assert result.standard.in_sample.setting == "plain"


def test_summed_file_sweeps_agree_with_nabs_sweep_of_the_whole_corpus() -> None:
    rng = random.Random(3)
    data = [series(f"g{number % 3}/f{number}.csv", rng.random()) for number in range(6)]
    scores = [[round(rng.random(), 2) if rng.random() < 0.2 else value for value in s.values] for s in data]
    for profile in PROFILES:
        threshold, total = best_threshold(
            [file_steps(s, file_scores, profile) for s, file_scores in zip(data, scores, strict=True)]
        )
        labelled = [s.labelled for s in data]
        assert threshold == score_corpus(labelled, scores, profile).threshold
        assert total == pytest.approx(max(raw for _, raw in sweep(labelled, scores, profile)))


def test_files_at_the_top_are_a_group_of_their_own() -> None:
    data = [*corpus()[:3], series("loose.csv", 0.5)]
    result = cross_validate("read_off", (Setting("plain", read_off),), data)
    folds = {fold.group: fold for fold in result.standard.folds}
    assert list(folds) == ["", "a", "b"]
    assert folds[""].trained_on == ("a", "b")
    assert [outcome.name for outcome in folds[""].files] == ["loose.csv"]
    assert folds[""].threshold == 0.8
    assert result.standard.in_sample.group is None and len(result.standard.in_sample.files) == 4


def test_one_group_is_refused() -> None:
    with pytest.raises(ValueError, match="two groups"):
        cross_validate("read_off", (Setting("plain", read_off),), [series("a/one.csv", 0.8)])


def test_the_table_has_each_group_then_overall_and_in_sample() -> None:
    result = cross_validate("read_off", (Setting("plain", read_off),), corpus())
    header, rows = table(result)
    assert header == ("held out", "setting", "threshold", "standard", "low FP", "low FN")
    assert [row[0] for row in rows] == ["a", "b", "c", "overall held out", "in-sample"]
    assert rows[2][2] == "0.8" and rows[-1][2] == "0.5"
    assert float(rows[-2][3]) == pytest.approx(result.standard.held_out, abs=0.05)
