"""Transition novelty: how new a value's bin, and the transitions into it from the last few bins, are.

After the contextual anomaly detector (Smirnov's CAD OSE, third on NAB's leaderboard), which scores a
value by how much of its context (the recent values, coarsely binned) was never seen before, without
its knowledge of each file's whole range. The first ``learn_range`` values fix the bins: for each
number of bins in ``resolutions``, bins of equal width across the range of those values (a thousandth
of the values' size at least), starting half a bin below the least of them. A value beyond falls in a
bin of its own, so the old bins never move. Once the bins are fixed, the first values are learnt in
them. The raw score is the share of the contexts never learnt: at each resolution, the value's bin
alone, the transition from the last bin into it, from the last two, and so on up to ``order``. A
sensor that only ever visits a few levels in a few orders scores 0; a value in a new bin, or a known
bin reached in a new way (a daily cycle that stays flat halfway up), scores up to 1. A coarse
resolution beside a fine one tells a change of level from the noise that crosses the fine bins'
edges. It scores 0 while it learns its range.

>>> from datetime import UTC, datetime
>>> from models.detectors.detector import features
>>> at = datetime(2026, 11, 30, tzinfo=UTC)
>>> model = TransitionNovelty(resolutions=(4,), order=2, learn_range=8)
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
>>> two = TransitionNovelty(resolutions=(4, 2), order=2, learn_range=8)
>>> for value in [0.0, 1.0, 2.0, 3.0] * 10:
...     two.learn_one(features(value, at))
>>> two.score_one(features(2.0, at)), two.score_one(features(0.0, at))  # new at both; usual at both
(0.6666666666666666, 0.0)
"""

from __future__ import annotations

import math
from collections import deque

from river import base

from models.detectors.detector import VALUE, Features

_RELATIVE_FLOOR = 1e-3
_ABSOLUTE_FLOOR = 1e-9


class TransitionNovelty(base.AnomalyDetector):
    """Share of the value's bins and their transitions from the last ``order`` bins never learnt before."""

    name = "transition_novelty"
    version = 2

    def __init__(self, resolutions: tuple[int, ...] = (8,), order: int = 2, learn_range: int = 150) -> None:
        self.resolutions = resolutions
        self.order = order
        self.learn_range = learn_range
        self.n_seen = 0
        self.low = math.inf
        """The least value of the first ``learn_range``."""
        self.high = -math.inf
        self.widths: tuple[float, ...] = ()
        """A bin's width at each resolution (none until the range is learnt)."""
        self.origins: tuple[float, ...] = ()
        """The lower edge of the first bin at each resolution: half a bin below the least value learnt, so
        a value just beyond the range of the first values (which had to end somewhere) is not new."""
        self.recent: deque[tuple[int, ...]] = deque(maxlen=order)
        """The latest values' bins (one per resolution), oldest first."""
        self.contexts: set[tuple[int, ...]] = set()
        """Every context learnt: a resolution's number, then its bins (a bin alone, or a transition)."""
        self.first: list[float] = []
        """The values learnt before the bins were fixed, learnt again in their bins once they are."""
        self._scored: tuple[float, tuple[int, ...], list[tuple[int, ...]]] | None = None
        """The value last scored, its bins and contexts: learnt next, most often."""
        self.first_bin = 0
        """The least and greatest bin learnt at the first resolution."""
        self.last_bin = -1

    def _bins(self, value: float) -> tuple[int, ...]:
        """The value's bin at each resolution."""
        return tuple(math.floor((value - o) / w) for o, w in zip(self.origins, self.widths, strict=True))

    def _contexts(self, bins: tuple[int, ...]) -> list[tuple[int, ...]]:
        """At each resolution: the bin alone, after the latest bin, after the latest two, ..."""
        contexts = []
        for number, latest in enumerate(bins):
            path: tuple[int, ...] = (latest,)
            contexts.append((number, *path))
            for older in reversed(self.recent):
                path = (older[number], *path)
                contexts.append((number, *path))
        return contexts

    def score_one(self, x: Features) -> float:
        if not self.widths:
            return 0.0
        value = x[VALUE]
        bins = self._bins(value)
        contexts = self._contexts(bins)
        self._scored = (value, bins, contexts)
        known = self.contexts
        return sum(context not in known for context in contexts) / len(contexts)

    def learn_one(self, x: Features) -> None:
        value = x[VALUE]
        self.n_seen += 1
        if self.widths:
            self._learn(value)
            return
        self.low, self.high = min(self.low, value), max(self.high, value)
        self.first.append(value)
        if self.n_seen >= self.learn_range:
            least = max(_RELATIVE_FLOOR * max(abs(self.low), abs(self.high)), _ABSOLUTE_FLOOR)
            self.widths = tuple(max((self.high - self.low) / bins, least) for bins in self.resolutions)
            self.origins = tuple(self.low - width / 2.0 for width in self.widths)
            for first in self.first:
                self._learn(first)
            self.first = []

    def _learn(self, value: float) -> None:
        scored, self._scored = self._scored, None
        if scored is not None and scored[0] == value:
            _, bins, contexts = scored
        else:
            bins = self._bins(value)
            contexts = self._contexts(bins)
        self.contexts.update(contexts)
        self.first_bin, self.last_bin = min(self.first_bin, bins[0]), max(self.last_bin, bins[0])
        self.recent.append(bins)

    def expected(self, x: Features, width: float) -> tuple[float, float]:
        """The span of the bins learnt at the first resolution (the range seen, before the bins are fixed)."""
        if not self.widths:
            value = x[VALUE]
            return (self.low, self.high) if self.n_seen else (value, value)
        origin, size = self.origins[0], self.widths[0]
        return origin + self.first_bin * size, origin + (self.last_bin + 1) * size
