"""Transition novelty: how new a value's bin, and the transitions into it from the last few bins, are.

After the contextual anomaly detector (Smirnov's CAD OSE, third on NAB's leaderboard), which scores a
value by how much of its context (the recent values, coarsely binned) was never seen before, without
its knowledge of each file's whole range. The first ``learn_range`` values fix the bins: ``bins`` of
equal width across their range (a thousandth of the values' size at least). A value outside that
range falls in a bin of its own beyond it, so the old bins never move. The raw score is the share of
the ``order + 1`` contexts that were never learnt: the value's bin alone, the transition from the last
bin into it, from the last two, and so on. A sensor that only ever visits a few levels in a few
orders scores 0; a value in a new bin, or a known bin reached in a new way (a daily cycle that
stays flat halfway up), scores up to 1. It scores 0 while it learns its range.

>>> from datetime import UTC, datetime
>>> from models.detector import features
>>> at = datetime(2026, 11, 30, tzinfo=UTC)
>>> model = TransitionNovelty(bins=4, order=2, learn_range=8)
>>> for value in [0.0, 1.0, 2.0, 3.0] * 10:
...     model.learn_one(features(value, at))
>>> model.score_one(features(0.0, at))  # 3 then 0: the usual cycle
0.0
>>> model.score_one(features(2.0, at))  # 3 then 2: a known bin, by two new transitions
0.6666666666666666
>>> model.score_one(features(9.0, at))  # far above every bin
1.0
>>> model.expected(features(0.0, at), width=4.0)
(-0.375, 3.375)
"""

from __future__ import annotations

import math
from collections import deque

from river import base

from models.detector import VALUE, Features

_RELATIVE_FLOOR = 1e-3
_ABSOLUTE_FLOOR = 1e-9


class TransitionNovelty(base.AnomalyDetector):
    """Share of the value's bin and its transitions from the last ``order`` bins never learnt before."""

    name = "transition_novelty"
    version = 1

    def __init__(self, bins: int = 8, order: int = 2, learn_range: int = 150) -> None:
        self.bins = bins
        self.order = order
        self.learn_range = learn_range
        self.n_seen = 0
        self.low = math.inf
        """The least value of the first ``learn_range``: the lower edge of the first bin."""
        self.high = -math.inf
        self.width = 0.0
        """A bin's width (0 until the range is learnt)."""
        self.origin = 0.0
        """The lower edge of the first bin: half a bin below the least value learnt, so a value just
        beyond the range of the first values (which had to end somewhere) is not new."""
        self.recent: deque[int] = deque(maxlen=order)
        """The latest bins, oldest first."""
        self.contexts: set[tuple[int, ...]] = set()
        """Every context learnt: a bin alone, and each transition into a bin from up to ``order`` before."""
        self.first: list[float] = []
        """The values learnt before the bins were fixed, learnt again in their bins once they are."""
        self.first_bin = 0
        self.last_bin = -1

    def _contexts(self, value: float) -> list[tuple[int, ...]]:
        """The value's bin alone, then after the latest bin, the latest two, ... (oldest bin first)."""
        latest = (math.floor((value - self.origin) / self.width),)
        recent = tuple(self.recent)
        return [recent[len(recent) - before :] + latest for before in range(len(recent) + 1)]

    def score_one(self, x: Features) -> float:
        if not self.width:
            return 0.0
        contexts = self._contexts(x[VALUE])
        known = self.contexts
        return sum(context not in known for context in contexts) / len(contexts)

    def learn_one(self, x: Features) -> None:
        value = x[VALUE]
        self.n_seen += 1
        if not self.width:
            self.low, self.high = min(self.low, value), max(self.high, value)
            self.first.append(value)
            if self.n_seen >= self.learn_range:
                size = max(abs(self.low), abs(self.high))
                span = (self.high - self.low) / self.bins
                self.width = max(span, _RELATIVE_FLOOR * size, _ABSOLUTE_FLOOR)
                self.origin = self.low - self.width / 2.0
                for first in self.first:
                    self._learn(first)
                self.first = []
            return
        self._learn(value)

    def _learn(self, value: float) -> None:
        contexts = self._contexts(value)
        self.contexts.update(contexts)
        latest = contexts[0][0]
        self.first_bin, self.last_bin = min(self.first_bin, latest), max(self.last_bin, latest)
        self.recent.append(latest)

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        """The span of the bins learnt (the range seen, while the bins are not fixed yet)."""
        if not self.width:
            value = x[VALUE]
            return (self.low, self.high) if self.n_seen else (value, value)
        return self.origin + self.first_bin * self.width, self.origin + (self.last_bin + 1) * self.width
