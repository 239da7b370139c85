"""Recent rank: a raw score read as the share of the latest raw scores below it.

The post-processing step for detectors whose raw scores have a range and a shape of their own (River's:
a share of mass, a ratio of densities, a signed distance): whatever the scale, a probability of 0.999
is a score above 999 in 1,000 of the latest ones, as River's ``anomaly.QuantileFilter`` thresholds a
score at a quantile of the scores seen. Ties count half. The first ``grace`` raw scores (a detector's
own start) are neither judged (probability 0) nor learnt. A checkpoint holds the window once: the
sorted copy is rebuilt when it is read.

>>> rank = RecentRank(window=100)
>>> for raw in range(100):
...     rank.learn_one(float(raw))
>>> rank.score_one(49.5), rank.score_one(50.0), rank.score_one(1000.0)
(0.5, 0.505, 1.0)
>>> rank.learn_one(1000.0)  # the oldest (0.0) leaves the window
>>> rank.score_one(0.5), rank.score_one(999.0)
(0.0, 0.99)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from typing import Any


class RecentRank:
    """The share of the latest ``window`` raw scores below a raw score (ties count half)."""

    name = "recent_rank"
    version = 1

    def __init__(self, window: int = 1000, grace: int = 0) -> None:
        self.window = window
        self.grace = grace
        self.n_seen = 0
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    def score_one(self, raw: float) -> float:
        ordered = self._sorted
        if self.n_seen < self.grace or not ordered:
            return 0.0
        below = bisect_left(ordered, raw)
        ties = bisect_right(ordered, raw) - below
        return (below + 0.5 * ties) / len(ordered)

    def learn_one(self, raw: float) -> None:
        self.n_seen += 1
        if self.n_seen <= self.grace or raw != raw:  # a NaN has no rank
            return
        self._recent.append(raw)
        insort(self._sorted, raw)
        if len(self._recent) > self.window:
            oldest = self._recent.popleft()
            del self._sorted[bisect_left(self._sorted, oldest)]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_sorted"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._sorted = sorted(self._recent)
