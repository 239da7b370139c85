"""Leave-one-group-out cross-validation of a detector over a labelled corpus (NAB's seven groups).

A group is the folder a file lies in under the data folder (``realTweets/...``). For each group in
turn, the detector's parameter setting (one of a small declared grid) and the single threshold shared
by all files (NAB's rule) are chosen on the *other* groups, the best raw NAB score there, and the
held-out group is scored with that setting and threshold alone. The held-out score over all groups
(every file scored by the choice made without its own group) stands beside the in-sample score (the
choice made on every group, scored on every group): the gap between them is how much the choice
fitted the corpus rather than the kind of data.

It is cheap to sweep: each setting runs over each file once; NAB's sweep of one file gives the raw
score at every threshold as a step function, and a training set's total at any threshold is the sum
of its files' step functions, summed with numpy for each fold.

>>> from datetime import UTC, datetime, timedelta
>>> from models.evaluation.benchmark import Series
>>> from models.evaluation.nab import Window
>>> from models.detectors.registry import gaussian_zscore
>>> start = datetime(2026, 1, 1, tzinfo=UTC)
>>> def jump(name: str, at: int) -> Series:
...     values = tuple([1.0 + 0.01 * (i % 3) for i in range(at)] + [50.0] * (400 - at))
...     return Series(name, tuple(start + timedelta(minutes=i) for i in range(400)), values,
...                   (Window(at - 10, at + 30),))
>>> corpus = [jump("a/one.csv", 300), jump("b/two.csv", 320), jump("c/three.csv", 340)]
>>> result = cross_validate("gaussian_zscore", (Setting("plain", gaussian_zscore),), corpus)
>>> [fold.group for fold in result.standard.folds]
['a', 'b', 'c']
>>> round(result.standard.held_out, 1), round(result.standard.in_sample.score, 1)
(98.4, 98.4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.detectors.detector import SensorDetector
from models.evaluation.benchmark import Series, run_detector
from models.evaluation.nab import PROFILES, STANDARD, FileOutcome, Profile, score_file, sweep


@dataclass(frozen=True, slots=True)
class Setting:
    """One point of a detector's parameter grid: a label and a factory of fresh detectors."""

    label: str
    factory: Callable[[], SensorDetector]


def group_of(name: str) -> str:
    """A file's group: the folder it lies in under the data folder ("" for a file at its top).

    >>> group_of("realTweets/Twitter_volume_AAPL.csv"), group_of("loose.csv")
    ('realTweets', '')
    """
    return name.rsplit("/", 1)[0] if "/" in name else ""


@dataclass(frozen=True, slots=True)
class Steps:
    """One file's raw NAB score under one profile as a step function of the threshold.

    ``deltas[i]`` is what the raw score gains when the threshold falls to ``thresholds[i]`` (the first
    is the null detector's score, at a threshold above every score).
    """

    thresholds: npt.NDArray[np.float64]
    deltas: npt.NDArray[np.float64]


def file_steps(series: Series, scores: Sequence[float], profile: Profile) -> Steps:
    """NAB's sweep of one file's scores, as a step function of the threshold."""
    pairs = np.array(sweep([series.labelled], [scores], profile), dtype=np.float64)
    deltas = np.diff(pairs[:, 1], prepend=0.0)
    return Steps(pairs[:, 0], deltas)


def best_threshold(steps: Sequence[Steps]) -> tuple[float, float]:
    """The threshold with the best raw total over the files, and that total (highest threshold on a tie)."""
    thresholds = np.concatenate([step.thresholds for step in steps])
    deltas = np.concatenate([step.deltas for step in steps])
    order = np.argsort(-thresholds, kind="stable")
    thresholds, totals = thresholds[order], np.cumsum(deltas[order])
    last = np.append(thresholds[1:] != thresholds[:-1], True)
    best = int(np.argmax(totals[last]))
    return float(thresholds[last][best]), float(totals[last][best])


@dataclass(frozen=True, slots=True)
class Fold:
    """A choice of setting and threshold made on ``trained_on`` groups, and the files it scored."""

    group: str | None
    """The group scored (``None`` for the in-sample fold, which scores every group)."""
    trained_on: tuple[str, ...]
    setting: str
    threshold: float
    files: tuple[FileOutcome, ...]

    @property
    def score(self) -> float:
        return normalised(self.files)


