"""A fading z-score: how many recent standard deviations a value lies from the recent mean.

The mean and variance are exponentially weighted, so the model follows slow changes (a season, a
re-calibrated sensor) while a sudden spike still stands out. They are bias-corrected for a short
history: the weight of a new value is never below ``1 / n`` for the ``n``-th value, so until ``n``
reaches ``1 / fading_factor`` they are the plain mean and variance of all values seen (River's
``EWMean`` would instead hold on to its first value for hundreds of values), and a sensor's z-score
means something after a few dozen values. The spread has a
floor (a thousandth of the mean's size, and ``floor`` in the values' unit: the variation that is
normal for the quantity, such as a sensor's measurement noise), so a signal that has been constant
(an idle charger's zeros) does not turn its first wiggle into an infinite score. Once it has seen a
few values, it learns a value no further than ``clip`` standard deviations from the mean
(winsorising): one wild spike then cannot inflate the spread so much that the next one goes unseen.
With ``robust``, a value further than ``robust`` standard deviations from the mean moves the mean but
not the spread: a level shift, a drift or a burst of noise would otherwise widen the spread within a
few dozen values until the anomaly looked normal (the mean still follows a lasting change).

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

_RELATIVE_FLOOR = 1e-3
_ABSOLUTE_FLOOR = 1e-9
_CLIP_AFTER = 20


class FadingZScore:
    """Absolute z-score against bias-corrected exponentially weighted mean and variance."""

    name = "fading_zscore"
    version = 5

    robust: float | None = None
    """Standard deviations beyond which a value teaches no spread (a class default: checkpoints from
    before it lack it)."""

    def __init__(
        self, fading_factor: float = 0.02, clip: float = 12.0, floor: float = 0.0, robust: float | None = None
    ) -> None:
        self.fading_factor = fading_factor
        self.clip = clip
        self.robust = robust
        self.floor = floor
        """The least spread, in the values' unit: the variation that is normal whatever was seen so far."""
        self.mean = 0.0
        """The weighted mean of the values learnt (0 before any)."""
        self.var = 0.0
        """The weighted variance of the values learnt."""
        self.n_seen = 0

    def learn_one(self, value: float, spread: bool = True) -> None:
        """Learn ``value``: its mean, and its spread unless ``spread`` is false (the mean alone moves)."""
        n = self.n_seen
        if n >= _CLIP_AFTER:
            mean, std = self.mean, self.std
            if self.robust is not None and abs(value - mean) > self.robust * std:
                spread = False
            reach = self.clip * std
            value = min(max(value, mean - reach), mean + reach)
        n += 1
        self.n_seen = n
        weight = max(self.fading_factor, 1.0 / n)
        # West's incremental weighted update (as River's EWVar, whose weight is fixed).
        diff = value - self.mean
        step = weight * diff
        self.mean += step
        if spread:
            self.var = (1.0 - weight) * (self.var + diff * step)

    @property
    def std(self) -> float:
        """The spread, never below its floor."""
        spread = math.sqrt(self.var) if self.var > 0.0 else 0.0
        return max(spread, _RELATIVE_FLOOR * abs(self.mean), _ABSOLUTE_FLOOR, self.floor)

    def score_one(self, value: float, floor: float = 0.0) -> float:
        """``|value - mean| / std``, with a spread of at least ``floor``; 0 before anything is learnt."""
        if self.n_seen == 0:
            return 0.0
        return abs(value - self.mean) / max(self.std, floor)

    def expected(self, width: float) -> tuple[float, float]:
        """The values within ``width`` standard deviations of the mean."""
        mean, spread = self.mean, width * self.std
        return mean - spread, mean + spread
