"""The Numenta Anomaly Benchmark's scoring (Lavin and Ahmad, 2015), as NAB's ``sweeper.py`` computes it.

A detector gives every row of a file an anomaly score in [0, 1]; one threshold, shared by all files,
turns the scores into detections (``score >= threshold``). Rows in each file's probationary period
(the first 15%, at most 750 rows) are not scored. Each labelled window is worth the weight of its
earliest detection, a scaled sigmoid of the detection's position in the window (earliest is best),
or ``-A_FN`` when nothing inside it is detected. Each detection outside the windows costs ``A_FP``
times a scaled sigmoid of how far it lies past the preceding window's end (the whole ``A_FP``
before any window and from three window lengths on). The raw total is normalised so that the null
detector (never detects) scores 0 and the perfect detector (the first row of each window) 100.

A file of 20 rows with one window over rows 10..14: a detection on the window's first row earns the
full ``A_TP``, so the score is perfect; one on its last row earns less than half of it
(``scaled_sigmoid(-1/5) / scaled_sigmoid(-1)`` = 0.4684: raw 0.4684 between null -1 and perfect 1).

>>> corpus = [Labelled("one", length=20, windows=(Window(10, 14),))]
>>> round(score_corpus(corpus, [[1.0 if i == 10 else 0.0 for i in range(20)]], STANDARD).score, 6)
100.0
>>> round(score_corpus(corpus, [[1.0 if i == 14 else 0.0 for i in range(20)]], STANDARD).score, 2)
73.42
>>> score_file(corpus[0], [0.0] * 20, threshold=0.5, profile=STANDARD).score  # never detects
0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    """An application profile: what a true positive earns and a false positive or negative costs."""

    name: str
    tp: float
    fp: float
    fn: float


STANDARD = Profile("standard", tp=1.0, fp=0.11, fn=1.0)
REWARD_LOW_FP = Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0)
REWARD_LOW_FN = Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0)
PROFILES: tuple[Profile, ...] = (STANDARD, REWARD_LOW_FP, REWARD_LOW_FN)

PROBATIONARY_FRACTION = 0.15
_PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Window:
    """A labelled anomaly window: row indices ``start`` to ``end``, both inclusive."""

    start: int
    end: int

    @property
    def width(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class Labelled:
    """One file's ground truth: how many rows it has and its windows, in time order."""

    name: str
    length: int
    windows: tuple[Window, ...]


def probation_length(rows: int, fraction: float = PROBATIONARY_FRACTION) -> int:
    """Rows at the start of a file that are not scored: 15% of them, at most 15% of 5,000 (NAB's cap).

    >>> probation_length(4032), probation_length(7267), probation_length(10)
    (604, 750, 1)
    """
    return int(min(math.floor(fraction * rows), fraction * _PROBATION_CAP_ROWS))


