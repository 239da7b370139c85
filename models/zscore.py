"""A fading z-score detector: how many recent standard deviations a value lies from the recent mean.

The mean and variance are River's exponentially weighted statistics, so the detector follows slow
changes (a season, a re-calibrated sensor) while a sudden spike still stands out.

>>> import random
>>> rng = random.Random(7)
>>> detector = FadingZScore(fading_factor=0.05)
>>> for _ in range(200):
...     detector.learn_one(20.0 + rng.gauss(0, 1))
>>> detector.score_one(20.5) < 1.5
True
>>> detector.score_one(35.0) > 6
True
"""

from __future__ import annotations

import math

from river import stats


class FadingZScore:
    """Absolute z-score against exponentially weighted mean and variance (River ``EWMean``/``EWVar``)."""

    name = "fading_zscore"
    version = 1

    def __init__(self, fading_factor: float = 0.02) -> None:
        self.fading_factor = fading_factor
        self._mean = stats.EWMean(fading_factor=fading_factor)
        self._var = stats.EWVar(fading_factor=fading_factor)
        self.n_seen = 0

    def learn_one(self, value: float) -> None:
        self._mean.update(value)
        self._var.update(value)
        self.n_seen += 1

    @property
    def mean(self) -> float:
        return float(self._mean.get())

    @property
    def std(self) -> float:
        return math.sqrt(max(float(self._var.get()), 0.0))

    def score_one(self, value: float) -> float:
        if self.n_seen == 0:
            return 0.0
        return abs(value - self.mean) / (self.std + 1e-9)
