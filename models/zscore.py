"""A fading z-score: how many recent standard deviations a value lies from the recent mean.

The mean and variance are River's exponentially weighted statistics, so the model follows slow
changes (a season, a re-calibrated sensor) while a sudden spike still stands out. The spread has a
floor (a thousandth of the mean's size), so a signal that has been constant does not turn its first
small wiggle into an infinite score. Once it has seen a few values, it learns a value no further
than ``clip`` standard deviations from the mean (winsorising): one wild spike then cannot inflate
the spread so much that the next one goes unseen.

>>> import random
>>> rng = random.Random(7)
>>> model = FadingZScore(fading_factor=0.05)
>>> for _ in range(200):
...     model.learn_one(20.0 + rng.gauss(0, 1))
>>> model.score_one(20.5) < 1.5
True
>>> model.score_one(35.0) > 6
True
>>> low, high = model.expected(4.0)
>>> low < 20.0 < high
True
"""

from __future__ import annotations

import math

from river import stats

_RELATIVE_FLOOR = 1e-3
_ABSOLUTE_FLOOR = 1e-9
_CLIP_AFTER = 20


class FadingZScore:
    """Absolute z-score against exponentially weighted mean and variance (River ``EWMean``/``EWVar``)."""

    name = "fading_zscore"
    version = 2

    def __init__(self, fading_factor: float = 0.02, clip: float = 12.0) -> None:
        self.fading_factor = fading_factor
        self.clip = clip
        self._mean = stats.EWMean(fading_factor=fading_factor)
        self._var = stats.EWVar(fading_factor=fading_factor)
        self.n_seen = 0

    def learn_one(self, value: float) -> None:
        if self.n_seen >= _CLIP_AFTER:
            mean, reach = self.mean, self.clip * self.std
            value = min(max(value, mean - reach), mean + reach)
        self._mean.update(value)
        self._var.update(value)
        self.n_seen += 1

    @property
    def mean(self) -> float:
        return float(self._mean.get())

    @property
    def std(self) -> float:
        """The spread, never below its floor."""
        spread = math.sqrt(max(float(self._var.get()), 0.0))
        return max(spread, _RELATIVE_FLOOR * abs(self.mean), _ABSOLUTE_FLOOR)

    def score_one(self, value: float, floor: float = 0.0) -> float:
        """``|value - mean| / std``, with a spread of at least ``floor``; 0 before anything is learnt."""
        if self.n_seen == 0:
            return 0.0
        return abs(value - self.mean) / max(self.std, floor)

    def expected(self, width: float) -> tuple[float, float]:
        """The values within ``width`` standard deviations of the mean."""
        mean, spread = self.mean, width * self.std
        return mean - spread, mean + spread
