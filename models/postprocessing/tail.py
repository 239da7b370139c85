"""Gaussian tail: a z-score read as the probability that a normal value lies closer to the mean.

The simplest post-processing step, with nothing to learn: ``erf(z / sqrt(2))``, so a z-score of 0 is
probability 0, of 1.96 about 0.95 and of 3 about 0.997.

>>> tail = GaussianTail()
>>> round(tail.score_one(1.96), 3), round(tail.score_one(3.0), 4), tail.score_one(0.0)
(0.95, 0.9973, 0.0)
"""

from __future__ import annotations

import math

_SQRT2 = math.sqrt(2.0)


class GaussianTail:
    """Probability from a z-score under a normal distribution (two-sided)."""

    name = "gaussian_tail"
    version = 1

    def score_one(self, raw: float) -> float:
        return math.erf(raw / _SQRT2)

    def learn_one(self, raw: float) -> None:
        """Nothing to learn: the normal distribution is fixed."""
