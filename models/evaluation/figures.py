"""A detector's figures on a labelled corpus: NAB score per profile, precision, recall, delay and cost.

Precision counts rows: detections inside windows over all detections after the probationary period
(NAB's own true and false positive rows). Recall counts windows: those with a detection over all.
The delay is in rows, from a window's first row to its first detection. All three are at the
threshold NAB's sweep chose for the standard profile. The cost is the wall time of the detector's
``observe`` over whole files, per reading.

>>> from models.evaluation.benchmark import Series
>>> from models.evaluation.nab import Window
>>> from models.detectors.registry import gaussian_zscore
>>> from datetime import UTC, datetime, timedelta
>>> start = datetime(2026, 1, 1, tzinfo=UTC)
>>> values = tuple([1.0 + 0.01 * (i % 3) for i in range(300)] + [50.0] * 100)
>>> series = Series("jump.csv", tuple(start + timedelta(minutes=i) for i in range(400)), values,
...                 (Window(290, 330),))
>>> result = evaluate_detector("gaussian_zscore", gaussian_zscore, [series])
>>> round(result.score("standard"), 1), result.recall, result.mean_delay
(98.4, 1.0, 10.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.detectors.detector import SensorDetector
from models.evaluation.benchmark import Run, Series, run_detector
from models.evaluation.nab import PROFILES, STANDARD, CorpusScore, score_corpus


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """One detector over a corpus: its runs and its NAB result per profile."""

    detector: str
    runs: tuple[Run, ...]
    profiles: tuple[CorpusScore, ...]

    def profile(self, name: str) -> CorpusScore:
        return next(result for result in self.profiles if result.profile.name == name)

    def score(self, profile: str) -> float:
        return self.profile(profile).score

    @property
    def micros_per_reading(self) -> float:
        rows = sum(len(run.scores) for run in self.runs)
        return 1e6 * sum(run.seconds for run in self.runs) / rows if rows else 0.0

    @property
    def precision(self) -> float:
        files = self.profile(STANDARD.name).files
        true, false = sum(f.true_rows for f in files), sum(f.false_rows for f in files)
        return true / (true + false) if true + false else 0.0

    @property
    def recall(self) -> float:
        files = self.profile(STANDARD.name).files
        windows = sum(f.windows for f in files)
        return sum(f.detected for f in files) / windows if windows else 0.0

    @property
    def mean_delay(self) -> float | None:
        delays = [delay for f in self.profile(STANDARD.name).files for delay in f.delays]
        return sum(delays) / len(delays) if delays else None


def evaluate_detector(
    name: str, factory: Callable[[], SensorDetector], corpus: Sequence[Series]
) -> DetectorResult:
    """Run a fresh detector over each file and score the corpus under every NAB profile."""
    runs = tuple(run_detector(name, factory, series) for series in corpus)
    labelled = [series.labelled for series in corpus]
    scores = [run.scores for run in runs]
    return DetectorResult(name, runs, tuple(score_corpus(labelled, scores, profile) for profile in PROFILES))
