"""River's Half-Space Trees on a running min-max scaled value (and, optionally, the time of day).

Half-Space Trees need features in [0, 1]: River's ``MinMaxScaler`` maps the value there with the
extremes seen so far. The trees' score is already in [0, 1] (the share of its mass a value's region
lacks), so :class:`~models.unchanged.Unchanged` can pass it on as the anomaly probability.

>>> from datetime import UTC, datetime, timedelta
>>> model = ScaledHalfSpaceTrees(seed=3)
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> for minute in range(1000):
...     model.learn_one(10.0 + minute % 7, start + timedelta(minutes=minute))
>>> later = start + timedelta(days=1)
>>> model.score_one(13.0, later) < model.score_one(95.0, later)
True
>>> model.expected(later, width=4.0)
(10.0, 16.0)
"""

from __future__ import annotations

import math
from datetime import datetime

from river import anomaly, compose, preprocessing

_MINUTES_PER_DAY = 1440


class ScaledHalfSpaceTrees:
    """``MinMaxScaler | HalfSpaceTrees`` over the value (and the time of day when ``time_of_day``)."""

    name = "half_space_trees"
    version = 1

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        time_of_day: bool = False,
        seed: int = 0,
    ) -> None:
        self.time_of_day = time_of_day
        self._pipeline = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed),
        )
        self._low = math.inf
        self._high = -math.inf

    def _features(self, value: float, at: datetime) -> dict[str, float]:
        if not self.time_of_day:
            return {"value": value}
        angle = 2.0 * math.pi * (at.hour * 60 + at.minute) / _MINUTES_PER_DAY
        return {"value": value, "day_sin": math.sin(angle), "day_cos": math.cos(angle)}

    def score_one(self, value: float, at: datetime) -> float:
        return float(self._pipeline.score_one(self._features(value, at)))

    def learn_one(self, value: float, at: datetime) -> None:
        self._pipeline.learn_one(self._features(value, at))
        self._low = min(self._low, value)
        self._high = max(self._high, value)

    def expected(self, at: datetime, width: float) -> tuple[float, float]:
        """The range of values seen so far: the trees know nothing outside it."""
        return self._low, self._high
