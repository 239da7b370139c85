"""Anomaly likelihood: how unusual the recent raw scores are against the long run of raw scores.

The post-processing step of a detector (after Ahmad et al., "Unsupervised real-time anomaly
detection for streaming data", 2017). A raw score says how far one value lies from what a model
expected; whether that is unusual depends on the sensor: some sensors are always noisy. The
likelihood compares the mean of the last ``window`` raw scores with the mean and variance of all raw
scores so far (River ``Mean`` and ``Var``), as a Gaussian tail: the probability that the recent
scores are higher than usual. The raw scores it keeps are capped at ``cap``, so one wild value
cannot blow up the long-run variance nor stay in the window's mean; the newest one counts in full,
so a single value far out (a spike) is unusual at once. The first ``grace`` raw scores (the model's
own grace, when it scores everything 0) are neither judged nor learnt, so the long run is made of
real scores from the start and a detector can alert after a short warm-up. The long run's spread
is at least ``floor``: raw scores that were all alike (a sensor that only idled, scored 0 each
time) would otherwise make any departure at all infinitely unusual. With ``averaged``, the long run
is of the recent means instead of single raw scores, as Numenta's likelihood keeps it: a mean of
``window`` scores varies less than one score, so a run of unusual scores stands out sooner, and a
single one less. With ``learn_below``, a raw score above it still counts in the recent window but is
not learnt into the long run (once that has :data:`LONG_RUN_FIRST` scores): the anomaly's own scores
would otherwise raise the long run's mean and spread while it lasts, and hide it.

>>> likelihood = AnomalyLikelihood(window=5)
>>> for raw in [1.0, 1.2, 0.8, 1.1, 0.9] * 40:
...     likelihood.learn_one(raw)
>>> 0.0 < likelihood.score_one(1.0) < 0.9
True
>>> for raw in [4.0, 4.5]:
...     likelihood.learn_one(raw)
>>> likelihood.score_one(5.0) > 0.9999
True

Five high scores in a row after a long run of alternating ones: unremarkable against single scores,
unusual against the means of ten.

>>> plain, averaged = AnomalyLikelihood(window=10), AnomalyLikelihood(window=10, averaged=True)
>>> for raw in [0.0, 1.0] * 100 + [1.0] * 4:
...     plain.learn_one(raw)
...     averaged.learn_one(raw)
>>> round(plain.score_one(1.0), 3), round(averaged.score_one(1.0), 3)
(0.719, 1.0)
"""

from __future__ import annotations

import math
from collections import deque

from river import stats

_SQRT2 = math.sqrt(2.0)

LONG_RUN_FIRST = 20
"""Raw scores the long run learns whatever their size before ``learn_below`` applies."""


class AnomalyLikelihood:
    """Gaussian tail of the recent mean raw score against the long run: a probability in [0, 1]."""

    name = "likelihood"
    version = 2

    averaged = False
    """Whether the long run is of the recent means (a class default: checkpoints from before it lack it)."""

    learn_below: float | None = None
    """Raw scores above this are not learnt into the long run (a class default, as ``averaged``)."""

    def __init__(
        self,
        window: int = 5,
        cap: float = 5.0,
        grace: int = 0,
        floor: float = 1e-3,
        averaged: bool = False,
        learn_below: float | None = None,
    ) -> None:
        self.window = window
        self.averaged = averaged
        self.learn_below = learn_below
        self.cap = cap
        self.grace = grace
        self.floor = floor
        """The least spread of the long run of raw scores."""
        """Raw scores at the start neither judged (probability 0) nor learnt: the model's own grace,
        when it scores everything 0, would otherwise drag the long run down and widen its spread."""
        self.n_seen = 0
        self._recent: deque[float] = deque(maxlen=window)
        self._mean = stats.Mean()
        self._var = stats.Var()

    def score_one(self, raw: float) -> float:
        """The probability that the recent raw scores, ending with ``raw``, are unusually high."""
        if self.n_seen < self.grace:
            return 0.0
        recent = self._recent
        total = sum(recent) + raw
        count = len(recent) + 1
        if count > self.window:
            total -= recent[0]
            count -= 1
        spread = max(math.sqrt(max(float(self._var.get()), 0.0)), self.floor)
        z = (total / count - float(self._mean.get())) / spread
        return 0.5 * math.erfc(-z / _SQRT2)

    def learn_one(self, raw: float) -> None:
        self.n_seen += 1
        if self.n_seen <= self.grace:
            return
        unusual = self.learn_below is not None and raw > self.learn_below
        raw = min(raw, self.cap)
        recent = self._recent
        recent.append(raw)
        if unusual and self._mean.n >= LONG_RUN_FIRST:
            return
        learnt = sum(recent) / len(recent) if self.averaged else raw
        self._mean.update(learnt)
        self._var.update(learnt)