def normalised(files: Sequence[FileOutcome]) -> float:
    """NAB's normalised score of files together: 0 for the null detector, 100 for the perfect one."""
    raw = sum(outcome.raw for outcome in files)
    null = sum(outcome.null for outcome in files)
    perfect = sum(outcome.perfect for outcome in files)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """One profile's folds (one per held-out group) and its in-sample choice."""

    profile: Profile
    folds: tuple[Fold, ...]
    in_sample: Fold

    @property
    def held_out(self) -> float:
        """Every file scored by the choice made without its group, normalised together."""
        return normalised([outcome for fold in self.folds for outcome in fold.files])


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """A detector's cross-validation under every NAB profile."""

    detector: str
    profiles: tuple[ProfileResult, ...]
    micros_per_reading: float
    """The mean cost of a reading over every setting's runs."""

    def profile(self, name: str) -> ProfileResult:
        return next(result for result in self.profiles if result.profile.name == name)

    @property
    def standard(self) -> ProfileResult:
        return self.profile(STANDARD.name)


def _choose(
    settings: Sequence[Setting], steps: Sequence[Sequence[Steps]], files: Sequence[int]
) -> tuple[int, float]:
    """The setting and threshold best over ``files`` (the first setting on a tie)."""
    best: tuple[int, float, float] | None = None
    for number in range(len(settings)):
        threshold, total = best_threshold([steps[number][file] for file in files])
        if best is None or total > best[2]:
            best = (number, threshold, total)
    assert best is not None
    return best[0], best[1]


def _fold(
    group: str | None,
    corpus: Sequence[Series],
    groups: Sequence[str],
    settings: Sequence[Setting],
    scores: Sequence[Sequence[Sequence[float]]],
    steps: Sequence[Sequence[Steps]],
    profile: Profile,
) -> Fold:
    """Choose on every group but ``group``, score ``group`` (``None``: choose on and score every group)."""
    train = [number for number, name in enumerate(groups) if group is None or name != group]
    test = [number for number, name in enumerate(groups) if group is None or name == group]
    setting, threshold = _choose(settings, steps, train)
    outcomes = tuple(
        score_file(corpus[file].labelled, scores[setting][file], threshold, profile) for file in test
    )
    trained_on = tuple(sorted({groups[file] for file in train}))
    return Fold(group, trained_on, settings[setting].label, threshold, outcomes)


def cross_validate(
    detector: str,
    settings: Sequence[Setting],
    corpus: Sequence[Series],
    profiles: Sequence[Profile] = PROFILES,
) -> CrossValidation:
    """Leave each group of ``corpus`` out in turn: choose the setting and threshold on the rest, score it.

    Every setting runs once over every file; each profile makes its own choices, as NAB sweeps a
    threshold per profile.
    """
    if not settings:
        raise ValueError(f"{detector}: no parameter setting to choose from")
    groups = [group_of(series.name) for series in corpus]
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError(f"cross-validation needs files in two groups at least, not {names}")
    scores: list[list[tuple[float, ...]]] = []
    seconds = 0.0
    for setting in settings:
        runs = [run_detector(setting.label, setting.factory, series) for series in corpus]
        scores.append([run.scores for run in runs])
        seconds += sum(run.seconds for run in runs)
    results = []
    for profile in profiles:
        steps = [
            [
                file_steps(series, file_scores, profile)
                for series, file_scores in zip(corpus, run, strict=True)
            ]
            for run in scores
        ]
        folds = tuple(_fold(name, corpus, groups, settings, scores, steps, profile) for name in names)
        in_sample = _fold(None, corpus, groups, settings, scores, steps, profile)
        results.append(ProfileResult(profile, folds, in_sample))
    readings = len(settings) * sum(len(series.values) for series in corpus)
    return CrossValidation(detector, tuple(results), 1e6 * seconds / readings if readings else 0.0)


PROFILE_HEADINGS = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}


def table(result: CrossValidation) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and rows of a cross-validation table: each group held out, overall, and in-sample.

    The setting and threshold shown are the standard profile's choice (each profile makes its own).
    """
    header = ("held out", "setting", "threshold", *(PROFILE_HEADINGS[profile.name] for profile in PROFILES))
    standard = result.standard
    rows: list[tuple[str, ...]] = []
    for number, fold in enumerate(standard.folds):
        scores = (f"{result.profile(profile.name).folds[number].score:.1f}" for profile in PROFILES)
        rows.append((fold.group or "(top folder)", fold.setting, f"{fold.threshold:.6g}", *scores))
    held_out = (f"{result.profile(profile.name).held_out:.1f}" for profile in PROFILES)
    rows.append(("overall held out", "", "", *held_out))
    in_sample = standard.in_sample
    scores = (f"{result.profile(profile.name).in_sample.score:.1f}" for profile in PROFILES)
    rows.append(("in-sample", in_sample.setting, f"{in_sample.threshold:.6g}", *scores))
    return header, rows