def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a detection at a relative ``position`` (-1: a window's first row, 0: its end).

    >>> [round(scaled_sigmoid(position), 5) for position in (-1.0, 0.0, 1.0, 3.0)]
    [0.98661, 0.0, -0.98661, -1.0]
    """
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


@dataclass(frozen=True, slots=True)
class RowWeights:
    """Per scorable row of one file: the window it lies in (or ``-1``) and its unweighted value.

    Inside a window the value is the true-positive share (1 for the window's first row); outside,
    the negative false-positive share (-1 before any window).
    """

    first_row: int
    window: tuple[int, ...]
    value: tuple[float, ...]


def row_weights(labelled: Labelled) -> RowWeights:
    """The NAB weight of a detection on each row of ``labelled`` after its probationary period."""
    first = probation_length(labelled.length)
    window_of: list[int] = []
    value: list[float] = []
    windows = labelled.windows
    upcoming = 0
    previous: Window | None = None
    for row in range(first, labelled.length):
        while upcoming < len(windows) and windows[upcoming].end < row:
            previous = windows[upcoming]
            upcoming += 1
        current = windows[upcoming] if upcoming < len(windows) else None
        if current is not None and current.start <= row:
            window_of.append(upcoming)
            value.append(scaled_sigmoid(-(current.end - row + 1) / current.width) / _MAX_TP)
        else:
            window_of.append(-1)
            if previous is None:
                value.append(-1.0)
            else:
                # NAB divides by (width - 1): a one-row window puts every later row "far" past it.
                past = (row - previous.end) / (previous.width - 1) if previous.width > 1 else 3.0
                value.append(scaled_sigmoid(past))
    return RowWeights(first, tuple(window_of), tuple(value))


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What a threshold makes of one file's scores."""

    name: str
    raw: float
    null: float
    perfect: float
    windows: int
    detected: int
    true_rows: int
    false_rows: int
    delays: tuple[int, ...]
    """Rows from each detected window's start to its first detection."""

    @property
    def score(self) -> float:
        """The file's raw score normalised by its own null and perfect scores (0 with no windows)."""
        return _normalised(self.raw, self.null, self.perfect)


def _normalised(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def score_file(
    labelled: Labelled, scores: Sequence[float], threshold: float, profile: Profile
) -> FileOutcome:
    """Score one file's anomaly scores with detections at ``score >= threshold``."""
    if len(scores) != labelled.length:
        raise ValueError(f"{labelled.name}: {len(scores)} scores for {labelled.length} rows")
    weights = row_weights(labelled)
    scorable = {w for w in weights.window if w >= 0}
    best: dict[int, float] = {}
    first_hit: dict[int, int] = {}
    false_cost = 0.0
    true_rows = false_rows = 0
    for offset, (window, value) in enumerate(zip(weights.window, weights.value, strict=True)):
        row = weights.first_row + offset
        if scores[row] < threshold:
            continue
        if window < 0:
            false_rows += 1
            false_cost += value * profile.fp
        else:
            true_rows += 1
            if window not in first_hit:
                first_hit[window] = row
                best[window] = value * profile.tp
    raw = false_cost + sum(best.values()) - profile.fn * (len(scorable) - len(best))
    perfect = 0.0
    for window in scorable:
        first = weights.window.index(window)
        perfect += weights.value[first] * profile.tp
    return FileOutcome(
        name=labelled.name,
        raw=raw,
        null=-profile.fn * len(scorable),
        perfect=perfect,
        windows=len(scorable),
        detected=len(best),
        true_rows=true_rows,
        false_rows=false_rows,
        delays=tuple(first_hit[w] - labelled.windows[w].start for w in sorted(first_hit)),
    )


def sweep(
    corpus: Sequence[Labelled], scores: Sequence[Sequence[float]], profile: Profile
) -> list[tuple[float, float]]:
    """``(threshold, raw corpus score)`` for every distinct score, highest threshold first.

    One pass over all files' scorable rows in decreasing score, as NAB's sweeper does: a row at or
    above the threshold adds its false-positive cost, or lifts its window to its weight if that beats
    what the window had. The first pair (threshold above every score) is the null detector's.

    >>> corpus = [Labelled("a", 10, (Window(5, 6),))]
    >>> scores = [[0.0, 0.0, 0.0, 0.0, 0.9, 0.2, 0.5, 0.0, 0.0, 0.0]]
    >>> [(t, round(s, 3)) for t, s in sweep(corpus, scores, STANDARD)]
    [(1.1, -1.0), (0.9, -1.11), (0.5, 0.75), (0.2, 0.89), (0.0, 0.231)]
    """
    rows: list[tuple[float, float, tuple[int, int] | None]] = []
    for number, (labelled, file_scores) in enumerate(zip(corpus, scores, strict=True)):
        weights = row_weights(labelled)
        for offset, (window, value) in enumerate(zip(weights.window, weights.value, strict=True)):
            score = float(file_scores[weights.first_row + offset])
            if window < 0:
                rows.append((score, value * profile.fp, None))
            else:
                rows.append((score, value * profile.tp, (number, window)))
    window_parts = {key: -profile.fn for _, _, key in rows if key is not None}
    false_part = 0.0
    total = sum(window_parts.values())
    threshold = 1.1
    result: list[tuple[float, float]] = []
    for score, weight, key in sorted(rows, key=lambda row: -row[0]):
        if score != threshold:
            result.append((threshold, false_part + total))
            threshold = score
        if key is None:
            false_part += weight
        elif weight > window_parts[key]:
            total += weight - window_parts[key]
            window_parts[key] = weight
    result.append((threshold, false_part + total))
    return result


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A detector's result on a corpus under one profile, at the threshold best for the whole corpus."""

    profile: Profile
    threshold: float
    score: float
    files: tuple[FileOutcome, ...]


def score_corpus(
    corpus: Sequence[Labelled], scores: Sequence[Sequence[float]], profile: Profile
) -> CorpusScore:
    """Sweep one threshold over all files together, keep the best, and score each file with it.

    Among thresholds with the same best total the highest is kept (fewest detections).
    """
    threshold, _ = max(sweep(corpus, scores, profile), key=lambda pair: pair[1])
    files = tuple(
        score_file(labelled, file_scores, threshold, profile)
        for labelled, file_scores in zip(corpus, scores, strict=True)
    )
    raw = sum(outcome.raw for outcome in files)
    null = sum(outcome.null for outcome in files)
    perfect = sum(outcome.perfect for outcome in files)
    return CorpusScore(profile, threshold, _normalised(raw, null, perfect), files)
