"""River's own anomaly detectors, by name (``river.HalfSpaceTrees``, ``river.LocalOutlierFactor``, ...).

:data:`RIVER_DETECTORS` holds every anomaly detector the installed River offers in ``river.anomaly``
that can be built with its defaults, read from the module (the anomaly filters, which wrap a
detector, are not detectors of their own). Each becomes a :class:`~models.detectors.detector.SensorDetector`:

- the model is :class:`RiverModel`: an unsupervised detector (HalfSpaceTrees, LODA, OneClassSVM,
  LocalOutlierFactor, ...) sees the value min-max scaled into [0, 1] (``preprocessing.MinMaxScaler() |
  detector``, as River advises for the Half-Space Trees, which need it); a supervised one (GaussianScorer,
  StandardAbsoluteDeviation, PredictiveAnomalyDetection) judges the value as its target, with no features;
- River's raw scores have a range and a shape of their own per detector (a share of mass, a ratio of
  densities, a signed distance), so the calibration is :class:`~models.postprocessing.rank.RecentRank`: the
  share of
  the latest :data:`RIVER_WINDOW` raw scores below a score, as River's ``QuantileFilter`` thresholds
  a score at a quantile of the scores seen (a Gaussian tail of the standardised score, as the anomaly
  likelihood takes it, put a tenth of the Half-Space Trees' scores of a sensor in the tests above 0.9999).
  The first :data:`RIVER_GRACE` raw scores (the detectors' own start: the trees' first window, the
  first neighbours) are neither judged nor learnt;
- it alerts at :data:`RIVER_THRESHOLD`, a score above all but one in a thousand of the latest, after
  :data:`RIVER_WARMUP` readings.

>>> sorted(RIVER_DETECTORS)[:3]
['river.GaussianScorer', 'river.HalfSpaceTrees', 'river.LODA']
>>> "river.QuantileFilter" in RIVER_DETECTORS
False
>>> detector = RIVER_DETECTORS["river.HalfSpaceTrees"]()
>>> detector.label, detector.threshold, detector.warmup
('river.HalfSpaceTrees@1', 0.999, 250)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from river import anomaly, base, preprocessing

from models.detectors.detector import VALUE, Features, SensorDetector
from models.postprocessing.rank import RecentRank

PREFIX = "river."
"""The prefix of River's detectors' names: ``river.`` and the class name in ``river.anomaly``."""

RIVER_VERSION = 1
"""The version of the wrapping (model, calibration, threshold): a checkpoint of another is not restored."""

RIVER_WARMUP = 250
"""Readings a River detector learns before it may alert: the Half-Space Trees' default window, whose
first one is their reference mass."""

RIVER_GRACE = 50
"""Raw scores at the start neither judged nor learnt by the calibration."""

RIVER_WINDOW = 1000
"""How many of the latest raw scores a River detector's score is ranked among."""

RIVER_THRESHOLD = 0.999
"""The probability a River detector alerts at."""


class RiverModel(base.AnomalyDetector):
    """One of River's anomaly detectors on the value alone; it expects the range of values seen so far.

    >>> from datetime import UTC, datetime
    >>> from models.detectors.detector import features
    >>> model = RiverModel(anomaly.HalfSpaceTrees(seed=3))
    >>> at = datetime(2026, 11, 30, tzinfo=UTC)
    >>> model.expected(features(13.0, at), width=4.0)
    (13.0, 13.0)
    >>> for minute in range(1000):
    ...     model.learn_one(features(10.0 + minute % 7, at))
    >>> model.score_one(features(13.0, at)) < model.score_one(features(95.0, at))
    True
    >>> model.expected(features(13.0, at), width=4.0)
    (10.0, 16.0)
    >>> gaussian = RiverModel(anomaly.GaussianScorer(grace_period=10))
    >>> for minute in range(100):
    ...     gaussian.learn_one(features(10.0 + minute % 7, at))
    >>> gaussian.score_one(features(13.0, at)) < 0.5 < gaussian.score_one(features(30.0, at))
    True
    """

    def __init__(self, detector: base.Estimator) -> None:
        self.detector = detector
        self.target = isinstance(detector, base.SupervisedAnomalyDetector)
        """Whether the detector judges a target (the value) rather than features."""
        self.pipeline: Any = detector if self.target else preprocessing.MinMaxScaler() | detector
        self.low = math.inf
        self.high = -math.inf

    def score_one(self, x: Features) -> float:
        value = x[VALUE]
        if self.target:
            return float(self.pipeline.score_one({}, value))
        return float(self.pipeline.score_one({VALUE: value}))

    def learn_one(self, x: Features) -> None:
        value = x[VALUE]
        if self.target:
            self.pipeline.learn_one({}, value)
        else:
            self.pipeline.learn_one({VALUE: value})
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        """The range of values seen so far (the value itself before any): River's detectors say nothing of
        what lies outside it."""
        if self.low > self.high:
            return x[VALUE], x[VALUE]
        return self.low, self.high


def _buildable(cls: type) -> bool:
    """Whether ``cls`` is an anomaly detector of its own that can be built with its defaults."""
    detector = issubclass(cls, (base.AnomalyDetector, base.SupervisedAnomalyDetector))
    if not detector or issubclass(cls, base.AnomalyFilter):
        return False
    parameters = inspect.signature(cls).parameters.values()
    return all(parameter.default is not inspect.Parameter.empty for parameter in parameters)


def river_detector(name: str) -> SensorDetector:
    """A fresh :class:`SensorDetector` around ``river.anomaly.<name>`` with its defaults."""
    model = RiverModel(getattr(anomaly, name)())
    calibration = RecentRank(window=RIVER_WINDOW, grace=RIVER_GRACE)
    return SensorDetector(
        PREFIX + name, RIVER_VERSION, model, calibration, threshold=RIVER_THRESHOLD, warmup=RIVER_WARMUP
    )


RIVER_DETECTORS: dict[str, Callable[[], SensorDetector]] = {
    PREFIX + name: partial(river_detector, name)
    for name in sorted(anomaly.__all__)
    if inspect.isclass(getattr(anomaly, name)) and _buildable(getattr(anomaly, name))
}
"""River's anomaly detectors, by name, as the installed River offers them."""
