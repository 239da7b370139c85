"""A sensor's detector: an online model, a post-processing step into a probability, a threshold, a warm-up.

Score first, then learn: :meth:`SensorDetector.observe` judges a value against what the detector
learnt before it, explains the verdict (raw score, probability, threshold, the range the model
expected, the detector's name and version), and only then learns the value. While warming up (its
first ``warmup`` values) it learns but never alerts.

>>> from datetime import UTC, datetime, timedelta
>>> from models.likelihood import AnomalyLikelihood
>>> from models.seasonal_zscore import SeasonalZScore
>>> detector = SensorDetector("example", 1, SeasonalZScore(), AnomalyLikelihood(), threshold=0.999, warmup=50)
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> verdicts = [detector.observe(20.0 + 0.1 * (i % 5), start + timedelta(minutes=i)) for i in range(100)]
>>> verdicts[0].warming_up, verdicts[-1].warming_up, verdicts[-1].anomalous
(True, False, False)
>>> spike = detector.observe(40.0, start + timedelta(minutes=100))
>>> spike.anomalous, spike.probability > spike.threshold, spike.expected_low < 20.2 < spike.expected_high
(True, True, True)
>>> spike.detector
'example@1'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Model(Protocol):
    """An online anomaly model: a raw score for a value at a moment, learnt one value at a time."""

    def score_one(self, value: float, at: datetime) -> float: ...

    def learn_one(self, value: float, at: datetime) -> None: ...

    def expected(self, at: datetime, width: float) -> tuple[float, float]:
        """The values the model would score at most ``width`` at ``at``."""
        ...


class Calibration(Protocol):
    """Post-processing: a raw score to an anomaly probability in [0, 1], learnt from the raw scores."""

    def score_one(self, raw: float) -> float: ...

    def learn_one(self, raw: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a detector says of one value, and why."""

    score: float
    """The model's raw score (a z-score for the z-score models)."""
    probability: float
    """The calibrated anomaly probability, compared with ``threshold``."""
    threshold: float
    anomalous: bool
    warming_up: bool
    expected_low: float
    expected_high: float
    detector: str
    """``name@version`` of the detector that judged."""


class SensorDetector:
    """One sensor's model, calibration, threshold and warm-up, under a name and version."""

    def __init__(
        self,
        name: str,
        version: int,
        model: Model,
        calibration: Calibration,
        threshold: float,
        warmup: int,
        width: float = 4.0,
    ) -> None:
        self.name = name
        self.version = version
        self.model = model
        self.calibration = calibration
        self.threshold = threshold
        self.warmup = warmup
        self.width = width
        """How many model units (standard deviations for the z-scores) the expected range spans."""
        self.n_seen = 0

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def observe(self, value: float, at: datetime) -> Verdict:
        """Judge ``value`` observed at ``at`` against what was learnt so far, then learn it."""
        model, calibration = self.model, self.calibration
        raw = model.score_one(value, at)
        probability = calibration.score_one(raw)
        warming_up = self.n_seen < self.warmup
        low, high = model.expected(at, self.width)
        verdict = Verdict(
            score=raw,
            probability=probability,
            threshold=self.threshold,
            anomalous=not warming_up and probability >= self.threshold,
            warming_up=warming_up,
            expected_low=low,
            expected_high=high,
            detector=self.label,
        )
        model.learn_one(value, at)
        calibration.learn_one(raw)
        self.n_seen += 1
        return verdict
