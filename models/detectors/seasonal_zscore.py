"""A seasonal z-score: the larger of a value's z-score and its departure from the usual time of day.

Preprocessing for periodic signals: the value minus its :class:`~models.detectors.seasonal.DailyProfile`
expectation (seasonal differencing by time of day) is scored by one fading z-score and the value
itself by another, so both a value out of the usual range and a usual value at an unusual hour (a
street busy at 3 a.m., a missing rush hour) stand out. Without a profile it is a plain fading
z-score. ``robust`` is the value's z-score's (see :class:`~models.detectors.zscore.FadingZScore`), not the
residual's: the profile learns an anomaly's values too (a young hour at the weight of one value in a
few), and a residual spread that did not widen with them would keep judging the normal values after the
anomaly against that hour's spoilt usual value for an hour. ``floor`` is the least spread of both, in
the value's unit (see
:attr:`sensors.catalog.SensorKind.least_spread`). A value at one of the ``edges`` (the physical range's
bounds: a solar plant's zero at night, an idle charger) moves the means but not the spreads: hours pinned
at an edge would otherwise shrink both spreads to their floor, and the value's first move away from the
edge, however usual (the sun rising), would score as if it were a spike.

It is a River anomaly detector on :func:`~models.detectors.detector.features` (``value``, and ``at`` when it
has a
profile), so River's preprocessing composes with it (the value standardised first, say, with the
moment passed on beside it), and River's anomaly filters wrap it (a score above 6 is an anomaly, and
not learnt).

>>> from datetime import UTC, datetime, timedelta
>>> from models.detectors.detector import features
>>> model = SeasonalZScore(fading_factor=0.01, profile=DailyProfile(fading_factor=0.3))
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> def rush(at):
...     return 100.0 if at.hour in (8, 18) else 20.0 + at.minute % 3
>>> for minute in range(0, 4 * 1440, 10):
...     at = start + timedelta(minutes=minute)
...     model.learn_one(features(rush(at), at))
>>> morning = start + timedelta(days=4, hours=8, minutes=20)
>>> model.score_one(features(100.0, morning)) < 4, model.score_one(features(20.0, morning)) > 8
(True, True)
>>> low, high = model.expected(features(0.0, morning), width=4.0)
>>> low < 100.0 < high
True
>>> from river import compose, preprocessing
>>> standardised = compose.Select("value") | preprocessing.StandardScaler()
>>> scaled = standardised + compose.Select("at") | SeasonalZScore(profile=DailyProfile(fading_factor=0.3))
>>> for minute in range(0, 4 * 1440, 10):
...     at = start + timedelta(minutes=minute)
...     scaled.learn_one(features(rush(at), at))
>>> scaled.score_one(features(20.0, morning)) > 8
True
>>> from river import anomaly
>>> guarded = anomaly.ThresholdFilter(SeasonalZScore(grace=5), threshold=6.0)
>>> for minute in range(100):
...     guarded.learn_one(features(20.0 + minute % 3, start + timedelta(minutes=minute)))
>>> spike = features(90.0, start + timedelta(minutes=100))
>>> guarded.classify(guarded.score_one(spike)), guarded.learn_one(spike), guarded.anomaly_detector.n_seen
(True, None, 100)
"""

from __future__ import annotations

from datetime import datetime

from river import base

from models.detectors.detector import AT, VALUE, Features
from models.detectors.seasonal import DailyProfile
from models.detectors.zscore import FadingZScore

_RELATIVE_FLOOR = 1e-3


class SeasonalZScore(base.AnomalyDetector):
    """Max of a fading z-score of the value and one of its residual from a daily profile."""

    name = "seasonal_zscore"
    version = 3

    def __init__(
        self,
        fading_factor: float = 0.01,
        profile: DailyProfile | None = None,
        grace: int = 20,
        floor: float = 0.0,
        edges: tuple[float, float] | None = None,
        robust: float | None = None,
    ) -> None:
        self.fading_factor = fading_factor
        self.floor = floor
        self.level = FadingZScore(fading_factor, floor=floor, robust=robust)
        self.residual = FadingZScore(fading_factor, floor=floor)
        self.profile = profile
        self.edges = edges
        self.grace = grace
        """Values learnt before scoring anything but 0: a mean and spread of a few values mean little."""

    @property
    def n_seen(self) -> int:
        return self.level.n_seen

    def usual(self, at: datetime) -> float:
        """The value the profile expects at ``at`` (the recent mean before it knows that hour)."""
        usual = None if self.profile is None else self.profile.predict_one(at)
        return self.level.mean if usual is None else usual

    def score_one(self, x: Features) -> float:
        if self.level.n_seen < self.grace:
            return 0.0
        value = x[VALUE]
        level = self.level.score_one(value)
        if self.profile is None:
            return level
        # The residual's spread has the value's floor: a profile that fits exactly is no reason for
        # an infinite score.
        floor = _RELATIVE_FLOOR * abs(self.level.mean)
        return max(level, self.residual.score_one(value - self.usual(x[AT]), floor))

    def learn_one(self, x: Features) -> None:
        value = x[VALUE]
        edges = self.edges
        spread = edges is None or self.level.n_seen < self.grace or edges[0] < value < edges[1]
        if self.profile is not None:
            at = x[AT]
            if self.level.n_seen:  # the very first value has nothing to depart from
                self.residual.learn_one(value - self.usual(at), spread)
            self.profile.learn_one(value, at)
        self.level.learn_one(value, spread)

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        """The values scoring at most ``width``: both near the recent mean and near the usual value."""
        low, high = self.level.expected(width)
        if self.profile is None:
            return low, high
        usual = self.usual(x[AT])
        residual_low, residual_high = self.residual.expected(width)
        both = max(low, usual + residual_low), min(high, usual + residual_high)
        return both if both[0] <= both[1] else (usual + residual_low, usual + residual_high)
