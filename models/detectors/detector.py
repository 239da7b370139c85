"""A sensor's detector: an online model, a post-processing step into a probability, a threshold, a warm-up.

Score first, then learn: :meth:`SensorDetector.observe` judges a value against what the detector
learnt before it, explains the verdict (raw score, probability, threshold, the range the model
expected, the detector's name and version), and only then learns the value. While warming up (its
first ``warmup`` values) it learns but never alerts.

The model is a River anomaly detector (:class:`river.base.AnomalyDetector`): it learns and scores
dicts of :func:`features` (the value, and the moment it was observed at, for the models that know
the time of day), so River's preprocessing and pipelines compose with it. Beside the model, the
detector keeps what :mod:`models.detectors.inspection` shows of it: River's ADWIN on the means of blocks of
:data:`DRIFT_BLOCK` values (drift of the inputs), its recent probabilities and its latest verdict; all of
it is checkpointed with it.

>>> from datetime import UTC, datetime, timedelta
>>> from models.postprocessing.likelihood import AnomalyLikelihood
>>> from models.detectors.seasonal_zscore import SeasonalZScore
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
>>> len(detector.recent), detector.last is spike, detector.last_at == start + timedelta(minutes=100)
(101, True, True)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from river import drift
from river.base.typing import FeatureName

Features = dict[FeatureName, Any]
"""What a model learns and scores: River's dict of features."""

VALUE = "value"
"""The feature holding the sensor's value."""
AT = "at"
"""The feature holding the moment the value was observed at (a timezone-aware ``datetime``)."""

DRIFT_BLOCK = 10
"""How many values ADWIN takes the mean of at once: the mean of a block moves when the values' mean does,
and ADWIN on every value cost 1.5 µs a reading of the worker's 20 for scoring (``bench stages``), a
tenth of that on blocks, for a drift seen up to a block later."""

DRIFT_CLOCK = 4
"""How many blocks apart ADWIN looks for a drift (River's default: 32, 320 values apart here)."""

RECENT = 120
"""How many of the latest probabilities a detector keeps for its score distribution (two hours of a
kind reporting every minute; a checkpoint grows by about 9 bytes each)."""


def features(value: float, at: datetime) -> Features:
    """The features of ``value`` observed at ``at``.

    >>> from datetime import UTC
    >>> features(3.5, datetime(2026, 11, 30, tzinfo=UTC))
    {'value': 3.5, 'at': datetime.datetime(2026, 11, 30, 0, 0, tzinfo=datetime.timezone.utc)}
    """
    return {VALUE: value, AT: at}


class Model(Protocol):
    """An online anomaly model (a :class:`river.base.AnomalyDetector`) that also says what it expects."""

    def score_one(self, x: Features) -> float: ...

    def learn_one(self, x: Features) -> None: ...

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        """The values the model would score at most ``width`` at the moment of ``x``."""
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
        self.drift = drift.ADWIN(clock=DRIFT_CLOCK)  # type: ignore[no-untyped-call]
        """River's ADWIN on the means of blocks of :data:`DRIFT_BLOCK` values: the mean of its window,
        and whether (and when) it moved."""
        self.block_sum = 0.0
        """The sum of the values of the block not yet given to ADWIN."""
        self.drifts = 0
        """How many times ADWIN found the values' mean had moved (it starts a new window each time)."""
        self.drifted_at: datetime | None = None
        self.recent: deque[float] = deque(maxlen=RECENT)
        """The latest probabilities, oldest first."""
        self.last: Verdict | None = None
        self.last_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def observe(self, value: float, at: datetime) -> Verdict:
        """Judge ``value`` observed at ``at`` against what was learnt so far, then learn it."""
        model, calibration = self.model, self.calibration
        x: Features = {VALUE: value, AT: at}
        raw = model.score_one(x)
        probability = calibration.score_one(raw)
        warming_up = self.n_seen < self.warmup
        low, high = model.expected(x, self.width)
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
        model.learn_one(x)
        calibration.learn_one(raw)
        self.n_seen += 1
        self.block_sum += value
        if not self.n_seen % DRIFT_BLOCK:
            adwin = self.drift
            adwin.update(self.block_sum / DRIFT_BLOCK)  # type: ignore[no-untyped-call]
            self.block_sum = 0.0
            if adwin.drift_detected:
                self.drifts += 1
                self.drifted_at = at
        self.recent.append(probability)
        self.last = verdict
        self.last_at = at
        return verdict
